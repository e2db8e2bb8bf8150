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
#include "replica/replica.h"
#include "replica/util.h"
#include "store/chunk_writer.h"
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
using replica_internal::VersionFileText;
using replica_internal::VersionName;
using replica_internal::WriteFileAtomic;
using store_internal::Cat;
using store_internal::Core;
using store_internal::ReadTxn;
using store_internal::RootRecord;

// Where the publisher read a root: a hash of its record, the same for the
// same bytes at the same place of the same store.
std::uint64_t SourceOf(const RootRecord& r) {
  const std::uint64_t f[] = {r.base_address, r.offset,  r.graph_size,
                             r.reloc_size,   r.type_id, r.checksum};
  return XXH3_64bits(f, sizeof f);
}

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
      : core_(core), repo_(repo) {}
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
    const std::string what = Cat("store ", core_.dir(), ": root '", key, "'");
    // Where this process reads it: in place (mapping more of the arena if
    // need be), or relocated (checked against its checksum then).
    RootRecord found;
    absl::StatusOr<GraphBytes> graph = txn.FindUntyped(key, &found);
    if (!graph.ok()) return graph.status();
    const char* const src = graph->bytes;
    const std::uintptr_t address = graph->address;
    if (address == core_.base() + r.offset &&
        XXH3_64bits(src, len) != r.checksum) {
      return absl::DataLossError(Cat(what, " fails its checksum"));
    }
    // Checked where it is: pointers by the relocation record, then
    // contents by the recorded type.
    const std::string_view relocs(src + r.graph_size, r.reloc_size);
    absl::Status s = VerifyBlock(src, r.graph_size, relocs, address);
    if (!s.ok()) return absl::DataLossError(Cat(what, ": ", s.message()));
    s = checker_.Check(r.type_id, description, {src, r.graph_size, address},
                       what);
    if (!s.ok()) return s;
    // Then copied a chunk at a time (in cache): pointers rewritten for
    // kObjectBase (the same bytes wherever the store held it), hashed,
    // written to a file in tmp/. Memory: one chunk, whatever the root's size.
    const std::string tmp =
        absl::StrFormat("%s/tmp/object%d.%d", repo_, ++count_, ::getpid());
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return FileError(errno, "create " + tmp);
    auto fail = [&](absl::Status s) {
      ::unlink(tmp.c_str());
      return s;
    };
    XXH3_state_t* state = XXH3_createState();
    if (state == nullptr) return fail(absl::ResourceExhaustedError("XXH3"));
    XXH3_128bits_reset(state);
    ChunkRelocator relocator(relocs, kObjectBase - address);
    s = store_internal::WriteChunks(
        src, len, relocator, buf_,
        [&](std::uint64_t, const char* p, std::uint64_t n) {
          XXH3_128bits_update(state, p, n);
          return replica_internal::WriteAll(fd.get(), p, n, tmp);
        },
        [&](std::uint64_t pos, std::uint64_t n) {
          // The fsync in Finish then waits for little.
          ::sync_file_range(fd.get(), pos, n, SYNC_FILE_RANGE_WRITE);
        });
    const XXH128_hash_t h = XXH3_128bits_digest(state);
    XXH3_freeState(state);
    if (!s.ok()) return fail(s);
    const std::string name = absl::StrFormat("%016x%016x", h.high64, h.low64);
    if (names_.contains(name) || Exists(repo_ + "/objects/" + name)) {
      ::unlink(tmp.c_str());  // Named by its content: the same bytes.
      return name;
    }
    ::sync_file_range(fd.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
    s = fd.Close(tmp);
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
  const Core& core_;
  const std::string& repo_;
  std::string buf_;  // the chunk being made
  std::uint64_t count_ = 0;
  std::vector<Pending> pending_;
  absl::flat_hash_set<std::string> names_;
  ObjectChecker checker_;
};

// Whether `a` and `b` hold the same roots (keys, types and objects).
bool SameRoots(const Manifest& a, const Manifest& b) {
  auto same = [](const ObjectRoot& x, const ObjectRoot& y) {
    return x.key == y.key && x.object == y.object && x.type_id == y.type_id &&
           x.type_name == y.type_name;
  };
  return a.format == 2 && b.format == 2 &&
         std::equal(a.objects.begin(), a.objects.end(), b.objects.begin(),
                    b.objects.end(), same);
}

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
    if (i + static_cast<std::size_t>(options.keep) < n) {
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
  absl::Status s = replica_internal::MakeLayout(repo, kRepoFormat);
  if (s.ok()) s = replica_internal::MakeDir(repo + "/objects");
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

  // The objects of the roots the last version had where this store still
  // has them: found by where they were read, not read again.
  absl::flat_hash_map<std::uint64_t, const ObjectRoot*> known;
  if (previous) {
    for (const ObjectRoot& r : previous->objects) known[r.source] = &r;
  }

  const std::shared_ptr<Core>& core = store_internal::CoreOf(store);
  absl::StatusOr<std::shared_ptr<ReadTxn>> txn = ReadTxn::Begin(core);
  if (!txn.ok()) return txn.status();
  absl::StatusOr<store_internal::SpaceRecord> space = (*txn)->Space();
  if (!space.ok()) return space.status();
  s = core->arena().CheckLength(space->high_water);
  if (!s.ok()) return s;

  PublishResult result;
  Manifest m;
  ObjectWriter writer(*core, repo);
  s = (*txn)->ForEachRoot(
      "",
      [&](std::string_view key, const RootRecord& r,
          std::string_view name) -> absl::Status {
        absl::Status s =
            store_internal::CheckRootRecord(*core, key, r, space->high_water);
        if (!s.ok()) return s;
        absl::StatusOr<ObjectRoot> entry =
            replica_internal::EntryFor(**txn, key, r, name, &m);
        if (!entry.ok()) return entry.status();
        ObjectRoot& o = *entry;
        o.source = SourceOf(r);
        auto k = known.find(o.source);
        if (k != known.end() && k->second->type_id == r.type_id &&
            k->second->object_size() == o.object_size() &&
            Exists(repo + "/objects/" + k->second->object)) {
          o.object = k->second->object;
        } else {
          absl::StatusOr<std::string> obj = writer.Write(
              **txn, key, r, m.types[r.type_id], &result.bytes_written);
          if (!obj.ok()) return obj.status();
          o.object = *std::move(obj);
          ++result.roots_written;
        }
        result.bytes += o.object_size();
        m.objects.push_back(std::move(o));
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  txn->reset();
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
