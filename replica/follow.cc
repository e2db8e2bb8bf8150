// FollowOnce: a version of a repository applied to the local store, only
// the roots that changed; see replica.h.

#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "ancient/block.h"
#include "replica/apply.h"
#include "replica/file_util.h"
#include "replica/manifest.h"
#include "replica/replica.h"
#include "replica/s3_repo.h"
#include "replica/util.h"
#include "store/group_access.h"
#include "store/read_txn.h"
#include "store/strings.h"
#include "store/write_txn.h"

namespace ancient {
namespace {

using replica_internal::Apply;
using replica_internal::CopyHashed;
using replica_internal::DecodeManifest;
using replica_internal::Exists;
using replica_internal::FileSum;
using replica_internal::kObjectBase;
using replica_internal::Manifest;
using replica_internal::MappedFile;
using replica_internal::ObjectChecker;
using replica_internal::ObjectName;
using replica_internal::ObjectRoot;
using replica_internal::ObjectSource;
using replica_internal::ReadSmallFile;
using replica_internal::RemoveAll;
using replica_internal::VersionName;
using store_internal::Cat;
using store_internal::Core;
using store_internal::ReadTxn;
using store_internal::RootRecord;
using store_internal::WriteTxn;

// REPO/objects/: each object mapped, its size and hash checked.
class RepoObjects : public ObjectSource {
 public:
  RepoObjects(const std::string& repo, const std::string& what)
      : repo_(repo), what_(what) {}
  absl::StatusOr<const char*> Bytes(const ObjectRoot& o) override {
    const std::string path = repo_ + "/objects/" + o.object;
    const std::string root = Cat("root '", o.key, "' of ", what_);
    map_.reset();
    absl::StatusOr<std::unique_ptr<MappedFile>> f = MappedFile::Open(path);
    if (!f.ok()) {
      return absl::Status(f.status().code(),
                          Cat(f.status().message(), " (", root, ")"));
    }
    map_ = *std::move(f);
    if (map_->size() != o.object_size()) {
      return absl::DataLossError(
          absl::StrFormat("%s is %d bytes; the manifest says %d (%s)", path,
                          map_->size(), o.object_size(), root));
    }
    if (ObjectName(map_->data(), map_->size()) != o.object) {
      return absl::DataLossError(Cat(path, " fails its checksum (", root, ")"));
    }
    return map_->data();
  }

 private:
  const std::string& repo_;
  const std::string& what_;
  std::unique_ptr<MappedFile> map_;
};

// A format-1 version fetched whole into a local store: its roots made
// into objects, one at a time.
class CopiedObjects : public ObjectSource {
 public:
  explicit CopiedObjects(std::unique_ptr<Store> store)
      : store_(std::move(store)) {}

  // The version's roots, as a format-2 manifest would list them.
  absl::Status List(Manifest* m) {
    absl::StatusOr<std::shared_ptr<ReadTxn>> txn =
        ReadTxn::Begin(store_internal::CoreOf(*store_));
    if (!txn.ok()) return txn.status();
    return (*txn)->ForEachRoot(
        "",
        [&](std::string_view key, const RootRecord& r,
            std::string_view name) -> absl::Status {
          absl::StatusOr<ObjectRoot> o =
              replica_internal::EntryFor(**txn, key, r, name, m);
          if (!o.ok()) return o.status();
          absl::Status s = Canonical(**txn, key, r);
          if (!s.ok()) return s;
          o->object = ObjectName(buf_.data(), buf_.size());
          m->objects.push_back(*std::move(o));
          return absl::OkStatus();
        });
  }

  absl::StatusOr<const char*> Bytes(const ObjectRoot& o) override {
    absl::StatusOr<std::shared_ptr<ReadTxn>> txn =
        ReadTxn::Begin(store_internal::CoreOf(*store_));
    if (!txn.ok()) return txn.status();
    RootRecord r;
    absl::StatusOr<GraphBytes> g = (*txn)->FindUntyped(o.key, &r);
    if (!g.ok()) return g.status();
    absl::Status s = Canonical(**txn, o.key, r);
    if (!s.ok()) return s;
    return buf_.data();
  }

 private:
  // buf_ = the root's bytes written for kObjectBase.
  absl::Status Canonical(const ReadTxn& txn, std::string_view key,
                         const RootRecord& r) {
    Core& core = txn.core();
    std::string raw;
    absl::StatusOr<const char*> bytes =
        core.arena().RawBytes(r.offset, r.graph_size + r.reloc_size, &raw);
    if (!bytes.ok()) return bytes.status();
    buf_.assign(*bytes, r.graph_size + r.reloc_size);
    absl::Status s = RelocateBlock(
        buf_.data(), r.graph_size,
        std::string_view(buf_.data() + r.graph_size, r.reloc_size),
        core.base() + r.offset, kObjectBase);
    if (!s.ok()) {
      return absl::DataLossError(
          Cat("store ", core.dir(), ": root '", key, "': ", s.message()));
    }
    return absl::OkStatus();
  }

