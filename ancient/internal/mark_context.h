// Internal: the machinery that Layout specialisations use to copy a heap
// graph into a block. Not part of the public API.
//
// Marking runs one traversal into room that grows and may move
// (StartOnePass: ancient::Mark into a GrowableBlock, Store::Share into the
// arena), or, for vectors of numbers or strings only (GraphWriter: measured
// in one cheap scan, nothing shared), the same traversal twice: the
// measuring pass computes every allocation's offset and the block's size;
// the writing pass, allocating in the same order, gets the same offsets
// and writes each object straight to its final address.
// Out-of-line parts (array contents, pointees) are queued, not recursed into,
// so the C++ stack depth depends only on how deeply types nest inline, never
// on the data: million-long chains and cycles mark with a small stack.

#ifndef ANCIENT_INTERNAL_MARK_CONTEXT_H_
#define ANCIENT_INTERNAL_MARK_CONTEXT_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "ancient/internal/fatal.h"
#include "ancient/internal/packed_address_table.h"
#include "ancient/internal/varint.h"

namespace ancient {
namespace internal {

class SharedMark;

// Every block starts at an address aligned to this.
inline constexpr std::size_t kBlockAlignment = 64;

// A distinct address per type, used to tell apart two objects at one address
// (a struct and its first member) and to detect recursive types.
template <class T>
inline constexpr char kTypeTag = 0;

class MarkContext {
 public:
  using TaskFn = void (*)(MarkContext& c, const void* src, std::uint64_t off);
  // Fetches ahead what a task will read: stage 1 its out-of-line data, stage
  // 2 (later, once that has arrived) the table slots it will probe.
  using PrefetchFn = void (*)(const MarkContext& c, const void* src, int stage);

  MarkContext() = default;
  MarkContext(const MarkContext&) = delete;
  MarkContext& operator=(const MarkContext&) = delete;

  // Switches from measuring to writing into `base`, which must hold size()
  // bytes, be aligned to kBlockAlignment and be zero-filled. Pointers are
  // written for `address`, where the block will be read (the same memory
  // mapped elsewhere, or `base` itself when null).
  void StartWriting(char* base, const char* address = nullptr) {
    base_ = base;
    address_ = address != nullptr ? address : base;
    size_ = 0;
    slot_bits_.assign(BitWords(measured_size_), 0);
  }

  // One pass instead (ancient::Mark, Store::Share): writes each object as
  // it is first reached into memory that grows. `Room` is where the block
  // is: `base` (zero-filled for `capacity` bytes) where it is written, and
  // `address` where it will be read (pointers are written for it).
  struct Room {
    char* base = nullptr;
    const char* address = nullptr;
    std::uint64_t capacity = 0;
  };
  // `grow(arg, need, &room)` makes at least `need` bytes ready and updates
  // `room`; the block may move (its bytes copied: the pointers written so far
  // then follow `address`). Returns false when the memory cannot be had:
  // then, with `may_fail`, marking stops (failed() is true and nothing more
  // is written); without, the process aborts, as operator new would.
  using GrowFn = bool (*)(void* arg, std::uint64_t need, Room* room);
  // The largest block (queued tasks hold offsets in 48 bits): growers
  // refuse more.
  static constexpr std::uint64_t kMaxBlockBytes = std::uint64_t{1} << 48;
  void StartOnePass(const Room& room, GrowFn grow, void* arg,
                    bool may_fail = false) {
    base_ = room.base;
    address_ = room.address;
    capacity_ = room.capacity;
    grow_ = grow;
    grow_arg_ = arg;
    one_pass_ = true;
    may_fail_ = may_fail;
    failed_ = false;
    size_ = 0;
    slot_bits_.clear();
    bit_groups_.clear();
    paged_bits_ = false;
  }

  // One pass, when done: copies the block to `dest` (size() bytes, aligned
  // to kBlockAlignment) and moves its pointers there.
  void MoveBlock(char* dest) {
    std::memcpy(dest, base_, size_);
    base_ = dest;
    MovePointers(dest);
  }

  // One pass: the growth failed (see GrowFn); the block is incomplete.
  bool failed() const { return failed_; }

