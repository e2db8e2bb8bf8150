// Publish, follow and read versions of a store; see replica.h.

#include "store/replica.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "store/file_util.h"
#include "store/manifest.h"
#include "store/strings.h"

namespace ancient {
namespace {

using store_internal::Cat;
using store_internal::CopyHashed;
using store_internal::DecodeManifest;
using store_internal::DirBytes;
using store_internal::DirLock;
using store_internal::EncodeManifest;
using store_internal::Exists;
using store_internal::FileError;
using store_internal::FileSum;
using store_internal::Fsync;
using store_internal::kVersionFiles;
using store_internal::ListNames;
using store_internal::MakeDir;
using store_internal::Manifest;
using store_internal::MtimeSeconds;
using store_internal::ReadSmallFile;
using store_internal::RemoveAll;
using store_internal::WriteFileAtomic;

constexpr char kRepoFormat[] = "ancient-repository 1\n";
constexpr char kLocalFormat[] = "ancient-local 1\n";

std::string VersionName(std::uint64_t v) { return absl::StrFormat("%010d", v); }

// "version N\n" files (ANNOUNCE, CURRENT, PIN): nullopt when absent.
absl::StatusOr<std::optional<std::uint64_t>> ReadVersionFile(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return std::nullopt;
    return text.status();
  }
  std::uint64_t v = 0;
  absl::string_view t(text->data(), text->size());
  if (!absl::ConsumePrefix(&t, "version ") ||
      !absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(t), &v) || v == 0) {
    return absl::DataLossError(
        Cat(path, " does not hold 'version N' (", text->substr(0, 40), ")"));
  }
  return v;
}

std::string VersionFileText(std::uint64_t v) {
  return absl::StrFormat("version %d\n", v);
}

