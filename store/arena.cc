#include "store/arena.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "absl/strings/str_format.h"
#include "ancient/block.h"
#include "store/lmdb_util.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace ancient::store_internal {
namespace {

constexpr std::uint64_t kPage = 4096;

// Where new stores' bases are picked: [lo, hi) ranges, in units of 4 GiB.
struct Window {
  std::uintptr_t lo, hi;
};
#if defined(__SANITIZE_THREAD__)
// ThreadSanitizer reserves nearly all the address space for itself; the
// application may map only a few ranges. Stores go in the one that has room
// (it also holds the executable, placed at random; a store whose base it
// covers is relocated in that process).
constexpr Window kWindows[] = {{0x5500, 0x5680}};
#else
// The usable user address space of x86-64 and arm64 (47-bit), less what
// others use: AddressSanitizer's shadow below 16 TiB; position-independent
// executables and their brk heap near 0x5555_5555_5000 (85.3 TiB, plus up
// to 1 TiB of randomisation); the kernel's top-down mmap area (libraries,
// stacks, big allocations, our own writable and relocated views) from
// 127 TiB down. A taken base is not an error (the store is relocated in that
// process); these windows only make it rare.
constexpr Window kWindows[] = {{0x1100, 0x5400}, {0x5800, 0x7000}};
#endif

std::uint64_t PageDown(std::uint64_t v) { return v & ~(kPage - 1); }
std::uint64_t PageUp(std::uint64_t v) { return (v + kPage - 1) & ~(kPage - 1); }

absl::Status ErrnoError(int err, std::string_view what) {
  return LmdbError(err, what);
}

// The end of the user address space that windows and views stay below
// (47 bits: x86-64, and arm64 unless asked for more).
constexpr std::uintptr_t kUserTop = std::uintptr_t{1} << 47;

// Reserves [addr, addr + len) without replacing anything; false if taken.
bool ReserveAt(char* addr, std::uint64_t len) {
  // A range past the user address space is never asked for: the kernel
  // would refuse it, but ThreadSanitizer's mmap drops a hint outside its
  // ranges, and the mapping then lands at 0 (where root may map) and kills
  // the process. (A view reserved at the top, extended by its headroom.)
  const auto at = reinterpret_cast<std::uintptr_t>(addr);
  if (at == 0 || len > kUserTop || at > kUserTop - len) return false;
  void* p = mmap(
      addr, len, PROT_NONE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (p == MAP_FAILED) return false;
  if (p != addr) {
    munmap(p, len);  // An old kernel took the flag as a hint.
    return false;
  }
  return true;
}

// Reserves `len` bytes wherever the kernel likes; nullptr when it cannot.
char* ReserveAnywhere(std::uint64_t len) {
  void* p = mmap(nullptr, len, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

// DataLoss unless a file of `size` bytes holds [0, end).
absl::Status LengthCovers(const std::string& path, std::uint64_t size,
                          std::uint64_t end) {
  if (size >= end) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrFormat("arena %s is %d bytes long; the store needs at least %d",
                      path, size, end));
}

// Reads exactly `len` bytes at `offset`; DataLoss on a short file.
absl::Status ReadFully(int fd, const std::string& path, char* to,
                       std::uint64_t len, std::uint64_t offset) {
  while (len > 0) {
    const ssize_t n = pread(fd, to, len, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, "reading " + path);
    if (n == 0) {
      return absl::DataLossError(absl::StrFormat(
          "arena %s ends before byte %d that a root needs", path, offset));
    }
    to += n;
    len -= static_cast<std::uint64_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

std::uint64_t Arena::ReservationFor(std::uint64_t size) {
  return AlignUp(std::max(size * 2, kGranule), kGranule);
}

absl::StatusOr<std::uintptr_t> Arena::PickBase() {
  std::uint64_t slots = 0;  // kGranule-sized slots in all windows
  for (const Window& w : kWindows) slots += ((w.hi - w.lo) << 32) / kGranule;
  std::random_device rd;
  std::mt19937_64 rng((static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
                      static_cast<std::uint64_t>(getpid()));
  for (int attempt = 0; attempt < 256; ++attempt) {
    std::uint64_t i = rng() % slots;
    for (const Window& w : kWindows) {
      const std::uint64_t n = ((w.hi - w.lo) << 32) / kGranule;
      if (i >= n) {
        i -= n;
        continue;
      }
      char* base = reinterpret_cast<char*>((w.lo << 32) + i * kGranule);
      if (ReserveAt(base, kGranule)) {
        munmap(base, kGranule);
        return reinterpret_cast<std::uintptr_t>(base);
      }
      break;
    }
  }
  return absl::ResourceExhaustedError(
      "no free range of address space found for a new store's base");
}

absl::StatusOr<std::unique_ptr<Arena>> Arena::Open(const std::string& path,
                                                   std::uintptr_t base,
                                                   std::uint64_t recorded_size,
                                                   bool writable, bool create) {
  if (base == 0 || base % kPage != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "arena %s: recorded base address %#x is not page-aligned", path, base));
  }
  const int flags =
      (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | (create ? O_CREAT : 0);
  const int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) return ErrnoError(errno, "open " + path);
  std::unique_ptr<Arena> arena(
      new Arena(path, fd, reinterpret_cast<char*>(base)));
  absl::StatusOr<std::uint64_t> size = arena->FileSize();
  if (!size.ok()) return size.status();
  absl::Status checked = LengthCovers(path, *size, recorded_size);
  if (!checked.ok()) return checked;
  const std::uint64_t reserve = ReservationFor(*size);
  std::lock_guard<std::mutex> lock(arena->mu_);
  if (ReserveAt(arena->base_, reserve)) {
    arena->inplace_ = View{arena->base_, reserve, 0};
    absl::Status s = arena->MapInPlaceLocked(0, *size);
    if (!s.ok()) return s;
  }  // Else the base is taken here: graphs are relocated (Resolve).
  if (writable) {
    char* addr = ReserveAnywhere(reserve);
    if (addr == nullptr) {
      return ErrnoError(errno, "reserving a writable view of " + path);
    }
    arena->write_ = View{addr, reserve, 0};
    absl::Status s = arena->MapFile(arena->write_, *size,
                                    PROT_READ | PROT_WRITE, MAP_SHARED);
    if (!s.ok()) return s;
  }
  return arena;
}

Arena::~Arena() {
  for (View* v : {&inplace_, &write_}) {
    if (v->reserved != 0) munmap(v->addr, v->reserved);
  }
  for (const auto& r : reloc_) munmap(r->view.addr, r->view.reserved);
  ::close(fd_);
}

absl::StatusOr<std::uint64_t> Arena::FileSize() const {
  struct stat st;
  if (fstat(fd_, &st) != 0) return ErrnoError(errno, "fstat " + path_);
  return static_cast<std::uint64_t>(st.st_size);
}

absl::Status Arena::CheckLength(std::uint64_t end) const {
  absl::StatusOr<std::uint64_t> size = FileSize();
  if (!size.ok()) return size.status();
  return LengthCovers(path_, *size, end);
}

absl::Status Arena::MapFile(View& view, std::uint64_t file_size, int prot,
                            int flags) {
  const std::uint64_t to = std::min(PageUp(file_size), view.reserved);
  if (to <= view.mapped) return absl::OkStatus();
  void* p = mmap(view.addr + view.mapped, to - view.mapped, prot,
                 flags | MAP_FIXED, fd_, static_cast<off_t>(view.mapped));
  if (p == MAP_FAILED) {
    return ErrnoError(
        errno, absl::StrFormat(
                   "mmap %s at %#x", path_,
                   reinterpret_cast<std::uintptr_t>(view.addr) + view.mapped));
  }
  view.mapped = to;
  return absl::OkStatus();
}

bool Arena::ExtendInPlace(View& view, std::uint64_t need,
                          std::uint64_t file_size) {
  if (view.reserved == 0 && view.addr == nullptr) return false;
  // The headroom first, then just what the file needs.
  for (const std::uint64_t want :
       {ReservationFor(std::max(need, file_size)), PageUp(need)}) {
    if (want <= view.reserved) continue;
    if (ReserveAt(view.addr + view.reserved, want - view.reserved)) {
      view.reserved = want;
      return true;
    }
  }
  return false;
}

absl::Status Arena::MapInPlaceLocked(std::uint64_t end,
                                     std::uint64_t file_size) {
  absl::Status s = LengthCovers(path_, file_size, end);
  if (!s.ok()) return s;
  s = MapFile(inplace_, file_size, PROT_READ, MAP_SHARED);
  if (!s.ok()) return s;
  mapped_.store(inplace_.mapped, std::memory_order_release);
  return absl::OkStatus();
}

absl::StatusOr<const char*> Arena::Resolve(const RootRecord& r) {
  const std::uint64_t end = r.offset + r.extent_size;
  std::lock_guard<std::mutex> lock(mu_);
  if (const char* p = InPlace(r.offset, end)) return p;  // Mapped meanwhile.
  absl::StatusOr<std::uint64_t> size = FileSize();
  if (!size.ok()) return size.status();
  if (*size < end) {
    return absl::DataLossError(absl::StrFormat(
        "arena %s is %d bytes long; the root needs bytes [%d, %d)", path_,
        *size, r.offset, end));
  }
  if (auto it = relocated_.find(r.offset);
      it != relocated_.end() && it->second.checksum == r.checksum &&
      it->second.graph_size == r.graph_size) {
    return it->second.addr;
  }
  if (inplace_.reserved == 0) inplace_.addr = base_;  // Free by now?
  if (end <= inplace_.reserved || ExtendInPlace(inplace_, end, *size)) {
    absl::Status s = MapInPlaceLocked(end, *size);
    if (!s.ok()) return s;
    return base_ + r.offset;
  }
  return Relocate(r, *size);
}

absl::StatusOr<const char*> Arena::Relocate(const RootRecord& r,
                                            std::uint64_t file_size) {
  const std::uint64_t end = r.offset + r.extent_size;
  if (reloc_.empty() || !(end <= reloc_.back()->view.reserved ||
                          ExtendInPlace(reloc_.back()->view, end, file_size))) {
    // A new view; older ones stay mapped for the roots that point into them.
    const std::uint64_t reserve = ReservationFor(file_size);
    char* addr = ReserveAnywhere(reserve);
    if (addr == nullptr) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "arena %s: no %d bytes of address space to relocate the store to",
          path_, reserve));
    }
    reloc_.push_back(std::make_unique<RelocView>());
    reloc_.back()->view = View{addr, reserve, 0};
    relocated_.clear();
  }
  RelocView& rv = *reloc_.back();
  absl::Status s = MapFile(rv.view, file_size, PROT_READ, MAP_PRIVATE);
  if (!s.ok()) return s;

  // The record comes from the file, never from a possibly stale private page.
  std::string relocs(r.reloc_size, '\0');
  s = ReadFully(fd_, path_, relocs.data(), r.reloc_size,
                r.offset + r.graph_size);
  if (!s.ok()) return s;
  // Pages to write: those holding pointers (a first write copies the page
  // cache's current page), and those made private before, for another
  // graph, whose copy of this graph's bytes may be stale: those are read
  // afresh from the file.
  std::vector<std::uint64_t> pages, stale;
  RelocationReader reader(relocs);
  for (std::uint64_t slot; reader.Next(&slot);) {
    if (slot > r.graph_size || r.graph_size - slot < sizeof(void*)) break;
    const std::uint64_t page = (r.offset + slot) / kPage;
    if (pages.empty() || pages.back() != page) pages.push_back(page);
  }
  const std::uint64_t first = r.offset / kPage;
  const std::uint64_t last = (r.offset + r.graph_size - 1) / kPage;
  if (!rv.private_pages.empty()) {
    for (std::uint64_t p = first; p <= last; ++p) {
      if (rv.private_pages.contains(p)) stale.push_back(p);
    }
    pages.insert(pages.end(), stale.begin(), stale.end());
    std::sort(pages.begin(), pages.end());
    pages.erase(std::unique(pages.begin(), pages.end()), pages.end());
  }
  char* const view = rv.view.addr;
  auto protect = [&](int prot) {
    for (std::size_t i = 0; i < pages.size();) {
      std::size_t j = i + 1;
      while (j < pages.size() && pages[j] == pages[j - 1] + 1) ++j;
      if (mprotect(view + pages[i] * kPage, (j - i) * kPage, prot) != 0) {
        return ErrnoError(errno, "mprotect of a relocated view of " + path_);
      }
      i = j;
    }
    return absl::OkStatus();
  };
  s = protect(PROT_READ | PROT_WRITE);
  for (std::size_t i = 0; s.ok() && i < stale.size(); ++i) {
    const std::uint64_t lo = std::max(stale[i] * kPage, r.offset);
    const std::uint64_t hi =
        std::min((stale[i] + 1) * kPage, r.offset + r.graph_size);
    s = ReadFully(fd_, path_, view + lo, hi - lo, lo);
  }
  if (s.ok()) {
    XXH3_state_t* st = XXH3_createState();
    XXH3_64bits_reset(st);
    XXH3_64bits_update(st, view + r.offset, r.graph_size);
    XXH3_64bits_update(st, relocs.data(), relocs.size());
    const bool match = XXH3_64bits_digest(st) == r.checksum;
    XXH3_freeState(st);
    if (!match) {
      s = absl::DataLossError(
          absl::StrFormat("arena %s: the graph at offset %d fails its checksum",
                          path_, r.offset));
    }
  }
  if (s.ok()) {
    s = RelocateBlock(view + r.offset, r.graph_size, relocs,
                      reinterpret_cast<std::uintptr_t>(base_) + r.offset,
                      reinterpret_cast<std::uintptr_t>(view) + r.offset);
    if (!s.ok()) {
      s = absl::DataLossError(absl::StrFormat(
          "arena %s, graph at offset %d: %s", path_, r.offset, s.message()));
    }
  }
  absl::Status back = protect(PROT_READ);
  if (!s.ok()) return s;
  if (!back.ok()) return back;
  for (const std::uint64_t p : pages) {
    if (rv.private_pages.insert(p).second) bytes_relocated_ += kPage;
  }
  ++graphs_relocated_;
  relocated_[r.offset] = Relocated{r.checksum, r.graph_size, view + r.offset};
  return view + r.offset;
}

absl::StatusOr<const char*> Arena::RawBytes(std::uint64_t offset,
                                            std::uint64_t len,
                                            std::string* buf) {
  const std::uint64_t end = offset + len;
  if (const char* p = InPlace(offset, end)) return p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (end <= inplace_.reserved) {
      absl::StatusOr<std::uint64_t> size = FileSize();
      if (!size.ok()) return size.status();
      absl::Status s = MapInPlaceLocked(end, *size);
      if (!s.ok()) return s;
      return base_ + offset;
    }
  }
  buf->resize(len);
  absl::Status s = ReadFully(fd_, path_, buf->data(), len, offset);
  if (!s.ok()) return s;
  return buf->data();
}

