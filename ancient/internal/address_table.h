// Internal: a table from a heap object's address to a 64-bit value (for
// Mark: what its copy is, offset and type). Not part of the public API.
// Mark keeps its sharing table in PackedAddressTable (8-byte slots); this
// one holds what those slots cannot (see packed_address_table.h), and the
// sizes of the memory both take.
//
// A graph of a million nodes looks up an address for every pointer it
// holds, and on big graphs nearly every lookup misses the cache. This table
// keeps a key and its value in one 16-byte slot, found by linear probing
// from a home slot, so a lookup usually reads one cache line (absl's
// flat_hash_map reads a control byte, then the slot: two lines), and its
// capacity is any number (a multiply maps the hash onto the slots), so room
// for a million objects is 1.33 million slots, not the next power of two.
// Inserts and lookups only; nothing is erased.

#ifndef ANCIENT_INTERNAL_ADDRESS_TABLE_H_
#define ANCIENT_INTERNAL_ADDRESS_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

namespace ancient {
namespace internal {

// Zeroed memory of `bytes` (> 0) for a sharing table's slots, every page
// written already (see address_table.cc); dies on exhaustion. Freed with
// FreeTableMemory and the same `bytes`.
void* AllocateTableMemory(std::size_t bytes);
void FreeTableMemory(void* p, std::size_t bytes);
// Hands the whole pages of table memory [p, p + bytes) back to the system
// (they read as zeros after), keeping the address space: for old slots that
// readers without the writer's lock may still be probing.
void DropTablePages(void* p, std::size_t bytes);

class AddressTable {
 public:
  struct Slot {
    const void* key;  // null: empty
    std::uint64_t value;
  };

  AddressTable() = default;
  AddressTable(AddressTable&& o) noexcept { *this = std::move(o); }
  AddressTable& operator=(AddressTable&& o) noexcept {
    slots_ = std::move(o.slots_);
    capacity_ = std::exchange(o.capacity_, 0);
    size_ = std::exchange(o.size_, 0);
    limit_ = std::exchange(o.limit_, 0);
    return *this;
  }

  // The slot of `addr` (not null), and true when it was not there: the
  // slot then holds addr with value 0 for the caller to set. The pointer
  // stays valid until the next TryEmplace or Reserve.
  std::pair<Slot*, bool> TryEmplace(const void* addr) {
    if (capacity_ == 0) [[unlikely]]
      Grow(1);
    Slot& s = slots_[Probe(addr)];
    if (s.key == addr) return {&s, false};
    if (size_ >= limit_) [[unlikely]] {
      Grow(size_ + 1);  // a new entry only: lookups never grow it
      return TryEmplace(addr);
    }
    s.key = addr;
    ++size_;
    return {&s, true};
  }

  // The value of `addr`, or null when it is not there.
  const std::uint64_t* Find(const void* addr) const {
    if (size_ == 0) return nullptr;
    const Slot& s = slots_[Probe(addr)];
    return s.key == addr ? &s.value : nullptr;
  }

  // Starts fetching the home slot of `addr`, for a lookup soon.
  void Prefetch(const void* addr) const {
    if (capacity_ != 0) __builtin_prefetch(&slots_[Home(addr, capacity_)]);
  }

  // Makes room for `n` entries in all without growing.
  void Reserve(std::size_t n) {
    if (n > limit_) Grow(n);
  }

  // Calls f(key, value) for every entry.
  template <class F>
  void ForEach(F f) const {
    for (std::size_t i = 0; i < capacity_; ++i) {
      if (slots_[i].key != nullptr) f(slots_[i].key, slots_[i].value);
    }
  }

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  // The heap memory the slots take.
  std::size_t bytes() const { return capacity_ * sizeof(Slot); }

  // The slot where the probe for `addr` starts in a table of `capacity`
  // slots. Fibonacci hashing: the multiply spreads the address's bits (low
  // ones are alignment) into the high word, which the second multiply
  // scales to [0, capacity).
  static std::size_t Home(const void* addr, std::size_t capacity) {
    const std::uint64_t h =
        reinterpret_cast<std::uintptr_t>(addr) * 0x9E3779B97F4A7C15ull;
    return static_cast<std::size_t>(
        (static_cast<unsigned __int128>(h) * capacity) >> 64);
  }

 private:
  // Entries per slot at most: 3/4 (linear probing's misses stay near three
  // slots, one or two cache lines).
  static constexpr std::size_t kLoadNum = 3, kLoadDen = 4;
  struct Free {
    std::size_t bytes;  // value-initialised (0) in an empty table
    void operator()(Slot* p) const { FreeTableMemory(p, bytes); }
  };
  using Slots = std::unique_ptr<Slot[], Free>;
  // `capacity` zeroed slots, every page written already.
  static Slots Allocate(std::size_t capacity);

  // The slot that holds `addr`, or else the empty slot where it would go
  // (capacity_ > 0; the load limit keeps an empty slot).
  std::size_t Probe(const void* addr) const {
    std::size_t i = Home(addr, capacity_);
    while (slots_[i].key != addr && slots_[i].key != nullptr) {
      if (++i == capacity_) i = 0;
    }
    return i;
  }

  // Rehashes into room for at least `n` entries (and twice the old room).
  void Grow(std::size_t n);

  Slots slots_;
  std::size_t capacity_ = 0;
  std::size_t size_ = 0;
  std::size_t limit_ = 0;  // capacity_ * kLoadNum / kLoadDen
};

}  // namespace internal
}  // namespace ancient

#endif  // ANCIENT_INTERNAL_ADDRESS_TABLE_H_
