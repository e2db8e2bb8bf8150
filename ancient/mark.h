// Mark and Ancient<T>: copy an object graph out of the heap into one
// contiguous block of plain data, and read it in place.
//
//   std::map<std::string, std::vector<int>> m = ...;
//   ancient::Ancient<decltype(m)> a = ancient::Mark(m);
//   // frozen is an ancient::Map<ancient::String, ancient::Vector<int>>:
//   const auto& frozen = a.Follow();
//   if (const auto* v = frozen.get("key")) use((*v)[0]);
//   a.Delete();  // or let `a` go out of scope
//
// Users include ancient/ancient.h, which brings this header with the rest
// of the graph layer and Schema.

#ifndef ANCIENT_MARK_H_
#define ANCIENT_MARK_H_

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ancient/block.h"
#include "ancient/check.h"
#include "ancient/frozen.h"
#include "ancient/graph_writer.h"
#include "ancient/internal/fatal.h"
#include "ancient/internal/parallel_mark.h"
#include "ancient/layout.h"
#include "ancient/struct.h"
#include "ancient/type_id.h"
#include "ancient/value.h"

namespace ancient {

// How Mark marks.
struct MarkOptions {
  // Threads to mark with; 1: the calling thread alone. With more than one,
  // a graph starts marking on the calling thread and the others join once
  // it has enough queued to share (small graphs never start them); objects
  // reached through several pointers are still copied once, cycles
  // preserved, and the graph read back is the same whatever the count (the
  // bytes' order may differ). 0 (the default): the cores this process may
  // run on, for graphs of at least 1 MiB whose objects no raw or shared
  // pointer of the type can reach twice (unique_ptr trees, containers);
  // one thread for the rest, where more were measured to gain nothing (see
  // BENCHMARKS.md). Vectors of numbers or strings are always marked on one
  // thread (two passes).
  int threads = 0;
  // Whether the block's memory asks the kernel for transparent huge pages
  // (madvise MADV_HUGEPAGE, where the system's policy is "madvise"): a fault
  // per 2 MiB instead of per 4 KiB, and fewer TLB misses when the graph is
  // read in memory (a random walk of the 1M-node graph ~20% faster). Off by
  // default: where the memory behind a huge page is not resident on the host
  // (virtual machines that hand free memory back to the host, as this
  // project's benchmark machine does), each first touch of one costs far
  // more than 512 small ones: a first Mark of the 4M-entry hash map took
  // 2.2-6.4 s with huge pages, 1.0 s without (BENCHMARKS.md). Turn on where
  // memory is backed by the host up front (bare metal, pinned or huge-page
  // backed guests).
  bool huge_pages = false;
};

// The owner of one marked block: a move-only handle to memory outside the
// heap's objects that holds a whole frozen graph. Made by ancient::Mark.
template <class T>
class Ancient {
 public:
  Ancient() = default;
  Ancient(Ancient&& other) noexcept { *this = std::move(other); }
  Ancient& operator=(Ancient&& other) noexcept {
    if (this != &other) {
      Delete();
      block_ = std::exchange(other.block_, nullptr);
      size_ = std::exchange(other.size_, 0);
      mapped_ = std::exchange(other.mapped_, 0);
      relocations_ = std::move(other.relocations_);
      other.relocations_.clear();
      threads_used_ = std::exchange(other.threads_used_, 1);
    }
    return *this;
  }
  Ancient(const Ancient&) = delete;
  Ancient& operator=(const Ancient&) = delete;
  ~Ancient() { Delete(); }

  // The frozen graph, valid until Delete() or destruction. Calling it on a
  // deleted (or default-constructed, or moved-from) Ancient aborts the
  // process with a message: use TryFollow() to get an error instead.
  const Frozen<T>& Follow() const {
    if (block_ == nullptr) {
      internal::Fatal("ancient::Ancient::Follow() called after Delete()");
    }
    return *reinterpret_cast<const Frozen<T>*>(block_);
  }

