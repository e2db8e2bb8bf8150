#include "ancient/internal/address_table.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "ancient/internal/fatal.h"

namespace ancient {
namespace internal {

void AddressTable::Grow(std::size_t n) {
  std::size_t capacity = std::max<std::size_t>(16, 2 * capacity_);
  capacity = std::max(capacity, (n * kLoadDen + kLoadNum - 1) / kLoadNum);
  auto* slots = static_cast<Slot*>(std::calloc(capacity, sizeof(Slot)));
  if (slots == nullptr) {
    Fatal("ancient: out of memory for Mark's sharing table");
  }
  AddressTable bigger;
  bigger.slots_.reset(slots);
  bigger.capacity_ = capacity;
  bigger.limit_ = capacity * kLoadNum / kLoadDen;
  ForEach([&](const void* key, std::uint64_t value) {
    bigger.TryEmplace(key).first->value = value;
  });
  *this = std::move(bigger);
}

}  // namespace internal
}  // namespace ancient
