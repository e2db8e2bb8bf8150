// Internal: an LMDB read transaction over a Core, and finding roots in it.

#ifndef ANCIENT_STORE_READ_TXN_H_
#define ANCIENT_STORE_READ_TXN_H_

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/core.h"

namespace ancient::store_internal {

// An LMDB read transaction over a Core: one consistent snapshot.
class ReadTxn {
 public:
  static absl::StatusOr<std::shared_ptr<ReadTxn>> Begin(
      std::shared_ptr<Core> core);
  ~ReadTxn() {
    AnnotateTxnEnd(core_.get());  // Before the slot is freed for reuse.
    // In a forked child the reader slot is the parent's: leave it alone.
    if (core_->InOpeningProcess())
      txn_.Abort();
    else
      txn_.Leak();
  }

  Core& core() const { return *core_; }
  MDB_txn* txn() const { return txn_.get(); }
  // Whether Find converts roots of other versions of the type asked for
  // (StoreOptions::convert_types of the handle that began it).
  void set_convert(bool convert) { convert_ = convert; }

  absl::StatusOr<GraphBytes> Find(std::string_view key,
                                  const TypeRef& type) const;
  // The graph at `key` whatever its type; sets *record to its root record.
  absl::StatusOr<GraphBytes> FindUntyped(std::string_view key,
                                         RootRecord* record) const;
  // The recorded layout description of `type_id`; NotFound when the store
  // has none (older stores); DataLoss when it does not hash to `type_id`.
  absl::StatusOr<std::string> TypeDescriptionOf(std::uint64_t type_id) const;
  // Calls f(key, record, type_name) for each root whose key has `prefix`.
  template <class F>
  absl::Status ForEachRoot(std::string_view prefix, F f) const;
  absl::StatusOr<RootInfo> Info(std::string_view key) const;
  absl::StatusOr<SpaceRecord> Space() const;

 private:
  // Checks record r's extent and base; maps (or relocates) its graph.
  absl::StatusOr<GraphBytes> Locate(std::string_view key,
                                    const RootRecord& r) const;
  // Find's slow path: the root at `key` (record r) is not of `type`; read
  // it converted (store/converted_roots.cc), or say why not.
  absl::StatusOr<GraphBytes> FindOther(std::string_view key,
                                       const TypeRef& type) const;
  ReadTxn(std::shared_ptr<Core> core, Txn txn)
      : core_(std::move(core)), txn_(std::move(txn)) {}
  std::shared_ptr<Core> core_;
  Txn txn_;
  bool convert_ = true;
  // Converted graphs handed out: kept while this snapshot lives.
  mutable std::mutex held_mu_;
  mutable std::vector<std::shared_ptr<const ConvertedGraph>> held_;
};

template <class F>
absl::Status ReadTxn::ForEachRoot(std::string_view prefix, F f) const {
  if (absl::Status s = core_->CheckProcess(); !s.ok()) return s;
  Cursor cursor;
  int rc = cursor.Open(txn(), core_->roots_db());
  if (rc != MDB_SUCCESS) return LmdbError(rc, "opening roots cursor");
  MDB_val k = ToVal(prefix), v;
  rc = mdb_cursor_get(cursor.get(), &k, &v,
                      prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    const std::string_view key = FromVal(k);
    if (key.substr(0, prefix.size()) != prefix) break;
    std::string_view name;
    std::optional<RootRecord> r = DecodeRoot(FromVal(v), &name);
    if (!r) {
      return absl::DataLossError("store " + core_->dir() +
                                 ": malformed root record for key '" +
                                 std::string(key) + "'");
    }
    absl::Status s = f(key, *r, name);
    if (!s.ok()) return s;
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
    return LmdbError(rc, "reading roots of " + core_->dir());
  }
  return absl::OkStatus();
}

// The recorded layout description of `type_id` as of `txn`; as
// ReadTxn::TypeDescriptionOf.
absl::StatusOr<std::string> ReadTypeDescription(const Core& core, MDB_txn* txn,
                                                std::uint64_t type_id);

// Calls f(offset, length, pending) for each extent of free space: the free
// table's (reusable now; keys BE64 offset), then the pending table's (freed
// by a transaction some reader may still see; keys BE64 txnid + offset).
// Values are BE64 lengths. DataLoss for a malformed record.
absl::Status ForEachFreeExtent(
    const ReadTxn& txn,
    const std::function<void(std::uint64_t, std::uint64_t, bool)>& f);

}  // namespace ancient::store_internal

#endif  // ANCIENT_STORE_READ_TXN_H_
