// ReadTxn: one LMDB read snapshot of a store, and finding roots in it.

#include "store/read_txn.h"

#include <cstring>

#include "absl/strings/str_format.h"

namespace ancient::store_internal {

absl::StatusOr<std::shared_ptr<ReadTxn>> ReadTxn::Begin(
    std::shared_ptr<Core> core) {
  if (absl::Status s = core->CheckProcess(); !s.ok()) return s;
  MDB_txn* raw = nullptr;
  int rc = mdb_txn_begin(core->env(), nullptr, MDB_RDONLY, &raw);
  if (rc == MDB_READERS_FULL) {
    // Slots held by dead processes are reclaimed, then try once more.
    int dead = 0;
    mdb_reader_check(core->env(), &dead);
    rc = mdb_txn_begin(core->env(), nullptr, MDB_RDONLY, &raw);
  }
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, "starting a read snapshot of " + core->dir());
  }
  AnnotateTxnBegin(core.get());
  return std::shared_ptr<ReadTxn>(new ReadTxn(std::move(core), Txn(raw)));
}

absl::StatusOr<std::string> ReadTxn::TypeDescriptionOf(
    std::uint64_t type_id) const {
  if (absl::Status s = core_->CheckProcess(); !s.ok()) return s;
  return ReadTypeDescription(*core_, txn(), type_id);
}

absl::StatusOr<std::string> ReadTypeDescription(const Core& core, MDB_txn* txn,
                                                std::uint64_t type_id) {
  const Core* core_ = &core;
  if (!core_->has_types()) {
    return absl::NotFoundError(
        Cat("store ", core_->dir(), " records no type descriptions"));
  }
  const std::string k = BigEndian64(type_id);
  MDB_val kv = ToVal(k), v;
  const int rc = mdb_get(txn, core_->types_db(), &kv, &v);
  if (rc == MDB_NOTFOUND) {
    return absl::NotFoundError(absl::StrFormat(
        "store %s has no description of type id %#x", core_->dir(), type_id));
  }
  if (rc != MDB_SUCCESS) return LmdbError(rc, "reading a type description");
  const std::string_view d = FromVal(v);
  if (TypeIdOf(d) != type_id) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: the description of type id %#x is damaged (it does not "
        "hash to its id)",
        core_->dir(), type_id));
  }
  return std::string(d);
}

absl::StatusOr<GraphBytes> ReadTxn::Find(std::string_view key,
                                         const TypeRef& type) const {
  const std::uint64_t type_id = type.id;
  // The fast path: one mdb_get and a few comparisons, no Status built.
  if (!core_->InOpeningProcess()) return core_->ForkedError();
  RootRecord r;
  bool found = false;
  if (!key.empty() && key.size() <= core_->max_key_size()) {
    MDB_val k = ToVal(key), v;
    if (mdb_get(txn(), core_->roots_db(), &k, &v) == MDB_SUCCESS &&
        v.mv_size >= sizeof(RootRecord)) {
      std::memcpy(&r, v.mv_data, sizeof r);
      found = r.type_id == type_id;
    }
  }
  if (!found) return FindOther(key, type);
  return Locate(key, r);
}

absl::StatusOr<GraphBytes> ReadTxn::FindUntyped(std::string_view key,
                                                RootRecord* record) const {
  if (absl::Status s = core_->CheckProcess(); !s.ok()) return s;
  if (absl::Status s = core_->CheckKey(key); !s.ok()) return s;
  std::string_view name;
  absl::StatusOr<RootRecord> r = ReadRoot(*core_, txn(), key, &name);
  if (!r.ok()) return r.status();
  *record = *r;
  return Locate(key, *r);
}

absl::StatusOr<GraphBytes> ReadTxn::Locate(std::string_view key,
                                           const RootRecord& r) const {
  // Structure only; Verify checks contents (checksum, every pointer).
  absl::Status s = CheckRootRecord(*core_, key, r, std::nullopt);
  if (!s.ok()) return s;
  const std::uint64_t end = r.offset + r.extent_size;
  if (const char* p = core_->arena().InPlace(r.offset, end)) {
    return GraphBytes{p, r.graph_size, reinterpret_cast<std::uintptr_t>(p)};
  }
  absl::StatusOr<const char*> p = core_->arena().Resolve(r);
  if (!p.ok()) {
    return absl::Status(
        p.status().code(),
        absl::StrFormat("store %s: key '%s': %s", core_->dir(), key,
                        std::string(p.status().message())));
  }
  return GraphBytes{*p, r.graph_size, reinterpret_cast<std::uintptr_t>(*p)};
}

absl::StatusOr<RootInfo> ReadTxn::Info(std::string_view key) const {
  absl::Status s = core_->CheckProcess();
  if (!s.ok()) return s;
  s = core_->CheckKey(key);
  if (!s.ok()) return s;
  std::string_view name;
  absl::StatusOr<RootRecord> r = ReadRoot(*core_, txn(), key, &name);
  if (!r.ok()) return r.status();
  return RootInfo{std::string(key), std::string(name), r->type_id, r->offset,
                  r->graph_size};
}

absl::StatusOr<SpaceRecord> ReadTxn::Space() const {
  if (absl::Status s = core_->CheckProcess(); !s.ok()) return s;
  return ReadSpace(txn(), core_->meta_db(), core_->dir());
}

absl::Status ForEachFreeExtent(
    const ReadTxn& txn,
    const std::function<void(std::uint64_t, std::uint64_t, bool)>& f) {
  for (const bool pending : {false, true}) {
    const std::size_t key_size = pending ? 16 : 8;
    Cursor cursor;
    int rc = cursor.Open(
        txn.txn(), pending ? txn.core().pending_db() : txn.core().free_db());
    if (rc != MDB_SUCCESS) return LmdbError(rc, "opening cursor");
    MDB_val k, v;
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS) {
      if (k.mv_size != key_size || v.mv_size != 8) {
        return absl::DataLossError("store " + txn.core().dir() +
                                   ": malformed free-space record");
      }
      const std::string_view key = FromVal(k);
      f(ReadBigEndian64(key.substr(key_size - 8)), ReadBigEndian64(FromVal(v)),
        pending);
      rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND) return LmdbError(rc, "reading free space");
  }
  return absl::OkStatus();
}

}  // namespace ancient::store_internal
