// Internal: a published version's MANIFEST (store/replica.cc): its files
// with sizes and checksums, and its roots.
//
// One line a fact; keys hex-encoded (any bytes), type names last (spaces):
//   ancient-manifest 1
//   version N
//   file NAME SIZE XXH3-HEX
//   root KEY-HEX TYPE-ID-HEX SIZE TYPE NAME...

#ifndef ANCIENT_STORE_MANIFEST_H_
#define ANCIENT_STORE_MANIFEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "store/file_util.h"
#include "store/options.h"

namespace ancient::store_internal {

// The files of a version, as published (lock.mdb is per host).
inline constexpr const char* kVersionFiles[] = {"arena", "data.mdb"};

struct Manifest {
  std::uint64_t version = 0;
  struct File {
    std::string name;
    FileSum sum;
  };
  std::vector<File> files;
  std::vector<RootInfo> roots;
};

std::string EncodeManifest(const Manifest& m);
// DataLoss naming `path` for a malformed manifest, or one that lacks a
// version or one of kVersionFiles.
absl::StatusOr<Manifest> DecodeManifest(const std::string& text,
                                        const std::string& path);

}  // namespace ancient::store_internal

#endif  // ANCIENT_STORE_MANIFEST_H_
