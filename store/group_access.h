// Who may read a store: the owner alone (the default), or the owner and a
// group (StoreOptions::group), as PostgreSQL's `initdb -g` and systemd's
// `StateDirectoryMode=` do it.
//
// A store for a group: its directory is owned by that group, mode 2750
// (set-group-ID, so every file created in it later belongs to the group);
// data.mdb and arena are 0640 (the group reads, only the owner writes);
// lock.mdb, LMDB's reader table, is 0660, the one file readers must write
// (a reader in the group opens read-only and registers its snapshot
// there). Accounts outside the group cannot enter the directory:
// PermissionDenied naming it. The same applies to a local replica
// directory (FollowOptions::group) and a directory repository
// (PublishOptions::group), whose other files need only be readable.
//
// What a reader may trust when the writer is another account: a graph is
// checked against its checksum, pointers and type as far as the read asks
// (GetVerified, Verify), so damage and accidents are caught; but an account
// that can write the store can write any well-formed graph, so readers
// trust the owner and, if the data files are group-writable, the group.
// InspectAccess reports a store whose files are writable by anyone else.

#ifndef ANCIENT_STORE_GROUP_ACCESS_H_
#define ANCIENT_STORE_GROUP_ACCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ancient {

struct FileAccess {
  std::string name;        // relative to the directory ("." for itself)
  std::uint32_t mode = 0;  // permission bits (07777)
  bool is_dir = false;
  std::string owner;
  std::string group;
};

struct AccessReport {
  std::string owner;  // of the directory
  std::string group;
  bool group_readable = false;    // the group may read (group access)
  std::vector<FileAccess> files;  // the directory, then its files
  // Why the store is unsafe to read from another account: each entry
  // names a file writable by accounts outside its owner and group.
  std::vector<std::string> unsafe;
};

// The access of `dir` (a store, a local replica directory or a repository)
// and of the files directly in it (and in LOCAL/store/).
// Errors: NotFound, PermissionDenied, naming `dir`.
absl::StatusOr<AccessReport> InspectAccess(const std::string& dir);

// "drwxr-s---" for a mode (with the type of file given by `dir`).
std::string ModeString(std::uint32_t mode, bool dir);

// Gives `group` read access to `dir` and everything under it: group owner
// `group`, directories 2750 (set-group-ID: files created later belong to
// the group), files group-readable, and lock.mdb files group-writable
// (LMDB's reader table). Errors: InvalidArgument (no such group),
// PermissionDenied (this account may not give files to that group: it is
// not a member, or does not own them), naming the file and the group.
absl::Status GrantGroup(const std::string& dir, const std::string& group);

// GrantGroup unless `dir` is the group's already (owned by the group,
// set-group-ID, group-readable: files made in it since belong to the
// group); nothing for an empty group. Errors: GrantGroup's.
absl::Status EnsureGroup(const std::string& dir, const std::string& group);

// The id of group `name`. Errors: InvalidArgument (no such group).
absl::StatusOr<gid_t> GroupId(const std::string& name);

}  // namespace ancient

#endif  // ANCIENT_STORE_GROUP_ACCESS_H_