absl::Status Arena::MapForWrite(std::uint64_t end) {
  std::lock_guard<std::mutex> lock(mu_);
  if (end <= write_.mapped) return absl::OkStatus();
  absl::StatusOr<std::uint64_t> size = FileSize();
  if (!size.ok()) return size.status();
  absl::Status s = LengthCovers(path_, *size, end);
  if (s.ok()) s = CoverWrite(end, *size);
  if (!s.ok()) return s;
  return MapFile(write_, *size, PROT_READ | PROT_WRITE, MAP_SHARED);
}

absl::Status Arena::ReserveForWrite(std::uint64_t end) {
  std::lock_guard<std::mutex> lock(mu_);
  if (end <= write_.reserved) return absl::OkStatus();
  absl::StatusOr<std::uint64_t> size = FileSize();
  if (!size.ok()) return size.status();
  absl::Status s = CoverWrite(end, *size);
  if (!s.ok()) return s;
  return MapFile(write_, *size, PROT_READ | PROT_WRITE, MAP_SHARED);
}

absl::Status Arena::CoverWrite(std::uint64_t end, std::uint64_t file_size) {
  if (end <= write_.reserved || ExtendInPlace(write_, end, file_size)) {
    return absl::OkStatus();
  }
  // Move the view: only the writer uses it, and it holds the write lock.
  const std::uint64_t reserve =
      std::max(ReservationFor(file_size), PageUp(end));
  char* addr = ReserveAnywhere(reserve);
  if (addr == nullptr) {
    return ErrnoError(
        errno, absl::StrFormat("reserving %d bytes for a writable view of %s",
                               reserve, path_));
  }
  munmap(write_.addr, write_.reserved);
  write_ = View{addr, reserve, 0};
  return absl::OkStatus();
}

