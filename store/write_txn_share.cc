// One-pass Share: the graph is marked straight into the arena as it grows.
//
// The destination starts in the largest of the first few free extents
// (taken out of the free list), or at the high-water mark when there is
// none. Marking asks for room as it allocates (MarkContext::GrowFn); when
// the graph outgrows its free extent, the extent goes back to the free list
// and what is written so far is copied (its pointers moved with it) to the
// first free extent of twice the size needed, or to the high-water mark; at
// the end of the arena the file grows as marking goes. Room is handed out
// zero-filled, zeros written with pwrite a step ahead of the writer (which
// also puts the pages in the page cache far cheaper than the writer's
// first touch of each through the mapping would). When done,
// the relocation record is encoded right after the graph, and whatever the
// extent has left over goes back to the free list.

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "absl/strings/str_format.h"
#include "ancient/block.h"
#include "ancient/internal/parallel_mark.h"
#include "store/write_txn.h"

namespace ancient::store_internal {

namespace {
// Room is zero-filled at most this far ahead of what the writer asked for
// (at least kMinStep, a quarter of what it has so far between): far enough
// that growth is rare, near enough that the cleared bytes are still in
// cache when written.
constexpr std::uint64_t kClearStep = std::uint64_t{4} << 20;
constexpr std::uint64_t kMinStep = std::uint64_t{64} << 10;
// How many free extents a Share looks at to choose where to start.
constexpr std::size_t kStartScan = 16;
}  // namespace

struct WriteTxn::Destination {
  WriteTxn* txn;
  std::uint64_t off = 0;    // where the graph starts in the arena
  std::uint64_t room = 0;   // the free extent's length (when !at_end)
  bool at_end = true;       // at the high-water mark, growing the file
  std::uint64_t ready = 0;  // bytes from `off` that are zero or written
  absl::Status error;       // why room could not be had
  bool broken = false;      // room is refused from now on (error says why)
};

absl::Status WriteTxn::StartDestination(Destination& d) {
  d.ready = 0;
  d.at_end = true;
  d.off = space_.high_water;
  // The largest of the first few free extents: finding room stays cheap
  // when free space is fragmented (a graph that outgrows it finds more).
  return TakeFreeFor(d, 0, kStartScan);
}

absl::Status WriteTxn::TakeFreeFor(Destination& d, std::uint64_t min_len,
                                   std::size_t scan) {
  std::optional<Extent> e;
  absl::Status s = TakeFree(min_len, scan, &e);
  if (s.ok() && e) {
    d.at_end = false;
    d.off = e->offset;
    d.room = e->length;
  }
  return s;
}

absl::Status WriteTxn::MakeRoom(Destination& d, std::uint64_t need) {
  if (need > internal::MarkContext::kMaxBlockBytes) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("store %s: a graph of more than %d bytes", core_->dir(),
                        internal::MarkContext::kMaxBlockBytes));
  }
  absl::Status s;
  if (!d.at_end && need > d.room) {
    // Outgrown: the extent goes back to the free list first (so that, if it
    // ends at the high-water mark, that mark comes down to it and the graph
    // stays where it is).
    const std::uint64_t from = d.off;
    s = AddFree(from, d.room);
    if (!s.ok()) return s;
    // The first free extent of twice what is needed (the extent just
    // returned may have merged into it: then the graph stays or moves
    // down), else the high-water mark.
    d.at_end = true;
    d.off = space_.high_water;
    s = TakeFreeFor(d, AlignUp(2 * need, kExtentAlign), 0);
    if (!s.ok()) return s;
    if (d.off != from) {
      if (d.at_end) {
        s = EnsureArena(d.off + d.ready);
        if (!s.ok()) return s;
      }
      char* w = core_->arena().write_base();
      std::memmove(w + d.off, w + from, d.ready);
    }
  }
  // Made ready a step ahead of the writer: a few pages for a small graph,
  // up to kClearStep at a time as it grows.
  const std::uint64_t step = std::clamp<std::uint64_t>(
      std::bit_ceil(std::max<std::uint64_t>(d.ready / 4, 1)), kMinStep,
      kClearStep);
  std::uint64_t want = AlignUp(need, step);
  if (!d.at_end) {
    want = std::min(want, d.room);
  } else {
    want = std::min(want, std::max(need, core_->options().max_size - d.off));
    s = EnsureArena(d.off + want);  // grows the file, maps it for writing
    if (!s.ok()) return s;
  }
  // Zeros written with pwrite, known zero or not: besides clearing what an
  // earlier graph or a crashed writer left, this puts the pages in the page
  // cache for the price of a copy. The writer's first touch of a fresh page
  // of the file through the mapping costs far more (the kernel's fault, its
  // read-ahead and zero-fill of the file's unwritten blocks: a few
  // microseconds a page, measured).
  if (want > d.ready) {
    s = core_->arena().WriteZeros(d.off + d.ready, want - d.ready);
    if (!s.ok()) return s;
  }
  d.ready = want;
  return absl::OkStatus();
}