  bool writing() const { return base_ != nullptr; }
  // Marking in one pass (StartOnePass), not two (GraphWriter).
  bool one_pass() const { return one_pass_; }
  std::uint64_t size() const { return size_; }

  // Reserves `size` bytes aligned to `align` (at most kBlockAlignment);
  // returns their offset.
  std::uint64_t Alloc(std::uint64_t size, std::uint64_t align) {
    const std::uint64_t off = (size_ + align - 1) & ~(align - 1);
    if (off + size > capacity_) [[unlikely]]
      return AllocSlow(off, size, align);  // one pass only
    size_ = off + size;
    return off;
  }

  // Valid only while writing: where offset `off` is written, and the
  // address it will be read at.
  char* bytes(std::uint64_t off) const { return base_ + off; }
  const char* address(std::uint64_t off) const { return address_ + off; }
  template <class F>
  F* At(std::uint64_t off) const {
    return reinterpret_cast<F*>(base_ + off);
  }
  // Writes `value` at `off`; does nothing while measuring.
  template <class F>
  void Store(std::uint64_t off, const F& value) const {
    if (base_ != nullptr) std::memcpy(base_ + off, &value, sizeof(F));
  }

  // Writes at `slot` (8-aligned) the address of offset `target` and marks
  // the slot for the relocation record. While measuring, counts the slot.
  void StorePointer(std::uint64_t slot, std::uint64_t target) {
    if (base_ == nullptr) {
      ++relocs_count_;
      return;
    }
    WritePointer(slot, target);
    SetSlotBit(slot);
  }
  // As StorePointer, without marking the slot: the caller marks it later
  // with RecordSlots. Does nothing while measuring.
  void WritePointer(std::uint64_t slot, std::uint64_t target) const {
    if (base_ == nullptr) return;
    const char* p = address_ + target;
    std::memcpy(base_ + slot, &p, sizeof p);
  }
  // Marks (or, measuring, counts) `n` slots from `first`, `stride` apart.
  void RecordSlots(std::uint64_t first, std::uint64_t stride, std::size_t n) {
    if (base_ == nullptr) {
      relocs_count_ += n;
      return;
    }
    // Bits gathered a word at a time, in a register.
    std::uint64_t word = first >> 9, bits = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t slot = first + i * stride;
      if ((slot >> 9) != word) {
        OrSlotBits(word, bits);
        word = slot >> 9;
        bits = 0;
      }
      bits |= std::uint64_t{1} << ((slot >> 3) & 63);
    }
    OrSlotBits(word, bits);
  }

  // The offset of the copy of heap object `addr` (of the type that `tag`
  // stands for), allocating `size` bytes for it on first sight. Sets *fresh
  // when the object was not seen before: its contents are then the caller's
  // to queue. One pass only: two-pass marking (GraphWriter) is for graphs
  // with nothing to share.
  std::uint64_t Intern(const void* addr, const void* tag, std::uint64_t size,
                       std::uint64_t align, bool* fresh) {
    if (shared_ != nullptr) [[unlikely]]
      return InternShared(addr, tag, size, align, fresh);
    // Keyed by address alone, with the type's small index beside the offset
    // (8-byte slots: the table stays cache-friendly on big graphs); an
    // object of another type at an address already seen, or of a type past
    // the first kSeenTypes, goes to a side map.
    const std::uint64_t type = TypeIndex(tag);
    std::uint64_t off;
    if (type < kSeenTypes &&
        InternSeen(
            seen_, addr, type, [&] { return Alloc(size, align); }, &off, fresh))
        [[likely]] {
      return off;
    }
    auto [other, inserted] = seen_other_.try_emplace(std::pair(addr, tag), 0);
    if (inserted) other->second = Alloc(size, align);
    *fresh = inserted;
    return other->second;
  }

  // As Intern, for an object that nothing else in the graph can point to (a
  // unique_ptr's pointee, when no raw or shared pointer of the graph's types
  // can reach its type): always fresh, and no table lookup.
  std::uint64_t Fresh(std::uint64_t size, std::uint64_t align) {
    return Alloc(size, align);
  }

