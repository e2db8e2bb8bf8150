// The public Store API over store_internal::Core.

#include "store/store.h"

#include <sys/stat.h>
#include <xxhash.h>

#include <algorithm>
#include <optional>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "store/read_txn.h"
#include "store/write_txn.h"

namespace ancient {

using store_internal::Cat;
using store_internal::Core;
using store_internal::ReadTxn;
using store_internal::RootRecord;
using store_internal::SpaceRecord;
using store_internal::WriteTxn;

// ------------------------------------------------------------- Snapshot

absl::StatusOr<store_internal::GraphRef> Snapshot::Find(
    std::string_view key, const store_internal::TypeRef& type) const {
  return txn_->Find(key, type);
}

absl::StatusOr<std::vector<std::string>> Snapshot::Keys(
    std::string_view prefix) const {
  std::vector<std::string> keys;
  absl::Status s = txn_->ForEachRoot(
      prefix, [&](std::string_view key, const RootRecord&, std::string_view) {
        keys.emplace_back(key);
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return keys;
}

absl::StatusOr<std::vector<RootInfo>> Snapshot::List(
    std::string_view prefix) const {
  std::vector<RootInfo> roots;
  absl::Status s = txn_->ForEachRoot(
      prefix,
      [&](std::string_view key, const RootRecord& r, std::string_view name) {
        roots.push_back(RootInfo{std::string(key), std::string(name), r.type_id,
                                 r.offset, r.graph_size});
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return roots;
}

absl::StatusOr<RootInfo> Snapshot::Info(std::string_view key) const {
  return txn_->Info(key);
}

absl::StatusOr<std::string> Snapshot::TypeDescription(
    std::string_view key) const {
  absl::StatusOr<RootInfo> info = txn_->Info(key);
  if (!info.ok()) return info.status();
  return txn_->TypeDescriptionOf(info->type_id);
}

absl::Status Snapshot::WriteJson(
    std::string_view key, const JsonOptions& options,
    absl::FunctionRef<void(std::string_view)> out) const {
  RootRecord r;
  absl::StatusOr<store_internal::GraphRef> g = txn_->FindUntyped(key, &r);
  if (!g.ok()) return g.status();
  const std::string& dir = txn_->core().dir();
  absl::StatusOr<std::string> d = txn_->TypeDescriptionOf(r.type_id);
  if (!d.ok()) {
    if (absl::IsNotFound(d.status())) {
      return absl::NotFoundError(
          Cat("store ", dir, ": key '", key,
              "' has no recorded type (shared before stores recorded "
              "types; share it again to record it)"));
    }
    return d.status();
  }
  absl::StatusOr<Schema> schema = Schema::Parse(*d);
  if (!schema.ok()) {
    return absl::DataLossError(
        Cat("store ", dir, ": key '", key, "': ", schema.status().message()));
  }
  const char* p = static_cast<const char*>(g->root);
  absl::Status s = WriteGraphJson(
      *schema, {p, g->size, reinterpret_cast<std::uintptr_t>(p)}, options, out);
  if (!s.ok()) {
    return absl::Status(s.code(),
                        Cat("store ", dir, ": key '", key, "': ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Snapshot::GetJson(
    std::string_view key, const JsonOptions& options) const {
  std::string out;
  absl::Status s = WriteJson(
      key, options, [&](std::string_view piece) { out.append(piece); });
  if (!s.ok()) return s;
  return out;
}

// ----------------------------------------------------------- WriteBatch

absl::StatusOr<ShareInfo> WriteBatch::ShareJson(std::string_view key,
                                                std::string_view description,
                                                std::string_view json,
                                                std::string_view member) {
  absl::StatusOr<Schema> schema = Schema::Parse(description);
  if (!schema.ok()) {
    return absl::InvalidArgumentError(
        Cat("key '", key, "': ", schema.status().message()));
  }
  absl::StatusOr<JsonGraph> graph = JsonGraph::Build(*schema, json, member);
  if (!graph.ok()) {
    return absl::Status(graph.status().code(),
                        Cat("key '", key, "': ", graph.status().message()));
  }
  const std::string desc(description);
  const std::string name = schema->TypeName();
  const store_internal::TypeRef type{XXH3_64bits(desc.data(), desc.size()),
                                     name, desc};
  return ShareGraph(key, type, graph->size(), graph->pointer_count(),
                    [&](void* dest, const void* address, bool zeroed) {
                      return graph->Write(dest, address, zeroed);
                    });
}

WriteBatch::WriteBatch(std::unique_ptr<WriteTxn> txn) : txn_(std::move(txn)) {}
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;
WriteBatch::~WriteBatch() = default;

absl::StatusOr<ShareInfo> WriteBatch::ShareGraph(
    std::string_view key, const store_internal::TypeRef& type,
    std::uint64_t size, std::uint64_t pointers,
    store_internal::GraphWriteFn write) {
  if (txn_ == nullptr) {
    return absl::FailedPreconditionError("WriteBatch already finished");
  }
  return txn_->Share(key, type, size, pointers, write);
}

absl::StatusOr<ShareInfo> WriteBatch::ShareMarked(
    std::string_view key, const store_internal::TypeRef& type,
    store_internal::GraphMarkFn mark) {
  if (txn_ == nullptr) {
    return absl::FailedPreconditionError("WriteBatch already finished");
  }
  return txn_->ShareMarked(key, type, mark);
}

absl::Status WriteBatch::Delete(std::string_view key) {
  if (txn_ == nullptr) {
    return absl::FailedPreconditionError("WriteBatch already finished");
  }
  return txn_->Delete(key);
}

absl::Status WriteBatch::Commit() {
  if (txn_ == nullptr) {
    return absl::FailedPreconditionError("WriteBatch already finished");
  }
  absl::Status s = txn_->Commit();
  txn_.reset();
  return s;
}

// ---------------------------------------------------------------- Store

Store::Store(std::shared_ptr<Core> core, bool read_only)
    : core_(std::move(core)), read_only_(read_only) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(
    const std::string& dir, const StoreOptions& options) {
  absl::StatusOr<std::shared_ptr<Core>> core = Core::Open(dir, options);
  if (!core.ok()) return core.status();
  return std::unique_ptr<Store>(new Store(*std::move(core), options.read_only));
}

const std::string& Store::dir() const { return core_->dir(); }
std::uintptr_t Store::base_address() const { return core_->base(); }

absl::StatusOr<Snapshot> Store::Read() const {
  absl::StatusOr<std::shared_ptr<ReadTxn>> txn = ReadTxn::Begin(core_);
  if (!txn.ok()) return txn.status();
  return Snapshot(*std::move(txn));
}

absl::StatusOr<WriteBatch> Store::Write() {
  if (read_only_) {
    if (absl::Status s = core_->CheckProcess(); !s.ok()) return s;
    return absl::FailedPreconditionError(
        Cat("store ", core_->dir(), " was opened read-only"));
  }
  absl::StatusOr<std::unique_ptr<WriteTxn>> txn = WriteTxn::Begin(core_);
  if (!txn.ok()) return txn.status();
  return WriteBatch(*std::move(txn));
}

absl::StatusOr<ShareInfo> Store::ShareJson(std::string_view key,
                                           std::string_view description,
                                           std::string_view json) {
  absl::StatusOr<WriteBatch> batch = Write();
  if (!batch.ok()) return batch.status();
  absl::StatusOr<ShareInfo> info = batch->ShareJson(key, description, json);
  if (!info.ok()) return info.status();
  if (absl::Status s = batch->Commit(); !s.ok()) return s;
  return info;
}

absl::Status Store::Delete(std::string_view key) {
  absl::StatusOr<WriteBatch> batch = Write();
  if (!batch.ok()) return batch.status();
  absl::Status s = batch->Delete(key);
  if (!s.ok()) return s;
  return batch->Commit();
}

absl::StatusOr<std::vector<std::string>> Store::Keys(
    std::string_view prefix) const {
  absl::StatusOr<Snapshot> snap = Read();
  if (!snap.ok()) return snap.status();
  return snap->Keys(prefix);
}

namespace {

// Reads a table of BE64 keys (offset, or txnid + offset) to BE64 lengths.
absl::Status ForEachExtent(
    const ReadTxn& txn, MDB_dbi dbi, std::size_t key_size,
    const std::function<void(std::uint64_t, std::uint64_t)>& f) {
  store_internal::Cursor cursor;
  int rc = cursor.Open(txn.txn(), dbi);
  if (rc != MDB_SUCCESS) return store_internal::LmdbError(rc, "opening cursor");
  MDB_val k, v;
  rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST);
  while (rc == MDB_SUCCESS) {
    if (k.mv_size != key_size || v.mv_size != 8) {
      return absl::DataLossError("store " + txn.core().dir() +
                                 ": malformed free-space record");
    }
    const std::string_view key = store_internal::FromVal(k);
    f(store_internal::ReadBigEndian64(key.substr(key_size - 8)),
      store_internal::ReadBigEndian64(store_internal::FromVal(v)));
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
  }
  if (rc != MDB_NOTFOUND) {
    return store_internal::LmdbError(rc, "reading free space");
  }
  return absl::OkStatus();
}

std::uint64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size)
                                      : 0;
}

}  // namespace

absl::StatusOr<StoreStats> Store::Stats() const {
  StoreStats st;
  if (absl::Status s = core_->CheckProcess(); !s.ok()) return s;
  core_->OldestReader(&st.readers);  // Before our own snapshot starts.
  absl::StatusOr<std::shared_ptr<ReadTxn>> txn = ReadTxn::Begin(core_);
  if (!txn.ok()) return txn.status();
  const ReadTxn& t = **txn;
  absl::StatusOr<SpaceRecord> space = t.Space();
  if (!space.ok()) return space.status();
  absl::Status s = t.ForEachRoot(
      "", [&](std::string_view, const RootRecord& r, std::string_view) {
        ++st.roots;
        st.bytes_live += r.extent_size;
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  s = ForEachExtent(
      t, core_->free_db(), 8,
      [&](std::uint64_t, std::uint64_t len) { st.bytes_free += len; });
  if (!s.ok()) return s;
  s = ForEachExtent(t, core_->pending_db(), 16,
                    [&](std::uint64_t, std::uint64_t len) {
                      st.bytes_free += len;
                      st.bytes_pending += len;
                    });
  if (!s.ok()) return s;
  st.arena_size = space->arena_size;
  st.bytes_never_used = space->arena_size - space->high_water;
  st.arena_file_bytes = FileSize(core_->dir() + "/arena");
  st.lmdb_file_bytes = FileSize(core_->dir() + "/data.mdb");
  st.base_address = core_->base();
  st.max_size = core_->options().max_size;
  const store_internal::Arena::Usage u = core_->arena().usage();
  st.relocated = u.relocated;
  st.graphs_relocated = u.graphs_relocated;
  st.bytes_relocated = u.bytes_relocated;
  st.address_reserved = u.address_reserved;
  return st;
}

absl::Status Store::Verify() const {
  absl::StatusOr<std::shared_ptr<ReadTxn>> txn = ReadTxn::Begin(core_);
  if (!txn.ok()) return txn.status();
  const ReadTxn& t = **txn;
  const std::string& dir = core_->dir();
  absl::StatusOr<SpaceRecord> space = t.Space();
  if (!space.ok()) return space.status();
  if (space->high_water > space->arena_size) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: high-water mark %d is past the arena's %d bytes", dir,
        space->high_water, space->arena_size));
  }
  absl::Status s = core_->arena().CheckLength(space->arena_size);
  if (!s.ok()) return s;
  absl::StatusOr<bool> tail_zero = core_->arena().TailIsZero(space->arena_size);
  if (!tail_zero.ok()) return tail_zero.status();
  if (!*tail_zero) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: the arena file holds data past its recorded end (%d "
        "bytes): appended by another program, or left by a writer that "
        "crashed while growing the arena (then harmless: the next read-write "
        "open removes it)",
        dir, space->arena_size));
  }

  // Every extent: (offset, length, what).
  absl::flat_hash_map<std::uint64_t, std::optional<Schema>> schemas;
  std::vector<std::tuple<std::uint64_t, std::uint64_t, std::string>> extents;
  std::string buf;
  s = t.ForEachRoot(
      "",
      [&](std::string_view key, const RootRecord& r,
          std::string_view) -> absl::Status {
        const std::string what = Cat("root '", key, "'");
        if (r.offset % store_internal::kExtentAlign != 0 || r.graph_size == 0 ||
            r.graph_size > r.extent_size ||
            r.reloc_size > r.extent_size - r.graph_size ||
            r.offset > space->high_water ||
            r.extent_size > space->high_water - r.offset) {
          return absl::DataLossError(absl::StrFormat(
              "store %s: %s has a bad extent: offset %d, extent %d, graph %d, "
              "relocations %d, high-water mark %d",
              dir, what, r.offset, r.extent_size, r.graph_size, r.reloc_size,
              space->high_water));
        }
        if (r.base_address != core_->base()) {
          return absl::DataLossError(absl::StrFormat(
              "store %s: %s was written for base address %#x, but the store is "
              "mapped at %#x",
              dir, what, r.base_address, core_->base()));
        }
        // The bytes as on disk, wherever this process can read them.
        absl::StatusOr<const char*> graph = core_->arena().RawBytes(
            r.offset, r.graph_size + r.reloc_size, &buf);
        if (!graph.ok()) return graph.status();
        if (XXH3_64bits(*graph, r.graph_size + r.reloc_size) != r.checksum) {
          return absl::DataLossError(
              absl::StrFormat("store %s: %s at offset %d fails its checksum",
                              dir, what, r.offset));
        }
        absl::Status b =
            VerifyBlock(*graph, r.graph_size,
                        std::string_view(*graph + r.graph_size, r.reloc_size),
                        core_->base() + r.offset);
        if (!b.ok()) {
          return absl::DataLossError(
              Cat("store ", dir, ": ", what, ": ", b.message()));
        }
        // The typed check, by the recorded type (read, checked against its
        // id and parsed once per type; none for roots from before types
        // were recorded).
        auto known = schemas.find(r.type_id);
        if (known == schemas.end()) {
          absl::StatusOr<std::string> type = t.TypeDescriptionOf(r.type_id);
          if (!type.ok() && !absl::IsNotFound(type.status())) {
            return absl::Status(type.status().code(),
                                Cat(what, ": ", type.status().message()));
          }
          std::optional<Schema> schema;
          if (type.ok()) {
            absl::StatusOr<Schema> parsed = Schema::Parse(*type);
            if (!parsed.ok()) {
              return absl::DataLossError(Cat("store ", dir, ": ", what, ": ",
                                             parsed.status().message()));
            }
            schema.emplace(*std::move(parsed));
          }
          known = schemas.emplace(r.type_id, std::move(schema)).first;
        }
        if (known->second) {
          absl::Status c = VerifyGraph(
              *known->second, {*graph, r.graph_size, core_->base() + r.offset});
          if (!c.ok()) {
            return absl::DataLossError(
                Cat("store ", dir, ": ", what, ": ", c.message()));
          }
        }
        extents.emplace_back(r.offset, r.extent_size, what);
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  s = ForEachExtent(t, core_->free_db(), 8,
                    [&](std::uint64_t off, std::uint64_t len) {
                      extents.emplace_back(
                          off, len, absl::StrFormat("free extent at %d", off));
                    });
  if (!s.ok()) return s;
  s = ForEachExtent(t, core_->pending_db(), 16,
                    [&](std::uint64_t off, std::uint64_t len) {
                      extents.emplace_back(
                          off, len, absl::StrFormat("freed extent at %d", off));
                    });
  if (!s.ok()) return s;
  std::sort(extents.begin(), extents.end());
  std::uint64_t at = 0;
  for (const auto& [off, len, what] : extents) {
    if (off < at) {
      return absl::DataLossError(absl::StrFormat(
          "store %s: %s overlaps the extent before it (which ends at %d)", dir,
          what, at));
    }
    if (off > at) {
      return absl::DataLossError(absl::StrFormat(
          "store %s: bytes [%d, %d) are neither live nor free: space lost", dir,
          at, off));
    }
    if (len == 0 || len > space->high_water - off) {
      return absl::DataLossError(absl::StrFormat(
          "store %s: %s (%d bytes) runs past the high-water mark %d", dir, what,
          len, space->high_water));
    }
    at = off + len;
  }
  if (at != space->high_water) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: bytes [%d, %d) are neither live nor free: space lost", dir,
        at, space->high_water));
  }
  return absl::OkStatus();
}

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
        if (r.offset > space->high_water ||
            r.extent_size > space->high_water - r.offset ||
            r.graph_size + r.reloc_size > r.extent_size) {
          return absl::DataLossError(Cat("store ", core_->dir(), ": root '",
                                         key, "' has a bad extent"));
        }
        absl::StatusOr<const char*> bytes = core_->arena().RawBytes(
            r.offset, r.graph_size + r.reloc_size, &buf);
        if (!bytes.ok()) return bytes.status();
        absl::StatusOr<std::string> type = t.TypeDescriptionOf(r.type_id);
        if (type.ok()) {
          absl::Status s = (*w)->PutType(r.type_id, *type);
          if (!s.ok()) return s;
        } else if (!absl::IsNotFound(type.status())) {
          return type.status();
        }
        return (*w)->PutCopy(
            key, r, name, *bytes, core_->base() + r.offset,
            compact ? std::nullopt : std::optional<std::uint64_t>(r.offset));
      });
  if (!s.ok()) return s;
  if (!compact) {
    // The source's free space (including what readers still see there) is
    // plain free space in the copy, which has no readers yet.
    auto add = [&](std::uint64_t off, std::uint64_t len) {
      if (s.ok()) s = (*w)->AddFree(off, len);
    };
    absl::Status r = ForEachExtent(t, core_->free_db(), 8, add);
    if (r.ok()) r = ForEachExtent(t, core_->pending_db(), 16, add);
    if (!r.ok()) return r;
    if (!s.ok()) return s;
  }
  return (*w)->Commit();
}

}  // namespace ancient
