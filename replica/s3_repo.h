// Internal: repositories on object storage ("s3://BUCKET/PREFIX"), the
// same layout as a directory repository (replica.h) without tmp/ and LOCK:
//   PREFIX/FORMAT, PREFIX/ANNOUNCE, PREFIX/versions/<N>/MANIFEST,
//   PREFIX/objects/<XXH3-128>.
// Objects and manifests are immutable and written create-only (If-None-
// Match: *): a version number is claimed by its MANIFEST, so two
// publishers racing for one get one success and one Aborted; ANNOUNCE is
// replaced only over the ETag the publisher read (If-Match), and never by
// a lower version. A follower needs GET and HEAD only: an unchanged
// repository costs one conditional GET of ANNOUNCE (304, no body).
// Publish lists (versions/ and objects/) for numbering and garbage
// collection; GetReplicaStatus lists versions/.

#ifndef ANCIENT_REPLICA_S3_REPO_H_
#define ANCIENT_REPLICA_S3_REPO_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "replica/manifest.h"
#include "replica/replica.h"
#include "replica/s3/client.h"
#include "store/store.h"

namespace ancient::replica_internal {

class S3Repo {
 public:
  // The repository at `url`, reached as the environment says (s3/config.h).
  // Errors: InvalidArgument (a malformed url or configuration).
  static absl::StatusOr<std::unique_ptr<S3Repo>> Open(const std::string& url);

  // The key of `name` ("ANNOUNCE", "objects/<name>") under the prefix.
  std::string Key(const std::string& name) const;
  const std::string& url() const { return url_; }
  s3::Client& client() { return *client_; }

  // ANNOUNCE: nullopt when the repository announces nothing (NotFound when
  // it is not a repository at all); with `etag` its ETag, and
  // not_modified when it is still `if_none_match`.
  struct Announce {
    std::uint64_t version = 0;
    std::string etag;
    bool not_modified = false;
  };
  absl::StatusOr<std::optional<Announce>> ReadAnnounce(
      const std::string& if_none_match = "");
  // The manifest of version v: NotFound when it is not in the repository,
  // DataLoss when it is damaged or names another version.
  absl::StatusOr<Manifest> ReadManifest(std::uint64_t v,
                                        std::uint64_t* bytes = nullptr);
  // Versions in the repository (by their manifests), ascending, each with
  // its manifest's Last-Modified.
  absl::StatusOr<std::vector<std::pair<std::uint64_t, std::int64_t>>>
  ListVersions();
  // The versions kept by KeepVersion (PREFIX/pins/<N>).
  absl::StatusOr<absl::flat_hash_set<std::uint64_t>> KeptVersions();

 private:
  S3Repo(std::string url, std::string prefix,
         std::unique_ptr<s3::Client> client)
      : url_(std::move(url)),
        prefix_(std::move(prefix)),
        client_(std::move(client)) {}
  const std::string url_;
  const std::string prefix_;  // "" or "p/q/"
  std::unique_ptr<s3::Client> client_;
};

// Publish, one round of FollowOnce, and GetReplicaStatus on an S3
// repository (replica.h says what each does and returns).
absl::StatusOr<PublishResult> PublishS3(const Store& store, S3Repo& repo,
                                        const PublishOptions& options);
// The version to follow: the announced one, read with If-None-Match over
// what LOCAL/REMOTE recorded of the last poll; sets *etag to ANNOUNCE's.
// Errors: NotFound (not a repository, nothing announced), the client's.
absl::StatusOr<std::uint64_t> AnnouncedS3(S3Repo& repo,
                                          const std::string& local,
                                          std::string* etag);
// Records the poll in LOCAL/REMOTE (what GetReplicaStatus shows of it).
absl::Status RecordPollS3(S3Repo& repo, const std::string& local,
                          std::uint64_t announced, const std::string& etag,
                          const FollowResult& result);
// Fills st's poll fields from LOCAL/REMOTE (nothing if there is none).
absl::Status LocalPollStatus(const std::string& local, ReplicaStatus* st);
// Moves `store` (the local store of `local`) to version v of `repo`.
absl::Status FollowS3(S3Repo& repo, std::uint64_t v, const Store& store,
                      FollowResult* result, const ProgressFn& progress);
absl::StatusOr<ReplicaStatus> S3Status(S3Repo& repo);
// KeepVersion on an S3 repository (PREFIX/pins/<N>).
absl::Status KeepVersionS3(S3Repo& repo, std::uint64_t v, bool keep);

}  // namespace ancient::replica_internal

#endif  // ANCIENT_REPLICA_S3_REPO_H_
