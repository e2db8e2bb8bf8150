#include "replica/file_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_format.h"
#include "store/lmdb_util.h"

namespace ancient::replica_internal {

using store_internal::Cat;

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

absl::StatusOr<std::unique_ptr<DirLock>> DirLock::Take(const std::string& dir) {
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

}  // namespace ancient::replica_internal