  // The pointee types (their kTypeTag) that raw or shared pointers of the
  // graph being marked can reach; null: unknown, so every pointee may be.
  void set_shareable(const std::vector<const void*>* tags) {
    shareable_ = tags;
  }
  bool MayBeShared(const void* tag) const {
    if (shareable_ == nullptr) return true;
    for (const void* t : *shareable_) {
      if (t == tag) return true;
    }
    return false;
  }

  // Makes room in the sharing table for `more` objects (measuring or one
  // pass): for pointees known to be distinct.
  void ReserveInterned(std::size_t more) {
    if (shared_ == nullptr) {
      reserved_ = std::max(reserved_, seen_.size() + more);
      seen_.Reserve(reserved_);
    } else {
      ReserveShared(more);
    }
  }

  // Starts fetching the sharing table's slot for `addr` (measuring only),
  // for a pointer that Intern will look up soon: on big graphs each probe
  // is otherwise a cache miss.
  void PrefetchIntern(const void* addr) const {
    if (shared_ == nullptr) {
      seen_.Prefetch(addr);
    } else {
      PrefetchShared(addr);
    }
  }

  // Marking on several threads (see parallel_mark.h). AllowParallel: once
  // the queue is long enough to share, this context (the first worker)
  // moves its block into `shared` and starts the other workers there;
  // until then (and for graphs too small to share) it marks alone, as
  // without. parallel_allowed: layouts then split big arrays into tasks
  // that other workers can take.
  void AllowParallel(SharedMark* shared) { switch_to_ = shared; }
  bool parallel_allowed() const {
    return switch_to_ != nullptr || shared_ != nullptr;
  }

  // Whether this mark may yet run on several threads: parallel_allowed(),
  // unless the thread count is automatic and the graph goes through the
  // sharing table (those stay on one thread: see SharedMark::kStartBytes).
  bool parallel_possible() const;

  // How many threads this mark may use (the one marking included): 1
  // unless parallel_allowed().
  int parallel_threads() const;
  // Runs `other` on a thread of its own and `mine` on this one, and returns
  // once both are done; both on this thread, in turn, when no thread can be
  // started. For layouts whose own step splits in two (a hash container's
  // walk of its source).
  static void RunBeside(const std::function<void()>& other,
                        const std::function<void()>& mine);

  // Scratch for sorting one hash container's `n` entries by bucket: their
  // sources and buckets (reused by the next container).
  void HashScratch(std::size_t n, const void*** from, std::uint32_t** bucket) {
    if (hash_from_.size() < n) {
      hash_from_.resize(n);
      hash_bucket_.resize(n);
    }
    *from = hash_from_.data();
    *bucket = hash_bucket_.data();
  }

  // Queues `F(*this, src, off)`; tasks run first in, first out, but last
  // in, first out for a graph with nothing to share (see RunStack). `P`, if
  // given, is called with `src` a few tasks before F runs (see PrefetchFn;
  // first in, first out only).
  // The pair is one kind of task: the queue holds 16 bytes a task.
  template <TaskFn F, PrefetchFn P = nullptr>
  void Defer(const void* src, std::uint64_t off) {
    tasks_.push_back(Task{src, (off << kTaskBits) | TaskIndex<F, P>()});
  }

  // Runs queued tasks until none are left (marking on several threads:
  // until the whole graph is marked, by every worker).
  void Drain() {
    RunQueue();
    if (shared_ != nullptr) DrainShared();
  }

