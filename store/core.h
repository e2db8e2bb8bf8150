// Internal: the state shared by a Store, its Snapshots and Roots (one open
// store: LMDB environment, tables, arena), and the records every transaction
// reads. Transactions: read_txn.h, write_txn.h.

#ifndef ANCIENT_STORE_CORE_H_
#define ANCIENT_STORE_CORE_H_

#include <lmdb.h>

#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
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

// A root's graph converted to another version of its type, in private
// memory (64-aligned), for the graph at `offset` with `checksum`.
struct ConvertedGraph {
  std::uint64_t offset = 0, checksum = 0, graph_size = 0, type_id = 0;
  std::unique_ptr<char, void (*)(void*)> bytes{nullptr, nullptr};
  std::uint64_t size = 0;
};

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
  // Bytes of the arena file past `arena_size` (the committed size) were
  // never committed: what a writer that died while growing the arena left,
  // or something appended. Call with the write lock held (no writer is
  // using them): gives them back.
  absl::Status TrimArena(std::uint64_t arena_size);
  absl::Status CheckKey(std::string_view key) const;

  // The oldest snapshot any live reader holds, after clearing the slots of
  // dead processes; UINT64_MAX when there are none. Also counts readers.
  std::uint64_t OldestReader(std::uint64_t* readers) const;

  // Serialises writers inside this process (LMDB's lock does so across
  // processes but must not be taken twice by one thread).
  std::mutex& write_mutex() { return write_mu_; }
  std::atomic<std::thread::id>& writer_thread() { return writer_thread_; }

  // Roots converted to another version of their type (store/converted_roots.cc):
  // the one made for graph `r` read as `type_id`, or nullptr.
  std::shared_ptr<const ConvertedGraph> FindConverted(
      const RootRecord& r, std::uint64_t type_id) const;
  // Keeps `g` (unless another thread kept one first: that one is
  // returned), replacing what was kept for a graph no longer at its
  // offset.
  std::shared_ptr<const ConvertedGraph> KeepConverted(
      std::shared_ptr<const ConvertedGraph> g);
  // How many graphs were converted in this process, and their bytes.
  std::pair<std::uint64_t, std::uint64_t> converted() const;

 private:
  Core(std::string dir, const StoreOptions& options);
  // Opening, in steps: the environment, its tables, the meta and space
  // records (made in a new store, checked in an existing one), the arena
  // (trimming what a crashed writer's growth left), the creating commit.
  absl::Status Init();
  absl::Status OpenEnvironment();
  absl::Status OpenTables(MDB_txn* txn);
  absl::Status ReadOrMakeMeta(MDB_txn* txn, MetaRecord* meta,
                              SpaceRecord* space, bool* created);
  absl::Status OpenArena(const MetaRecord& meta, const SpaceRecord& space,
                         bool created);
  absl::Status CommitInit(Txn& txn, const MetaRecord& meta,
                          const SpaceRecord& space, bool created);

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
  mutable std::mutex convert_mu_;
  // (offset, target type id) -> the converted graph.
  std::map<std::pair<std::uint64_t, std::uint64_t>,
           std::shared_ptr<const ConvertedGraph>>
      converted_;
  std::uint64_t graphs_converted_ = 0, bytes_converted_ = 0;
};

// The root record at `key` (and its type name), NotFound if absent.
absl::StatusOr<RootRecord> ReadRoot(const Core& core, MDB_txn* txn,
                                    std::string_view key,
                                    std::string_view* name);

// Whether a root record's extent is unsound: past the end of the address
// range, not aligned, not holding its graph (not empty) and relocation
// record, or (when given) past `high_water`.
inline bool BadExtent(const RootRecord& r,
                      std::optional<std::uint64_t> high_water) {
  const std::uint64_t end = r.offset + r.extent_size;
  return end < r.offset || r.graph_size == 0 || r.offset % kExtentAlign != 0 ||
         r.graph_size > r.extent_size ||
         r.reloc_size > r.extent_size - r.graph_size ||
         (high_water && end > *high_water);
}

// The DataLoss CheckRootRecord returns for a record it refuses.
absl::Status RootRecordError(const Core& core, std::string_view key,
                             const RootRecord& r,
                             std::optional<std::uint64_t> high_water);

// Checks a root record's structure, not its contents: a sound extent
// (BadExtent) and pointers written for this store's base. DataLoss naming
// the store and `key` otherwise. Inline: every Get runs it.
inline absl::Status CheckRootRecord(const Core& core, std::string_view key,
                                    const RootRecord& r,
                                    std::optional<std::uint64_t> high_water) {
  if (BadExtent(r, high_water) || r.base_address != core.base()) [[unlikely]] {
    return RootRecordError(core, key, r, high_water);
  }
  return absl::OkStatus();
}

// A record of the "meta" table; nullopt when absent.
absl::StatusOr<std::optional<std::string>> ReadMeta(MDB_txn* txn,
                                                    MDB_dbi meta_db,
                                                    std::string_view key,
                                                    const std::string& dir);

// The space record, DataLoss if missing or malformed.
absl::StatusOr<SpaceRecord> ReadSpace(MDB_txn* txn, MDB_dbi meta_db,
                                      const std::string& dir);

}  // namespace ancient::store_internal

#endif  // ANCIENT_STORE_CORE_H_
