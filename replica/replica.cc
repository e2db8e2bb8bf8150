// Replica: reading whichever version of a local directory is current.
// SetPin, KeepVersion and GetReplicaStatus are in status.cc, Publish in
// publish.cc, FollowOnce in follow.cc. (Kept apart from the repository
// code so that a reader, such as the Python module, links no S3 client.)

#include "replica/replica.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "replica/file_util.h"
#include "replica/manifest.h"
#include "replica/util.h"
#include "store/read_txn.h"
#include "store/strings.h"

namespace ancient {

using replica_internal::OpenExisting;
using replica_internal::OpenLocalStore;
using replica_internal::ReadVersionFile;
using replica_internal::VersionIn;
using replica_internal::VersionName;
using store_internal::Cat;

// ------------------------------------------------------------------ Replica

absl::StatusOr<std::unique_ptr<Replica>> Replica::Open(
    const std::string& local, const ReplicaOptions& options) {
  std::unique_ptr<Replica> r(new Replica(local, options));
  std::uint64_t version = 0;
  if (std::unique_ptr<Store> store =
          OpenLocalStore(local, options.convert_types, &version)) {
    // Versions are applied to this store: every read sees a whole one.
    r->store_ = std::shared_ptr<Store>(std::move(store));
    r->version_ = version;
    r->live_ = true;
    return r;
  }
  // A directory of whole copies (format 1), until a follower moves it on.
  absl::StatusOr<std::optional<std::uint64_t>> current =
      ReadVersionFile(local + "/CURRENT");
  if (!current.ok()) return current.status();
  if (!*current) {
    return absl::NotFoundError(
        Cat("no current version in ", local, " (run a follower first)"));
  }
  absl::StatusOr<std::unique_ptr<Store>> s = OpenExisting(
      local + "/versions/" + VersionName(**current), options.convert_types);
  if (!s.ok()) return s.status();
  // CURRENT's stamp stays unset: the first call reads it again (and moves
  // on if it changed meanwhile).
  r->store_ = std::shared_ptr<Store>(*std::move(s));
  r->version_ = **current;
  return r;
}

std::shared_ptr<Store> Replica::CurrentStore() const {
  std::lock_guard<std::mutex> lock(mu_);  // store_ is never null (Open).
  if (live_) return store_;
  const std::string path = local_ + "/CURRENT";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    // A follower moved the directory to its store (format 2): read that.
    std::uint64_t version = 0;
    if (std::unique_ptr<Store> store =
            OpenLocalStore(local_, options_.convert_types, &version)) {
      store_ = std::shared_ptr<Store>(std::move(store));
      version_ = version;
      live_ = true;
    }
    return store_;
  }
  const std::uint64_t stamp[3] = {
      static_cast<std::uint64_t>(st.st_ino),
      static_cast<std::uint64_t>(st.st_mtim.tv_sec) * 1000000000 +
          static_cast<std::uint64_t>(st.st_mtim.tv_nsec),
      static_cast<std::uint64_t>(st.st_size)};
  if (std::equal(stamp, stamp + 3, current_stamp_)) {
    return store_;
  }
  absl::StatusOr<std::optional<std::uint64_t>> v = ReadVersionFile(path);
  if (!v.ok() || !*v) return store_;
  if (**v != version_) {
    absl::StatusOr<std::unique_ptr<Store>> s = OpenExisting(
        local_ + "/versions/" + VersionName(**v), options_.convert_types);
    if (!s.ok()) return store_;  // Keep serving; try again next call.
    store_ = std::shared_ptr<Store>(*std::move(s));
    version_ = **v;
  }
  std::copy(stamp, stamp + 3, current_stamp_);
  return store_;
}

absl::StatusOr<Snapshot> Replica::Read() const {
  return CurrentStore()->Read();
}

absl::StatusOr<StoreStats> Replica::Stats() const {
  return CurrentStore()->Stats();
}

absl::StatusOr<std::vector<std::string>> Replica::Keys(
    std::string_view prefix) const {
  return CurrentStore()->Keys(prefix);
}

std::uint64_t Replica::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (live_) {
    absl::StatusOr<std::optional<std::uint64_t>> v = VersionIn(*store_);
    if (v.ok() && *v) version_ = **v;
  }
  return version_;
}

absl::StatusOr<std::uint64_t> Replica::VersionOf(const Snapshot& snapshot) {
  const store_internal::ReadTxn& txn = store_internal::TxnOf(snapshot);
  absl::StatusOr<std::optional<std::uint64_t>> v =
      replica_internal::StoreVersion(txn.core(), txn.txn());
  if (!v.ok()) return v.status();
  if (!*v) {
    return absl::NotFoundError(
        Cat("store ", txn.core().dir(), " holds no version of a repository"));
  }
  return **v;
}

}  // namespace ancient