absl::Status Arena::Grow(std::uint64_t size) {
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
  return MapForWrite(size);
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
  std::lock_guard<std::mutex> lock(mu_);
  if (ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return ErrnoError(
        errno, absl::StrFormat("truncating %s to %d bytes", path_, size));
  }
  // Pages past the new end must be mapped afresh before they are used.
  for (View* v : {&inplace_, &write_}) {
    v->mapped = std::min(v->mapped, PageUp(size));
  }
  for (const auto& r : reloc_) {
    r->view.mapped = std::min(r->view.mapped, PageUp(size));
  }
  mapped_.store(inplace_.mapped, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Arena::WriteAt(std::uint64_t offset, const char* data,
                            std::uint64_t len) {
  while (len > 0) {
    const ssize_t n = ::pwrite(fd_, data, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, absl::StrFormat("pwrite %s", path_));
    }
    data += n;
    offset += static_cast<std::uint64_t>(n);
    len -= static_cast<std::uint64_t>(n);
  }
  return absl::OkStatus();
}

absl::Status Arena::WriteZeros(std::uint64_t offset, std::uint64_t len) {
  static const std::string* const kZeros =
      new std::string(std::size_t{1} << 20, '\0');
  while (len > 0) {
    const std::uint64_t n = std::min<std::uint64_t>(len, kZeros->size());
    absl::Status s = WriteAt(offset, kZeros->data(), n);
    if (!s.ok()) return s;
    offset += n;
    len -= n;
  }
  return absl::OkStatus();
}

void Arena::StartWriteBack(std::uint64_t offset, std::uint64_t len) {
  ::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(len),
                    SYNC_FILE_RANGE_WRITE);
}

absl::Status Arena::Sync(std::uint64_t offset, std::uint64_t len) {
  const std::uint64_t lo = PageDown(offset);
  const std::uint64_t hi = PageUp(offset + len);
  if (hi > lo && msync(write_.addr + lo, hi - lo, MS_SYNC) != 0) {
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

Arena::Usage Arena::usage() const {
  std::lock_guard<std::mutex> lock(mu_);
  Usage u;
  u.relocated = inplace_.reserved == 0 || graphs_relocated_ > 0;
  u.graphs_relocated = graphs_relocated_;
  u.bytes_relocated = bytes_relocated_;
  u.address_reserved = inplace_.reserved + write_.reserved;
  for (const auto& r : reloc_) u.address_reserved += r->view.reserved;
  return u;
}

}  // namespace ancient::store_internal
