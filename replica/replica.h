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
// A version is the set of its roots. Each root is published once, as an
// object named by its content (position-independent: its pointers are
// written for a fixed address and relocated where it is placed), so a
// version that changed k roots writes k objects and a small manifest, and a
// host fetches only the objects it lacks and applies them to its one local
// store in one commit: unchanged roots are neither copied nor rewritten.
//
// Repository layout (REPO):
//   FORMAT                 "ancient-repository 1"
//   ANNOUNCE               "version N\n": the announced version; replaced
//                          atomically (rename) once N is complete
//   objects/<XXH3-128>     a root's graph and relocation record, pointers
//                          written for a fixed address; immutable, named by
//                          the hash of its bytes; removed once no kept
//                          version names it
//   versions/<N>/MANIFEST  the version, and for each root its key, type,
//                          sizes and object; the type descriptions
//                          (replica/manifest.h). Versions published before
//                          objects existed hold data.mdb and arena (a whole
//                          copy) beside their MANIFEST: still followed.
//   tmp/                   publishes in progress; never read by followers
// Local layout (LOCAL, on each reader host):
//   FORMAT                 "ancient-local 2" (1: whole copies per version,
//                          as before objects; moved to 2 by the first
//                          FollowOnce, its copies removed once unread)
//   store/                 a store holding the current version: its roots,
//                          and in its meta table the version and each
//                          root's object, changed in one LMDB commit
//   PIN                    optional "version N\n": follow N, not ANNOUNCE
//   tmp/                   whole copies of format-1 versions being fetched
//
// Guarantees: a killed publish announces nothing and leaves nothing that a
// follower reads (a half-written object stays in tmp/; objects no version
// names are removed by the next publish); a killed follow leaves the local
// store on the whole version it had (the commit is atomic); a damaged,
// truncated or missing object or manifest is refused (DataLoss or NotFound
// naming the file and the root) and the host keeps its version. A switch
// never blocks a reader: Roots and Snapshots keep the version they read
// (LMDB's snapshot; the arena space of replaced roots is reused only once
// no snapshot can see it).
//
// Rolling upgrades: a follower of this release follows repositories of
// every release; a follower of an older release cannot read versions
// published as objects (it refuses the manifest and keeps its version), so
// upgrade the followers first, then the publisher.

#ifndef ANCIENT_REPLICA_REPLICA_H_
#define ANCIENT_REPLICA_REPLICA_H_

#include <cstdint>
#include <functional>
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

// Progress of a long publish or follow: bytes done of `total` (the roots
// read, or the objects placed), called on the calling thread after each
// root. ancientctl draws a bar with it on a terminal.
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct PublishOptions {
  // Versions kept in the repository: the newest `keep`; older ones are
  // removed once superseded for `grace_seconds` (followers may still be
  // fetching them). At least 1.
  int keep = 5;
  // How long a superseded version stays, in seconds.
  double grace_seconds = 600;
  // A directory repository: a group whose accounts may follow it (read
  // only), given the repository when the publish finds it is not theirs
  // yet (store/group_access.h). Empty: the repository's access is left as
  // it is. Ignored for s3:// (the bucket's policy decides).
  std::string group;
  // Called as roots are read (see ProgressFn); none by default.
  ProgressFn progress;
};

struct PublishResult {
  std::uint64_t version = 0;  // announced after the call
  // False when the store held exactly the announced version's roots: no
  // new version was made (version is the announced one).
  bool published = true;
  std::uint64_t bytes = 0;             // the version's roots, in total
  std::uint64_t bytes_written = 0;     // objects this publish added
  std::uint64_t manifest_bytes = 0;    // its MANIFEST (0: none was made)
  std::uint64_t roots_written = 0;     // roots read and hashed (new or moved)
  std::vector<std::uint64_t> removed;  // old versions removed now
  std::uint64_t objects_removed = 0;   // objects no kept version names
  std::uint64_t requests = 0;          // S3: HTTP requests made
  std::uint64_t retries = 0;           // S3: requests sent again
};

// Publishes the roots of `store` (a consistent snapshot as of the call;
// writers may go on) as the next version in `repo` (created if missing),
// then announces it. Only roots the repository does not hold are read and
// written: a root whose record is unchanged since the announced version
// was published from this store is found by that record alone; others are
// copied, checked (checksum, pointers, and the typed check by their
// recorded description) and hashed, and written unless an object of the
// same content is there. Publishers of one repository are serialised by a
// lock file (REPO/LOCK).
// Errors: DataLoss (a damaged root of `store`, naming it; nothing
//   announced); ResourceExhausted (repository full: nothing announced);
//   PermissionDenied, NotFound (repository unreachable), each naming the
//   path.
absl::StatusOr<PublishResult> Publish(const Store& store,
                                      const std::string& repo,
                                      const PublishOptions& options = {});

