#include "store/arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "store/lmdb_util.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace ancient::store_internal {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer reserves nearly all the address space for itself; the
// application may map only a few ranges. Stores go in the one that has room
// (it also holds the executable, placed at random: a store whose base an
// executable happens to cover cannot open in that process), and reserve at
// most 4 GiB there to make that rare.
constexpr std::uintptr_t kBaseLow = std::uintptr_t{0x5500} << 32;
constexpr std::uintptr_t kBaseHigh = std::uintptr_t{0x5680} << 32;
constexpr std::uint64_t kMaxReserve = std::uint64_t{4} << 30;
#else
constexpr std::uintptr_t kBaseLow = std::uintptr_t{0x2000} << 32;   // 32 TiB
constexpr std::uintptr_t kBaseHigh = std::uintptr_t{0x5000} << 32;  // 80 TiB
constexpr std::uint64_t kMaxReserve = kBaseHigh - kBaseLow;
#endif

std::uint64_t PageDown(std::uint64_t v) { return v & ~(kPage - 1); }
std::uint64_t PageUp(std::uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

// System call errors map to Status codes as LMDB's do.
absl::Status ErrnoError(int err, std::string_view what) {
  return LmdbError(err, what);
}

// Reserves [base, base + len) without replacing anything; false if taken.
bool Reserve(std::uintptr_t base, std::uint64_t len) {
  void* p = mmap(
      reinterpret_cast<void*>(base), len, PROT_NONE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return false;
  if (reinterpret_cast<std::uintptr_t>(p) != base) {
    munmap(p, len);  // An old kernel took the flag as a hint.
    return false;
  }
  return true;
}

}  // namespace

std::string DescribeMappings(std::uintptr_t start, std::uint64_t len) {
  std::ifstream maps("/proc/self/maps");
  std::string line, out;
  const std::uintptr_t end = start + len;
  while (std::getline(maps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi) != 2) continue;
    if (hi <= start || lo >= end) continue;
    std::vector<std::string> f =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    std::string what = f.size() >= 6 ? f[5] : "anonymous memory";
    out += Cat(out.empty() ? "" : "; ",
               absl::StrFormat("%#x-%#x %s %s", lo, hi,
                               f.size() > 1 ? f[1] : "", what));
  }
  return out.empty() ? "an unknown mapping" : out;
}

absl::StatusOr<std::uintptr_t> Arena::PickBase(std::uint64_t reserve) {
  reserve = std::min(reserve, kMaxReserve);
  const std::uint64_t slot = (reserve + kGiB - 1) / kGiB * kGiB;
  if (slot == 0 || slot > kBaseHigh - kBaseLow) {
    return absl::InvalidArgumentError(
        absl::StrFormat("max_size %d is larger than the address range "
                        "stores are placed in",
                        reserve));
  }
  const std::uint64_t slots = (kBaseHigh - kBaseLow - slot) / kGiB + 1;
  std::random_device rd;
  std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<std::uint64_t>(getpid()));
  const std::uint64_t first = rng() % slots;
  // Try a few random places, then scan upwards from the first.
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::uint64_t i =
        attempt < 16 ? rng() % slots : (first + attempt) % slots;
    const std::uintptr_t base = kBaseLow + i * kGiB;
    if (Reserve(base, reserve)) {
      munmap(reinterpret_cast<void*>(base), reserve);
      return base;
    }
  }
  return absl::ResourceExhaustedError(absl::StrFormat(
      "no free range of %d bytes of address space found for a new store",
      reserve));
}

absl::StatusOr<std::unique_ptr<Arena>> Arena::Open(const std::string& path,
                                                   std::uintptr_t base,
                                                   std::uint64_t reserve,
                                                   bool writable, bool create) {
  reserve = PageUp(std::min(reserve, kMaxReserve));
  if (base == 0 || base % kPage != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "arena %s: recorded base address %#x is not page-aligned", path, base));
  }
  const int flags =
      (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | (create ? O_CREAT : 0);
  const int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) return ErrnoError(errno, Cat("open ", path));
  if (!Reserve(base, reserve)) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrFormat(
        "arena %s: cannot map at its base address %#x (%d bytes): the range "
        "is taken in this process by %s",
        path, base, reserve, DescribeMappings(base, reserve)));
  }
  std::unique_ptr<Arena> arena(
      new Arena(path, fd, reinterpret_cast<char*>(base), reserve));
  if (writable) {
    // The writer's second view: same size, anywhere, writable.
    void* alias = mmap(nullptr, reserve, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (alias == MAP_FAILED) {
      return ErrnoError(errno, Cat("reserving a writable view of ", path));
    }
    arena->write_base_ = static_cast<char*>(alias);
  }
  absl::StatusOr<std::uint64_t> size = arena->FileSize();
  if (!size.ok()) return size.status();
  if (*size > 0) {
    absl::Status s = arena->MapMore(std::min(*size, reserve));
    if (!s.ok()) return s;
  }
  return arena;
}