  std::unique_ptr<Store> store_;
  std::string buf_;
};

// Fetches format-1 version `v` (manifest `m`, read from `src`) whole into
// `tmp`, each file checked against the manifest, and Verify()s it.
absl::Status FetchWhole(const std::string& src, const Manifest& m,
                        const std::string& tmp, const std::string& what) {
  RemoveAll(tmp);
  absl::Status s = replica_internal::MakeDir(tmp);
  if (!s.ok()) return s;
  for (const Manifest::File& f : m.files) {
    const std::string from = src + "/" + f.name;
    absl::StatusOr<FileSum> got = CopyHashed(from, tmp + "/" + f.name);
    if (!got.ok()) return got.status();
    if (got->size != f.sum.size) {
      return absl::DataLossError(absl::StrFormat(
          "%s is %d bytes; the manifest says %d", from, got->size, f.sum.size));
    }
    if (got->hash != f.sum.hash) {
      return absl::DataLossError(absl::StrFormat(
          "%s fails its checksum (%016x; the manifest says %016x)", from,
          got->hash, f.sum.hash));
    }
  }
  absl::StatusOr<std::vector<RootInfo>> roots =
      replica_internal::VerifyCopy(tmp);
  if (!roots.ok()) {
    return absl::Status(roots.status().code(),
                        Cat(what, ": ", roots.status().message()));
  }
  if (roots->size() != m.roots.size()) {
    return absl::DataLossError(
        absl::StrFormat("%s has %d roots; its manifest lists %d", what,
                        roots->size(), m.roots.size()));
  }
  return absl::OkStatus();
}

// Moves the local store to version `v` of `repo`.
absl::Status Follow(const std::string& repo, std::uint64_t v,
                    const std::string& local, const Store& store,
                    FollowResult* result, const ProgressFn& progress) {
  const std::string src = repo + "/versions/" + VersionName(v);
  const std::string what = absl::StrFormat("version %d of %s", v, repo);
  if (!Exists(src)) {
    return absl::NotFoundError(
        absl::StrFormat("version %d is not in repository %s", v, repo));
  }
  absl::StatusOr<std::string> text = ReadSmallFile(src + "/MANIFEST");
  if (!text.ok()) return text.status();
  result->manifest_bytes = text->size();
  absl::StatusOr<Manifest> m = DecodeManifest(*text, src + "/MANIFEST");
  if (!m.ok()) return m.status();
  if (m->version != v) {
    return absl::DataLossError(
        absl::StrFormat("%s/MANIFEST names version %d", src, m->version));
  }
  if (m->format == 2) {
    result->bytes = m->bytes();
    RepoObjects objects(repo, what);
    return Apply(store, *m, objects, what, result, progress);
  }
  // A version published whole (before objects): fetched whole, checked,
  // then applied root by root like any other.
  const std::string tmp = absl::StrFormat("%s/tmp/%d.%d", local, v, getpid());
  absl::Status s = FetchWhole(src, *m, tmp, what);
  if (s.ok()) {
    absl::StatusOr<std::unique_ptr<Store>> copy =
        replica_internal::OpenExisting(tmp);
    s = copy.status();
    if (s.ok()) {
      CopiedObjects objects(*std::move(copy));
      Manifest whole;
      whole.version = v;
      s = objects.List(&whole);
      if (s.ok()) {
        result->bytes = whole.bytes();
        s = Apply(store, whole, objects, what, result);
        result->bytes_fetched = m->bytes();
      }
    }
  }
  RemoveAll(tmp);
  return s;
}

// The local store of `local`, opened read-write. Kept open in this process
// afterwards, so that a Replica opened here later shares its environment
// (LMDB allows one per file per process; a read-only one cannot write).
absl::StatusOr<std::shared_ptr<Store>> OpenLocal(const std::string& local,
                                                 const std::string& group) {
  static std::mutex* const mu = new std::mutex;
  static auto* const open = new std::map<std::string, std::shared_ptr<Store>>;
  StoreOptions options;
  options.create_if_missing = true;
  options.group = group;
  absl::StatusOr<std::unique_ptr<Store>> store =
      Store::Open(replica_internal::LocalStoreDir(local), options);
  if (!store.ok()) return store.status();
  std::shared_ptr<Store> s(*std::move(store));
  std::lock_guard<std::mutex> lock(*mu);
  (*open)[local] = s;  // The same environment unless the store was replaced.
  return s;
}

}  // namespace

absl::StatusOr<FollowResult> FollowOnce(const std::string& repo,
                                        const std::string& local) {
  return FollowOnce(repo, local, FollowOptions());
}

absl::StatusOr<FollowResult> FollowOnce(const std::string& repo,
                                        const std::string& local,
                                        const FollowOptions& options) {
  std::string format;
  absl::Status s =
      replica_internal::MakeLayout(local, replica_internal::kLocalFormat,
                                   replica_internal::kLocalFormat1, &format);
  if (s.ok()) s = EnsureGroup(local, options.group);
  if (!s.ok()) return s;
  absl::StatusOr<std::unique_ptr<replica_internal::DirLock>> lock =
      replica_internal::DirLock::Take(local);
  if (!lock.ok()) return lock.status();
  replica_internal::RemoveStaleTmp(local, 24 * 3600);
  absl::StatusOr<std::optional<std::uint64_t>> pinned =
      replica_internal::ReadVersionFile(local + "/PIN");
  if (!pinned.ok()) return pinned.status();
  std::unique_ptr<replica_internal::S3Repo> s3;
  if (s3::IsS3Url(repo)) {
    absl::StatusOr<std::unique_ptr<replica_internal::S3Repo>> r =
        replica_internal::S3Repo::Open(repo);
    if (!r.ok()) return r.status();
    s3 = *std::move(r);
  }
  std::uint64_t target;
  std::uint64_t announced = 0;
  std::string etag;
  if (s3) {
    // Polled even when pinned: status shows what is announced.
    absl::StatusOr<std::uint64_t> a =
        replica_internal::AnnouncedS3(*s3, local, &etag);
    if (!a.ok()) return a.status();
    announced = *a;
    target = pinned->value_or(announced);
  } else if (*pinned) {
    target = **pinned;
  } else {
    if (!Exists(repo + "/FORMAT")) {
      return absl::NotFoundError(Cat("no ancient repository at ", repo));
    }
    absl::StatusOr<std::optional<std::uint64_t>> announced =
        replica_internal::ReadVersionFile(repo + "/ANNOUNCE");
    if (!announced.ok()) return announced.status();
    if (!*announced) {
      return absl::NotFoundError(Cat("nothing is announced in ", repo));
    }
    target = **announced;
  }
  absl::StatusOr<std::shared_ptr<Store>> store =
      OpenLocal(local, options.group);
  if (!store.ok()) return store.status();
  std::optional<std::uint64_t> current;
  {
    const std::shared_ptr<Core>& core = store_internal::CoreOf(**store);
    absl::StatusOr<std::shared_ptr<ReadTxn>> txn = ReadTxn::Begin(core);
    if (!txn.ok()) return txn.status();
    absl::StatusOr<std::optional<std::uint64_t>> v =
        replica_internal::StoreVersion(*core, (*txn)->txn());
    if (!v.ok()) return v.status();
    current = *v;
  }
  FollowResult result;
  result.version = target;
  if (current != target) {
    s = s3 ? replica_internal::FollowS3(*s3, target, **store, &result,
                                        options.progress)
           : Follow(repo, target, local, **store, &result, options.progress);
    if (!s.ok()) return s;
    result.switched = true;
  }
  if (s3) {
    const s3::TransferStats stats = s3->client().stats();
    result.requests = stats.requests;
    result.retries = stats.retries;
    result.wire_bytes = stats.wire_bytes;
    s = replica_internal::RecordPollS3(*s3, local, announced, etag, result);
    if (!s.ok()) return s;
  }
  if (format != replica_internal::kLocalFormat) {
    // A directory of whole copies (format 1): from now on the store.
    s = replica_internal::WriteFileAtomic(local, "FORMAT",
                                          replica_internal::kLocalFormat);
    if (!s.ok()) return s;
    ::unlink((local + "/CURRENT").c_str());
  }
  // Whole copies of format 1 that no process reads any more. A process may
  // still have one mapped without a snapshot: unlinked files stay readable
  // to it.
  absl::StatusOr<std::vector<std::uint64_t>> versions =
      replica_internal::ListVersions(local + "/versions");
  if (versions.ok()) {
    for (const std::uint64_t v : *versions) {
      const std::string dir = local + "/versions/" + VersionName(v);
      if (replica_internal::ReadersOf(dir) == 0) {
        RemoveAll(dir);
        result.removed.push_back(v);
      }
    }
  }
  return result;
}

}  // namespace ancient