// The version numbers under dir (named by digits only), ascending.
absl::StatusOr<std::vector<std::uint64_t>> ListVersions(
    const std::string& dir) {
  std::vector<std::uint64_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return FileError(errno, "opendir " + dir);
  }
  while (dirent* e = ::readdir(d)) {
    std::uint64_t v;
    const std::string name = e->d_name;
    if (!name.empty() &&
        std::all_of(name.begin(), name.end(),
                    [](char c) { return c >= '0' && c <= '9'; }) &&
        absl::SimpleAtoi(name, &v) && v > 0) {
      out.push_back(v);
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

// Opens an existing store read-only.
absl::StatusOr<std::unique_ptr<Store>> OpenExisting(const std::string& dir,
                                                   bool convert_types = true) {
  StoreOptions o;
  o.read_only = true;
  o.convert_types = convert_types;
  o.create_if_missing = false;
  return Store::Open(dir, o);
}

// Opens the store at `dir` read-only, Verify()s it, and lists its roots.
absl::StatusOr<std::vector<RootInfo>> VerifyCopy(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenExisting(dir);
  if (!store.ok()) return store.status();
  absl::Status s = (*store)->Verify();
  if (!s.ok()) return s;
  absl::StatusOr<Snapshot> snap = (*store)->Read();
  if (!snap.ok()) return snap.status();
  return snap->List();
}

// Read snapshots that processes hold on the store at `dir` (0 if it cannot
// be opened: nothing can be reading it through a snapshot then).
std::uint64_t ReadersOf(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenExisting(dir);
  if (!store.ok()) return 0;
  absl::StatusOr<StoreStats> st = (*store)->Stats();
  return st.ok() ? st->readers : 1;  // Unsure: keep it.
}

// Creates dir (and its versions/ and tmp/) with its format marker.
absl::Status MakeLayout(const std::string& dir, const char* format) {
  absl::Status s = MakeDir(dir);
  if (s.ok()) s = MakeDir(dir + "/versions");
  if (s.ok()) s = MakeDir(dir + "/tmp");
  if (s.ok() && !Exists(dir + "/FORMAT")) {
    s = WriteFileAtomic(dir, "FORMAT", format);
  }
  if (!s.ok()) return s;
  absl::StatusOr<std::string> text = ReadSmallFile(dir + "/FORMAT");
  if (!text.ok()) return text.status();
  if (*text != format) {
    return absl::FailedPreconditionError(
        Cat(dir, " is not an ancient ",
            format == kRepoFormat ? "repository" : "local replica directory",
            " (its FORMAT says '", text->substr(0, 40), "')"));
  }
  return absl::OkStatus();
}

// Removes tmp/ entries left by dead processes ("N.PID") or older than
// `max_age` seconds.
void RemoveStaleTmp(const std::string& dir, double max_age) {
  const std::int64_t now = std::time(nullptr);
  for (const std::string& name : ListNames(dir + "/tmp")) {
    const std::string path = dir + "/tmp/" + name;
    int pid = 0;
    const std::size_t dot = name.rfind('.');
    const bool dead = dot != std::string::npos &&
                      absl::SimpleAtoi(name.substr(dot + 1), &pid) && pid > 0 &&
                      ::kill(pid, 0) != 0 && errno == ESRCH;
    if (dead || now - MtimeSeconds(path) > max_age) RemoveAll(path);
  }
}

}  // namespace

// ------------------------------------------------------------------ publish

absl::StatusOr<PublishResult> Publish(const Store& store,
                                      const std::string& repo,
                                      const PublishOptions& options) {
  if (options.keep < 1) {
    return absl::InvalidArgumentError("PublishOptions.keep must be >= 1");
  }
  absl::Status s = MakeLayout(repo, kRepoFormat);
  if (!s.ok()) return s;
  absl::StatusOr<std::unique_ptr<DirLock>> lock = DirLock::Take(repo);
  if (!lock.ok()) return lock.status();
  RemoveStaleTmp(repo, options.grace_seconds);

  absl::StatusOr<std::vector<std::uint64_t>> versions =
      ListVersions(repo + "/versions");
  if (!versions.ok()) return versions.status();
  absl::StatusOr<std::optional<std::uint64_t>> announced =
      ReadVersionFile(repo + "/ANNOUNCE");
  if (!announced.ok()) return announced.status();
  PublishResult result;
  result.version = std::max(versions->empty() ? 0 : versions->back(),
                            announced->value_or(0)) +
                   1;

  // Made in tmp/, renamed into versions/ only once whole: a publish killed
  // before that leaves nothing a follower reads.
  const std::string tmp =
      absl::StrFormat("%s/tmp/%d.%d", repo, result.version, getpid());
  const std::string dest = repo + "/versions/" + VersionName(result.version);
  RemoveAll(tmp);
  auto fail = [&](absl::Status err) {
    RemoveAll(tmp);
    return err;
  };
  s = store.CopyTo(tmp, /*compact=*/true);
  if (!s.ok()) return fail(s);
  absl::StatusOr<std::vector<RootInfo>> roots = VerifyCopy(tmp);
  if (!roots.ok()) return fail(roots.status());
  ::unlink((tmp + "/lock.mdb").c_str());  // Per host, made by readers.
  Manifest m;
  m.version = result.version;
  m.roots = *std::move(roots);
  for (const char* name : kVersionFiles) {
    absl::StatusOr<FileSum> sum = CopyHashed(tmp + "/" + name, "");
    if (!sum.ok()) return fail(sum.status());
    s = Fsync(tmp + "/" + name);
    if (!s.ok()) return fail(s);
    m.files.push_back({name, *sum});
    result.bytes += sum->size;
  }
  s = WriteFileAtomic(tmp, "MANIFEST", EncodeManifest(m));
  if (!s.ok()) return fail(s);
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    return fail(FileError(errno, "rename " + tmp + " to " + dest));
  }
  s = Fsync(repo + "/versions");
  if (s.ok()) {
    s = WriteFileAtomic(repo, "ANNOUNCE", VersionFileText(result.version));
  }
  if (!s.ok()) return s;  // In place but not announced: harmless.

  // Old versions: beyond the newest `keep`, once superseded long enough
  // (when the next version was put in place).
  versions = ListVersions(repo + "/versions");
  if (versions.ok()) {
    const std::int64_t now = std::time(nullptr);
    const std::size_t n = versions->size();
    for (std::size_t i = 0; i + static_cast<std::size_t>(options.keep) < n;
         ++i) {
      const std::string next =
          repo + "/versions/" + VersionName((*versions)[i + 1]);
      if (now - MtimeSeconds(next + "/MANIFEST") >= options.grace_seconds) {
        RemoveAll(repo + "/versions/" + VersionName((*versions)[i]));
        result.removed.push_back((*versions)[i]);
      }
    }
  }
  return result;
}

