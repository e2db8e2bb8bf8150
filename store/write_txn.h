// Internal: an LMDB write transaction over a Core: allocation in the arena
// (write_txn_space.cc), roots and types (write_txn.cc), one-pass Share
// (write_txn_share.cc).

#ifndef ANCIENT_STORE_WRITE_TXN_H_
#define ANCIENT_STORE_WRITE_TXN_H_

#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/core.h"

namespace ancient::store_internal {

// An LMDB write transaction: allocation in the arena and root updates.
class WriteTxn {
 public:
  static absl::StatusOr<std::unique_ptr<WriteTxn>> Begin(
      std::shared_ptr<Core> core);
  ~WriteTxn();

  absl::StatusOr<ShareInfo> Share(std::string_view key, const TypeRef& type,
                                  std::uint64_t size, std::uint64_t pointers,
                                  GraphWriteFn write);
  // Shares in one pass: `mark` writes the graph straight into the arena
  // (see write_txn_share.cc), in a free extent or at the end, as it grows.
  absl::StatusOr<ShareInfo> ShareMarked(std::string_view key,
                                        const TypeRef& type, GraphMarkFn mark);
  absl::Status Delete(std::string_view key);
  absl::Status Commit();

  // For Migrate (store/converted_roots.cc): the root at `key` converted to
  // `type` (its structs' defaults from type.defaults, else zeros), or nullopt
  // with *current set when it has that type already.
  absl::StatusOr<std::optional<FlatGraph>> Converted(std::string_view key,
                                                     const TypeRef& type,
                                                     ShareInfo* current);

  // For CopyTo and FollowOnce: places raw bytes (a graph written for
  // `old_base` plus its relocation record) at a chosen offset or, if offset
  // is nullopt, wherever there is room; relocates them to this store's
  // base. Returns the offset. With `sync` false the extent is not synced
  // under kSync: the caller syncs it (Sync) before committing.
  absl::StatusOr<std::uint64_t> PutCopy(
      std::string_view key, const RootRecord& src, std::string_view type_name,
      const char* src_bytes, std::uintptr_t old_base,
      std::optional<std::uint64_t> offset, bool sync = true);
  // Writes `len` bytes from `src` at arena offset `off` with pwrite, a MiB
  // at a time, each chunk relocated by `relocator` (chunk positions counted
  // from `src`; check the record first, it is trusted), then `tail` right
  // after them as it is. Under kSync, write-back starts every 8 MiB.
  // Returns the XXH3-64 of all the bytes written (a root's checksum).
  absl::StatusOr<std::uint64_t> WriteRelocated(std::uint64_t off,
                                               const char* src,
                                               std::uint64_t len,
                                               std::string_view tail,
                                               ChunkRelocator& relocator);
  // Under kSync, makes arena bytes [off, off + len) durable.
  absl::Status Sync(std::uint64_t off, std::uint64_t len);
  // Records `description` for `type_id` unless the store has it already
  // (nothing in a store opened without a types table).
  absl::Status PutType(std::uint64_t type_id, std::string_view description);
  // Records of the "meta" table other than the store's own ("meta",
  // "space"): replication keeps its version there (replica/follow.cc), so
  // that it changes in the same commit as the roots. GetMeta: nullopt when
  // absent.
  absl::Status PutMeta(std::string_view key, std::string_view value);
  absl::Status DeleteMeta(std::string_view key);
  absl::StatusOr<std::optional<std::string>> GetMeta(std::string_view key);
  // For CopyTo: makes the arena `size` bytes with high-water mark `hw`.
  absl::Status SetSpace(std::uint64_t size, std::uint64_t hw);
  // For CopyTo: marks [off, off + len) free.
  absl::Status AddFree(std::uint64_t off, std::uint64_t len);

  Core& core() const { return *core_; }

 private:
  WriteTxn(std::shared_ptr<Core> core, std::unique_lock<std::mutex> lock)
      : core_(std::move(core)), lock_(std::move(lock)) {}
  // Where a one-pass Share writes (write_txn_share.cc).
  struct Destination;
  // A Share's Destination as the room of a graph marked on several threads
  // (write_txn_share.cc): its free extent or the arena's end, where the
  // writable view then never moves.
  class ParallelRoom;
  // The end of ShareMarked, once the graph (`graph` bytes at d.off) and its
  // relocation record (`reloc` bytes after it) are written: the space
  // taken, the root recorded.
  absl::StatusOr<ShareInfo> FinishShare(std::string_view key,
                                        const TypeRef& type, Destination& d,
                                        std::uint64_t graph,
                                        std::uint64_t reloc);
  absl::Status StartDestination(Destination& d);
  // TakeFree, making the extent taken (if any) d's room.
  absl::Status TakeFreeFor(Destination& d, std::uint64_t min_len,
                           std::size_t scan);
  absl::Status MakeRoom(Destination& d, std::uint64_t need);
  static bool GrowDestination(void* self, std::uint64_t need,
                              internal::MarkContext::Room* room);
  void Abandon(Destination& d);
  // Records the graph written at `off` (graph, then relocation record) as
  // the root of `key`: checksum, sync (kSync), type and root records.
  absl::StatusOr<ShareInfo> Record(std::string_view key, const TypeRef& type,
                                   std::uint64_t off, std::uint64_t graph_size,
                                   std::uint64_t reloc_size,
                                   std::optional<std::uint64_t> sum = {});
  // Reads a free-space record, checking it lies below the high-water mark
  // (DataLoss, naming the store, otherwise).
  absl::Status ReadFree(const MDB_val& k, const MDB_val& v, std::uint64_t* off,
                        std::uint64_t* len) const;
  absl::Status Init();
  absl::Status Reclaim();
  // A free extent: offset and length in the arena.
  struct Extent {
    std::uint64_t offset;
    std::uint64_t length;
  };
  // Takes out of the free list the first extent of at least `min_len`
  // bytes, or (min_len 0) the largest of the first `scan` (0: all); sets
  // *taken to it, or to nullopt when there is none.
  absl::Status TakeFree(std::uint64_t min_len, std::size_t scan,
                        std::optional<Extent>* taken);
  // Allocates `len` bytes; sets *zeroed when they are known to hold zeros
  // (space the file grew by in this transaction, never written since).
  absl::StatusOr<std::uint64_t> Allocate(std::uint64_t len,
                                         bool* zeroed = nullptr);
  absl::Status Release(std::uint64_t off, std::uint64_t len);
  absl::Status EnsureArena(std::uint64_t end);
  absl::Status PutRoot(std::string_view key, const RootRecord& r,
                       std::string_view type_name);

  std::shared_ptr<Core> core_;
  std::unique_lock<std::mutex> lock_;
  Txn txn_;
  std::uint64_t txn_id_ = 0;
  SpaceRecord space_{};
  // Extents allocated by this transaction: invisible to every reader, so
  // freed straight away if released before the commit.
  absl::flat_hash_set<std::uint64_t> fresh_;
  // Arena bytes from here on are zero: the file grew there in this
  // transaction (fallocate) and nothing has written there since, except
  // below the high-water mark. UINT64_MAX: none known.
  std::uint64_t zero_from_ = std::numeric_limits<std::uint64_t>::max();
};

}  // namespace ancient::store_internal

#endif  // ANCIENT_STORE_WRITE_TXN_H_