  // Runs this context's queue until it is empty.
  void RunQueue() {
    if (shareable_ != nullptr && shareable_->empty()) {
      RunStack();
      return;
    }
    std::size_t& stage1 = stage1_;  // the next tasks to prefetch for
    std::size_t& stage2 = stage2_;
    stage1 = stage2 = 0;
    for (std::size_t i = 0; i < tasks_.size(); ++i) {
      if (failed_) [[unlikely]]
        break;
      // Done tasks are dropped once they outnumber the waiting ones, so the
      // queue holds about the graph's widest level, not all its tasks.
      if (i >= kCompactMin && i >= tasks_.size() - i) {
        tasks_.erase(tasks_.begin(), tasks_.begin() + i);
        stage1 -= std::min(stage1, i);
        stage2 -= std::min(stage2, i);
        i = 0;
      }
      // Several threads: starts them once there is work to share, gives
      // some of the queue to a worker that has none.
      if (switch_to_ != nullptr || shared_ != nullptr) [[unlikely]] {
        if (!OnTask(i)) break;
      }
      // The heap objects of tasks a few places ahead are fetched meanwhile:
      // on big graphs each is otherwise a cache miss, taken in turn.
      if (i + kPrefetchAhead < tasks_.size()) {
        __builtin_prefetch(tasks_[i + kPrefetchAhead].src);
      }
      const std::size_t end = tasks_.size();
      for (; stage1 < end && stage1 <= i + kPrefetchAhead / 2; ++stage1) {
        const Task a = tasks_[stage1];
        const PrefetchFn pf = prefetch_fns[a.off_fn & kTaskMask];
        if (pf != nullptr) pf(*this, a.src, 1);
      }
      for (; stage2 < end && stage2 <= i + kPrefetchAhead / 4; ++stage2) {
        const Task a = tasks_[stage2];
        const PrefetchFn pf = prefetch_fns[a.off_fn & kTaskMask];
        if (pf != nullptr) pf(*this, a.src, 2);
      }
      const Task t = tasks_[i];
      task_fns[t.off_fn & kTaskMask](*this, t.src, t.off_fn >> kTaskBits);
    }
    NoteTaskCapacity();
    tasks_.clear();
    chains_.clear();
  }

  // RunQueue for a graph whose objects nothing reaches twice (no raw or
  // shared pointer of its types): depth first, each task's own tasks next,
  // in the order it queued them. Such graphs are mostly built depth first
  // (recursive builders, parsers, sorted inserts), so their heap objects
  // lie in that order and a depth-first walk reads the heap nearly in
  // sequence, where a breadth-first one jumps between far parts of each
  // level: the trie of american-english-insane marked 2x as fast on one
  // thread and on two (bench/NOTES.md, twelfth session), and the queue
  // holds a path's pending siblings instead of a level. With nothing to
  // share there are no table slots to fetch ahead; the next task's object
  // is. On several threads a worker with nothing is given the bottom half
  // of a busy one's stack: its oldest tasks, the biggest subtrees.
  void RunStack() {
    while (!tasks_.empty()) {
      if (failed_) [[unlikely]]
        break;
      // Several threads: as in RunQueue, but a worker that has none is
      // given the bottom half (the oldest tasks: the biggest subtrees).
      if (switch_to_ != nullptr || shared_ != nullptr) [[unlikely]] {
        if (!OnTask(0, /*stack=*/true)) break;
      }
      const Task t = tasks_.back();
      tasks_.pop_back();
      const std::size_t before = tasks_.size();
      task_fns[t.off_fn & kTaskMask](*this, t.src, t.off_fn >> kTaskBits);
      if (tasks_.size() > before) {
        std::reverse(tasks_.begin() + static_cast<std::ptrdiff_t>(before),
                     tasks_.end());
        __builtin_prefetch(tasks_.back().src);
      }
    }
    NoteTaskCapacity();
    tasks_.clear();
    chains_.clear();
  }

  // A run of `groups` groups of pointees, new and placed one after another,
  // whose pointers start at `next`: the state of a task that marks one
  // group and queues itself again behind the tasks that group queued (see
  // PointeeChain), so the queue holds one group's tasks at a time, not the
  // whole array's. Alone only (never handed to another worker); stays valid
  // until the queue is empty.
  struct RunChain {
    const void* next;
    std::size_t groups;
  };
  RunChain* NewChain(const void* next, std::size_t groups) {
    return &chains_.emplace_back(RunChain{next, groups});
  }