// ------------------------------------------------------------------- follow

namespace {

// Fetches version `v` of `repo` into local/versions/, checked.
absl::Status Fetch(const std::string& repo, std::uint64_t v,
                   const std::string& local) {
  const std::string src = repo + "/versions/" + VersionName(v);
  if (!Exists(src)) {
    return absl::NotFoundError(
        absl::StrFormat("version %d is not in repository %s", v, repo));
  }
  absl::StatusOr<std::string> text = ReadSmallFile(src + "/MANIFEST");
  if (!text.ok()) return text.status();
  absl::StatusOr<Manifest> m = DecodeManifest(*text, src + "/MANIFEST");
  if (!m.ok()) return m.status();
  if (m->version != v) {
    return absl::DataLossError(
        absl::StrFormat("%s/MANIFEST names version %d", src, m->version));
  }
  const std::string tmp = absl::StrFormat("%s/tmp/%d.%d", local, v, getpid());
  RemoveAll(tmp);
  absl::Status s = MakeDir(tmp);
  auto fail = [&](absl::Status err) {
    RemoveAll(tmp);
    return err;
  };
  if (!s.ok()) return fail(s);
  for (const Manifest::File& f : m->files) {
    const std::string from = src + "/" + f.name;
    absl::StatusOr<FileSum> got = CopyHashed(from, tmp + "/" + f.name);
    if (!got.ok()) return fail(got.status());
    if (got->size != f.sum.size) {
      return fail(absl::DataLossError(
          absl::StrFormat("%s is %d bytes; the manifest says %d", from,
                          got->size, f.sum.size)));
    }
    if (got->hash != f.sum.hash) {
      return fail(absl::DataLossError(absl::StrFormat(
          "%s fails its checksum (%016x; the manifest says %016x)", from,
          got->hash, f.sum.hash)));
    }
  }
  s = WriteFileAtomic(tmp, "MANIFEST", *text);
  if (!s.ok()) return fail(s);
  absl::StatusOr<std::vector<RootInfo>> roots = VerifyCopy(tmp);
  if (!roots.ok()) {
    return fail(
        absl::Status(roots.status().code(),
                     absl::StrFormat("version %d of %s: %s", v, repo,
                                     std::string(roots.status().message()))));
  }
  if (roots->size() != m->roots.size()) {
    return fail(absl::DataLossError(
        absl::StrFormat("version %d of %s has %d roots; its manifest lists %d",
                        v, repo, roots->size(), m->roots.size())));
  }
  const std::string dest = local + "/versions/" + VersionName(v);
  RemoveAll(dest);  // A fetch that was killed after its rename.
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    return fail(FileError(errno, "rename " + tmp + " to " + dest));
  }
  return Fsync(local + "/versions");
}

}  // namespace

