// One-pass Share: the graph is marked straight into the arena as it grows.
//
// The destination starts in the largest of the first few free extents
// (taken out of the free list), or at the high-water mark when there is
// none. Marking asks for room as it allocates (MarkContext::GrowFn); when
// the graph outgrows its free extent, the extent goes back to the free list
// and what is written so far is copied (its pointers moved with it) to the
// first free extent of twice the size needed, or to the high-water mark; at
// the end of the arena the file grows as marking goes. Room is handed out
// zero-filled: space the file grew by in this transaction is zero already,
// the rest is cleared a step at a time just ahead of the writer. When done,
// the relocation record is encoded right after the graph, and whatever the
// extent has left over goes back to the free list.

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_format.h"
#include "ancient/block.h"
#include "ancient/internal/parallel_mark.h"
#include "store/write_txn.h"

namespace ancient::store_internal {

namespace {
// Room is zero-filled this far ahead of what the writer asked for (when it
// is not known to be zero): far enough that growth is rare, near enough
// that the cleared bytes are still in cache when written.
constexpr std::uint64_t kClearStep = std::uint64_t{1} << 20;
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
  std::uint64_t want = std::max(need, AlignUp(need, kClearStep));
  if (!d.at_end) {
    want = std::min(want, d.room);
  } else {
    s = EnsureArena(d.off + need);
    if (!s.ok()) return s;
    // Past zero_from_ the file is known zero (grown in this transaction):
    // all of it is ready without clearing.
    if (d.off + want >= zero_from_) want = space_.arena_size - d.off;
    want = std::max(need, std::min(want, space_.arena_size - d.off));
    s = EnsureArena(d.off + want);  // maps it for writing
    if (!s.ok()) return s;
  }
  // Clears what is not known zero.
  const std::uint64_t clear_to =
      d.at_end ? std::min(d.off + want, std::max(zero_from_, d.off + d.ready))
               : d.off + want;
  if (clear_to > d.off + d.ready) {
    std::memset(core_->arena().write_base() + d.off + d.ready, 0,
                clear_to - (d.off + d.ready));
  }
  d.ready = want;
  return absl::OkStatus();
}

bool WriteTxn::GrowDestination(void* self, std::uint64_t need,
                               internal::MarkContext::Room* room) {
  auto* d = static_cast<Destination*>(self);
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

absl::StatusOr<ShareInfo> WriteTxn::ShareMarked(std::string_view key,
                                                const TypeRef& type,
                                                GraphMarkFn mark) {
  absl::Status s = core_->CheckProcess();
  if (s.ok()) s = core_->CheckKey(key);
  if (!s.ok()) return s;
  Destination d{this};
  s = StartDestination(d);
  if (!s.ok()) return s;
  internal::MarkContext c;
  c.StartOnePass({}, &GrowDestination, &d, /*may_fail=*/true);
  // Automatic (0): one thread. Marking on several threads needs the graph's
  // size in memory besides (it is marked into memory, then written into the
  // arena), which the writer's memory bound (a quarter of the graph) does
  // not allow by default.
  const int threads = std::max(1, core_->options().mark_threads);
  internal::SharedMark shared(threads, /*may_fail=*/true);
  if (threads > 1) c.AllowParallel(&shared);
  mark(c);
  if (shared.started()) {
    // Marked on several threads into memory: copied into the arena.
    Abandon(d);
    return ShareParallel(key, type, c, shared);
  }
  std::uint64_t graph = 0, reloc = 0;
  if (!c.failed()) {
    // The relocation record goes right after the graph.
    graph = c.size();
    std::uint64_t room = c.RelocationsBound();
    // The bound may not fit a free extent that the exact record fits (a
    // graph replacing one of its size): measured exactly then.
    if (!d.at_end && graph + room > d.room) room = c.RelocationsLength();
    c.Alloc(room, 1);
    if (!c.failed()) {
      reloc = static_cast<std::uint64_t>(c.EncodeRelocationsTo(c.bytes(graph)) -
                                         c.bytes(graph));
    }
  }
  if (c.failed()) {
    Abandon(d);
    return absl::Status(d.error.code(),
                        Cat("sharing key '", key, "': ", d.error.message()));
  }
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
  absl::StatusOr<ShareInfo> info = Record(key, type, d.off, graph, reloc);
  if (info.ok()) info->scratch_bytes = c.scratch_bytes();
  return info;
}

absl::StatusOr<ShareInfo> WriteTxn::ShareParallel(
    std::string_view key, const TypeRef& type, internal::MarkContext& c,
    const internal::SharedMark& shared) {
  const auto fail = [&](const absl::Status& s) {
    return absl::Status(s.code(),
                        Cat("sharing key '", key, "': ", s.message()));
  };
  if (c.failed()) {
    return fail(absl::ResourceExhaustedError(
        Cat("no memory to mark it in (", c.size(), " bytes so far, on ",
            shared.workers(), " threads)")));
  }
  const std::string relocs = c.EncodeRelocations();
  const char* const block = shared.base();
  const std::uint64_t size = c.size();
  const std::uint64_t len = size + relocs.size();
  absl::StatusOr<std::uint64_t> off =
      Allocate(AlignUp(len, kExtentAlign), nullptr);
  if (!off.ok()) return fail(off.status());
  Arena& arena = core_->arena();
  absl::Status s = arena.MapForWrite(*off + AlignUp(len, kExtentAlign));
  if (!s.ok()) return fail(s);
  // Relocated to the arena's address and checksummed as it is written
  // (pwrite: no page faults on fresh file pages), the record after it.
  ChunkRelocator relocator(
      relocs, reinterpret_cast<std::uintptr_t>(arena.base()) + *off -
                  reinterpret_cast<std::uintptr_t>(block));
  absl::StatusOr<std::uint64_t> sum =
      WriteRelocated(*off, block, size, relocs, relocator);
  absl::StatusOr<ShareInfo> info =
      sum.ok() ? Record(key, type, *off, size, relocs.size(), *sum)
               : absl::StatusOr<ShareInfo>(sum.status());
  if (!info.ok()) {
    // Back to the free list: nothing names it.
    (void)AddFree(*off, AlignUp(len, kExtentAlign));
    return fail(info.status());
  }
  info->scratch_bytes = c.scratch_bytes() + size;
  info->mark_threads = shared.workers();
  return info;
}

}  // namespace ancient::store_internal
