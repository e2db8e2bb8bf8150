// Internal: Mark's sharing table, from a heap object's address to a number
// (the offset and type of its copy), in 8-byte slots. Not part of the
// public API.
//
// AddressTable keeps the whole key and value: 16 bytes a slot, which on a
// graph whose every node is reached by raw pointers (52 bytes of graph a
// node) is 41% of the graph beside it. This table keeps half that. The key
// is an 8-byte-aligned user-space address, so 44 bits say it; they are
// hashed by a multiply that loses nothing (odd, modulo 2^44), the hash's
// high part picks the home slot, and a slot keeps only what the home slot
// does not already say: the hash's low bits (44 less floor(log2(capacity))
// of them), and how far past its home the entry sits (linear probing, up
// to 62 slots). The rest of the word holds the value. What does not fit
// goes to a side AddressTable: keys not 8-aligned or past 2^47, entries
// whose probe would run past 62 slots (about 1 in 400 for random
// addresses at 5/6 load; none for a million heap nodes allocated in turn),
// and values too big for the bits left (then the slot says "look aside").
//
// A table can be one shard of a bigger one (SetPrefix): every key's hash
// then starts with the shard's number, which its slots need not keep. One
// thread inserts (under a lock when shared); others may look up without
// it (FindUnlocked): a slot is one word, written once, with release.
// Inserts and lookups only; nothing is erased.

#ifndef ANCIENT_INTERNAL_PACKED_ADDRESS_TABLE_H_
#define ANCIENT_INTERNAL_PACKED_ADDRESS_TABLE_H_

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "ancient/internal/address_table.h"

namespace ancient {
namespace internal {

class PackedAddressTable {
 public:
  using Word = std::uint64_t;

  PackedAddressTable() = default;
  PackedAddressTable(PackedAddressTable&& o) noexcept { *this = std::move(o); }
  PackedAddressTable& operator=(PackedAddressTable&& o) noexcept;
  ~PackedAddressTable() { Release(); }

  // Makes this table the shard for keys whose hash (Hash) starts with the
  // `prefix_bits` bits of `prefix`; keys of other shards are kept aside.
  // Before the first entry.
  void SetPrefix(int prefix_bits, std::uint64_t prefix) {
    bits_ = kHashBits - prefix_bits;
    prefix_ = prefix;
  }

  // The value of `addr` (not null) and false; or, when it is not there,
  // inserts make() as its value and returns that and true. make() is
  // called at most once, before anything is inserted. Always inlined: a
  // call would pass `make` through memory on every lookup.
  template <class F>
  [[gnu::always_inline]] std::pair<std::uint64_t, bool> FindOrInsert(
      const void* addr, F make) {
    const std::uint64_t h = Hash(addr);
    // Keys that do not fit (kUnfit) fail this test too.
    if ((h >> bits_) != prefix_ || capacity_ == 0) [[unlikely]]
      return Aside(addr, h, make);
    const Probe p = ProbeFor<false>(slots_, capacity_, shape_, bits_, h);
    if (p.kind == Probe::kFound) {
      const std::uint64_t v = p.word >> shape_.v_shift;
      if (v != shape_.v_aside) [[likely]]
        return {v, false};
      return {*side_.Find(addr), false};
    }
    if (p.kind == Probe::kEmpty) {
      const std::uint64_t v = make();
      if (used_ >= limit_) [[unlikely]] {
        Grow(size() + 1);
        Insert(addr, v);
      } else {
        Put(p.i, p.word, addr, v);
      }
      return {v, true};
    }
    return Aside(addr, h, make);
  }

  // Sets *value to the value of `addr` and returns true, or returns false
  // when it is not there.
  bool Find(const void* addr, std::uint64_t* value) const;