Arena::~Arena() {
  munmap(base_, reserve_);
  if (write_base_ != nullptr) munmap(write_base_, reserve_);
  ::close(fd_);
}

absl::StatusOr<std::uint64_t> Arena::FileSize() const {
  struct stat st;
  if (fstat(fd_, &st) != 0) return ErrnoError(errno, "fstat " + path_);
  return static_cast<std::uint64_t>(st.st_size);
}

absl::Status Arena::MapMore(std::uint64_t end) {
  std::lock_guard<std::mutex> lock(grow_mu_);
  const std::uint64_t have = mapped();
  if (end <= have) return absl::OkStatus();
  if (end > reserve_) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "arena %s: %d bytes needed, beyond the %d bytes reserved (max_size)",
        path_, end, reserve_));
  }
  absl::StatusOr<std::uint64_t> size = FileSize();
  if (!size.ok()) return size.status();
  if (*size < end) {
    return absl::DataLossError(absl::StrFormat(
        "arena %s is %d bytes long; the store needs at least %d", path_, *size,
        end));
  }
  // Map whole pages up to the file's end (within the reservation).
  const std::uint64_t to = std::min(PageUp(*size), reserve_);
  void* p = mmap(base_ + have, to - have, PROT_READ, MAP_SHARED | MAP_FIXED,
                 fd_, static_cast<off_t>(have));
  if (p == MAP_FAILED) {
    return ErrnoError(
        errno, absl::StrFormat("mmap %s at %#x", path_,
                               reinterpret_cast<std::uintptr_t>(base_ + have)));
  }
  if (write_base_ != nullptr) {
    p = mmap(write_base_ + have, to - have, PROT_READ | PROT_WRITE,
             MAP_SHARED | MAP_FIXED, fd_, static_cast<off_t>(have));
    if (p == MAP_FAILED) {
      return ErrnoError(errno, Cat("mapping a writable view of ", path_));
    }
  }
  mapped_.store(to, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Arena::Grow(std::uint64_t size) {
  if (size > reserve_) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "arena %s: growing to %d bytes would pass max_size (%d bytes)", path_,
        size, reserve_));
  }
  absl::StatusOr<std::uint64_t> have = FileSize();
  if (!have.ok()) return have.status();
  if (size > *have) {
    const int rc = posix_fallocate(fd_, static_cast<off_t>(*have),
                                   static_cast<off_t>(size - *have));
    if (rc != 0) {
      // Give back what was allocated, so the disk is not left full.
      if (ftruncate(fd_, static_cast<off_t>(*have)) != 0) {
        // The file keeps its extra length: harmless, reused by later growth.
      }
      return ErrnoError(
          rc, absl::StrFormat("growing arena %s to %d bytes", path_, size));
    }
    size_changed_ = true;
  }
  return MapMore(size);
}

absl::StatusOr<bool> Arena::TailIsZero(std::uint64_t from) const {
  char buf[1 << 16];
  for (std::uint64_t at = from;;) {
    const ssize_t n = pread(fd_, buf, sizeof buf, static_cast<off_t>(at));
    if (n < 0) return ErrnoError(errno, "reading " + path_);
    if (n == 0) return true;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != 0) return false;
    }
    at += static_cast<std::uint64_t>(n);
  }
}

absl::Status Arena::Truncate(std::uint64_t size) {
  std::lock_guard<std::mutex> lock(grow_mu_);
  if (ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return ErrnoError(
        errno, absl::StrFormat("truncating %s to %d bytes", path_, size));
  }
  // Pages past the new end must be mapped afresh before they are used.
  if (mapped() > PageUp(size)) {
    mapped_.store(PageUp(size), std::memory_order_release);
  }
  return absl::OkStatus();
}

absl::Status Arena::Sync(std::uint64_t offset, std::uint64_t len) {
  const std::uint64_t lo = PageDown(offset);
  const std::uint64_t hi = PageUp(offset + len);
  if (hi > lo && msync(base_ + lo, hi - lo, MS_SYNC) != 0) {
    return ErrnoError(errno, absl::StrFormat("msync %s", path_));
  }
  if (size_changed_) {
    if (fdatasync(fd_) != 0) {
      return ErrnoError(errno, absl::StrFormat("fdatasync %s", path_));
    }
    size_changed_ = false;
  }
  return absl::OkStatus();
}

}  // namespace ancient::store_internal
