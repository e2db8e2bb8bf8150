// Internal: a published version's MANIFEST (replica/publish.cc,
// replica/follow.cc). Two formats, told apart by the first line; one line a
// fact, keys and descriptions hex-encoded (any bytes), type names last
// (they hold spaces).
//
// Format 1 (whole copies, written before root objects existed; still read):
//   ancient-manifest 1
//   version N
//   file NAME SIZE XXH3-HEX            data.mdb and arena of versions/N/
//   root KEY-HEX TYPE-ID-HEX SIZE TYPE NAME...
// Format 2 (root objects: REPO/objects/<OBJECT>, see replica.h):
//   ancient-manifest 2
//   version N
//   new_bytes B                        objects this version added
//   type TYPE-ID-HEX DESCRIPTION-HEX   one per type its roots use
//   root KEY-HEX TYPE-ID-HEX GRAPH RELOC OBJECT SOURCE-HEX TYPE NAME...
// OBJECT is the XXH3-128 (32 hex digits) of the object's bytes: the graph
// then its relocation record (GRAPH + RELOC bytes), pointers written for
// kObjectBase. SOURCE names where the publisher read it (a hash of the
// source root record), so that the next publish of the same store finds
// the unchanged roots without reading them.

#ifndef ANCIENT_REPLICA_MANIFEST_H_
#define ANCIENT_REPLICA_MANIFEST_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replica/file_util.h"
#include "store/options.h"

namespace ancient::replica_internal {

// The files of a format-1 version, as published (lock.mdb is per host).
inline constexpr const char* kVersionFiles[] = {"arena", "data.mdb"};

// The address an object's pointers are written for: not 0, so that a
// pointer to the graph's first byte is never mistaken for null.
inline constexpr std::uintptr_t kObjectBase = std::uintptr_t{1} << 44;

// A root of a format-2 version.
struct ObjectRoot {
  std::string key;
  std::string type_name;
  std::uint64_t type_id = 0;
  std::uint64_t graph_size = 0;
  std::uint64_t reloc_size = 0;
  std::string object;  // 32 hex digits
  std::uint64_t source = 0;
  std::uint64_t object_size() const { return graph_size + reloc_size; }
};

struct Manifest {
  int format = 2;
  std::uint64_t version = 0;
  // Format 1.
  struct File {
    std::string name;
    FileSum sum;
  };
  std::vector<File> files;
  std::vector<RootInfo> roots;
  // Format 2.
  std::uint64_t new_bytes = 0;
  std::map<std::uint64_t, std::string> types;  // id -> description
  std::vector<ObjectRoot> objects;

  // The version's bytes: its files (1) or its objects (2).
  std::uint64_t bytes() const;
};

std::string EncodeManifest(const Manifest& m);
// DataLoss naming `path` for a malformed manifest: an unknown first line,
// a bad line, no version, a format-1 one lacking one of kVersionFiles, a
// format-2 root whose type is not listed or whose object name is not 32
// hex digits.
absl::StatusOr<Manifest> DecodeManifest(const std::string& text,
                                        const std::string& path);

// The hex name of `bytes`' XXH3-128.
std::string ObjectName(const void* bytes, std::size_t size);

}  // namespace ancient::replica_internal

#endif  // ANCIENT_REPLICA_MANIFEST_H_