struct FollowResult {
  std::uint64_t version = 0;           // current after the call
  bool switched = false;               // a new version was applied
  std::uint64_t bytes = 0;             // the version's roots, in total
  std::uint64_t bytes_fetched = 0;     // objects read from the repository
  std::uint64_t manifest_bytes = 0;    // the MANIFEST read (0: none)
  std::uint64_t roots_fetched = 0;     // roots placed (new or changed)
  std::uint64_t roots_removed = 0;     // roots the version no longer has
  std::vector<std::uint64_t> removed;  // format-1 local copies removed
  std::uint64_t requests = 0;          // S3: HTTP requests made (a poll: 1)
  std::uint64_t retries = 0;           // S3: requests sent again
  std::uint64_t wire_bytes = 0;        // S3: bytes both ways, headers too
};

// One round of following: the announced version of `repo` (or the version
// pinned in `local`) is applied to the local store if it is not current
// there: each root whose object differs from the one the store holds is
// read from REPO/objects/, checked against its name (size and XXH3-128)
// and by its type description, and placed; roots the version lacks are
// deleted; all in one commit, which also records the version. A version
// published whole (format 1) is fetched whole, checked and Verify()ed,
// then applied the same way.
// Errors: NotFound (no repository, nothing announced, the pinned version is
//   not in the repository, an object of the version missing), DataLoss (an
//   object whose size or hash differs from the manifest, a bad manifest
//   (a type description that is not the one its type id names included), a
//   graph that fails its pointer or typed check; a type published without
//   a description gets the pointer check only), Unavailable/PermissionDenied
//   (the repository cannot be read), ResourceExhausted (local disk full), each
//   naming the file and root. On error the current version is unchanged.
absl::StatusOr<FollowResult> FollowOnce(const std::string& repo,
                                        const std::string& local);

struct FollowOptions {
  // A group whose accounts may read `local` with Replica (read-only; LMDB's
  // reader table is group-writable): `local` and its store are given to it
  // (store/group_access.h). Empty (default): `local` is left as it is (its
  // store private to the follower's account when first made).
  std::string group;
  // Called as changed roots are placed (see ProgressFn); none by default.
  ProgressFn progress;
};
// As above, with options. Errors also: InvalidArgument (no such group),
//   PermissionDenied (this account may not give `local` to the group).
absl::StatusOr<FollowResult> FollowOnce(const std::string& repo,
                                        const std::string& local,
                                        const FollowOptions& options);

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

// Keeps version `version` of `repo` (a directory or s3://) through the
// publisher's garbage collection whatever --keep says (`keep` true), or
// lets it go again (false): for a fleet rolled back by pins to a version
// that must not disappear under it. Recorded in the repository
// (REPO/pins/<N>), so every publisher honours it.
// Errors: NotFound (no such version in `repo`), InvalidArgument (version
//   0), and the repository's (PermissionDenied...), naming it.
absl::Status KeepVersion(const std::string& repo, std::uint64_t version,
                         bool keep);

// What a repository or a local directory holds.
struct VersionInfo {
  std::uint64_t version = 0;
  std::uint64_t bytes = 0;      // its roots (format 1: its files)
  std::uint64_t new_bytes = 0;  // REPO: the objects it added
  std::int64_t mtime = 0;       // when it was put in place (seconds)
  std::uint64_t readers = 0;    // local only: processes' read snapshots on it
  bool kept = false;            // REPO: kept whatever --keep (KeepVersion)
};
struct ReplicaStatus {
  bool is_repository = false;              // REPO (else LOCAL)
  std::optional<std::uint64_t> announced;  // REPO
  std::optional<std::uint64_t> current;    // LOCAL: the store's version
  std::optional<std::uint64_t> pinned;     // LOCAL
  // REPO: kept, oldest first. LOCAL: the store's version (readers: its
  // read snapshots, all processes), after any format-1 copies.
  std::vector<VersionInfo> versions;
  // LOCAL following an S3 repository: its address, and the last poll
  // (when, in seconds since the epoch; bytes fetched, requests and
  // retries of that round).
  std::string following;
  std::int64_t last_poll = 0;
  std::uint64_t last_poll_bytes = 0;
  std::uint64_t last_poll_requests = 0;
  std::uint64_t last_poll_retries = 0;
};
// Errors: NotFound (neither a repository nor a local directory), others
//   naming the file that could not be read.
absl::StatusOr<ReplicaStatus> GetReplicaStatus(const std::string& dir);

// Reads whichever version is current in a local directory that FollowOnce
// maintains: each call reads the local store as of now (a whole version);
// what was returned before keeps the version it was read from. In a
// format-1 directory (whole copies) each call checks CURRENT (one stat)
// and moves to a new version when it changed, or to the local store once
// a follower has moved the directory to it; there a switch never fails a
// call. Thread-safe.
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

  // The version current now (format 1: the version the last call used).
  std::uint64_t version() const;
  // The version `snapshot` (from Read()) reads. Errors: NotFound (not a
  //   snapshot of a followed store), DataLoss (a bad version record).
  static absl::StatusOr<std::uint64_t> VersionOf(const Snapshot& snapshot);

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
  mutable bool live_ = false;  // store_ is the local store (format 2)
  mutable std::uint64_t current_stamp_[3] = {0, 0, 0};  // CURRENT's stat
};

}  // namespace ancient

#endif  // ANCIENT_REPLICA_REPLICA_H_
