// Internal: the file operations of replication (replica/replica.cc): errno
// as a Status, atomic and durable small files, directory locks, copying
// while hashing. Every error names the file.

#ifndef ANCIENT_REPLICA_FILE_UTIL_H_
#define ANCIENT_REPLICA_FILE_UTIL_H_

#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ancient::replica_internal {

// errno as a Status naming `what`; a network file system's transient
// failures are Unavailable (try again later), the rest as the store maps
// them (ENOSPC: ResourceExhausted, ENOENT: NotFound, EACCES: ...).
absl::Status FileError(int err, const std::string& what);

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

// fsync of a file or directory.
absl::Status Fsync(const std::string& path);
// mkdir (0755); an existing directory is fine.
absl::Status MakeDir(const std::string& path);
bool Exists(const std::string& path);
// write(2) until all `n` bytes are written (EINTR retried).
absl::Status WriteAll(int fd, const char* p, std::size_t n,
                      const std::string& path);
// Replaces dir/name with `content` atomically and durably: a reader sees
// the old file or the new one, never a part.
absl::Status WriteFileAtomic(const std::string& dir, const std::string& name,
                             const std::string& content);
// A whole file of at most 64 MiB (DataLoss past that).
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);
// The entries of dir other than "." and ".." (none if unreadable).
std::vector<std::string> ListNames(const std::string& dir);
// Removes a file or a tree; errors ignored.
void RemoveAll(const std::string& path);
// A file's mtime in seconds; 0 if it cannot be read.
std::int64_t MtimeSeconds(const std::string& path);
// The bytes of the regular files directly in dir.
std::uint64_t DirBytes(const std::string& dir);

// An exclusive lock on dir/LOCK, held while alive.
class DirLock {
 public:
  static absl::StatusOr<std::unique_ptr<DirLock>> Take(const std::string& dir);
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
                                   const std::string& dst);

}  // namespace ancient::replica_internal

#endif  // ANCIENT_REPLICA_FILE_UTIL_H_
