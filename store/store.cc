// The public Store API over store_internal::Core: Open, Read, Write,
// Snapshot, WriteBatch, Stats. Verify is in verify.cc, CopyTo in copy.cc.

#include "store/store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "store/access.h"
#include "store/group_access.h"
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

absl::StatusOr<Snapshot::RawRoot> Snapshot::GetRaw(std::string_view key) const {
  store_internal::RootRecord r;
  absl::StatusOr<GraphBytes> g = txn_->FindUntyped(key, &r);
  if (!g.ok()) return g.status();
  return RawRoot{*g, r.type_id, r.checksum};
}

absl::StatusOr<std::string> Snapshot::TypeDescriptionOf(
    std::uint64_t type_id) const {
  return txn_->TypeDescriptionOf(type_id);
}

std::uint64_t Snapshot::version() const { return mdb_txn_id(txn_->txn()); }

absl::StatusOr<GraphBytes> Snapshot::Find(
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
  absl::StatusOr<GraphBytes> g = txn_->FindUntyped(key, &r);
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
  absl::Status s = WriteGraphJson(*schema, *g, options, out);
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
  return ShareFlat(key, description, *graph);
}

absl::StatusOr<ShareInfo> WriteBatch::ShareFlat(std::string_view key,
                                                std::string_view description,
                                                const FlatGraph& graph) {
  absl::StatusOr<Schema> schema = Schema::Parse(description);
  if (!schema.ok()) {
    return absl::InvalidArgumentError(
        Cat("key '", key, "': ", schema.status().message()));
  }
  const std::string desc(description);
  const std::string name = schema->TypeName();
  const store_internal::TypeRef type{TypeIdOf(desc), name, desc};
  return ShareGraph(key, type, graph.size(), graph.pointer_count(),
                    [&](void* dest, const void* address, bool zeroed) {
                      return graph.Write(dest, address, zeroed);
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

Store::Store(std::shared_ptr<Core> core, bool read_only, bool convert_types)
    : core_(std::move(core)),
      read_only_(read_only),
      convert_types_(convert_types) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(
    const std::string& dir, const StoreOptions& options) {
  const bool created = !options.group.empty() &&
                       ::access((dir + "/data.mdb").c_str(), F_OK) != 0;
  absl::StatusOr<std::shared_ptr<Core>> core = Core::Open(dir, options);
  if (!core.ok()) return core.status();
  if (created && !options.read_only) {
    // The files this open made (LMDB's, the arena): group-readable, and
    // the reader table group-writable, whatever the umask took off.
    absl::Status s = GrantGroup(dir, options.group);
    if (!s.ok()) return s;
  }
  return std::unique_ptr<Store>(
      new Store(*std::move(core), options.read_only, options.convert_types));
}

const std::string& Store::dir() const { return core_->dir(); }

const std::shared_ptr<store_internal::Core>& Store::core(
    store_internal::InternalKey) const {
  return core_;
}

const store_internal::ReadTxn& Snapshot::txn(
    store_internal::InternalKey) const {
  return *txn_;
}
std::uintptr_t Store::base_address() const { return core_->base(); }

std::uint64_t Store::version() const {
  if (!core_->InOpeningProcess()) return 0;
  MDB_envinfo info;
  if (mdb_env_info(core_->env(), &info) != MDB_SUCCESS) return 0;
  return info.me_last_txnid;
}

absl::StatusOr<Snapshot> Store::Read() const {
  absl::StatusOr<std::shared_ptr<ReadTxn>> txn = ReadTxn::Begin(core_);
  if (!txn.ok()) return txn.status();
  (*txn)->set_convert(convert_types_);
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
                                           std::string_view json,
                                           std::string_view member) {
  return InBatch([&](WriteBatch& b) {
    return b.ShareJson(key, description, json, member);
  });
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
  s = store_internal::ForEachFreeExtent(
      t, [&](std::uint64_t, std::uint64_t len, bool pending) {
        st.bytes_free += len;
        if (pending) st.bytes_pending += len;
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
  std::tie(st.graphs_converted, st.bytes_converted) = core_->converted();
  return st;
}

}  // namespace ancient
