// Store::CopyTo: a store copied root by root into a new one (compacted, or
// at the same offsets), each graph relocated to the copy's base.

#include <algorithm>
#include <optional>
#include <string>

#include "store/read_txn.h"
#include "store/store.h"
#include "store/write_txn.h"

namespace ancient {

using store_internal::Cat;
using store_internal::Core;
using store_internal::ReadTxn;
using store_internal::RootRecord;
using store_internal::SpaceRecord;
using store_internal::WriteTxn;

absl::Status Store::CopyTo(const std::string& dest_dir, bool compact) const {
  absl::StatusOr<std::shared_ptr<ReadTxn>> txn = ReadTxn::Begin(core_);
  if (!txn.ok()) return txn.status();
  const ReadTxn& t = **txn;
  absl::StatusOr<SpaceRecord> space = t.Space();
  if (!space.ok()) return space.status();

  StoreOptions opts;
  opts.create_if_missing = true;
  opts.max_size =
      std::max<std::uint64_t>(core_->options().max_size, space->arena_size);
  opts.durability = core_->options().durability;
  absl::StatusOr<std::shared_ptr<Core>> dest = Core::Open(dest_dir, opts);
  if (!dest.ok()) return dest.status();
  if (dest->get() == core_.get()) {
    return absl::InvalidArgumentError(
        Cat("cannot copy store ", core_->dir(), " onto itself"));
  }
  {
    absl::StatusOr<std::shared_ptr<ReadTxn>> dt = ReadTxn::Begin(*dest);
    if (!dt.ok()) return dt.status();
    absl::StatusOr<SpaceRecord> ds = (*dt)->Space();
    if (!ds.ok()) return ds.status();
    if (ds->high_water != 0) {
      return absl::FailedPreconditionError(
          Cat("copy destination ", dest_dir, " already holds data"));
    }
  }
  absl::StatusOr<std::unique_ptr<WriteTxn>> w = WriteTxn::Begin(*dest);
  if (!w.ok()) return w.status();
  absl::Status s;
  if (!compact) {
    s = (*w)->SetSpace(space->arena_size, space->high_water);
    if (!s.ok()) return s;
  }
  s = core_->arena().CheckLength(space->high_water);
  if (!s.ok()) return s;
  std::string buf;
  s = t.ForEachRoot(
      "",
      [&](std::string_view key, const RootRecord& r,
          std::string_view name) -> absl::Status {
        absl::Status s = CheckRootRecord(*core_, key, r, space->high_water);
        if (!s.ok()) return s;
        absl::StatusOr<const char*> bytes = core_->arena().RawBytes(
            r.offset, r.graph_size + r.reloc_size, &buf);
        if (!bytes.ok()) return bytes.status();
        absl::StatusOr<std::string> type = t.TypeDescriptionOf(r.type_id);
        if (type.ok()) {
          s = (*w)->PutType(r.type_id, *type);
          if (!s.ok()) return s;
        } else if (!absl::IsNotFound(type.status())) {
          return type.status();
        }
        return (*w)
            ->PutCopy(
                key, r, name, *bytes, core_->base() + r.offset,
                compact ? std::nullopt : std::optional<std::uint64_t>(r.offset))
            .status();
      });
  if (!s.ok()) return s;
  if (!compact) {
    // The source's free space (including what readers still see there) is
    // plain free space in the copy, which has no readers yet.
    absl::Status r = store_internal::ForEachFreeExtent(
        t, [&](std::uint64_t off, std::uint64_t len, bool) {
          if (s.ok()) s = (*w)->AddFree(off, len);
        });
    if (!r.ok()) return r;
    if (!s.ok()) return s;
  }
  return (*w)->Commit();
}

}  // namespace ancient
