// Internal: one thread's sharing table for Mark, from a heap object's
// address to a number (the offset and type of its copy), in 8-byte slots.
// Not part of the public API.
//
// AddressTable keeps the whole key and value: 16 bytes a slot, which on a
// graph whose every node is reached by raw pointers (52 bytes of graph a
// node) is 41% of the graph beside it. This table keeps half that. The key
// is an 8-byte-aligned user-space address, so 44 bits say it; they are
// hashed by a multiply that loses nothing (odd, modulo 2^44), the hash's
// high part picks the home slot, and a slot keeps only what the home slot
// does not already say: the hash's low 44 - floor(log2(capacity)) bits, and
// how far past its home the entry sits (linear probing, up to 62 slots).
// The rest of the word holds the value. What does not fit goes to a side
// AddressTable: keys not 8-aligned or past 2^47, entries whose probe would
// run past 62 slots (about 1 in 3,000 for random addresses at 3/4 load),
// and values too big for the bits left (then the slot says "look aside").
// Inserts and lookups only; nothing is erased. One thread.

#ifndef ANCIENT_INTERNAL_PACKED_ADDRESS_TABLE_H_
#define ANCIENT_INTERNAL_PACKED_ADDRESS_TABLE_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "ancient/internal/address_table.h"

namespace ancient {
namespace internal {

class PackedAddressTable {
 public:
  PackedAddressTable() = default;
  PackedAddressTable(PackedAddressTable&& o) noexcept { *this = std::move(o); }
  PackedAddressTable& operator=(PackedAddressTable&& o) noexcept;
  ~PackedAddressTable() { FreeTableMemory(slots_, capacity_ * sizeof(Word)); }

  // The value of `addr` (not null) and false; or, when it is not there,
  // inserts make() as its value and returns that and true. make() is
  // called at most once, before anything is inserted. Always inlined: a
  // call would pass `make` through memory on every lookup.
  template <class F>
  [[gnu::always_inline]] std::pair<std::uint64_t, bool> FindOrInsert(
      const void* addr, F make) {
    const std::uint64_t h = Hash(addr);
    if (h == kUnfit || capacity_ == 0) [[unlikely]]
      return Aside(addr, h, make);
    std::size_t i = Home(h);
    const std::uint64_t key = (h & r_mask_) << kDispBits;
    for (std::uint64_t d = 1; d <= kMaxDisp; ++d) {
      const Word s = slots_[i];
      if ((s & key_mask_) == (key | d)) {
        const std::uint64_t v = s >> v_shift_;
        if (v != v_aside_) [[likely]]
          return {v, false};
        return {*side_.Find(addr), false};
      }
      if (s == 0) {
        const std::uint64_t v = make();
        if (used_ >= limit_) [[unlikely]] {
          Grow(size() + 1);
          Insert(addr, v);
        } else {
          Put(i, key | d, addr, v);
        }
        return {v, true};
      }
      if (++i == capacity_) i = 0;
    }
    return Aside(addr, h, make);
  }

  // Sets *value to the value of `addr` and returns true, or returns false
  // when it is not there.
  bool Find(const void* addr, std::uint64_t* value) const;

  // Starts fetching the home slot of `addr`, for a lookup soon.
  // No test of the key or the capacity: a slot of a key kept aside, or
  // null before the first entry, is fetched for nothing (a prefetch never
  // faults); and GCC 12 drops a __builtin_prefetch under such a test.
  void Prefetch(const void* addr) const {
    const auto a = reinterpret_cast<std::uintptr_t>(addr);
    __builtin_prefetch(slots_ + Home(((a >> 3) * kMul) & kHashMask));
  }

  // Makes room for `n` entries in all without growing.
  void Reserve(std::size_t n) {
    if (n > limit_) Grow(n);
  }

  // Calls f(key, value) for every entry, once each.
  template <class F>
  void ForEach(F f) const {
    for (std::size_t i = 0; i < capacity_; ++i) {
      const Word s = slots_[i];
      if (s != 0 && (s >> v_shift_) != v_aside_) f(KeyAt(i), s >> v_shift_);
    }
    side_.ForEach(f);
  }

