// Publish: a store's roots as objects in a repository, plus a manifest;
// see replica.h.

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_format.h"
#include "ancient/block.h"
#include "replica/file_util.h"
#include "replica/manifest.h"
#include "replica/objects.h"
#include "replica/replica.h"
#include "replica/s3_repo.h"
#include "replica/util.h"
#include "store/chunk_writer.h"
#include "store/group_access.h"
#include "store/read_txn.h"
#include "store/strings.h"

namespace ancient {
namespace {

using replica_internal::DecodeManifest;
using replica_internal::EncodeManifest;
using replica_internal::Exists;
using replica_internal::Fd;
using replica_internal::FileError;
using replica_internal::Fsync;
using replica_internal::kObjectBase;
using replica_internal::kRepoFormat;
using replica_internal::ListNames;
using replica_internal::ListVersions;
using replica_internal::Manifest;
using replica_internal::MtimeSeconds;
using replica_internal::ObjectChecker;
using replica_internal::ObjectRoot;
using replica_internal::ReadSmallFile;
using replica_internal::ReadVersionFile;
using replica_internal::RemoveAll;
using replica_internal::SameRoots;
using replica_internal::VersionFileText;
using replica_internal::VersionName;
using replica_internal::WriteFileAtomic;
using store_internal::Cat;
using store_internal::Core;
using store_internal::ReadTxn;
using store_internal::RootRecord;

// The manifest of version `v` of `repo`; nullopt when it cannot be read
// (a removed or damaged version: its objects are written again).
std::optional<Manifest> ReadManifest(const std::string& repo, std::uint64_t v) {
  const std::string path = repo + "/versions/" + VersionName(v) + "/MANIFEST";
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return std::nullopt;
  absl::StatusOr<Manifest> m = DecodeManifest(*text, path);
  if (!m.ok() || m->version != v) return std::nullopt;
  return *std::move(m);
}

// Writes roots of one store as objects into a repository: each is checked
// in place, then copied a chunk at a time (relocated, hashed) into a file
// in tmp/ with write(2), its write-back started at once; Finish() then
// fsyncs them all and renames each to objects/<name>, so an object is
// never under its name before its bytes are on disk.
class ObjectWriter {
 public:
  ObjectWriter(const Core& core, const std::string& repo)
      : repo_(repo), maker_(core) {}
  ~ObjectWriter() {
    for (const Pending& p : pending_) ::unlink(p.tmp.c_str());
  }

  // The name of root `key`'s object (record r, type description
  // `description`; `txn` reads it), to be written unless the repository or
  // this writer has it; adds its bytes to *written then.
  absl::StatusOr<std::string> Write(const ReadTxn& txn, std::string_view key,
                                    const RootRecord& r,
                                    const std::string& description,
                                    std::uint64_t* written) {
    const std::uint64_t len = r.graph_size + r.reloc_size;
    const std::string tmp =
        absl::StrFormat("%s/tmp/object%d.%d", repo_, ++count_, ::getpid());
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return FileError(errno, "create " + tmp);
    auto fail = [&](absl::Status s) {
      ::unlink(tmp.c_str());
      return s;
    };
    absl::StatusOr<std::string> made = maker_.Make(
        txn, key, r, description, /*check=*/true,
        [&](std::uint64_t, const char* p, std::uint64_t n) {
          return replica_internal::WriteAll(fd.get(), p, n, tmp);
        },
        [&](std::uint64_t pos, std::uint64_t n) {
          // The fsync in Finish then waits for little.
          ::sync_file_range(fd.get(), pos, n, SYNC_FILE_RANGE_WRITE);
        });
    if (!made.ok()) return fail(made.status());
    const std::string& name = *made;
    if (names_.contains(name) || Exists(repo_ + "/objects/" + name)) {
      ::unlink(tmp.c_str());  // Named by its content: the same bytes.
      return name;
    }
    ::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
    absl::Status s = fd.Close(tmp);
    if (!s.ok()) return fail(s);
    pending_.push_back({tmp, name});
    names_.insert(name);
    *written += len;
    return name;
  }

  // Makes the objects written durable, then puts them under their names.
  absl::Status Finish() {
    for (const Pending& p : pending_) {
      absl::Status s = Fsync(p.tmp);
      if (!s.ok()) return s;
    }
    for (const Pending& p : pending_) {
      const std::string dest = repo_ + "/objects/" + p.name;
      if (::rename(p.tmp.c_str(), dest.c_str()) != 0) {
        return FileError(errno, "rename " + p.tmp + " to " + dest);
      }
    }
    pending_.clear();
    return Fsync(repo_ + "/objects");
  }