  // An array of pointers split into parts that any worker may place (see
  // layout_machinery.h's SplitPointers). Lives until marking ends.
  struct PointerSplit {
    PointerSplit(const void* src, std::uint64_t off, std::size_t n,
                 std::size_t parts)
        : src(src),
          off(off),
          n(n),
          pending(parts),
          fresh(new std::uint64_t[words()]()) {}
    const void* const src;             // the array's first element
    const std::uint64_t off;           // where its copy is
    const std::size_t n;               // its elements
    std::atomic<std::size_t> pending;  // parts not yet placed
    // Bit i % 64 of word i / 64: pointee i is new. Each part's worker
    // writes whole words of its own; read once every part is placed.
    const std::unique_ptr<std::uint64_t[]> fresh;
    // Called by a part's worker once it has placed that part: true for the
    // last (every part's words are then visible to it).
    // The words of `fresh`.
    std::size_t words() const { return (n + 63) / 64; }
    bool Placed() {
      return pending.fetch_sub(1, std::memory_order_acq_rel) == 1;
    }
  };
  // A new PointerSplit of `parts` parts (parallel_possible() only).
  PointerSplit* NewPointerSplit(const void* src, std::uint64_t off,
                                std::size_t n, std::size_t parts);

  // The offset of the target of the pointer written at `slot` (while
  // writing).
  std::uint64_t PointerTarget(std::uint64_t slot) const {
    const char* p;
    std::memcpy(&p, base_ + slot, sizeof p);
    return static_cast<std::uint64_t>(p - address_);
  }

  // Marking on several threads: this context's SharedMark once it has
  // started them (the block is then in its reservation), else null.
  SharedMark* shared() const { return shared_; }
  // How many pointer slots the block holds (one pass, when done).
  std::uint64_t slot_count() const {
    std::uint64_t slots = 0;
    const std::size_t words = SlotWords();
    for (std::size_t w = 0; w < words; ++w) {
      slots += __builtin_popcountll(SlotWord(w));
    }
    return slots;
  }

  // Heap memory the marker holds beside the block (tables, logs, queues):
  // the writer's extra memory, for the benchmarks to report.
  std::size_t scratch_bytes() const {
    return SharedScratchBytes() +
           std::max(tasks_peak_, tasks_.capacity()) * sizeof(Task) +
           seen_.bytes() +
           seen_other_.capacity() *
               (sizeof(std::pair<std::pair<const void*, const void*>,
                                 std::uint64_t>) +
                1) +
           hash_from_.capacity() * sizeof(const void*) +
           hash_bucket_.capacity() * sizeof(std::uint32_t) +
           slot_bits_.capacity() * sizeof(std::uint64_t) +
           bit_groups_.capacity() * sizeof(bit_groups_[0]) +
           bit_groups_made_ * sizeof(BitGroup) +
           bit_pages_made_ * kBitPageWords * sizeof(std::uint64_t);
  }

  // The number of pointer slots, known after the measuring pass.
  std::uint64_t pointer_count() const { return relocs_count_; }

  // When writing is done: the relocation record of the slots written (see
  // block.h). An upper bound of its length; the record written at `out`
  // (room for the bound), returning its end.
  std::uint64_t RelocationsBound() const {
    // Each delta's varint is at most as long as the largest possible one's.
    return slot_count() * VarintLength(size_ >> 3);
  }
  // Its exact length (a scan of the slots more than the bound).
  std::uint64_t RelocationsLength() const {
    std::uint64_t n = 0, last = 0;
    ForEachSlot([&](std::uint64_t slot) {
      n += VarintLength((slot - last) >> 3);
      last = slot;
    });
    return n;
  }
  char* EncodeRelocationsTo(char* out) const {
    std::uint64_t last = 0;
    ForEachSlot([&](std::uint64_t slot) {
      out = PutVarint(out, (slot - last) >> 3);
      last = slot;
    });
    return out;
  }
  std::string EncodeRelocations() const {
    std::string out(RelocationsBound(), '\0');
    out.resize(
        static_cast<std::size_t>(EncodeRelocationsTo(out.data()) - out.data()));
    return out;
  }

  // The measuring pass's result, for the writing pass (GraphWriter).
  void FinishMeasuring() { measured_size_ = size_; }

 private:
  friend class SharedMark;

