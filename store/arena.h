// Internal: the arena file and the ways this process maps it.
//
// Graphs in the arena hold absolute pointers for the store's recorded base
// address. A process reads them through one of two views:
//
//  - In place: the file mapped PROT_READ, MAP_SHARED at the base address,
//    inside a reservation of address space made with MAP_FIXED_NOREPLACE (so
//    nothing else is ever replaced). The reservation covers the arena with
//    headroom (ReservationFor) and is extended in place when a root lies past
//    it and the next range is free. Zero-copy; the normal case.
//  - Relocated: when the base (or the range needed to extend) is taken, the
//    file is mapped MAP_PRIVATE at an address the kernel picks, and each
//    graph is relocated there from its relocation record the first time it
//    is read (once per graph per process; the checksum is checked first).
//    Only the pages holding pointers become private memory; the rest stay
//    shared with the page cache.
//
// A writable Arena also maps the file a third way, read-write and shared, at
// an address the kernel picks: the writer writes graphs there (with pointers
// for the base) and never needs the base itself.

#ifndef ANCIENT_STORE_ARENA_H_
#define ANCIENT_STORE_ARENA_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/format.h"

namespace ancient::store_internal {

class Arena {
 public:
  // Opens (or, with `create`, creates with mode 0600) the arena file at
  // `path`, whose graphs are written for `base`, and maps it in place when
  // the range is free (relocating graphs otherwise). `recorded_size` is the
  // arena size the store records: the file must hold it, and the
  // reservation covers it.
  // Errors: NotFound (no file), DataLoss (file shorter than recorded_size),
  // FailedPrecondition (`base` not aligned), others from the system calls,
  // naming `path`.
  static absl::StatusOr<std::unique_ptr<Arena>> Open(
      const std::string& path, std::uintptr_t base, std::uint64_t recorded_size,
      bool writable, bool create);

  // A base address for a new store, aligned to kGranule, where a first
  // reservation is free in this process right now: random over the usable
  // range (see arena.cc) so that stores made by different processes rarely
  // share one. ResourceExhausted when no free range is found.
  static absl::StatusOr<std::uintptr_t> PickBase();

  // The address space reserved for an arena of `size` bytes: twice the size
  // (growth headroom), at least one granule, rounded up to granules.
  static std::uint64_t ReservationFor(std::uint64_t size);
  static constexpr std::uint64_t kGranule = std::uint64_t{1} << 30;

  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // The address the graphs' pointers are written for.
  char* base() const { return base_; }
  const std::string& path() const { return path_; }

  // The fast path for readers: `base() + offset` when [offset, end) is
  // mapped in place already, else nullptr (then call Resolve).
  const char* InPlace(std::uint64_t offset, std::uint64_t end) const {
    return end <= mapped_.load(std::memory_order_acquire) ? base_ + offset
                                                          : nullptr;
  }

  // Where the graph of root record `r` can be read in this process: in place
  // (mapping more, or extending the reservation, as needed) or relocated.
  // Thread-safe. Errors: DataLoss (file shorter than the extent; checksum or
  // relocation record damaged, when relocating), ResourceExhausted (no
  // address space), others from the system calls.
  absl::StatusOr<const char*> Resolve(const RootRecord& r);

  // The bytes [offset, offset + len) as stored on disk (pointers for the
  // base): in the in-place view when it covers them, else read into `*buf`.
  // DataLoss when the file is shorter.
  absl::StatusOr<const char*> RawBytes(std::uint64_t offset, std::uint64_t len,
                                       std::string* buf);

  // DataLoss unless the file holds at least `end` bytes.
  absl::Status CheckLength(std::uint64_t end) const;

  // The file's current size.
  absl::StatusOr<std::uint64_t> FileSize() const;

  // Whether the file's bytes from `from` to its end are all zero (or there
  // are none).
  absl::StatusOr<bool> TailIsZero(std::uint64_t from) const;

  // Writer: extends the file to `size` bytes with real disk blocks
  // (fallocate), so a full disk is ResourceExhausted now rather than SIGBUS
  // later, and maps it in the writable view.
  absl::Status Grow(std::uint64_t size);

