#include "ancient/block.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "absl/strings/str_format.h"
#include "ancient/internal/mark_context.h"
#include "ancient/internal/varint.h"

namespace ancient {

namespace internal {
namespace {

constexpr std::uint64_t kZeroStep = 16 << 10;  // heap buffer: cleared in steps
constexpr std::uint64_t kFirstMapping = std::uint64_t{64} << 20;

std::uint64_t RoundUp(std::uint64_t n, std::uint64_t to) {
  return (n + to - 1) / to * to;
}
std::uint64_t PageSize() {
  return static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace

GrowableBlock::GrowableBlock(bool huge_pages) : huge_pages_(huge_pages) {
  base_ = static_cast<char*>(
      ::operator new (kHeapBytes, std::align_val_t{kBlockAlignment}));
}

GrowableBlock::~GrowableBlock() {
  if (reserved_ != 0) {
    munmap(base_, reserved_);
  } else {
    FreeBlock(base_, mapped_);
  }
}

namespace {
// Address space reserved for a block that outgrows the heap buffer, so that
// it grows in place (no copy, no pointers to move); halved until the kernel
// gives it. Nothing is committed until used.
constexpr std::uint64_t kReserveMax = std::uint64_t{1} << 40;
constexpr std::uint64_t kReserveMin = std::uint64_t{1} << 30;

// Makes [p, p + len) readable and writable, asking for huge pages if
// `huge` (see MarkOptions::huge_pages).
bool CommitRange(char* p, std::uint64_t len, bool huge) {
  if (mprotect(p, len, PROT_READ | PROT_WRITE) != 0) return false;
  if (huge) madvise(p, len, MADV_HUGEPAGE);
  return true;
}
}  // namespace

bool GrowableBlock::Grow(void* self, std::uint64_t need,
                         MarkContext::Room* room) {
  auto* b = static_cast<GrowableBlock*>(self);
  if (need > MarkContext::kMaxBlockBytes) return false;
  if (b->mapped_ == 0 && need <= kHeapBytes) {  // clear the next step
    const std::uint64_t to = std::min(RoundUp(need, kZeroStep), kHeapBytes);
    std::memset(b->base_ + b->ready_, 0, to - b->ready_);
    b->ready_ = to;
  } else if (b->mapped_ == 0) {  // from the heap buffer to a mapping
    std::uint64_t len = kFirstMapping;
    while (len < need) len *= 2;
    void* p = MAP_FAILED;
    std::uint64_t reserve = kReserveMax;
    for (; reserve >= std::max(kReserveMin, len); reserve /= 2) {
      p = mmap(nullptr, reserve, PROT_NONE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p != MAP_FAILED) break;
    }
    if (p != MAP_FAILED &&
        !CommitRange(static_cast<char*>(p), len, b->huge_pages_)) {
      munmap(p, reserve);
      return false;
    }
    if (p == MAP_FAILED) {  // no reservation: a mapping that may move
      reserve = 0;
      p = mmap(nullptr, len, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p == MAP_FAILED) return false;
      if (b->huge_pages_) madvise(p, len, MADV_HUGEPAGE);
    }
    std::memcpy(p, b->base_, b->ready_);
    ::operator delete (b->base_, std::align_val_t{kBlockAlignment});
    b->base_ = static_cast<char*>(p);
    b->reserved_ = reserve;
    b->mapped_ = b->ready_ = len;
  } else {  // more of the reservation, or a bigger mapping
    std::uint64_t len = b->mapped_;
    while (len < need) len *= 2;
    if (len <= b->reserved_) {
      if (!CommitRange(b->base_ + b->mapped_, len - b->mapped_,
                       b->huge_pages_)) {
        return false;
      }
    } else {
      if (b->reserved_ != 0) {  // past the reservation: it moves after all
        munmap(b->base_ + b->mapped_, b->reserved_ - b->mapped_);
        b->reserved_ = 0;
      }
      void* p = mremap(b->base_, b->mapped_, len, MREMAP_MAYMOVE);
      if (p == MAP_FAILED) return false;
      b->base_ = static_cast<char*>(p);
    }
    b->mapped_ = b->ready_ = len;
  }
  *room = MarkContext::Room{b->base_, b->base_, b->ready_};
  return true;
}

void* GrowableBlock::Release(std::uint64_t size, std::size_t* mapped) {
  if (mapped_ != 0) {
    const std::uint64_t keep =
        RoundUp(std::max<std::uint64_t>(size, 1), PageSize());
    const std::uint64_t total = std::max(reserved_, mapped_);
    if (keep < total) munmap(base_ + keep, total - keep);
    mapped_ = keep;
  }
  *mapped = mapped_;
  void* out = base_;
  base_ = nullptr;
  ready_ = mapped_ = reserved_ = 0;
  return out;
}

void FreeBlock(void* base, std::size_t mapped) {
  if (base == nullptr) return;
  if (mapped != 0) {
    munmap(base, mapped);
  } else {
    ::operator delete (base, std::align_val_t{kBlockAlignment});
  }
}

}  // namespace internal

std::string EncodeRelocations(std::vector<std::uint64_t>& slots) {
  if (!std::is_sorted(slots.begin(), slots.end())) {
    std::sort(slots.begin(), slots.end());
  }
  // At most 10 bytes a varint; written through a pointer, then trimmed.
  std::string out(slots.size() * 10, '\0');
  char* p = out.data();
  std::uint64_t last = 0;
  for (const std::uint64_t slot : slots) {
    p = internal::PutVarint(p, (slot - last) / 8);
    last = slot;
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
  return out;
}

bool RelocationReader::Next(std::uint64_t* slot) {
  if (rest_.empty() || !status_.ok()) return false;
  std::uint64_t v = 0;
  int shift = 0;
  std::size_t i = 0;
  while (true) {
    if (i == rest_.size() || shift > 63) {
      status_ = absl::DataLossError(
          "relocation record: truncated or overlong varint");
      return false;
    }
    const auto byte = static_cast<unsigned char>(rest_[i++]);
    v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    shift += 7;
    if ((byte & 0x80) == 0) break;
  }
  rest_.remove_prefix(i);
  if (v > (~std::uint64_t{0} - last_) / 8 || (v == 0 && !first_)) {
    status_ =
        absl::DataLossError("relocation record: slots not strictly increasing");
    return false;
  }
  first_ = false;
  last_ += v * 8;
  *slot = last_;
  return true;
}

namespace {

// Calls f(slot, value) for every slot, after checking both.
template <class F>
absl::Status CheckSlots(const void* base, std::uint64_t size,
                        std::string_view relocs, std::uintptr_t value_base,
                        F f) {
  RelocationReader reader(relocs);
  std::uint64_t slot;
  while (reader.Next(&slot)) {
    if (slot > size || size - slot < sizeof(std::uintptr_t)) {
      return absl::DataLossError(absl::StrFormat(
          "relocation record names slot at offset %d, outside the %d-byte "
          "block at %#x",
          slot, size, reinterpret_cast<std::uintptr_t>(base)));
    }
    std::uintptr_t value;
    std::memcpy(&value, static_cast<const char*>(base) + slot, sizeof value);
    if (value < value_base || value - value_base >= size) {
      return absl::DataLossError(absl::StrFormat(
          "pointer at offset %d of the block at %#x holds %#x, outside the "
          "block's %d bytes",
          slot, reinterpret_cast<std::uintptr_t>(base), value, size));
    }
    f(slot, value);
  }
  return reader.status();
}

}  // namespace

absl::Status VerifyBlock(const void* base, std::uint64_t size,
                         std::string_view relocs) {
  return VerifyBlock(base, size, relocs,
                     reinterpret_cast<std::uintptr_t>(base));
}

absl::Status VerifyBlock(const void* base, std::uint64_t size,
                         std::string_view relocs, std::uintptr_t written_for) {
  return CheckSlots(base, size, relocs, written_for,
                    [](std::uint64_t, std::uintptr_t) {});
}

absl::Status RelocateBlock(void* base, std::uint64_t size,
                           std::string_view relocs, std::uintptr_t old_base) {
  return RelocateBlock(base, size, relocs, old_base,
                       reinterpret_cast<std::uintptr_t>(base));
}

absl::Status RelocateBlock(void* base, std::uint64_t size,
                           std::string_view relocs, std::uintptr_t old_base,
                           std::uintptr_t new_base) {
  absl::Status s = CheckSlots(base, size, relocs, old_base,
                              [](std::uint64_t, std::uintptr_t) {});
  if (!s.ok()) return s;
  const std::uintptr_t delta = new_base - old_base;
  return CheckSlots(base, size, relocs, old_base,
                    [&](std::uint64_t slot, std::uintptr_t value) {
                      value += delta;
                      std::memcpy(static_cast<char*>(base) + slot, &value,
                                  sizeof value);
                    });
}

}  // namespace ancient
