#include "ancient/internal/packed_address_table.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace ancient {
namespace internal {

PackedAddressTable::Word* PackedAddressTable::NoSlots() {
  // Never written: inserts into an empty table grow it first.
  static Word none[2] = {0, 0};
  return none + 1;
}

void PackedAddressTable::Release() {
  if (capacity_ != 0)
    FreeTableMemory(slots_ - 1, (capacity_ + 1) * sizeof(Word));
  for (const auto& [base, bytes] : old_) FreeTableMemory(base, bytes);
  old_.clear();
  slots_ = NoSlots();
  capacity_ = 0;
}

PackedAddressTable& PackedAddressTable::operator=(
    PackedAddressTable&& o) noexcept {
  if (this == &o) return *this;
  Release();
  slots_ = std::exchange(o.slots_, NoSlots());
  capacity_ = std::exchange(o.capacity_, 0);
  used_ = std::exchange(o.used_, 0);
  aside_ = std::exchange(o.aside_, 0);
  limit_ = std::exchange(o.limit_, 0);
  shape_ = std::exchange(o.shape_, Shape{});
  bits_ = std::exchange(o.bits_, kHashBits);
  prefix_ = std::exchange(o.prefix_, 0);
  keep_old_ = std::exchange(o.keep_old_, false);
  old_ = std::move(o.old_);
  o.old_.clear();
  side_ = std::move(o.side_);
  return *this;
}

PackedAddressTable::Shape PackedAddressTable::ShapeOf(std::size_t capacity,
                                                      int bits) {
  // A slot keeps the hash bits below those the home slot gives: `bits`
  // less floor(log2(capacity)) (none when the slots outnumber the hashes).
  const int r_bits = std::max(0, bits - (63 - std::countl_zero(capacity)));
  Shape s;
  s.r_mask = (Word{1} << r_bits) - 1;
  s.key_mask = (Word{1} << (kDispBits + r_bits)) - 1;
  s.v_shift = kDispBits + r_bits;
  s.v_aside = (Word{1} << (64 - s.v_shift)) - 1;
  return s;
}

bool PackedAddressTable::Find(const void* addr, std::uint64_t* value) const {
  const std::uint64_t h = Hash(addr);
  if ((h >> bits_) == prefix_ && capacity_ != 0) {
    const Probe p = ProbeFor<false>(slots_, capacity_, shape_, bits_, h);
    if (p.kind == Probe::kEmpty) return false;
    if (p.kind == Probe::kFound &&
        (p.word >> shape_.v_shift) != shape_.v_aside) {
      *value = p.word >> shape_.v_shift;
      return true;
    }
  }
  const std::uint64_t* v = side_.Find(addr);
  if (v != nullptr) *value = *v;
  return v != nullptr;
}

bool PackedAddressTable::FindUnlocked(const Word* slots, int bits,
                                      const void* addr, std::uint64_t* value) {
  const std::size_t capacity = slots[-1];
  const std::uint64_t h = Hash(addr);
  if (h == kUnfit || capacity == 0) return false;
  const Shape shape = ShapeOf(capacity, bits);
  const Probe p = ProbeFor<true>(slots, capacity, shape, bits, h);
  if (p.kind != Probe::kFound || (p.word >> shape.v_shift) == shape.v_aside)
    return false;
  *value = p.word >> shape.v_shift;
  return true;
}

const void* PackedAddressTable::KeyAt(const Word* slots, std::size_t capacity,
                                      const Shape& shape, int bits,
                                      std::uint64_t prefix, std::size_t i) {
  const Word s = slots[i];
  const std::uint64_t d = (s & kMaxDisp) - 1;
  const std::uint64_t home = (i + capacity - d) % capacity;
  // The hashes with this home are those in [home, home + 1) * 2^bits /
  // capacity: at most 2^r_bits of them, so the one with these low bits is
  // unique.
  const auto lo = static_cast<std::uint64_t>(
      ((static_cast<unsigned __int128>(home) << bits) + capacity - 1) /
      capacity);
  const std::uint64_t r = (s >> kDispBits) & shape.r_mask;
  const std::uint64_t m = lo + ((r - lo) & shape.r_mask);
  return Unhash((prefix << bits) | m);
}

void PackedAddressTable::Insert(const void* addr, std::uint64_t v) {
  const std::uint64_t h = Hash(addr);
  if ((h >> bits_) == prefix_) {
    const Probe p = ProbeFor<false>(slots_, capacity_, shape_, bits_, h);
    if (p.kind == Probe::kEmpty) {
      Put(p.i, p.word, addr, v);
      return;
    }
  }
  side_.TryEmplace(addr).first->value = v;
}

void PackedAddressTable::Grow(std::size_t n) {
  std::size_t capacity = std::max<std::size_t>(16, 2 * capacity_);
  capacity = std::max(capacity, (n * kLoadDen + kLoadNum - 1) / kLoadNum);
  const std::size_t bytes = (capacity + 1) * sizeof(Word);
  Word* base = static_cast<Word*>(AllocateTableMemory(bytes));
  base[0] = capacity;  // for FindUnlocked
  // The old entries, reinserted into the new slots (side entries too: a
  // value that did not fit may fit now).
  Word* const old_slots = slots_;
  const std::size_t old_capacity = capacity_;
  const Shape old_shape = shape_;
  AddressTable old_side = std::move(side_);
  side_ = AddressTable();
  slots_ = base + 1;
  capacity_ = capacity;
  limit_ = capacity * kLoadNum / kLoadDen;
  shape_ = ShapeOf(capacity, bits_);
  used_ = 0;
  aside_ = 0;
  for (std::size_t i = 0; i < old_capacity; ++i) {
    const Word s = old_slots[i];
    if (s != 0 && (s >> old_shape.v_shift) != old_shape.v_aside) {
      Insert(KeyAt(old_slots, old_capacity, old_shape, bits_, prefix_, i),
             s >> old_shape.v_shift);
    }
  }
  old_side.ForEach(
      [&](const void* key, std::uint64_t value) { Insert(key, value); });
  if (old_capacity == 0) return;
  Word* const old_base = old_slots - 1;
  const std::size_t old_bytes = (old_capacity + 1) * sizeof(Word);
  if (!keep_old_) {
    FreeTableMemory(old_base, old_bytes);
    return;
  }
  // Readers may still probe the old slots: keep their address space, give
  // back their whole pages (they read as zeros: "not there"; a zero
  // capacity word too).
  DropTablePages(old_base, old_bytes);
  old_.emplace_back(old_base, old_bytes);
}

}  // namespace internal
}  // namespace ancient
