// Group access to stores and replica directories; see group_access.h.

#include "store/group_access.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace ancient {
namespace {

std::string NameOfUser(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw, *out = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &out) == 0 && out) {
    return out->pw_name;
  }
  return std::to_string(uid);
}

std::string NameOfGroup(gid_t gid) {
  std::vector<char> buf(16384);
  struct group gr, *out = nullptr;
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &out) == 0 && out) {
    return out->gr_name;
  }
  return std::to_string(gid);
}

absl::Status Errno(int err, const std::string& what) {
  const std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

// One file's access, and why it is unsafe if it is.
FileAccess Describe(const std::string& path, const std::string& name,
                    const struct stat& st, std::vector<std::string>* unsafe) {
  FileAccess f{name, static_cast<std::uint32_t>(st.st_mode & 07777),
               S_ISDIR(st.st_mode), NameOfUser(st.st_uid),
               NameOfGroup(st.st_gid)};
  if (st.st_mode & S_IWOTH) {
    unsafe->push_back(absl::StrCat(path, " is writable by every account (",
                                   ModeString(st.st_mode, S_ISDIR(st.st_mode)),
                                   ")"));
  }
  return f;
}

}  // namespace

std::string ModeString(std::uint32_t mode, bool dir) {
  std::string s = dir ? "d" : "-";
  const char* rwx = "rwx";
  for (int i = 8; i >= 0; --i) s += (mode & (1u << i)) ? rwx[(8 - i) % 3] : '-';
  if (mode & S_ISGID) s[6] = (mode & S_IXGRP) ? 's' : 'S';
  if (mode & S_ISUID) s[3] = (mode & S_IXUSR) ? 's' : 'S';
  if (mode & S_ISVTX) s[9] = (mode & S_IXOTH) ? 't' : 'T';
  return s;
}

absl::StatusOr<gid_t> GroupId(const std::string& name) {
  std::vector<char> buf(16384);
  struct group gr, *out = nullptr;
  const int rc = getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &out);
  if (rc != 0 || out == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("no group named '", name, "' on this host"));
  }
  return out->gr_gid;
}

absl::StatusOr<AccessReport> InspectAccess(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return Errno(errno, "stat " + dir);
  AccessReport r;
  r.owner = NameOfUser(st.st_uid);
  r.group = NameOfGroup(st.st_gid);
  r.group_readable = (st.st_mode & S_IRGRP) && (st.st_mode & S_IXGRP);
  r.files.push_back(Describe(dir, ".", st, &r.unsafe));
  std::error_code ec;
  for (const std::string& sub : {std::string(), std::string("store/")}) {
    for (const auto& e :
         std::filesystem::directory_iterator(dir + "/" + sub, ec)) {
      const std::string name = sub + e.path().filename().string();
      const std::string path = dir + "/" + name;
      struct stat fs;
      if (::lstat(path.c_str(), &fs) != 0) continue;
      r.files.push_back(Describe(path, name, fs, &r.unsafe));
    }
  }
  return r;
}

absl::Status GrantGroup(const std::string& dir, const std::string& group) {
  absl::StatusOr<gid_t> gid = GroupId(group);
  if (!gid.ok()) {
    return absl::Status(
        gid.status().code(),
        absl::StrCat(gid.status().message(), " (for ", dir, ")"));
  }
  auto grant = [&](const std::string& path) -> absl::Status {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return Errno(errno, "stat " + path);
    if (S_ISLNK(st.st_mode)) return absl::OkStatus();
    if (st.st_gid != *gid && ::chown(path.c_str(), -1, *gid) != 0) {
      return Errno(errno,
                   absl::StrCat("giving ", path, " to group '", group, "'"));
    }
    mode_t mode = st.st_mode & 07777;
    if (S_ISDIR(st.st_mode)) {
      mode = (mode & ~07077) | S_ISGID | S_IRGRP | S_IXGRP;
    } else {
      mode = (mode & ~07077) | S_IRGRP;
      if (std::filesystem::path(path).filename() == "lock.mdb") {
        mode |= S_IWGRP;  // LMDB's reader table: readers register there.
      }
    }
    if (::chmod(path.c_str(), mode) != 0) {
      return Errno(errno, absl::StrCat("chmod ", path));
    }
    return absl::OkStatus();
  };
  absl::Status s = grant(dir);
  if (!s.ok()) return s;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    s = grant(it->path().string());
    if (!s.ok()) return s;
  }
  if (ec) return Errno(ec.value(), "listing " + dir);
  return absl::OkStatus();
}

absl::Status EnsureGroup(const std::string& dir, const std::string& group) {
  if (group.empty()) return absl::OkStatus();
  absl::StatusOr<gid_t> gid = GroupId(group);
  if (!gid.ok()) return gid.status();
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0 && st.st_gid == *gid &&
      (st.st_mode & S_ISGID) && (st.st_mode & S_IRGRP)) {
    return absl::OkStatus();
  }
  return GrantGroup(dir, group);
}

}  // namespace ancient
