// Internal: the arena file, mapped at a fixed address.
//
// Open reserves [base, base + reserve) of address space with
// MAP_FIXED_NOREPLACE (so it never replaces an existing mapping), then maps
// the file over the front of that reservation. Growth maps more of the file
// in place, inside the reservation: the arena never moves. The mapping at the
// base is always PROT_READ, so no process can write through a root. A
// writable Arena also maps the file a second time, read-write, at an address
// the kernel picks: the writer writes graphs there (with pointers for the
// base), without changing any protection.

#ifndef ANCIENT_STORE_ARENA_H_
#define ANCIENT_STORE_ARENA_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ancient::store_internal {

class Arena {
 public:
  // Opens (or, with `create`, creates with mode 0600) the arena file at
  // `path` and maps it at `base`. Errors: NotFound (no file),
  // FailedPrecondition (address range taken, naming it and its occupant),
  // others from the system calls, naming `path`.
  static absl::StatusOr<std::unique_ptr<Arena>> Open(const std::string& path,
                                                     std::uintptr_t base,
                                                     std::uint64_t reserve,
                                                     bool writable,
                                                     bool create);

  // A base address, aligned to 1 GiB, where `reserve` bytes are free in this
  // process right now: random within [32 TiB, 80 TiB) so that stores made by
  // different processes rarely share one. (ThreadSanitizer builds use the
  // only application range it leaves, and reserve at most 4 GiB.)
  static absl::StatusOr<std::uintptr_t> PickBase(std::uint64_t reserve);

  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  char* base() const { return base_; }
  std::uint64_t reserved() const { return reserve_; }
  const std::string& path() const { return path_; }

  // The bytes mapped so far (the fast path for readers).
  std::uint64_t mapped() const {
    return mapped_.load(std::memory_order_acquire);
  }

  // Makes [0, end) readable, mapping more of the file if another process
  // grew it. DataLoss when the file is shorter than `end`.
  absl::Status EnsureMapped(std::uint64_t end) {
    if (end <= mapped()) return absl::OkStatus();
    return MapMore(end);
  }

  // The file's current size.
  absl::StatusOr<std::uint64_t> FileSize() const;

  // Writer: extends the file to `size` bytes with real disk blocks
  // (fallocate), so a full disk is ResourceExhausted now rather than SIGBUS
  // later, and maps it.
  absl::Status Grow(std::uint64_t size);

  // Whether the file's bytes from `from` to its end are all zero (or there
  // are none).
  absl::StatusOr<bool> TailIsZero(std::uint64_t from) const;

  // Writer, holding the write lock: cuts the file to `size` bytes.
  absl::Status Truncate(std::uint64_t size);

  // Writer only: the writable view of the same bytes (nullptr when opened
  // read-only). Offset o is at write_base() + o here and base() + o there.
  char* write_base() const { return write_base_; }

  // Writer: writes [offset, offset + len) to disk (msync MS_SYNC), and the
  // file's size if it changed (fdatasync).
  absl::Status Sync(std::uint64_t offset, std::uint64_t len);

 private:
  Arena(std::string path, int fd, char* base, std::uint64_t reserve)
      : path_(std::move(path)), fd_(fd), base_(base), reserve_(reserve) {}
  absl::Status MapMore(std::uint64_t end);

  const std::string path_;
  const int fd_;
  char* const base_;
  const std::uint64_t reserve_;
  char* write_base_ = nullptr;
  std::mutex grow_mu_;
  std::atomic<std::uint64_t> mapped_{0};
  bool size_changed_ = false;
};

// Describes what occupies [start, start + len) in this process, from
// /proc/self/maps, e.g. "0x7f0000000000-0x7f0000100000 rw-p /usr/lib/x.so".
std::string DescribeMappings(std::uintptr_t start, std::uint64_t len);

}  // namespace ancient::store_internal

#endif  // ANCIENT_STORE_ARENA_H_
