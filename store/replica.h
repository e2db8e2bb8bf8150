// Many hosts: publish versions of a store to a repository (a directory on
// storage that already exists: a local disk, NFS, an object store mounted by
// rclone or s3fs, or a directory that rsync copies to other hosts), follow
// the announced version on every reader host, and read whichever version is
// current there.
//
//   producer:  ancient::Publish(store, "/mnt/repo")      // new version N
//   each host: ancient::FollowOnce("/mnt/repo", "/var/lib/dict")  // in a loop
//   readers:   auto r = ancient::Replica::Open("/var/lib/dict");
//              auto root = (*r)->Get<Dict>("dict");      // current version
//
// Repository layout (REPO):
//   ANNOUNCE               "version N\n": the announced version; replaced
//                          atomically (rename) once N is complete
//   versions/<N>/          immutable once in place (renamed from tmp/):
//     data.mdb, arena      a compacted, verified copy of the store
//     MANIFEST             the version, every file's size and XXH3-64, and
//                          the roots (key, type name, type id, size)
//   tmp/                   publishes in progress; never read by followers
// Local layout (LOCAL, on each reader host):
//   CURRENT                "version N\n": the version readers use; replaced
//                          atomically once N is fetched and checked
//   PIN                    optional "version N\n": follow N, not ANNOUNCE
//   versions/<N>/          fetched, checked copies (plus LMDB's lock.mdb)
//   tmp/                   fetches in progress
//
// Guarantees: a killed publish announces nothing and leaves nothing that a
// follower reads (a half-written version stays in tmp/); a killed follow
// leaves CURRENT on a whole, verified version; a damaged, truncated or
// missing file is refused (DataLoss or NotFound naming the file) and the host
// keeps its version. A switch never blocks a reader: Roots and Snapshots keep
// their version mapped, and a local version is removed only once no process
// has a read snapshot on it.

#ifndef ANCIENT_STORE_REPLICA_H_
#define ANCIENT_STORE_REPLICA_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/store.h"

namespace ancient {

struct PublishOptions {
  // Versions kept in the repository: the newest `keep`; older ones are
  // removed once superseded for `grace_seconds` (followers may still be
  // fetching them). At least 1.
  int keep = 5;
  // How long a superseded version stays, in seconds.
  double grace_seconds = 600;
};

struct PublishResult {
  std::uint64_t version = 0;
  std::uint64_t bytes = 0;             // the version's files, in total
  std::vector<std::uint64_t> removed;  // old versions removed now
};

// Publishes a consistent, compacted, verified copy of `store` (as of the
// call; writers may go on) as the next version in `repo` (created if
// missing), then announces it. Publishers of one repository are serialised
// by a lock file (REPO/LOCK).
// Errors: those of CopyTo and Verify; ResourceExhausted (repository full:
//   nothing announced, the partial copy removed); PermissionDenied,
//   NotFound (repository unreachable), each naming the path.
absl::StatusOr<PublishResult> Publish(const Store& store,
                                      const std::string& repo,
                                      const PublishOptions& options = {});

struct FollowResult {
  std::uint64_t version = 0;  // current after the call
  bool switched = false;      // a new version was fetched and switched to
  std::vector<std::uint64_t> removed;  // local versions removed
};

// One round of following: the announced version of `repo` (or the version
// pinned in `local`) is fetched into `local` if it is not current there,
// every file checked against the manifest, the copy opened and Verify()ed,
// and only then made current. Then removes local versions that are neither
// current nor pinned nor read by any process, and stale fetches.
// Errors: NotFound (no repository, nothing announced, the pinned version is
//   not in the repository, a file of the version missing), DataLoss (a file
//   whose size or checksum differs from the manifest, a bad manifest, or
//   Verify's finding), Unavailable/PermissionDenied (the repository cannot
//   be read), ResourceExhausted (local disk full), each naming the file. On
//   error the current version is unchanged.
absl::StatusOr<FollowResult> FollowOnce(const std::string& repo,
                                        const std::string& local);

// Pins `local` to `version` (followed instead of the announced one), or
// unpins it (nullopt). Takes effect at the next FollowOnce. Makes `local`'s
// layout if it has none.
// Errors: InvalidArgument (version 0, naming `local`); FailedPrecondition
//   (`local` is not a local replica directory: its FORMAT says otherwise);
//   the file system's, naming the file (PermissionDenied, ResourceExhausted
//   for a full disk, Unavailable for a network file system's transient
//   failure).
absl::Status SetPin(const std::string& local,
                    std::optional<std::uint64_t> version);

// What a repository or a local directory holds.
struct VersionInfo {
  std::uint64_t version = 0;
  std::uint64_t bytes = 0;    // its files
  std::int64_t mtime = 0;     // when it was put in place (seconds)
  std::uint64_t readers = 0;  // local only: processes' read snapshots on it
};
struct ReplicaStatus {
  bool is_repository = false;              // REPO (else LOCAL)
  std::optional<std::uint64_t> announced;  // REPO
  std::optional<std::uint64_t> current;    // LOCAL
  std::optional<std::uint64_t> pinned;     // LOCAL
  std::vector<VersionInfo> versions;       // kept, oldest first
};
// Errors: NotFound (neither a repository nor a local directory), others
//   naming the file that could not be read.
absl::StatusOr<ReplicaStatus> GetReplicaStatus(const std::string& dir);

// Reads whichever version is current in a local directory that FollowOnce
// maintains. Each call checks CURRENT (one stat) and moves to a new version
// when it changed; what was returned before keeps its own version. A switch
// never fails a call: if the new version cannot be opened, the old one goes
// on serving. Thread-safe.
struct ReplicaOptions {
  // Roots of another version of the type asked for are read converted (see
  // StoreOptions::convert_types); false: FailedPrecondition instead.
  bool convert_types = true;
};

class Replica {
 public:
  // Errors: NotFound (no current version in `local`), and Store::Open's.
  static absl::StatusOr<std::unique_ptr<Replica>> Open(
      const std::string& local, const ReplicaOptions& options = {});

  // A snapshot of the current version. Errors: Store::Read's.
  absl::StatusOr<Snapshot> Read() const;

  // The graph at `key` in the current version (see Store::Get).
  template <class T>
  absl::StatusOr<Root<T>> Get(std::string_view key) const {
    return CurrentStore()->template Get<T>(key);
  }
  // As Get, after checking the graph against T (see Store::GetVerified).
  template <class T>
  absl::StatusOr<Root<T>> GetVerified(std::string_view key) const {
    return CurrentStore()->template GetVerified<T>(key);
  }

  // Keys of the current version starting with `prefix`. Errors: as
  // Store::Keys.
  absl::StatusOr<std::vector<std::string>> Keys(
      std::string_view prefix = "") const;

  // The current version's Store::Stats (how many roots this process read
  // converted: graphs_converted, bytes_converted).
  absl::StatusOr<StoreStats> Stats() const;

  // The version the last call used.
  std::uint64_t version() const;

 private:
  Replica(std::string local, const ReplicaOptions& options)
      : local_(std::move(local)), options_(options) {}
  // The current version's store, switching first if CURRENT changed.
  std::shared_ptr<Store> CurrentStore() const;

  const std::string local_;
  const ReplicaOptions options_;
  mutable std::mutex mu_;
  mutable std::shared_ptr<Store> store_;
  mutable std::uint64_t version_ = 0;
  mutable std::uint64_t current_stamp_[3] = {0, 0, 0};  // CURRENT's stat
};

}  // namespace ancient

#endif  // ANCIENT_STORE_REPLICA_H_
