// Internal: a version applied to a host's local store, whatever the
// repository its objects come from (a directory, replica/follow.cc; object
// storage, replica/s3_follow.cc): the roots whose object changed placed,
// each checked by its type first; the roots the version lacks deleted; the
// version recorded; all in one LMDB commit.

#ifndef ANCIENT_REPLICA_APPLY_H_
#define ANCIENT_REPLICA_APPLY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replica/manifest.h"
#include "replica/replica.h"
#include "store/store.h"

namespace ancient::replica_internal {

// Where the bytes of a version's roots come from.
class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  // The object of `o` (written for kObjectBase), checked against its
  // name; valid until the next call.
  virtual absl::StatusOr<const char*> Bytes(const ObjectRoot& o) = 0;
  // The objects Bytes will be asked for, in that order (called once,
  // before the first Bytes): a remote source fetches ahead.
  virtual void Expect(const std::vector<const ObjectRoot*>& order) {}
};

// Makes the local store hold version m: the roots whose object differs
// from the one it holds are read from `src`, checked by type and placed,
// the roots m lacks deleted, the version recorded; all in one commit.
// Adds to result->bytes_fetched, roots_fetched, roots_removed. Errors
// name `what` (the version) and the root; on error nothing is committed.
absl::Status Apply(const Store& local, const Manifest& m, ObjectSource& src,
                   const std::string& what, FollowResult* result,
                   const ProgressFn& progress = nullptr);

}  // namespace ancient::replica_internal

#endif  // ANCIENT_REPLICA_APPLY_H_