  // Starts fetching the home slot of `addr`, for a lookup soon.
  [[gnu::always_inline]] void Prefetch(const void* addr) const {
    PrefetchIn(slots_, bits_, addr);
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
      if (s != 0 && (s >> shape_.v_shift) != shape_.v_aside) {
        f(KeyAt(slots_, capacity_, shape_, bits_, prefix_, i),
          s >> shape_.v_shift);
      }
    }
    side_.ForEach(f);
  }

  // For tables that other threads read without the writer's lock: growth
  // keeps the old slots' address space (their whole pages handed back to
  // the system, reading as zeros: "not there") until the table is
  // destroyed, as a reader may still be in them.
  void KeepOldSlots() { keep_old_ = true; }
  // Where the slots are, for readers without the lock (see FindUnlocked):
  // they move when the table grows; an empty table's are a static empty
  // set. Their capacity is in the word before them, set before they are
  // published.
  const Word* slots() const { return slots_; }
  // Looks `addr` up in `slots` (a table's slots(), published by its writer
  // with release and loaded with acquire) of a table of `bits` hash bits
  // (kHashBits less its prefix's), reading each slot with acquire: true and
  // *value when found; false when not there, kept aside, or in old slots
  // handed back (ask again under the lock).
  static bool FindUnlocked(const Word* slots, int bits, const void* addr,
                           std::uint64_t* value);
  // Starts fetching the home slot of `addr` in `slots` (as FindUnlocked).
  // No test of the key or the capacity: a slot of a key kept aside, or of
  // an empty table, is fetched for nothing (a prefetch never faults).
  // Always inlined: GCC 12 takes a function whose only effect is a
  // prefetch for one without effects, and drops calls to it that it has
  // not inlined yet (so the graph's Mark ran without its prefetches).
  [[gnu::always_inline]] static void PrefetchIn(const Word* slots, int bits,
                                                const void* addr) {
    const auto a = reinterpret_cast<std::uintptr_t>(addr);
    __builtin_prefetch(slots +
                       Home(((a >> 3) * kMul) & kHashMask, slots[-1], bits));
  }

  // At most 5/6 of the slots in use (AddressTable: 3/4). A fuller table
  // probes longer on every insert, but the probe's first cache line is the
  // one that misses: over 1M heap nodes' addresses, 5.2M lookups took the
  // same time at 3/4, 4/5, 5/6 and 7/8 (and random addresses, kept aside
  // more often past 62 slots, 0-10% longer at 5/6), for 9.5% fewer bytes
  // than at 3/4 (bench/NOTES.md).
  static constexpr std::size_t kLoadNum = 5, kLoadDen = 6;

  std::size_t size() const { return used_ - aside_ + side_.size(); }
  std::size_t capacity() const { return capacity_; }
  // The heap memory the table takes (its slots and the side table's).
  std::size_t bytes() const {
    return (capacity_ == 0 ? 0 : (capacity_ + 1) * sizeof(Word)) +
           side_.bytes();
  }
  // Entries kept in the side table (for tests).
  std::size_t side_size() const { return side_.size(); }
  // The largest value that a slot of this table holds (smaller than the
  // ones it sends aside); grows with the capacity.
  std::uint64_t max_packed_value() const { return shape_.v_aside - 1; }

  // The hash of an address's 44 bits (kUnfit for an address not 8-aligned
  // or past 2^47); and back.
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
  // A slot: bits 0-5 its distance from home plus one (0: empty), then the
  // hash's low bits (r_mask), then the value.
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

