// Internal: the state shared by a Store, its Snapshots and Roots, and the
// read and write transactions over it.

#ifndef ANCIENT_STORE_CORE_H_
#define ANCIENT_STORE_CORE_H_

#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/arena.h"
#include "store/format.h"
#include "store/graph_ref.h"
#include "store/lmdb_util.h"
#include "store/options.h"

#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace ancient::store_internal {

// LMDB publishes commits to readers through its memory-mapped meta pages and
// reader table, which ThreadSanitizer cannot see. These annotations state
// the order LMDB guarantees: a transaction that begins sees everything done
// before the transactions that ended earlier. No-ops in other builds.
inline void AnnotateTxnBegin([[maybe_unused]] void* core) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(core);
#endif
}
inline void AnnotateTxnEnd([[maybe_unused]] void* core) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(core);
#endif
}

// Counts fork()s: a child sees a value its parent's Cores did not record.
// (A relaxed load is all the hot path pays; getpid() is a system call.)
extern std::atomic<std::uint64_t> fork_generation;

// One open store: the LMDB environment, its tables and the arena mapping.
class Core : public std::enable_shared_from_this<Core> {
 public:
  static absl::StatusOr<std::shared_ptr<Core>> Open(const std::string& dir,
                                                    const StoreOptions& opts);
  ~Core();

  const std::string& dir() const { return dir_; }
  const StoreOptions& options() const { return options_; }
  MDB_env* env() const { return env_; }
  Arena& arena() const { return *arena_; }
  MDB_dbi meta_db() const { return meta_; }
  MDB_dbi roots_db() const { return roots_; }
  MDB_dbi free_db() const { return free_; }
  MDB_dbi pending_db() const { return pending_; }
  // TypeId (big-endian) -> full layout description; absent (has_types()
  // false) in a store made before the table existed, opened read-only.
  MDB_dbi types_db() const { return types_; }
  bool has_types() const { return has_types_; }
  std::uintptr_t base() const {
    return reinterpret_cast<std::uintptr_t>(arena_->base());
  }

  std::size_t max_key_size() const { return max_key_size_; }

  // Whether this is the process that opened the store (not a child forked
  // since): LMDB forbids using an environment in any other.
  bool InOpeningProcess() const {
    return fork_generation_ == fork_generation.load(std::memory_order_relaxed);
  }
  // FailedPrecondition naming the opening process and this one.
  absl::Status ForkedError() const;
  // ForkedError() outside the opening process, else OK.
  absl::Status CheckProcess() const {
    if (InOpeningProcess()) return absl::OkStatus();
    return ForkedError();
  }
  // Checks a key: InvalidArgument when empty or too long.
  absl::Status CheckKey(std::string_view key) const;

  // The oldest snapshot any live reader holds, after clearing the slots of
  // dead processes; UINT64_MAX when there are none. Also counts readers.
  std::uint64_t OldestReader(std::uint64_t* readers) const;

  // Serialises writers inside this process (LMDB's lock does so across
  // processes but must not be taken twice by one thread).
  std::mutex& write_mutex() { return write_mu_; }
  std::atomic<std::thread::id>& writer_thread() { return writer_thread_; }

 private:
  Core(std::string dir, const StoreOptions& options);
  absl::Status Init();

  const std::string dir_;
  const StoreOptions options_;
  MDB_env* env_ = nullptr;
  MDB_dbi meta_ = 0, roots_ = 0, free_ = 0, pending_ = 0, types_ = 0;
  bool has_types_ = false;
  std::size_t max_key_size_ = 511;
  std::unique_ptr<Arena> arena_;
  std::mutex write_mu_;
  std::atomic<std::thread::id> writer_thread_{};
  std::uint64_t registry_key_[2] = {0, 0};
  const std::uint64_t fork_generation_;
  const int pid_;  // of the opening process
};

// An LMDB read transaction over a Core: one consistent snapshot.
class ReadTxn {
 public:
  static absl::StatusOr<std::shared_ptr<ReadTxn>> Begin(
      std::shared_ptr<Core> core);
  ~ReadTxn() {
    AnnotateTxnEnd(core_.get());  // Before the slot is freed for reuse.
    // In a forked child the reader slot is the parent's: leave it alone.
    if (core_->InOpeningProcess())
      txn_.Abort();
    else
      txn_.Leak();
  }