bool WriteTxn::GrowDestination(void* self, std::uint64_t need,
                               internal::MarkContext::Room* room) {
  auto* d = static_cast<Destination*>(self);
  if (d->broken) return false;
  WriteTxn& t = *d->txn;
  d->error = t.MakeRoom(*d, need);
  if (!d->error.ok()) return false;
  const Arena& arena = t.core_->arena();
  *room = {arena.write_base() + d->off, arena.base() + d->off, d->ready};
  return true;
}

void WriteTxn::Abandon(Destination& d) {
  if (!d.at_end) {
    // Back to the free list; on failure the batch's commit would lose only
    // this extent's reuse, and the error being returned says more.
    (void)AddFree(d.off, d.room);
  } else if (zero_from_ != std::numeric_limits<std::uint64_t>::max()) {
    // Written past the high-water mark: no longer known zero there.
    zero_from_ = std::max(zero_from_, d.off + d.ready);
  }
}

// The room of a Share marked on several threads: the Destination, with the
// writable view reserved far enough that growing the file never moves it
// while the workers write. A graph cannot move once the workers start, so
// the workers start in the free extent it began in only when that extent
// holds the size expected (read when the workers start, not before: a
// rewritten key's last version, with room for the workers' chunk tails;
// never, once a graph has outgrown its extent); otherwise the graph
// moves to the end of the arena, where it can grow. A graph that outgrows
// its extent all the same fails (outgrown()) and is marked again at the end.
class WriteTxn::ParallelRoom : public internal::SharedRoom {
 public:
  ParallelRoom(Destination& d, std::string_view key, int threads, bool may_stay)
      : d_(d), t_(*d.txn), key_(key), threads_(threads), may_stay_(may_stay) {}

  bool outgrown() const { return outgrown_; }

  bool Begin(std::uint64_t size, std::uint64_t ready, Place* place) override {
    Arena& arena = t_.core_->arena();
    const std::uint64_t from = d_.off;
    const std::uint64_t expected = !d_.at_end && may_stay_ ? Expected() : 0;
    const bool stay = expected != 0 && d_.room >= expected;
    // The room the workers may grow into, reserved before anything moves
    // (the graph, if it moves, goes to the high-water mark or below): up to
    // max_size, halved until the address space is had (as SharedMark's
    // own reservation). None: the first worker goes on alone.
    std::uint64_t limit = d_.room;
    const std::uint64_t high = t_.space_.high_water;
    if (!stay) {
      const std::uint64_t max = t_.core_->options().max_size;
      limit = std::min(max - std::min(max, high), kMaxRoom);
    }
    for (;;) {
      d_.error = arena.ReserveForWrite((stay ? d_.off : high) + limit);
      if (d_.error.ok() || stay || limit <= kMinRoom) break;
      limit /= 2;
    }
    if (!d_.error.ok()) return false;
    if (!d_.at_end && !stay) {
      // The extent goes back first: if it ends at the high-water mark, the
      // mark comes down to (or below) it and the block moves down.
      d_.error = t_.AddFree(d_.off, d_.room);
      if (!d_.error.ok()) return Broken();
      d_.at_end = true;
      d_.off = t_.space_.high_water;
      d_.ready = 0;
    }
    d_.error = t_.EnsureArena(d_.off + size);
    if (!d_.error.ok()) return from == d_.off ? false : Broken();
    if (d_.off != from) {
      char* w = arena.write_base();
      std::memmove(w + d_.off, w + from, size);
    }
    d_.ready = std::max(size, from == d_.off ? d_.ready : 0);
    std::uint64_t have = 0;
    if (!Commit(ready, &have)) return from == d_.off ? false : Broken();
    limit_ = limit;
    *place = {arena.write_base() + d_.off, arena.base() + d_.off, limit};
    return true;
  }

  bool Commit(std::uint64_t end, std::uint64_t* ready) override {
    if (limit_ != 0 && end > limit_) {
      outgrown_ = true;  // it cannot move while the workers write
      return false;
    }
    d_.error = t_.MakeRoom(d_, end);
    *ready = d_.ready;
    return d_.error.ok();
  }

 private:
  // The block could not be kept where its growth function finds it: the
  // first worker's next request for room fails with d_.error.
  bool Broken() {
    if (d_.error.ok()) {
      d_.error = absl::InternalError("the graph's room could not be kept");
    }
    d_.broken = true;
    return false;
  }

  // The room reserved for the workers: at most this, at least that (when
  // the address space for more is not free). ThreadSanitizer leaves the
  // application a few ranges of address space, and aborts the process on a
  // reservation outside them rather than failing it: a smaller most there.
#if defined(__SANITIZE_THREAD__)
  static constexpr std::uint64_t kMaxRoom = std::uint64_t{8} << 30;
#else
  static constexpr std::uint64_t kMaxRoom = std::uint64_t{1} << 40;
#endif
  static constexpr std::uint64_t kMinRoom = std::uint64_t{1} << 30;

