#include "ancient/internal/packed_address_table.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace ancient {
namespace internal {

PackedAddressTable& PackedAddressTable::operator=(
    PackedAddressTable&& o) noexcept {
  if (this == &o) return *this;
  FreeTableMemory(slots_, capacity_ * sizeof(Word));
  slots_ = std::exchange(o.slots_, nullptr);
  capacity_ = std::exchange(o.capacity_, 0);
  used_ = std::exchange(o.used_, 0);
  aside_ = std::exchange(o.aside_, 0);
  limit_ = std::exchange(o.limit_, 0);
  v_shift_ = std::exchange(o.v_shift_, 0);
  r_mask_ = std::exchange(o.r_mask_, 0);
  key_mask_ = std::exchange(o.key_mask_, 0);
  v_aside_ = std::exchange(o.v_aside_, 0);
  side_ = std::move(o.side_);
  return *this;
}

bool PackedAddressTable::Find(const void* addr, std::uint64_t* value) const {
  const std::uint64_t h = Hash(addr);
  if (h != kUnfit && capacity_ != 0) {
    std::size_t i = Home(h);
    const std::uint64_t key = (h & r_mask_) << kDispBits;
    for (std::uint64_t d = 1; d <= kMaxDisp; ++d) {
      const Word s = slots_[i];
      if ((s & key_mask_) == (key | d)) {
        if ((s >> v_shift_) == v_aside_) break;
        *value = s >> v_shift_;
        return true;
      }
      if (s == 0) return false;
      if (++i == capacity_) i = 0;
    }
  }
  const std::uint64_t* v = side_.Find(addr);
  if (v != nullptr) *value = *v;
  return v != nullptr;
}

const void* PackedAddressTable::KeyAt(std::size_t i) const {
  const Word s = slots_[i];
  const std::uint64_t d = (s & kMaxDisp) - 1;
  const std::uint64_t home = (i + capacity_ - d) % capacity_;
  // The hashes with this home are those in [home, home + 1) * 2^44 /
  // capacity: fewer than 2^r_bits of them, so the one with these low bits
  // is unique.
  const auto lo = static_cast<std::uint64_t>(
      ((static_cast<unsigned __int128>(home) << kHashBits) + capacity_ - 1) /
      capacity_);
  const std::uint64_t r = (s >> kDispBits) & r_mask_;
  return Unhash(lo + ((r - lo) & r_mask_));
}

void PackedAddressTable::Insert(const void* addr, std::uint64_t v) {
  const std::uint64_t h = Hash(addr);
  if (h != kUnfit) {
    std::size_t i = Home(h);
    const std::uint64_t key = (h & r_mask_) << kDispBits;
    for (std::uint64_t d = 1; d <= kMaxDisp; ++d) {
      if (slots_[i] == 0) {
        Put(i, key | d, addr, v);
        return;
      }
      if (++i == capacity_) i = 0;
    }
  }
  side_.TryEmplace(addr).first->value = v;
}

void PackedAddressTable::Grow(std::size_t n) {
  std::size_t capacity = std::max<std::size_t>(16, 2 * capacity_);
  capacity = std::max(capacity, (n * kLoadDen + kLoadNum - 1) / kLoadNum);
  PackedAddressTable bigger;
  bigger.slots_ =
      static_cast<Word*>(AllocateTableMemory(capacity * sizeof(Word)));
  bigger.capacity_ = capacity;
  bigger.limit_ = capacity * kLoadNum / kLoadDen;
  // A slot keeps the hash bits below those the home slot gives: 44 less
  // floor(log2(capacity)).
  const int r_bits = kHashBits - (63 - std::countl_zero(capacity));
  bigger.r_mask_ = (Word{1} << r_bits) - 1;
  bigger.key_mask_ = (Word{1} << (kDispBits + r_bits)) - 1;
  bigger.v_shift_ = kDispBits + r_bits;
  bigger.v_aside_ = (Word{1} << (64 - bigger.v_shift_)) - 1;
  ForEach(
      [&](const void* key, std::uint64_t value) { bigger.Insert(key, value); });
  *this = std::move(bigger);
}

}  // namespace internal
}  // namespace ancient
