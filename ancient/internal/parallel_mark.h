// Internal: marking one graph on several threads (ancient::Mark and
// Store::Share with more than one thread). Not part of the public API.
//
// A graph starts marking alone, as with one thread, in the caller's room.
// Once the first worker's queue holds enough tasks to share (a graph big
// enough to gain), it moves its block into a reservation of address space
// (SharedMark) and starts the other workers there. From then on:
// - Room: every worker bumps through chunks of the reservation that it takes
//   from a shared end (one atomic add per chunk; objects too big for a chunk
//   get a span of their own). The reservation never moves, so every worker
//   can write anywhere in it: a task queued by one worker can run on another.
//   Pointers are written for the reservation's address; the block is the
//   reservation's first size() bytes (the unused tail of each chunk stays
//   zero, part of the block).
// - Sharing: objects that may be reached twice are interned in one table,
//   split into shards by address, each behind its own lock: the worker that
//   inserts an object allocates it and queues its contents; the others get
//   its offset. Each object is placed exactly once, whatever the threads.
// - Work: each worker runs its own queue; a worker that runs out waits for
//   a batch from the pool, and busy workers give half of what they have
//   queued when one waits. Marking ends when every worker waits and the pool
//   is empty. A big array of pointers is placed in parts that any worker
//   takes, and its new pointees' contents queued only once every part is
//   placed (layout_machinery.h's SplitPointers): no worker follows edges
//   into pointees that another has yet to place.
// - Pointer slots: each worker records the slots it writes in a bitmap of
//   its own (the others than the first in pages made as first written, see
//   MarkContext::NewBitPage); the first worker ORs them into its own at the
//   end (the block's relocation record is then encoded as usual).

#ifndef ANCIENT_INTERNAL_PARALLEL_MARK_H_
#define ANCIENT_INTERNAL_PARALLEL_MARK_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "ancient/internal/mark_context.h"
#include "ancient/internal/packed_address_table.h"

namespace ancient::internal {

// The threads to mark with when asked for 0: the cores this process may
// run on (at least 1).
int DefaultMarkThreads();

// Where a block marked on several threads is written when it is not memory
// the SharedMark reserves itself: Store::Share's arena, so that the graph is
// written once, in its place. Called by one worker at a time.
class SharedRoom {
 public:
  virtual ~SharedRoom() = default;
  struct Place {
    char* base = nullptr;           // where offset 0 is written
    const char* address = nullptr;  // where it is read (pointers point)
    std::uint64_t limit = 0;        // Commit never goes past this
  };
  // Once, when the workers start: the first worker's block so far (`size`
  // bytes, written where its growth function last put it) is placed at the
  // start of room that never moves until marking ends, whose first `ready`
  // bytes are writable and zero past `size`. False: no such room, and the
  // block is still where it was (the first worker asks its growth function
  // for it again, and goes on alone).
  virtual bool Begin(std::uint64_t size, std::uint64_t ready, Place* place) = 0;
  // Makes bytes [0, end) of the room writable and zero-filled, and sets
  // *ready to how many are (at least `end`). False when it cannot (then
  // marking fails; may_fail applies).
  virtual bool Commit(std::uint64_t end, std::uint64_t* ready) = 0;
};

class SharedMark {
 public:
  // Bytes a worker takes from the reservation at a time.
  static constexpr std::uint64_t kChunk = std::uint64_t{256} << 10;
  // Objects of at least this many bytes get a span of their own.
  static constexpr std::uint64_t kSpanMin = kChunk / 16;
  // The first worker starts the others once this many tasks wait.
  static constexpr std::size_t kStartAt = 64;

  // Chosen automatically (threads 0), the others start only for a graph
  // of at least this many bytes so far, and whose objects skip the sharing
  // table (no raw or shared pointers between them): measured on 2 cores,
  // smaller graphs lose to the threads' start and the copy a parallel Share
  // makes, and graphs that go through the table gain nothing (its shards'
  // lock lines travel between the cores).
  static constexpr std::uint64_t kStartBytes = std::uint64_t{1} << 20;

  // The sharing table is kShards shards, each holding the addresses whose
  // hash's top kShardBits bits are its number; its slots place by the
  // kShardHashBits below them.
  static constexpr int kShardBits = 8;
  static constexpr int kShards = 1 << kShardBits;
  static constexpr int kShardHashBits =
      PackedAddressTable::kHashBits - kShardBits;

  // `threads` workers in all (the caller's included); `may_fail` as for
  // MarkContext::StartOnePass; `automatic`: the count was not asked for
  // (MarkOptions::threads 0), so the rules of kStartBytes apply. Reserves
  // nothing until Start.
  SharedMark(int threads, bool may_fail, bool automatic = false);
  ~SharedMark();
  SharedMark(const SharedMark&) = delete;
  SharedMark& operator=(const SharedMark&) = delete;

  // Marks into `room` instead of memory of its own (before marking; the
  // room must outlive this SharedMark).
  void UseRoom(SharedRoom* room) { room_ = room; }
  // Asks for huge pages in the reservation (see MarkOptions::huge_pages;
  // without a room only).
  void UseHugePages(bool on) { huge_pages_ = on; }

  // Whether the workers were started (the block is in the reservation).
  bool started() const { return base_ != nullptr; }
  int threads() const { return threads_; }
  // The workers that marked (the first included): 1 until started; fewer
  // than threads() when the system would not start more.
  int workers() const { return workers_; }
  // Whether room ran out (may_fail: marking stopped).
  bool failed() const { return failed_.load(std::memory_order_relaxed); }

  // Where Commit makes the reservation writable up to, when bytes up to
  // `end` are needed and `have` are: a quarter more each time, in whole
  // 64 MiB steps (mprotect takes whole pages), at most `reserved`.
  static std::uint64_t CommitEnd(std::uint64_t have, std::uint64_t end,
                                 std::uint64_t reserved);

