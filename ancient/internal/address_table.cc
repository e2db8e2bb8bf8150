#include "ancient/internal/address_table.h"

#include <sys/mman.h>
#include <unistd.h>

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
  if (keep_old_ && slots_ != nullptr) {
    // Readers may still probe the old slots: keep their address space,
    // give back their whole pages (they read as zeros: "not there").
    const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto from = reinterpret_cast<std::uintptr_t>(slots_.get());
    const std::uintptr_t begin = (from + page - 1) & ~(page - 1);
    const std::uintptr_t end = (from + bytes()) & ~(page - 1);
    if (begin < end) {
      madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
    }
    old_.push_back(std::move(slots_));
  }
  slots_ = std::move(bigger.slots_);
  capacity_ = bigger.capacity_;
  limit_ = bigger.limit_;
}

}  // namespace internal
}  // namespace ancient