  std::size_t size() const { return used_ - aside_ + side_.size(); }
  std::size_t capacity() const { return capacity_; }
  // The heap memory the table takes (its slots and the side table's).
  std::size_t bytes() const { return capacity_ * sizeof(Word) + side_.bytes(); }
  // Entries kept in the side table (for tests).
  std::size_t side_size() const { return side_.size(); }
  // The largest value that a slot of this table holds (smaller than the
  // ones it sends aside); grows with the capacity.
  std::uint64_t max_packed_value() const { return v_aside_ - 1; }

  // The hash of an address's 44 bits; and back.
  static constexpr int kHashBits = 44;
  static constexpr std::uint64_t kHashMask =
      (std::uint64_t{1} << kHashBits) - 1;
  static constexpr std::uint64_t kUnfit = ~std::uint64_t{0};
  static std::uint64_t Hash(const void* addr) {
    const auto a = reinterpret_cast<std::uintptr_t>(addr);
    if ((a & 7) != 0 || (a >> (kHashBits + 3)) != 0) return kUnfit;
    return ((a >> 3) * kMul) & kHashMask;
  }
  static const void* Unhash(std::uint64_t h) {
    return reinterpret_cast<const void*>(((h * kMulInverse) & kHashMask) << 3);
  }

 private:
  using Word = std::uint64_t;
  // A slot: bits 0-5 its distance from home plus one (0: empty), then the
  // hash's low bits (r_bits_), then the value.
  static constexpr int kDispBits = 6;
  static constexpr std::uint64_t kMaxDisp = (1u << kDispBits) - 1;
  // round(2^44 / golden ratio), odd, and its inverse modulo 2^44.
  static constexpr std::uint64_t kMul = 0x9E3779B97F5;
  static constexpr std::uint64_t kMulInverse = [] {
    std::uint64_t x = kMul;  // Newton: each step doubles the bits right
    for (int i = 0; i < 6; ++i) x *= 2 - kMul * x;
    return x;
  }();
  static_assert(((kMul * kMulInverse) & kHashMask) == 1);
  // At most 3/4 of the slots in use, as AddressTable.
  static constexpr std::size_t kLoadNum = 3, kLoadDen = 4;

  // The home slot of hash `h`: its high part scaled onto the slots.
  std::size_t Home(std::uint64_t h) const {
    return static_cast<std::size_t>(
        (static_cast<unsigned __int128>(h) * capacity_) >> kHashBits);
  }
  // The address kept in slot i (not empty).
  const void* KeyAt(std::size_t i) const;
  // Fills empty slot i with `tag` (low bits and distance) and value v, or
  // sends v aside when it does not fit.
  void Put(std::size_t i, Word tag, const void* addr, std::uint64_t v) {
    if (v >= v_aside_) [[unlikely]] {
      side_.TryEmplace(addr).first->value = v;
      v = v_aside_;
      ++aside_;
    }
    slots_[i] = tag | (v << v_shift_);
    ++used_;
  }
  // Inserts an address known not to be there (room made).
  void Insert(const void* addr, std::uint64_t v);
  // For keys that do not fit or probes that ran past kMaxDisp: the side
  // table.
  template <class F>
  [[gnu::noinline]] std::pair<std::uint64_t, bool> Aside(const void* addr,
                                                         std::uint64_t h,
                                                         F make) {
    if (capacity_ == 0 && h != kUnfit) {
      const std::uint64_t v = make();
      Grow(1);
      Insert(addr, v);
      return {v, true};
    }
    auto [s, inserted] = side_.TryEmplace(addr);
    if (inserted) s->value = make();
    return {s->value, inserted};
  }
  // Rehashes into room for at least `n` entries (and twice the old room).
  void Grow(std::size_t n);

  Word* slots_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;   // slots in use, "look aside" ones too
  std::size_t aside_ = 0;  // slots that say "look aside"
  std::size_t limit_ = 0;  // capacity_ * kLoadNum / kLoadDen
  int v_shift_ = 0;
  Word r_mask_ = 0;            // the hash's low bits a slot keeps
  Word key_mask_ = 0;          // distance and low bits
  std::uint64_t v_aside_ = 0;  // all ones in the value's bits
  AddressTable side_;
};

}  // namespace internal
}  // namespace ancient

#endif  // ANCIENT_INTERNAL_PACKED_ADDRESS_TABLE_H_
