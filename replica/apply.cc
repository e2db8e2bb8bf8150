// A version applied to the local store in one commit; see apply.h.

#include "replica/apply.h"

#include <xxhash.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "replica/util.h"
#include "store/read_txn.h"
#include "store/strings.h"
#include "store/write_txn.h"

namespace ancient::replica_internal {
namespace {

using store_internal::Cat;
using store_internal::Core;
using store_internal::ReadTxn;
using store_internal::RootRecord;
using store_internal::WriteTxn;

// The local store's record of the object a root came from.
std::string RootObjectKey(std::string_view key) {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  std::string k = replica_internal::kRootObjectPrefix;
  k.append(reinterpret_cast<const char*>(&h), sizeof h);
  return k;
}

}  // namespace

absl::Status Apply(const Store& local, const Manifest& m, ObjectSource& src,
                   const std::string& what, FollowResult* result,
                   const ProgressFn& progress) {
  const std::shared_ptr<Core>& core = store_internal::CoreOf(local);
  struct Held {
    std::uint64_t type_id;
    std::string object;
  };
  absl::flat_hash_map<std::string, Held> held;
  {
    absl::StatusOr<std::shared_ptr<ReadTxn>> txn = ReadTxn::Begin(core);
    if (!txn.ok()) return txn.status();
    absl::Status s = (*txn)->ForEachRoot(
        "",
        [&](std::string_view key, const RootRecord& r,
            std::string_view) -> absl::Status {
          absl::StatusOr<std::optional<std::string>> object =
              store_internal::ReadMeta((*txn)->txn(), core->meta_db(),
                                       RootObjectKey(key), core->dir());
          if (!object.ok()) return object.status();
          held[std::string(key)] = {r.type_id, object->value_or("")};
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
  }
  absl::StatusOr<std::unique_ptr<WriteTxn>> w = WriteTxn::Begin(core);
  if (!w.ok()) return w.status();
  ObjectChecker checker;
  absl::flat_hash_set<std::string_view> keys;
  std::vector<const ObjectRoot*> changed;
  for (const ObjectRoot& o : m.objects) {
    keys.insert(o.key);
    auto h = held.find(o.key);
    if (h == held.end() || h->second.type_id != o.type_id ||
        h->second.object != o.object) {
      changed.push_back(&o);
    }
  }
  src.Expect(changed);  // A remote source starts fetching them now.
  std::uint64_t total = 0;
  for (const ObjectRoot* o : changed) total += o->object_size();
  std::uint64_t placed_from = ~std::uint64_t{0}, placed_to = 0;
  for (const ObjectRoot* changed_root : changed) {
    const ObjectRoot& o = *changed_root;
    const std::string root = Cat("root '", o.key, "' of ", what);
    absl::StatusOr<const char*> bytes = src.Bytes(o);
    if (!bytes.ok()) return bytes.status();
    const std::string& description = m.types.at(o.type_id);
    absl::Status s = checker.Check(o.type_id, description,
                                   {*bytes, o.graph_size, kObjectBase}, root);
    if (s.ok() && !description.empty()) {
      s = (*w)->PutType(o.type_id, description);
    }
    if (!s.ok()) return s;
    RootRecord r{};
    r.graph_size = o.graph_size;
    r.reloc_size = o.reloc_size;
    r.extent_size =
        store_internal::AlignUp(o.object_size(), store_internal::kExtentAlign);
    r.type_id = o.type_id;
    // Synced all at once before the commit, not root by root.
    absl::StatusOr<std::uint64_t> off =
        (*w)->PutCopy(o.key, r, o.type_name, *bytes, kObjectBase, std::nullopt,
                      /*sync=*/false);
    if (!off.ok()) {
      return absl::Status(off.status().code(),
                          Cat(root, ": ", off.status().message()));
    }
    placed_from = std::min(placed_from, *off);
    placed_to = std::max(placed_to, *off + r.extent_size);
    s = (*w)->PutMeta(RootObjectKey(o.key), o.object);
    if (!s.ok()) return s;
    result->bytes_fetched += o.object_size();
    ++result->roots_fetched;
    if (progress) progress(result->bytes_fetched, total);
  }
  for (const auto& [key, h] : held) {
    if (keys.contains(key)) continue;
    absl::Status s = (*w)->Delete(key);
    if (s.ok()) s = (*w)->DeleteMeta(RootObjectKey(key));
    if (!s.ok()) return s;
    ++result->roots_removed;
  }
  absl::Status s =
      (*w)->PutMeta(replica_internal::kVersionRecord, absl::StrCat(m.version));
  if (s.ok() && placed_to != 0) {
    s = (*w)->Sync(placed_from, placed_to - placed_from);  // Before the roots.
  }
  if (!s.ok()) return s;
  return (*w)->Commit();
}

}  // namespace ancient::replica_internal