  // Hands the block over (once marking is done): the reservation trimmed to
  // `size` bytes, in whole pages; free it with FreeBlock(base, *mapped).
  void* Release(std::uint64_t size, std::size_t* mapped);

 private:
  friend class MarkContext;
  using Task = MarkContext::Task;
  struct Batch {
    std::vector<Task> tasks;
  };
  // A lock of one atomic word: uncontended (the usual case: many shards,
  // few threads) it costs one exchange. A waiter yields its core after a
  // while: with more workers than cores, the holder may be waiting for one
  // (8 workers on 2 cores: the 1M-node graph's Mark 326-624 ms when
  // waiters only spun, 251-260 ms yielding; one worker 215-253 ms).
  class SpinLock {
   public:
    void lock() {
      while (locked_.exchange(true, std::memory_order_acquire)) {
        for (int spins = 0; locked_.load(std::memory_order_relaxed);) {
          if (++spins < kSpins) {
            __builtin_ia32_pause();
          } else {
            std::this_thread::yield();
          }
        }
      }
    }
    void unlock() { locked_.store(false, std::memory_order_release); }

   private:
    static constexpr int kSpins = 256;  // pauses before the first yield
    std::atomic<bool> locked_{false};
  };
  // Each on cache lines of its own: threads working on different shards do
  // not take each other's lines.
  struct alignas(64) Shard {
    SpinLock mu;
    PackedAddressTable seen;
    absl::flat_hash_map<std::pair<const void*, const void*>, std::uint64_t>
        seen_other;
  };
  // Where each shard's slots are, for Prefetch and for lookups of objects
  // already seen, without the shard's lock: taking it cost a locked
  // exchange per pointer (which waits for the worker's earlier stores,
  // misses into fresh pages, to drain) on a line the other workers write.
  // Written under the shard's lock when its table grows (with release; the
  // slots carry their capacity, and the tables keep their old slots, see
  // PackedAddressTable::KeepOldSlots), read with acquire.
  struct Peek {
    std::atomic<const PackedAddressTable::Word*> slots{nullptr};
  };
  // After shard i's table may have grown (under its lock).
  void Publish(int i);

  // Called by the first worker `w0` (marking alone so far): moves its block
  // and sharing table here and starts the others. False (nothing changed:
  // w0 goes on alone) when the reservation cannot be had.
  bool Start(MarkContext& w0);
  // Start's end, once the block so far is at base_ (start: its end, aligned):
  // hands w0 its first chunk, its table to the shards, starts the others.
  bool StartWorkers(MarkContext& w0, std::uint64_t start);
  // Worker `w` needs `size` bytes (aligned to `align`) past its chunk.
  std::uint64_t Alloc(MarkContext& w, std::uint64_t size, std::uint64_t align);
  // Makes the reservation readable and writable up to `end`. False when it
  // cannot (then failed()).
  bool Commit(std::uint64_t end);
  void Fail(MarkContext& w);
  std::uint64_t Intern(MarkContext& w, const void* addr, const void* tag,
                       std::uint64_t size, std::uint64_t align, bool* fresh);
  std::uint64_t TypeIndex(MarkContext& w, const void* tag);
  // Starts fetching the table slot that Intern(addr) will probe.
  void Prefetch(const void* addr);
  MarkContext::PointerSplit* NewPointerSplit(const void* src, std::uint64_t off,
                                             std::size_t n, std::size_t parts);
  // Makes room for `more` objects known to be distinct (spread over the
  // shards).
  void Reserve(std::size_t more);
  // Gives tasks [from, end) of w's queue to the pool.
  void Donate(MarkContext& w, std::size_t from);
  // Gives the first `count` tasks of w's queue (a stack: the oldest) to the
  // pool (MarkContext::RunStack).
  void DonateBottom(MarkContext& w, std::size_t count);
  // Puts a batch in the pool, for a worker that waits.
  void Give(Batch b);
  // Waits for a batch and puts it in w's (empty) queue; false when the
  // graph is done (or marking failed).
  bool Take(MarkContext& w);
  bool hungry() const { return hungry_.load(std::memory_order_relaxed); }
  // The first worker, once its queue and the pool are empty: waits for the
  // others, then gathers their slot bits and the block's size into w0.
  void Finish(MarkContext& w0);
  std::size_t scratch_bytes() const;

  const int threads_;
  const bool may_fail_;
  const bool automatic_;
  SharedRoom* room_ = nullptr;               // null: memory of its own
  bool huge_pages_ = false;                  // UseHugePages
  char* base_ = nullptr;                     // the reservation
  const char* address_ = nullptr;            // where base_ is read
  std::uint64_t reserved_ = 0;               // its length
  std::atomic<std::uint64_t> end_{0};        // bytes handed out
  std::atomic<std::uint64_t> committed_{0};  // bytes readable and writable
  std::mutex commit_mu_;
  std::atomic<bool> failed_{false};

  Shard shards_[kShards];
  Peek peeks_[kShards];
  std::mutex types_mu_;
  std::vector<const void*> types_;
  std::mutex splits_mu_;
  std::deque<MarkContext::PointerSplit> splits_;  // NewPointerSplit's

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<Batch> pool_;
  int idle_ = 0;
  bool done_ = false;
  std::atomic<bool> hungry_{false};

  MarkContext* first_ = nullptr;  // the caller's context
  int workers_ = 1;               // running (the first included)
  std::vector<std::unique_ptr<MarkContext>> helpers_;
  std::vector<std::thread> threads_running_;
};

}  // namespace ancient::internal

#endif  // ANCIENT_INTERNAL_PARALLEL_MARK_H_