  // Writer: makes [0, end) of the file writable at write_base(), after
  // another process grew it. DataLoss when the file is shorter.
  absl::Status MapForWrite(std::uint64_t end);

  // Writer: makes the writable view's reservation cover `end` bytes, so
  // that MapForWrite and Grow up to `end` never move it (threads may then
  // write through write_base() while another grows the file). May move the
  // view now. ResourceExhausted when no such range of address space is free.
  absl::Status ReserveForWrite(std::uint64_t end);

  // Writer, holding the write lock: cuts the file to `size` bytes.
  absl::Status Truncate(std::uint64_t size);

  // Writer only: the writable view (nullptr when opened read-only). Offset o
  // is at write_base() + o here and base() + o for readers. May move when
  // the view grows (Grow, MapForWrite): do not keep it across those calls.
  char* write_base() const { return write_.addr; }

  // Writer: writes `len` bytes at `offset` of the file with pwrite(2) (no
  // page faults on fresh file pages, unlike a copy into the writable view;
  // the views see them at once: one page cache).
  absl::Status WriteAt(std::uint64_t offset, const char* data,
                       std::uint64_t len);

  // Writer: WriteAt of `len` zero bytes.
  absl::Status WriteZeros(std::uint64_t offset, std::uint64_t len);

  // Writer: starts writing [offset, offset + len) of the file to disk
  // without waiting (sync_file_range), so that a later Sync waits less.
  void StartWriteBack(std::uint64_t offset, std::uint64_t len);

  // Writer: writes [offset, offset + len) to disk (msync MS_SYNC), and the
  // file's size if it changed (fdatasync).
  absl::Status Sync(std::uint64_t offset, std::uint64_t len);

  // What this process's views cost; see StoreStats.
  struct Usage {
    bool relocated;                  // the base range is not all in place
    std::uint64_t graphs_relocated;  // graphs relocated so far
    std::uint64_t bytes_relocated;   // private memory they hold
    std::uint64_t address_reserved;  // address space of all views
  };
  Usage usage() const;

 private:
  // A range of address space with the file mapped over its front.
  struct View {
    char* addr = nullptr;
    std::uint64_t reserved = 0;
    std::uint64_t mapped = 0;
  };
  // A relocated view and the pages of it this process has written.
  struct RelocView {
    View view;
    absl::flat_hash_set<std::uint64_t> private_pages;
  };
  struct Relocated {
    std::uint64_t checksum;
    std::uint64_t graph_size;
    const char* addr;
  };

  Arena(std::string path, int fd, char* base)
      : path_(std::move(path)), fd_(fd), base_(base) {}

  // Maps [view.mapped, min(file size, view.reserved)) with `prot`/`flags`.
  absl::Status MapFile(View& view, std::uint64_t file_size, int prot,
                       int flags);
  // Grows `view`'s reservation in place to cover `need`; false if taken.
  bool ExtendInPlace(View& view, std::uint64_t need, std::uint64_t file_size);
  // With mu_ held: makes the writable view's reservation cover `end`, in
  // place or moved elsewhere (then nothing of the file is mapped in it yet).
  absl::Status CoverWrite(std::uint64_t end, std::uint64_t file_size);
  absl::StatusOr<const char*> Relocate(const RootRecord& r,
                                       std::uint64_t file_size);
  absl::Status MapInPlaceLocked(std::uint64_t end, std::uint64_t file_size);

  const std::string path_;
  const int fd_;
  char* const base_;
  std::atomic<std::uint64_t> mapped_{0};  // = inplace_.mapped, for InPlace

  mutable std::mutex mu_;  // Guards the views below and the relocation map.
  View inplace_;           // at base_; reserved 0 while the base is taken
  View write_;             // the writer's view
  // Relocated views, newest last; older ones stay mapped for the roots that
  // point into them until the Arena is destroyed.
  std::vector<std::unique_ptr<RelocView>> reloc_;
  absl::flat_hash_map<std::uint64_t, Relocated> relocated_;  // by offset
  std::uint64_t graphs_relocated_ = 0;
  std::uint64_t bytes_relocated_ = 0;
  bool size_changed_ = false;
};

}  // namespace ancient::store_internal

#endif  // ANCIENT_STORE_ARENA_H_
