// Internal: what publishing (replica/publish.cc), following (replica/follow.cc)
// and reading (replica/replica.cc) share: the layouts' names, "version N"
// files, listing versions, opening stores, and reaching a Store's core.

#ifndef ANCIENT_REPLICA_UTIL_H_
#define ANCIENT_REPLICA_UTIL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ancient/schema/schema_graph.h"
#include "replica/manifest.h"
#include "store/access.h"
#include "store/core.h"
#include "store/read_txn.h"
#include "store/store.h"

namespace ancient::replica_internal {

inline constexpr char kRepoFormat[] = "ancient-repository 1\n";
// Local directories: 1 held whole copies (versions/N, CURRENT); 2 holds
// one store (store/) that versions are applied to.
inline constexpr char kLocalFormat1[] = "ancient-local 1\n";
inline constexpr char kLocalFormat[] = "ancient-local 2\n";
// In the local store's "meta" table: the version it holds ("N"), and per
// root the object it came from (kRootObjectPrefix + XXH3-128 of the key).
inline constexpr char kVersionRecord[] = "replica";
inline constexpr char kRootObjectPrefix[] = "replica/";

std::string VersionName(std::uint64_t v);
std::string VersionFileText(std::uint64_t v);
// "version N" files (ANNOUNCE, CURRENT, PIN): nullopt when absent.
absl::StatusOr<std::optional<std::uint64_t>> ReadVersionFile(
    const std::string& path);
// The N of "version N\n" text; DataLoss naming `what` otherwise.
absl::StatusOr<std::uint64_t> ParseVersionText(const std::string& text,
                                               const std::string& what);
// The version numbers under dir (named by digits only), ascending.
absl::StatusOr<std::vector<std::uint64_t>> ListVersions(const std::string& dir);
// Opens an existing store read-only.
absl::StatusOr<std::unique_ptr<Store>> OpenExisting(const std::string& dir,
                                                    bool convert_types = true);
// Opens the store at `dir` read-only, Verify()s it, and lists its roots.
absl::StatusOr<std::vector<RootInfo>> VerifyCopy(const std::string& dir);
// Read snapshots that processes hold on the store at `dir` (0 if it cannot
// be opened: nothing can be reading it through a snapshot then).
std::uint64_t ReadersOf(const std::string& dir);
// Creates dir (and its versions/ and tmp/) with its format marker, or
// checks the marker is `format` (or one of `also`): FailedPrecondition
// otherwise. Sets *found to the marker found.
absl::Status MakeLayout(const std::string& dir, const char* format,
                        const char* also = nullptr,
                        std::string* found = nullptr);
// Removes tmp/ entries left by dead processes ("N.PID") or older than
// `max_age` seconds.
void RemoveStaleTmp(const std::string& dir, double max_age);
// The version a local store holds (its kVersionRecord), nullopt if none.
absl::StatusOr<std::optional<std::uint64_t>> StoreVersion(
    const store_internal::Core& core, MDB_txn* txn);
// The manifest entry of root `key` (record r, type name `name`) of the
// store `txn` reads, its object not yet named; notes its type's
// description in m->types (empty when the store recorded none).
absl::StatusOr<ObjectRoot> EntryFor(const store_internal::ReadTxn& txn,
                                    std::string_view key,
                                    const store_internal::RootRecord& r,
                                    std::string_view name, Manifest* m);
// The local store's directory.
inline std::string LocalStoreDir(const std::string& local) {
  return local + "/store";
}

// The version the store of a local directory holds (as of now); nullopt
// when it holds none yet.
absl::StatusOr<std::optional<std::uint64_t>> VersionIn(const Store& store);

// The local store of `local`, if it holds a version (its version in
// `*version`); null otherwise.
std::unique_ptr<Store> OpenLocalStore(const std::string& local,
                                      bool convert_types,
                                      std::uint64_t* version);

}  // namespace ancient::replica_internal

namespace ancient::replica_internal {

// Typed checks of objects (graphs written for kObjectBase) by their
// recorded descriptions, each description parsed once.
class ObjectChecker {
 public:
  // VerifyGraph of `graph` by `description` (nothing for an empty one: a
  // root shared before stores recorded types). DataLoss naming `what`.
  absl::Status Check(std::uint64_t type_id, const std::string& description,
                     const GraphBytes& graph, const std::string& what);

 private:
  absl::flat_hash_map<std::uint64_t, std::unique_ptr<Schema>> schemas_;
};

// A whole file mapped read-only.
class MappedFile {
 public:
  // Errors: NotFound (no such file), others naming it.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(
      const std::string& path);
  ~MappedFile();
  const char* data() const { return data_; }
  std::uint64_t size() const { return size_; }

 private:
  MappedFile(const char* data, std::uint64_t size) : data_(data), size_(size) {}
  const char* data_;
  std::uint64_t size_;
};

}  // namespace ancient::replica_internal

#endif  // ANCIENT_REPLICA_UTIL_H_
