// SetPin, KeepVersion and GetReplicaStatus: what operators ask of a
// local directory or a repository (directory or s3://).

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "replica/file_util.h"
#include "replica/manifest.h"
#include "replica/replica.h"
#include "replica/s3_repo.h"
#include "replica/util.h"
#include "store/read_txn.h"
#include "store/strings.h"

namespace ancient {

using replica_internal::DecodeManifest;
using replica_internal::DirBytes;
using replica_internal::Exists;
using replica_internal::FileError;
using replica_internal::Fsync;
using replica_internal::kLocalFormat;
using replica_internal::kLocalFormat1;
using replica_internal::kRepoFormat;
using replica_internal::ListVersions;
using replica_internal::LocalStoreDir;
using replica_internal::MakeLayout;
using replica_internal::Manifest;
using replica_internal::MtimeSeconds;
using replica_internal::OpenLocalStore;
using replica_internal::ReadersOf;
using replica_internal::ReadSmallFile;
using replica_internal::ReadVersionFile;
using replica_internal::VersionFileText;
using replica_internal::VersionName;
using replica_internal::WriteFileAtomic;
using store_internal::Cat;

absl::Status SetPin(const std::string& local,
                    std::optional<std::uint64_t> version) {
  absl::Status s = MakeLayout(local, kLocalFormat, kLocalFormat1);
  if (!s.ok()) return s;
  if (version) {
    if (*version == 0) {
      return absl::InvalidArgumentError(
          Cat("cannot pin ", local, " to version 0 (versions start at 1)"));
    }
    return WriteFileAtomic(local, "PIN", VersionFileText(*version));
  }
  if (::unlink((local + "/PIN").c_str()) != 0 && errno != ENOENT) {
    return FileError(errno, "unlink " + local + "/PIN");
  }
  return Fsync(local);
}

absl::Status KeepVersion(const std::string& repo, std::uint64_t version,
                         bool keep) {
  if (version == 0) {
    return absl::InvalidArgumentError(
        Cat("no version 0 in ", repo, " (versions start at 1)"));
  }
  if (s3::IsS3Url(repo)) {
    absl::StatusOr<std::unique_ptr<replica_internal::S3Repo>> r =
        replica_internal::S3Repo::Open(repo);
    if (!r.ok()) return r.status();
    return replica_internal::KeepVersionS3(**r, version, keep);
  }
  const std::string pins = repo + "/pins";
  const std::string pin = pins + "/" + VersionName(version);
  if (!keep) {
    if (::unlink(pin.c_str()) != 0 && errno != ENOENT) {
      return FileError(errno, "unlink " + pin);
    }
    return absl::OkStatus();
  }
  if (!Exists(repo + "/versions/" + VersionName(version) + "/MANIFEST")) {
    return absl::NotFoundError(
        absl::StrFormat("version %d is not in repository %s", version, repo));
  }
  absl::Status s = replica_internal::MakeDir(pins);
  if (!s.ok()) return s;
  return WriteFileAtomic(pins, VersionName(version), "kept\n");
}

absl::StatusOr<ReplicaStatus> GetReplicaStatus(const std::string& dir) {
  if (s3::IsS3Url(dir)) {
    absl::StatusOr<std::unique_ptr<replica_internal::S3Repo>> repo =
        replica_internal::S3Repo::Open(dir);
    if (!repo.ok()) return repo.status();
    return replica_internal::S3Status(**repo);
  }
  absl::StatusOr<std::string> format = ReadSmallFile(dir + "/FORMAT");
  if (!format.ok()) {
    if (absl::IsNotFound(format.status())) {
      return absl::NotFoundError(
          Cat(dir,
              " is neither an ancient repository nor a local replica "
              "directory (no FORMAT file)"));
    }
    return format.status();
  }
  ReplicaStatus st;
  st.is_repository = *format == kRepoFormat;
  if (!st.is_repository && *format != kLocalFormat &&
      *format != kLocalFormat1) {
    return absl::FailedPreconditionError(
        Cat(dir, ": unknown FORMAT '", format->substr(0, 40), "'"));
  }
  for (auto [name, field] :
       {std::pair{"ANNOUNCE", &st.announced}, std::pair{"CURRENT", &st.current},
        std::pair{"PIN", &st.pinned}}) {
    absl::StatusOr<std::optional<std::uint64_t>> v =
        ReadVersionFile(dir + "/" + name);
    if (!v.ok()) return v.status();
    *field = *v;
  }
  absl::StatusOr<std::vector<std::uint64_t>> versions =
      ListVersions(dir + "/versions");
  if (!versions.ok()) return versions.status();
  for (const std::uint64_t v : *versions) {
    const std::string path = dir + "/versions/" + VersionName(v);
    VersionInfo info;
    info.version = v;
    info.bytes = info.new_bytes = DirBytes(path);
    info.mtime = MtimeSeconds(path + "/MANIFEST");
    if (st.is_repository) {
      // A version without a readable manifest (being removed, or damaged)
      // is listed by its files.
      absl::StatusOr<std::string> text = ReadSmallFile(path + "/MANIFEST");
      absl::StatusOr<Manifest> m =
          text.ok() ? DecodeManifest(*text, path + "/MANIFEST")
                    : absl::StatusOr<Manifest>(text.status());
      if (m.ok() && m->format == 2) {
        info.bytes = m->bytes();
        info.new_bytes = m->new_bytes;
      }
      info.kept = Exists(dir + "/pins/" + VersionName(info.version));
    } else {
      info.readers = ReadersOf(path);
    }
    st.versions.push_back(info);
  }
  if (!st.is_repository) {
    // The store versions are applied to (a local directory of format 2).
    std::uint64_t v = 0;
    std::unique_ptr<Store> store = OpenLocalStore(dir, true, &v);
    if (store != nullptr) {
      st.current = v;
      absl::StatusOr<StoreStats> stats = store->Stats();
      if (!stats.ok()) return stats.status();
      VersionInfo info;
      info.version = v;
      info.bytes = info.new_bytes = stats->bytes_live;
      info.mtime = MtimeSeconds(LocalStoreDir(dir) + "/data.mdb");
      info.readers = stats->readers;
      st.versions.push_back(info);
    }
  }
  if (!st.is_repository) {
    absl::Status s = replica_internal::LocalPollStatus(dir, &st);
    if (!s.ok()) return s;
  }
  return st;
}

}  // namespace ancient
