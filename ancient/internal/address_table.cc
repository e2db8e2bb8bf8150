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

namespace {

// Tables of at least this many bytes are mapped on their own and
// prefaulted writable (see AllocateTableMemory); smaller ones come from the
// heap.
constexpr std::size_t kMapBytes = std::size_t{1} << 20;

std::size_t PageSize() {
  return static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

void FreeTableMemory(void* p, std::size_t bytes) {
  if (p == nullptr) return;
  if (bytes >= kMapBytes) {
    munmap(p, bytes);
  } else {
    std::free(p);
  }
}

void* AllocateTableMemory(std::size_t bytes) {
  // Every page is written before the first lookup. A lookup reads its slot
  // before an insert writes it: on a page never written, the read maps
  // the shared zero page and the write then copies it, a second fault
  // whose flush of the old mapping interrupts every other core running
  // this process (a fifth of two workers' time on the 1M-node graph,
  // perf). Uniform hashing writes every page of a table past a few
  // thousand entries anyway, so nothing is made resident that would not be.
  void* p = nullptr;
  if (bytes >= kMapBytes) {
    // Its own mapping, faulted in by one call (kernels before 5.14 refuse
    // MADV_POPULATE_WRITE: then page by page, as before), and unmapped when
    // freed: pages of a table are never left in the heap for others.
    p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) p = nullptr;
    if (p != nullptr) madvise(p, bytes, MADV_POPULATE_WRITE);
  } else {
    // Zeroed by calloc (heap memory it hands out again is written by its
    // memset; memory fresh from the system is not, so each page gets a
    // write of its own). Not malloc and memset: GCC turns those into
    // calloc at -O2, which is how the opt build came to skip the writes.
    p = std::calloc(1, bytes);
    if (p != nullptr) {
      const std::size_t page = PageSize();
      auto* bytes_at = static_cast<volatile char*>(p);
      for (std::size_t i = 0; i < bytes; i += page) bytes_at[i] = 0;
      bytes_at[bytes - 1] = 0;  // the last page, when p is not page-aligned
    }
  }
  if (p == nullptr) Fatal("ancient: out of memory for Mark's sharing table");
  return p;
}

void DropTablePages(void* p, std::size_t bytes) {
  const std::uintptr_t page = PageSize();
  const auto from = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t begin = (from + page - 1) & ~(page - 1);
  const std::uintptr_t end = (from + bytes) & ~(page - 1);
  if (begin < end) {
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  }
}

AddressTable::Slots AddressTable::Allocate(std::size_t capacity) {
  const std::size_t bytes = capacity * sizeof(Slot);
  return Slots(static_cast<Slot*>(AllocateTableMemory(bytes)), Free{bytes});
}

void AddressTable::Grow(std::size_t n) {
  std::size_t capacity = std::max<std::size_t>(16, 2 * capacity_);
  capacity = std::max(capacity, (n * kLoadDen + kLoadNum - 1) / kLoadNum);
  AddressTable bigger;
  bigger.slots_ = Allocate(capacity);
  bigger.capacity_ = capacity;
  bigger.limit_ = capacity * kLoadNum / kLoadDen;
  ForEach([&](const void* key, std::uint64_t value) {
    bigger.TryEmplace(key).first->value = value;
  });
  slots_ = std::move(bigger.slots_);
  capacity_ = bigger.capacity_;
  limit_ = bigger.limit_;
}

}  // namespace internal
}  // namespace ancient
