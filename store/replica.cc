// Publish, follow and read versions of a store; see replica.h.

#include "store/replica.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "store/lmdb_util.h"

namespace ancient {
namespace {

using store_internal::Cat;

constexpr char kRepoFormat[] = "ancient-repository 1\n";
constexpr char kLocalFormat[] = "ancient-local 1\n";
constexpr char kManifestHeader[] = "ancient-manifest 1";
// The files of a version, as published (lock.mdb is per host).
constexpr const char* kVersionFiles[] = {"arena", "data.mdb"};

// errno as a Status naming `what`; a network file system's transient
// failures are Unavailable (try again later), the rest as the store maps
// them (ENOSPC: ResourceExhausted, ENOENT: NotFound, EACCES: ...).
absl::Status FileError(int err, const std::string& what) {
  switch (err) {
    case ETIMEDOUT:
    case EHOSTDOWN:
    case EHOSTUNREACH:
    case ENOTCONN:
    case ESTALE:
    case ECONNREFUSED:
    case ECONNRESET:
      return absl::UnavailableError(Cat(what, ": ", std::strerror(err)));
    default:
      return store_internal::LmdbError(err, what);
  }
}

std::string VersionName(std::uint64_t v) { return absl::StrFormat("%010d", v); }

// A file descriptor closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now, reporting the error (a late write error shows up here).
  absl::Status Close(const std::string& path) {
    const int fd = fd_;
    fd_ = -1;
    if (fd >= 0 && ::close(fd) != 0) return FileError(errno, "close " + path);
    return absl::OkStatus();
  }

 private:
  int fd_;
};

absl::Status Fsync(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return FileError(errno, "open " + path);
  if (::fsync(fd.get()) != 0) return FileError(errno, "fsync " + path);
  return absl::OkStatus();
}

absl::Status MakeDir(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) {
    return FileError(errno, "mkdir " + path);
  }
  return absl::OkStatus();
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

absl::Status WriteAll(int fd, const char* p, std::size_t n,
                      const std::string& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return FileError(errno, "write " + path);
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return absl::OkStatus();
}

// Replaces dir/name with `content` atomically and durably: a reader sees
// the old file or the new one, never a part.
absl::Status WriteFileAtomic(const std::string& dir, const std::string& name,
                             const std::string& content) {
  const std::string path = dir + "/" + name;
  const std::string tmp = absl::StrFormat("%s.tmp.%d", path, getpid());
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (fd.get() < 0) return FileError(errno, "create " + tmp);
    absl::Status s = WriteAll(fd.get(), content.data(), content.size(), tmp);
    if (s.ok() && ::fsync(fd.get()) != 0) s = FileError(errno, "fsync " + tmp);
    if (s.ok()) s = fd.Close(tmp);
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const absl::Status s = FileError(errno, "rename " + tmp + " to " + path);
    ::unlink(tmp.c_str());
    return s;
  }
  return Fsync(dir);
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return FileError(errno, "open " + path);
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FileError(errno, "read " + path);
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > (std::size_t{64} << 20)) {
      return absl::DataLossError(Cat(path, " is implausibly large"));
    }
  }
  return out;
}

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

// The entries of dir other than "." and "..".
std::vector<std::string> ListNames(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(d);
  return out;
}

void RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

std::int64_t MtimeSeconds(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? st.st_mtime : 0;
}

// An exclusive lock on dir/LOCK, held while alive.
class DirLock {
 public:
  static absl::StatusOr<std::unique_ptr<DirLock>> Take(const std::string& dir) {
    const std::string path = dir + "/LOCK";
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return FileError(errno, "open " + path);
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) {
        const absl::Status s = FileError(errno, "flock " + path);
        ::close(fd);
        return s;
      }
    }
    return std::unique_ptr<DirLock>(new DirLock(fd));
  }
  ~DirLock() { ::close(fd_); }

 private:
  explicit DirLock(int fd) : fd_(fd) {}
  int fd_;
};

// A file's size and XXH3-64, read in full.
struct FileSum {
  std::uint64_t size = 0;
  std::uint64_t hash = 0;
};

// Copies src to dst (when dst is non-empty; durably) while hashing it.
absl::StatusOr<FileSum> CopyHashed(const std::string& src,
                                   const std::string& dst) {
  Fd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.get() < 0) return FileError(errno, "open " + src);
  Fd out(dst.empty() ? -1
                     : ::open(dst.c_str(),
                              O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!dst.empty() && out.get() < 0) return FileError(errno, "create " + dst);
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  std::vector<char> buf(1 << 20);
  FileSum sum;
  absl::Status s;
  while (s.ok()) {
    const ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s = FileError(errno, "read " + src);
      break;
    }
    if (n == 0) break;
    XXH3_64bits_update(state, buf.data(), static_cast<std::size_t>(n));
    sum.size += static_cast<std::uint64_t>(n);
    if (out.get() >= 0) {
      s = WriteAll(out.get(), buf.data(), static_cast<std::size_t>(n), dst);
    }
  }
  sum.hash = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  if (s.ok() && out.get() >= 0 && ::fsync(out.get()) != 0) {
    s = FileError(errno, "fsync " + dst);
  }
  if (s.ok() && out.get() >= 0) s = out.Close(dst);
  if (!s.ok()) return s;
  return sum;
}