  // Alloc past capacity_: grows the block (one pass) or, marking on
  // several threads, takes a new chunk of the shared reservation.
  [[gnu::noinline]] std::uint64_t AllocSlow(std::uint64_t off,
                                            std::uint64_t size,
                                            std::uint64_t align);
  // Parallel marking (parallel_mark.cc).
  std::uint64_t InternShared(const void* addr, const void* tag,
                             std::uint64_t size, std::uint64_t align,
                             bool* fresh);
  bool OnTask(std::size_t i, bool stack = false);
  void PrefetchShared(const void* addr) const;
  void ReserveShared(std::size_t more);
  void DrainShared();
  std::size_t SharedScratchBytes() const;

  // The queue's vector may be replaced (a batch taken from the pool): its
  // largest capacity so far is kept for scratch_bytes.
  void NoteTaskCapacity() {
    tasks_peak_ = std::max(tasks_peak_, tasks_.capacity());
  }

  static std::size_t BitWords(std::uint64_t size) { return (size >> 9) + 1; }
  // One bit per 8 bytes of block: 1/64 of its size, whatever the number of
  // pointers, and in order without sorting. Two passes: sized by the
  // measuring pass. One pass: grown here.
  void SetSlotBit(std::uint64_t slot) {
    OrSlotBits(slot >> 9, std::uint64_t{1} << ((slot >> 3) & 63));
  }
  void OrSlotBits(std::uint64_t word, std::uint64_t bits) {
    if (paged_bits_) {
      BitPage(word / kBitPageWords)[word % kBitPageWords] |= bits;
      return;
    }
    if (word >= slot_bits_.size()) [[unlikely]]
      GrowBits(word);
    slot_bits_[word] |= bits;
  }
  // Marking on several threads, every worker keeps its slot bits in pages
  // of kBitPageWords words (the bits of 32 KiB of block, an eighth of a
  // chunk), each made when first written: a worker writes mostly into its
  // own chunks, and a page covers little more than what it wrote elsewhere
  // (the contents of objects in others' chunks, from tasks handed over).
  // (A bitmap of the whole block each: 32 workers held half the graph's
  // size in bitmaps; pages of a whole chunk: 8 workers' pages came to 2.4x
  // one bitmap.) The first worker's bitmap keeps what it wrote alone; at
  // the end the others' pages move into its set, ORed into its own where
  // both have one, so no bitmap of the whole block is ever made.
  static constexpr std::size_t kBitPageWords = 64;
  // The pages are found through groups of kGroupPages (the pages of 256
  // KiB of block, a worker's chunk), each made when one of its pages is: a
  // directory of every page of the block each (8 bytes per 32 KiB, and
  // twice that with the vector's growth) cost 32 workers 0.4-0.8 MB, about
  // 1% of the graph; a group is made only where the worker wrote.
  static constexpr std::size_t kGroupPages = 8;
  struct BitGroup {
    std::unique_ptr<std::uint64_t[]> pages[kGroupPages];
  };
  // Page `page` of this worker's slot bits, or null when it was not made.
  std::uint64_t* FindBitPage(std::size_t page) const {
    const std::size_t g = page / kGroupPages;
    if (g >= bit_groups_.size() || bit_groups_[g] == nullptr) [[unlikely]]
      return nullptr;
    return bit_groups_[g]->pages[page % kGroupPages].get();
  }
  // Page `page` of this worker's slot bits, made (zero) if it was not.
  std::uint64_t* BitPage(std::size_t page) {
    std::uint64_t* p = FindBitPage(page);
    if (p != nullptr) [[likely]]
      return p;
    return NewBitPage(page);
  }
  [[gnu::noinline]] std::uint64_t* NewBitPage(std::size_t page) {
    const std::size_t g = page / kGroupPages;
    if (g >= bit_groups_.size()) bit_groups_.resize(g + 1);
    if (bit_groups_[g] == nullptr) {
      bit_groups_[g] = std::make_unique<BitGroup>();
      ++bit_groups_made_;
    }
    auto& p = bit_groups_[g]->pages[page % kGroupPages];
    p.reset(new std::uint64_t[kBitPageWords]());
    ++bit_pages_made_;
    return p.get();
  }
  [[gnu::noinline]] void GrowBits(std::uint64_t word) {
    slot_bits_.resize(std::max<std::size_t>(
        {word + 1, BitWords(capacity_ == ~std::uint64_t{0} ? 0 : capacity_),
         slot_bits_.size() * 2}));
  }
  // The slot bits' words: the bitmap's, and past it or ORed into it the
  // pages' (marking on several threads).
  std::size_t SlotWords() const {
    return std::max(slot_bits_.size(),
                    bit_groups_.size() * kGroupPages * kBitPageWords);
  }
  std::uint64_t SlotWord(std::size_t w) const {
    std::uint64_t bits = w < slot_bits_.size() ? slot_bits_[w] : 0;
    const std::uint64_t* p = FindBitPage(w / kBitPageWords);
    if (p != nullptr) bits |= p[w % kBitPageWords];
    return bits;
  }
  // Calls f(slot) for each pointer slot written, in increasing order.
  template <class F>
  void ForEachSlot(F f) const {
    const std::size_t words = SlotWords();
    for (std::size_t w = 0; w < words; ++w) {
      for (std::uint64_t bits = SlotWord(w); bits != 0; bits &= bits - 1) {
        f((w << 9) | (static_cast<std::uint64_t>(__builtin_ctzll(bits)) << 3));
      }
    }
  }

