#include "store/lmdb_util.h"

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace ancient::store_internal {

absl::Status LmdbError(int rc, std::string_view what) {
  if (rc == MDB_SUCCESS) return absl::OkStatus();
  const std::string msg = Cat(what, ": ", mdb_strerror(rc));
  switch (rc) {
    case MDB_NOTFOUND:
      return absl::NotFoundError(msg);
    case MDB_MAP_FULL:
    case MDB_READERS_FULL:
    case MDB_TXN_FULL:
    case MDB_DBS_FULL:
    case ENOSPC:
    case ENOMEM:
    case EDQUOT:
    case EFBIG:
      return absl::ResourceExhaustedError(msg);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_BAD_TXN:
      return absl::DataLossError(msg);
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
    case EROFS:
      return absl::FailedPreconditionError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    case ENOENT:
      return absl::NotFoundError(msg);
    case EINVAL:
    case MDB_BAD_VALSIZE:
      return absl::InvalidArgumentError(msg);
    case EIO:
      return absl::DataLossError(msg);
    default:
      return absl::InternalError(msg);
  }
}

}  // namespace ancient::store_internal