  // The frozen graph, or FailedPrecondition when deleted.
  absl::StatusOr<const Frozen<T>*> TryFollow() const {
    if (block_ == nullptr) {
      return absl::FailedPreconditionError(
          "ancient::Ancient: the block was deleted");
    }
    return reinterpret_cast<const Frozen<T>*>(block_);
  }

  // Frees the block. Idempotent.
  void Delete() {
    if (block_ != nullptr) {
      internal::FreeBlock(block_, mapped_);
      block_ = nullptr;
      mapped_ = 0;
      size_ = 0;
      relocations_.clear();
    }
  }

  bool deleted() const { return block_ == nullptr; }
  // The block's exact size in bytes (0 once deleted).
  std::size_t size_bytes() const { return size_; }
  // The block's first byte (nullptr once deleted).
  const void* data() const { return block_; }
  // Where the block's pointers are (see ancient/block.h).
  std::string_view relocations() const { return relocations_; }
  // The threads that marked it (MarkOptions::threads): 1 for graphs too
  // small to share between threads.
  int threads_used() const { return threads_used_; }

 private:
  template <class U>
  friend Ancient<U> Mark(const U& value, const MarkOptions& options);

  void* block_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;  // a mapping's length, or 0: operator new
  std::string relocations_;
  int threads_used_ = 1;
};

// Copies `value` and everything it reaches into one new block and returns
// its owner. Objects reached through several pointers are copied once;
// cycles are preserved. Not recursive on the data: any depth of chain is
// fine. `value` must not change while Mark runs.
//
// It marks in one pass, writing each object as it is first reached into a
// block that grows as needed (GrowableBlock: a heap buffer, then a mapping,
// with huge pages if asked); vectors of numbers or strings, which are measured
// in one cheap scan, in two passes into a block of their exact size.
//
// Like operator new, Mark has no error to return: when memory runs out
// (or the block would pass 2^48 bytes) it aborts with a message on stderr.
// Store::Share, which writes into a file, returns ResourceExhausted instead.
template <class T>
Ancient<T> Mark(const T& value, const MarkOptions& options) {
  Ancient<T> a;
  internal::WriteGraph(
      value,
      [&](auto& writer) {
        a.size_ = writer.size();
        a.block_ = ::operator new (a.size_,
                                   std::align_val_t{internal::kBlockAlignment});
        a.relocations_ = writer.Write(a.block_);
      },
      [&](auto mark) {
        internal::GrowableBlock block(options.huge_pages);
        internal::MarkContext c;
        c.StartOnePass(block.room(), &internal::GrowableBlock::Grow, &block);
        const int threads = options.threads > 0
                                ? options.threads
                                : internal::DefaultMarkThreads();
        internal::SharedMark shared(threads, /*may_fail=*/false,
                                    /*automatic=*/options.threads <= 0);
        shared.UseHugePages(options.huge_pages);
        if (threads > 1) c.AllowParallel(&shared);
        mark(c);
        a.size_ = c.size();
        a.relocations_ = c.EncodeRelocations();
        if (shared.started()) {
          // Marked on several threads, in the reservation.
          a.block_ = shared.Release(c.size(), &a.mapped_);
          a.threads_used_ = shared.workers();
        } else if (block.in_heap() &&
                   c.size() <= internal::GrowableBlock::kHeapBytes / 2) {
          // A small block: moved into memory of its own size.
          a.block_ = ::operator new (
              a.size_, std::align_val_t{internal::kBlockAlignment});
          c.MoveBlock(static_cast<char*>(a.block_));
        } else {
          a.block_ = block.Release(c.size(), &a.mapped_);
        }
      });
  return a;
}

template <class T>
Ancient<T> Mark(const T& value) {
  return Mark(value, MarkOptions{});
}

}  // namespace ancient

#endif  // ANCIENT_MARK_H_