  // One pass: makes room for size_ bytes; moves the pointers written so far
  // when the block moves.
  [[gnu::noinline]] void Grow() {
    Room room{base_, address_, capacity_};
    if (!grow_(grow_arg_, size_, &room)) {
      if (!may_fail_) Fatal("ancient::Mark: out of memory");
      // Stop writing; what runs until Drain notices measures only.
      failed_ = true;
      base_ = nullptr;
      address_ = nullptr;
      capacity_ = ~std::uint64_t{0};
      return;
    }
    base_ = room.base;
    capacity_ = room.capacity;
    MovePointers(room.address);
  }
  // The block's pointers are now to be read at `address` (its bytes are at
  // base_ already): moves each by the distance from the old address.
  void MovePointers(const char* address) {
    const std::uint64_t delta = reinterpret_cast<std::uint64_t>(address) -
                                reinterpret_cast<std::uint64_t>(address_);
    address_ = address;
    if (delta == 0) return;
    char* const base = base_;
    ForEachSlot([base, delta](std::uint64_t slot) {
      std::uint64_t v;
      std::memcpy(&v, base + slot, sizeof v);
      v += delta;
      std::memcpy(base + slot, &v, sizeof v);
    });
  }

  // 16 bytes: the function is a small number (TaskIndex), beside the
  // offset (blocks stay below 2^48 bytes).
  struct Task {
    const void* src;
    std::uint64_t off_fn;
  };
  static constexpr int kTaskBits = 16;
  static constexpr std::uint64_t kTaskMask = (1u << kTaskBits) - 1;
  // Every kind of task deferred in this process, by its TaskIndex: its
  // function, and its prefetch function (null for most).
  static inline TaskFn task_fns[1u << kTaskBits];
  static inline PrefetchFn prefetch_fns[1u << kTaskBits];
  // The index of the kind (F, P), given the first time it is deferred (a
  // thread-safe static, so every thread sees the table entries it was
  // given).
  template <TaskFn F, PrefetchFn P>
  static std::uint64_t TaskIndex() {
    static const std::uint64_t index = RegisterTask(F, P);
    return index;
  }
  static std::uint64_t RegisterTask(TaskFn fn, PrefetchFn pf);