  Core& core() const { return *core_; }
  MDB_txn* txn() const { return txn_.get(); }

  absl::StatusOr<GraphRef> Find(std::string_view key,
                                const TypeRef& type) const;
  // The graph at `key` whatever its type; sets *record to its root record.
  absl::StatusOr<GraphRef> FindUntyped(std::string_view key,
                                       RootRecord* record) const;
  // The recorded layout description of `type_id`; NotFound when the store
  // has none (older stores); DataLoss when it does not hash to `type_id`.
  absl::StatusOr<std::string> TypeDescriptionOf(std::uint64_t type_id) const;
  // Calls f(key, record, type_name) for each root whose key has `prefix`.
  template <class F>
  absl::Status ForEachRoot(std::string_view prefix, F f) const;
  absl::StatusOr<RootInfo> Info(std::string_view key) const;
  absl::StatusOr<SpaceRecord> Space() const;

 private:
  // Checks record r's extent and base; maps (or relocates) its graph.
  absl::StatusOr<GraphRef> Locate(std::string_view key,
                                  const RootRecord& r) const;
  ReadTxn(std::shared_ptr<Core> core, Txn txn)
      : core_(std::move(core)), txn_(std::move(txn)) {}
  std::shared_ptr<Core> core_;
  Txn txn_;
};

template <class F>
absl::Status ReadTxn::ForEachRoot(std::string_view prefix, F f) const {
  if (absl::Status s = core_->CheckProcess(); !s.ok()) return s;
  Cursor cursor;
  int rc = cursor.Open(txn(), core_->roots_db());
  if (rc != MDB_SUCCESS) return LmdbError(rc, "opening roots cursor");
  MDB_val k = ToVal(prefix), v;
  rc = mdb_cursor_get(cursor.get(), &k, &v,
                      prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    const std::string_view key = FromVal(k);
    if (key.substr(0, prefix.size()) != prefix) break;
    std::string_view name;
    std::optional<RootRecord> r = DecodeRoot(FromVal(v), &name);
    if (!r) {
      return absl::DataLossError("store " + core_->dir() +
                                 ": malformed root record for key '" +
                                 std::string(key) + "'");
    }
    absl::Status s = f(key, *r, name);
    if (!s.ok()) return s;
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
    return LmdbError(rc, "reading roots of " + core_->dir());
  }
  return absl::OkStatus();
}

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
  // (see share.cc), in a free extent or at the end, as it grows.
  absl::StatusOr<ShareInfo> ShareMarked(std::string_view key,
                                        const TypeRef& type, GraphMarkFn mark);
  absl::Status Delete(std::string_view key);
  absl::Status Commit();

  // For CopyTo: places raw bytes (a graph written for `old_base` plus its
  // relocation record) at a chosen offset or, if offset is nullopt, wherever
  // there is room; relocates them to this store's base.
  absl::Status PutCopy(std::string_view key, const RootRecord& src,
                       std::string_view type_name, const char* src_bytes,
                       std::uintptr_t old_base,
                       std::optional<std::uint64_t> offset);
  // Records `description` for `type_id` unless the store has it already
  // (nothing in a store opened without a types table).
  absl::Status PutType(std::uint64_t type_id, std::string_view description);
  // For CopyTo: makes the arena `size` bytes with high-water mark `hw`.
  absl::Status SetSpace(std::uint64_t size, std::uint64_t hw);
  // For CopyTo: marks [off, off + len) free.
  absl::Status AddFree(std::uint64_t off, std::uint64_t len);

  Core& core() const { return *core_; }

 private:
  WriteTxn(std::shared_ptr<Core> core, std::unique_lock<std::mutex> lock)
      : core_(std::move(core)), lock_(std::move(lock)) {}
  // Where a one-pass Share writes (share.cc).
  struct Destination;
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
                                   std::uint64_t reloc_size);
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

#endif  // ANCIENT_STORE_CORE_H_