// ---------------------------------------------------------------- manifest

struct Manifest {
  std::uint64_t version = 0;
  struct File {
    std::string name;
    FileSum sum;
  };
  std::vector<File> files;
  std::vector<RootInfo> roots;
};

std::string HexEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += absl::StrFormat("%02x", c);
  return out;
}

bool HexDecode(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int v = 0;
    for (char c : hex.substr(i, 2)) {
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else
        return false;
    }
    out->push_back(static_cast<char>(v));
  }
  return true;
}

// One line a fact; keys hex-encoded (any bytes), type names last (spaces).
//   ancient-manifest 1
//   version N
//   file NAME SIZE XXH3-HEX
//   root KEY-HEX TYPE-ID-HEX SIZE TYPE NAME...
std::string EncodeManifest(const Manifest& m) {
  std::string out = Cat(kManifestHeader, "\n", "version ", m.version, "\n");
  for (const auto& f : m.files) {
    out +=
        absl::StrFormat("file %s %d %016x\n", f.name, f.sum.size, f.sum.hash);
  }
  for (const auto& r : m.roots) {
    out += absl::StrFormat("root %s %016x %d %s\n", HexEncode(r.key), r.type_id,
                           r.size_bytes, r.type_name);
  }
  return out;
}

absl::StatusOr<Manifest> DecodeManifest(const std::string& text,
                                        const std::string& path) {
  Manifest m;
  auto bad = [&](std::string_view line) {
    return absl::DataLossError(
        Cat("bad manifest ", path, ": '", line.substr(0, 80), "'"));
  };
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (lines.empty() || lines[0] != kManifestHeader) {
    return bad(lines.empty() ? "" : lines[0]);
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty()) continue;
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(' ', 4));
    if (f[0] == "version" && f.size() == 2) {
      if (!absl::SimpleAtoi(f[1], &m.version)) return bad(line);
    } else if (f[0] == "file" && f.size() == 4) {
      Manifest::File file{f[1], {}};
      if (!absl::SimpleAtoi(f[2], &file.sum.size) ||
          !absl::SimpleHexAtoi(f[3], &file.sum.hash) ||
          file.name.find('/') != std::string::npos) {
        return bad(line);
      }
      m.files.push_back(std::move(file));
    } else if (f[0] == "root" && f.size() == 5) {
      RootInfo r;
      if (!HexDecode(f[1], &r.key) || !absl::SimpleHexAtoi(f[2], &r.type_id) ||
          !absl::SimpleAtoi(f[3], &r.size_bytes)) {
        return bad(line);
      }
      r.type_name = f[4];
      m.roots.push_back(std::move(r));
    } else {
      return bad(line);
    }
  }
  for (const char* name : kVersionFiles) {
    if (std::none_of(m.files.begin(), m.files.end(),
                     [&](const Manifest::File& f) { return f.name == name; })) {
      return absl::DataLossError(
          Cat("bad manifest ", path, ": no '", name, "' listed"));
    }
  }
  if (m.version == 0) return bad("(no version)");
  return m;
}

// Opens an existing store read-only.
absl::StatusOr<std::unique_ptr<Store>> OpenExisting(const std::string& dir) {
  StoreOptions o;
  o.read_only = true;
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

std::uint64_t DirBytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const std::string& name : ListNames(dir)) {
    struct stat st;
    if (::stat((dir + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      total += static_cast<std::uint64_t>(st.st_size);
    }
  }
  return total;
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
    if (*version == 0) return absl::InvalidArgumentError("version 0");
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
    const std::string& local) {
  std::unique_ptr<Replica> r(new Replica(local));
  absl::StatusOr<std::optional<std::uint64_t>> current =
      ReadVersionFile(local + "/CURRENT");
  if (!current.ok()) return current.status();
  if (!*current) {
    return absl::NotFoundError(
        Cat("no current version in ", local, " (run a follower first)"));
  }
  absl::StatusOr<std::unique_ptr<Store>> s =
      OpenExisting(local + "/versions/" + VersionName(**current));
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
        OpenExisting(local_ + "/versions/" + VersionName(**v));
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

absl::StatusOr<std::vector<std::string>> Replica::Keys(
    std::string_view prefix) const {
  return CurrentStore()->Keys(prefix);
}

std::uint64_t Replica::version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return version_;
}

}  // namespace ancient