  // Where a slot's parts lie, for a capacity and a number of hash bits.
  struct Shape {
    Word r_mask = 0;    // the hash's low bits a slot keeps
    Word key_mask = 0;  // distance and low bits
    int v_shift = 0;
    std::uint64_t v_aside = 0;  // all ones in the value's bits
  };
  static Shape ShapeOf(std::size_t capacity, int bits);
  // The home slot of hash `h` among `capacity` for a table of `bits` hash
  // bits: the high part of those bits scaled onto the slots.
  // (The bits moved to the top of a word, the prefix's shifted out, and
  // the high word of their product with the capacity: that is
  // floor(m * capacity / 2^bits) for m the hash's `bits` low bits.)
  static std::size_t Home(std::uint64_t h, std::size_t capacity, int bits) {
    return static_cast<std::size_t>(
        (static_cast<unsigned __int128>(h << (64 - bits)) * capacity) >> 64);
  }
  // Where a probe for hash `h` ended: at the slot holding it (kFound, with
  // the slot's word), at the empty slot where it would go (kEmpty, with the
  // tag, low bits and distance, to put there), or past kMaxDisp slots
  // (kFull: kept aside if anywhere). Every lookup and insert walks slots
  // this way; kAcquire loads each slot with acquire, for readers without
  // the writer's lock. Always inlined: a call would return through memory.
  struct Probe {
    enum Kind { kFound, kEmpty, kFull } kind;
    std::size_t i;
    Word word;  // kFound: the slot; kEmpty: the tag to put in slot i
  };
  template <bool kAcquire>
  [[gnu::always_inline]] static Probe ProbeFor(const Word* slots,
                                               std::size_t capacity,
                                               const Shape& shape, int bits,
                                               std::uint64_t h) {
    std::size_t i = Home(h, capacity, bits);
    const Word key = (h & shape.r_mask) << kDispBits;
    for (Word d = 1; d <= kMaxDisp; ++d) {
      Word s;
      if constexpr (kAcquire) {
        // atomic_ref takes no const; nothing is written through it.
        s = std::atomic_ref<Word>(const_cast<Word&>(slots[i]))
                .load(std::memory_order_acquire);
      } else {
        s = slots[i];
      }
      if ((s & shape.key_mask) == (key | d)) return {Probe::kFound, i, s};
      if (s == 0) return {Probe::kEmpty, i, key | d};
      if (++i == capacity) i = 0;
    }
    return {Probe::kFull, i, 0};
  }
  // The address kept in slot i of `slots` (not empty), a table of
  // `capacity` slots of `shape`.
  static const void* KeyAt(const Word* slots, std::size_t capacity,
                           const Shape& shape, int bits, std::uint64_t prefix,
                           std::size_t i);
  // Fills empty slot i with `tag` (low bits and distance) and value v, or
  // sends v aside when it does not fit.
  void Put(std::size_t i, Word tag, const void* addr, std::uint64_t v) {
    if (v >= shape_.v_aside) [[unlikely]] {
      side_.TryEmplace(addr).first->value = v;
      v = shape_.v_aside;
      ++aside_;
    }
    std::atomic_ref<Word>(slots_[i]).store(tag | (v << shape_.v_shift),
                                           std::memory_order_release);
    ++used_;
  }
  // Inserts an address known not to be there (room made).
  void Insert(const void* addr, std::uint64_t v);
  // For keys that do not fit or probes that ran past kMaxDisp: the side
  // table (and the first entry of an empty table).
  template <class F>
  [[gnu::noinline]] std::pair<std::uint64_t, bool> Aside(const void* addr,
                                                         std::uint64_t h,
                                                         F make) {
    if (capacity_ == 0 && (h >> bits_) == prefix_) {
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
  // Frees the slots (and any kept old ones).
  void Release();
  // Slots of an empty table: the capacity word (0), one empty slot.
  static Word* NoSlots();

  Word* slots_ = NoSlots();
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;   // slots in use, "look aside" ones too
  std::size_t aside_ = 0;  // slots that say "look aside"
  std::size_t limit_ = 0;  // capacity_ * kLoadNum / kLoadDen
  Shape shape_;
  int bits_ = kHashBits;      // the hash bits below the prefix
  std::uint64_t prefix_ = 0;  // every key's hash >> bits_
  bool keep_old_ = false;
  std::vector<std::pair<Word*, std::size_t>> old_;  // KeepOldSlots: base, bytes
  AddressTable side_;
};

}  // namespace internal
}  // namespace ancient

#endif  // ANCIENT_INTERNAL_PACKED_ADDRESS_TABLE_H_