  // The size the graph is expected to reach: its key's last version's,
  // with an eighth and two chunks a worker to spare; 0 when unknown.
  std::uint64_t Expected() const {
    absl::StatusOr<RootRecord> old =
        ReadRoot(*t_.core_, t_.txn_.get(), key_, nullptr);
    if (!old.ok()) return 0;
    return old->extent_size + old->extent_size / 8 +
           2 * static_cast<std::uint64_t>(threads_) *
               internal::SharedMark::kChunk;
  }

  Destination& d_;
  WriteTxn& t_;
  const std::string_view key_;
  const int threads_;
  const bool may_stay_;
  std::uint64_t limit_ = 0;  // set by Begin
  bool outgrown_ = false;
};

absl::StatusOr<ShareInfo> WriteTxn::ShareMarked(std::string_view key,
                                                const TypeRef& type,
                                                GraphMarkFn mark) {
  absl::Status s = core_->CheckProcess();
  if (s.ok()) s = core_->CheckKey(key);
  if (!s.ok()) return s;
  // Automatic (0): the process's cores, for graphs big enough to gain (as
  // ancient::Mark); the graph is marked straight into the arena either way.
  const int requested = core_->options().mark_threads;
  int threads = requested > 0 ? requested : internal::DefaultMarkThreads();
  bool may_stay = true;  // in its free extent, when the workers start
  const auto keyed = [key](const absl::Status& why) {
    return absl::Status(why.code(),
                        Cat("sharing key '", key, "': ", why.message()));
  };
  for (;;) {
    Destination d{this};
    s = StartDestination(d);
    if (!s.ok()) return s;
    internal::MarkContext c;
    c.StartOnePass({}, &GrowDestination, &d, /*may_fail=*/true);
    ParallelRoom room(d, key, threads, may_stay);
    internal::SharedMark shared(threads, /*may_fail=*/true,
                                /*automatic=*/requested <= 0);
    shared.UseRoom(&room);
    if (threads > 1) c.AllowParallel(&shared);
    mark(c);
    if (c.failed() && room.outgrown()) {
      // Bigger than its room: again, at the end of the arena, where room is
      // reserved up to max_size; bigger than that (only when the address
      // space was short), on one thread, whose room can move.
      if (d.at_end) threads = 1;
      Abandon(d);
      may_stay = false;
      continue;
    }
    if (c.failed()) {
      Abandon(d);
      return keyed(!d.error.ok() ? d.error
                                 : absl::ResourceExhaustedError(
                                       Cat("no room to mark it in (", c.size(),
                                           " bytes so far, on ",
                                           shared.workers(), " threads)")));
    }
    const std::uint64_t graph = c.size();
    std::uint64_t reloc = 0;
    if (shared.started()) {
      // Marked on several threads, in place: the record is encoded apart
      // (the workers' chunks are handed out past the graph's end).
      const std::string relocs = c.EncodeRelocations();
      reloc = relocs.size();
      s = MakeRoom(d, graph + reloc);
      if (!s.ok()) {
        Abandon(d);
        return keyed(s);
      }
      std::memcpy(core_->arena().write_base() + d.off + graph, relocs.data(),
                  reloc);
    } else {
      // The relocation record goes right after the graph.
      std::uint64_t room_needed = c.RelocationsBound();
      // The bound may not fit a free extent that the exact record fits (a
      // graph replacing one of its size): measured exactly then.
      if (!d.at_end && graph + room_needed > d.room) {
        room_needed = c.RelocationsLength();
      }
      c.Alloc(room_needed, 1);
      if (c.failed()) {
        Abandon(d);
        return keyed(d.error);
      }
      reloc = static_cast<std::uint64_t>(c.EncodeRelocationsTo(c.bytes(graph)) -
                                         c.bytes(graph));
    }
    absl::StatusOr<ShareInfo> info = FinishShare(key, type, d, graph, reloc);
    if (info.ok()) {
      info->scratch_bytes = c.scratch_bytes();
      if (shared.started()) info->mark_threads = shared.workers();
    }
    return info;
  }
}

absl::StatusOr<ShareInfo> WriteTxn::FinishShare(std::string_view key,
                                                const TypeRef& type,
                                                Destination& d,
                                                std::uint64_t graph,
                                                std::uint64_t reloc) {
  absl::Status s;
  const std::uint64_t extent = AlignUp(graph + reloc, kExtentAlign);
  if (!d.at_end) {
    if (d.room > extent) s = AddFree(d.off + extent, d.room - extent);
  } else {
    s = EnsureArena(d.off + extent);
    if (s.ok()) space_.high_water = d.off + extent;
  }
  if (!s.ok()) {
    Abandon(d);
    return s;
  }
  fresh_.insert(d.off);
  return Record(key, type, d.off, graph, reloc);
}

}  // namespace ancient::store_internal