 private:
  struct Pending {
    std::string tmp, name;
  };
  const std::string& repo_;
  replica_internal::ObjectMaker maker_;
  std::uint64_t count_ = 0;
  std::vector<Pending> pending_;
  absl::flat_hash_set<std::string> names_;
};

// Versions beyond the newest `keep`, superseded for `grace` seconds, then
// the objects no remaining version names.
void RemoveOld(const std::string& repo, const PublishOptions& options,
               PublishResult* result) {
  absl::StatusOr<std::vector<std::uint64_t>> versions =
      ListVersions(repo + "/versions");
  if (!versions.ok()) return;
  const std::int64_t now = std::time(nullptr);
  const std::size_t n = versions->size();
  std::vector<std::uint64_t> kept;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t v = (*versions)[i];
    if (i + static_cast<std::size_t>(options.keep) < n &&
        !Exists(repo + "/pins/" + VersionName(v))) {
      const std::string next =
          repo + "/versions/" + VersionName((*versions)[i + 1]);
      if (now - MtimeSeconds(next + "/MANIFEST") >= options.grace_seconds) {
        // Out of versions/ in one step, then removed: a publish killed
        // meanwhile leaves it in tmp/, not a version without its manifest.
        const std::string gone =
            absl::StrFormat("%s/tmp/gone%d.%d", repo, v, ::getpid());
        if (::rename((repo + "/versions/" + VersionName(v)).c_str(),
                     gone.c_str()) == 0) {
          RemoveAll(gone);
          result->removed.push_back(v);
          continue;
        }
      }
    }
    kept.push_back(v);
  }
  absl::flat_hash_set<std::string> named;
  for (const std::uint64_t v : kept) {
    std::optional<Manifest> m = ReadManifest(repo, v);
    // An unreadable manifest might name anything: remove no object.
    if (!m) return;
    for (const ObjectRoot& r : m->objects) named.insert(r.object);
  }
  for (const std::string& name : ListNames(repo + "/objects")) {
    if (!named.contains(name)) {
      RemoveAll(repo + "/objects/" + name);
      ++result->objects_removed;
    }
  }
}

}  // namespace

absl::StatusOr<PublishResult> Publish(const Store& store,
                                      const std::string& repo,
                                      const PublishOptions& options) {
  if (options.keep < 1) {
    return absl::InvalidArgumentError("PublishOptions.keep must be >= 1");
  }
  if (s3::IsS3Url(repo)) {
    absl::StatusOr<std::unique_ptr<replica_internal::S3Repo>> s3 =
        replica_internal::S3Repo::Open(repo);
    if (!s3.ok()) return s3.status();
    absl::StatusOr<PublishResult> r =
        replica_internal::PublishS3(store, **s3, options);
    if (r.ok()) {
      const s3::TransferStats stats = (*s3)->client().stats();
      r->requests = stats.requests;
      r->retries = stats.retries;
    }
    return r;
  }
  absl::Status s = replica_internal::MakeLayout(repo, kRepoFormat);
  if (s.ok()) s = replica_internal::MakeDir(repo + "/objects");
  if (s.ok()) s = EnsureGroup(repo, options.group);
  if (!s.ok()) return s;
  absl::StatusOr<std::unique_ptr<replica_internal::DirLock>> lock =
      replica_internal::DirLock::Take(repo);
  if (!lock.ok()) return lock.status();
  replica_internal::RemoveStaleTmp(repo, options.grace_seconds);

  absl::StatusOr<std::vector<std::uint64_t>> versions =
      ListVersions(repo + "/versions");
  if (!versions.ok()) return versions.status();
  absl::StatusOr<std::optional<std::uint64_t>> announced =
      ReadVersionFile(repo + "/ANNOUNCE");
  if (!announced.ok()) return announced.status();
  std::optional<Manifest> previous;
  if (*announced) previous = ReadManifest(repo, **announced);

  PublishResult result;
  Manifest m;
  ObjectWriter writer(*store_internal::CoreOf(store), repo);
  s = replica_internal::CollectRoots(
      store, previous,
      [&](const ObjectRoot& o) {
        return Exists(repo + "/objects/" + o.object);
      },
      [&](const ReadTxn& txn, std::string_view key, const RootRecord& r,
          const std::string& description, std::uint64_t* written) {
        return writer.Write(txn, key, r, description, written);
      },
      &m, &result, options.progress);
  if (!s.ok()) return s;
  s = writer.Finish();  // Before anything may name the objects.
  if (!s.ok()) return s;

  if (previous && SameRoots(*previous, m)) {
    // Nothing changed: no new version for followers to fetch.
    result.version = **announced;
    result.published = false;
    RemoveOld(repo, options, &result);
    return result;
  }
  result.version = std::max(versions->empty() ? 0 : versions->back(),
                            announced->value_or(0)) +
                   1;
  m.version = result.version;
  m.new_bytes = result.bytes_written;
  // Made in tmp/, renamed into versions/ only once whole: a publish killed
  // before that leaves nothing a follower reads (objects no version names
  // are removed by the next publish).
  const std::string tmp =
      absl::StrFormat("%s/tmp/%d.%d", repo, result.version, getpid());
  const std::string dest = repo + "/versions/" + VersionName(result.version);
  RemoveAll(tmp);
  s = replica_internal::MakeDir(tmp);
  const std::string manifest = EncodeManifest(m);
  result.manifest_bytes = manifest.size();
  if (s.ok()) s = WriteFileAtomic(tmp, "MANIFEST", manifest);
  if (!s.ok()) {
    RemoveAll(tmp);
    return s;
  }
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    s = FileError(errno, "rename " + tmp + " to " + dest);
    RemoveAll(tmp);
    return s;
  }
  s = Fsync(repo + "/versions");
  if (s.ok()) {
    s = WriteFileAtomic(repo, "ANNOUNCE", VersionFileText(result.version));
  }
  if (!s.ok()) return s;  // In place but not announced: harmless.
  RemoveOld(repo, options, &result);
  return result;
}

}  // namespace ancient