absl::StatusOr<FollowResult> FollowOnce(const std::string& repo,
                                        const std::string& local) {
  absl::Status s = MakeLayout(local, kLocalFormat);
  if (!s.ok()) return s;
  absl::StatusOr<std::unique_ptr<DirLock>> lock = DirLock::Take(local);
  if (!lock.ok()) return lock.status();
  RemoveStaleTmp(local, 24 * 3600);
  absl::StatusOr<std::optional<std::uint64_t>> pinned =
      ReadVersionFile(local + "/PIN");
  if (!pinned.ok()) return pinned.status();
  absl::StatusOr<std::optional<std::uint64_t>> current =
      ReadVersionFile(local + "/CURRENT");
  if (!current.ok()) return current.status();
  std::uint64_t target;
  if (*pinned) {
    target = **pinned;
  } else {
    if (!Exists(repo + "/FORMAT")) {
      return absl::NotFoundError(Cat("no ancient repository at ", repo));
    }
    absl::StatusOr<std::optional<std::uint64_t>> announced =
        ReadVersionFile(repo + "/ANNOUNCE");
    if (!announced.ok()) return announced.status();
    if (!*announced) {
      return absl::NotFoundError(Cat("nothing is announced in ", repo));
    }
    target = **announced;
  }
  FollowResult result;
  result.version = target;
  if (*current != target) {
    const std::string dest = local + "/versions/" + VersionName(target);
    // A version in place was checked before its rename; else fetch it.
    if (!Exists(dest + "/MANIFEST")) {
      s = Fetch(repo, target, local);
      if (!s.ok()) return s;
    }
    s = WriteFileAtomic(local, "CURRENT", VersionFileText(target));
    if (!s.ok()) return s;
    result.switched = true;
  }
  // Versions nobody reads any more. A process may still have one mapped
  // without a snapshot: unlinked files stay readable to it, and a Replica
  // moves to CURRENT at its next call.
  absl::StatusOr<std::vector<std::uint64_t>> versions =
      ListVersions(local + "/versions");
  if (versions.ok()) {
    for (const std::uint64_t v : *versions) {
      if (v == target) continue;
      const std::string dir = local + "/versions/" + VersionName(v);
      if (ReadersOf(dir) == 0) {
        RemoveAll(dir);
        result.removed.push_back(v);
      }
    }
  }
  return result;
}

absl::Status SetPin(const std::string& local,
                    std::optional<std::uint64_t> version) {
  absl::Status s = MakeLayout(local, kLocalFormat);
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

absl::StatusOr<ReplicaStatus> GetReplicaStatus(const std::string& dir) {
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
  if (!st.is_repository && *format != kLocalFormat) {
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
    info.bytes = DirBytes(path);
    info.mtime = MtimeSeconds(path + "/MANIFEST");
    if (!st.is_repository) info.readers = ReadersOf(path);
    st.versions.push_back(info);
  }
  return st;
}

// ------------------------------------------------------------------ Replica

absl::StatusOr<std::unique_ptr<Replica>> Replica::Open(
    const std::string& local, const ReplicaOptions& options) {
  std::unique_ptr<Replica> r(new Replica(local, options));
  absl::StatusOr<std::optional<std::uint64_t>> current =
      ReadVersionFile(local + "/CURRENT");
  if (!current.ok()) return current.status();
  if (!*current) {
    return absl::NotFoundError(
        Cat("no current version in ", local, " (run a follower first)"));
  }
  absl::StatusOr<std::unique_ptr<Store>> s =
      OpenExisting(local + "/versions/" + VersionName(**current),
                   options.convert_types);
  if (!s.ok()) return s.status();
  // CURRENT's stamp stays unset: the first call reads it again (and moves
  // on if it changed meanwhile).
  r->store_ = std::shared_ptr<Store>(*std::move(s));
  r->version_ = **current;
  return r;
}

std::shared_ptr<Store> Replica::CurrentStore() const {
  std::lock_guard<std::mutex> lock(mu_);  // store_ is never null (Open).
  const std::string path = local_ + "/CURRENT";
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return store_;
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
    absl::StatusOr<std::unique_ptr<Store>> s =
        OpenExisting(local_ + "/versions/" + VersionName(**v),
                     options_.convert_types);
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
  return version_;
}

}  // namespace ancient