  static constexpr std::size_t kPrefetchAhead = 16;
  // Done tasks are dropped no sooner than this many (a queue of 32 KiB a
  // worker and up; at 1 << 12, 128 KiB: 4 MiB on 32 workers, a sixth of
  // the 1M-node graph's writer memory there). Dropping them moves the
  // waiting tasks, at most as many, so the cost per task stays constant.
  static constexpr std::size_t kCompactMin = 1 << 10;
  // Values of the sharing tables (seen_, and the shards of several
  // threads): the offset, then the type in few bits, so that more of the
  // offset fits in a slot (PackedAddressTable); graphs have few pointee
  // types.
  static constexpr int kSeenTypeBits = 4;
  static constexpr std::uint64_t kSeenTypes = std::uint64_t{1} << kSeenTypeBits;
  // Whether `v`, a sharing table's value, is an object of pointee type
  // `type`: then *off is its copy's offset and *fresh false.
  static bool SeenAs(std::uint64_t v, std::uint64_t type, std::uint64_t* off,
                     bool* fresh) {
    if ((v & (kSeenTypes - 1)) != type) return false;
    *off = v >> kSeenTypeBits;
    *fresh = false;
    return true;
  }
  // Intern through `seen` for a pointee type below kSeenTypes: the offset
  // of `addr`'s copy in *off, allocated by alloc() on first sight (then
  // *fresh), and true; false when `addr` is kept there with another type
  // (then the side map keeps this one).
  template <class A>
  [[gnu::always_inline]] static bool InternSeen(PackedAddressTable& seen,
                                                const void* addr,
                                                std::uint64_t type, A alloc,
                                                std::uint64_t* off,
                                                bool* fresh) {
    const auto [v, inserted] = seen.FindOrInsert(
        addr, [&] { return (alloc() << kSeenTypeBits) | type; });
    if (!inserted) return SeenAs(v, type, off, fresh);
    *off = v >> kSeenTypeBits;
    *fresh = true;
    return true;
  }

  // A small number for each pointee type seen (graphs have few).
  std::uint64_t TypeIndex(const void* tag) {
    if (tag == last_tag_) return last_type_;
    std::size_t i = 0;
    while (i < types_.size() && types_[i] != tag) ++i;
    if (i == types_.size()) types_.push_back(tag);
    last_tag_ = tag;
    last_type_ = i;
    return i;
  }

  char* base_ = nullptr;
  const char* address_ = nullptr;
  std::uint64_t size_ = 0;
  std::vector<Task> tasks_;
  std::size_t tasks_peak_ = 0;  // NoteTaskCapacity
  PackedAddressTable seen_;
  absl::flat_hash_map<std::pair<const void*, const void*>, std::uint64_t>
      seen_other_;
  std::size_t reserved_ = 0;  // the most objects seen_ was made room for
  std::vector<const void*> types_;
  const void* last_tag_ = nullptr;
  std::uint64_t last_type_ = 0;
  std::vector<const void*> hash_from_;
  std::vector<std::uint32_t> hash_bucket_;
  bool one_pass_ = false;
  bool may_fail_ = false;
  bool failed_ = false;
  std::uint64_t capacity_ = ~std::uint64_t{0};  // one pass: bytes ready
  GrowFn grow_ = nullptr;
  void* grow_arg_ = nullptr;
  const std::vector<const void*>* shareable_ = nullptr;
  // Marking on several threads: the state shared with the other workers
  // (null: alone), and the one to start them in (AllowParallel).
  SharedMark* shared_ = nullptr;
  SharedMark* switch_to_ = nullptr;
  bool split_queued_ = false;  // NewPointerSplit was called (OnTask)
  std::uint64_t high_ = 0;     // the end of the last span allocated alone
  std::size_t stage1_ = 0, stage2_ = 0;  // RunQueue's prefetch positions
  std::deque<RunChain> chains_;          // NewChain's (addresses stay put)
  std::size_t relocs_count_ = 0;
  std::uint64_t measured_size_ = 0;
  // Writing: bit (slot / 8) % 64 of word slot / 512 is set for each slot.
  std::vector<std::uint64_t> slot_bits_;
  // Or, with paged_bits_, word w is word w % kBitPageWords of page
  // w / kBitPageWords (null: all zero), found in group page / kGroupPages.
  // See NewBitPage.
  bool paged_bits_ = false;
  std::vector<std::unique_ptr<BitGroup>> bit_groups_;
  std::size_t bit_groups_made_ = 0;
  std::size_t bit_pages_made_ = 0;
};

}  // namespace internal
}  // namespace ancient

#endif  // ANCIENT_INTERNAL_MARK_CONTEXT_H_
