// For the replica tests: versions of many roots whose consistency a reader
// can check on every read. Version `seq` of a store holds `roots` roots
// "r000".. (each a MakeValue of the seq that last changed it; each version
// changes a third of them) and "meta" = {seq, the seq of each root}. A
// snapshot mixing two versions shows as a root whose value is not the seq
// "meta" names, or a "meta" of one version beside roots of another.

#ifndef ANCIENT_REPLICA_MULTI_ROOT_TESTING_H_
#define ANCIENT_REPLICA_MULTI_ROOT_TESTING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "store/store.h"
#include "tests/store_ops.h"

namespace ancient_test {

inline std::string RootKey(int i) { return absl::StrFormat("r%03d", i); }

// Whether version `seq` changes root i (version 0 writes all of them).
inline bool ChangedIn(std::uint64_t seq, int i) {
  return seq == 0 || (static_cast<std::uint64_t>(i) + seq) % 3 == 0;
}

// Commits version `seq` to `store` in one batch.
inline absl::Status WriteMultiRoot(ancient::Store& store, std::uint64_t seq,
                                   int roots, std::size_t strings) {
  auto batch = store.Write();
  if (!batch.ok()) return batch.status();
  std::vector<std::int64_t> meta{static_cast<std::int64_t>(seq)};
  for (int i = 0; i < roots; ++i) {
    std::uint64_t last = seq;
    while (!ChangedIn(last, i)) --last;
    meta.push_back(static_cast<std::int64_t>(last));
    if (last == seq) {
      auto info = batch->Share(RootKey(i), MakeValue(seq, strings));
      if (!info.ok()) return info.status();
    }
  }
  auto info = batch->Share("meta", meta);
  if (!info.ok()) return info.status();
  return batch->Commit();
}

// The seq of the one version `snapshot` holds; DataLoss naming the root
// when its roots come from more than one version (or are torn).
inline absl::StatusOr<std::int64_t> CheckMultiRoot(
    const ancient::Snapshot& snapshot, int roots) {
  auto meta = snapshot.Get<std::vector<std::int64_t>>("meta");
  if (!meta.ok()) return meta.status();
  const auto& m = **meta;
  if (m.size() != static_cast<std::size_t>(roots) + 1) {
    return absl::DataLossError("MIXED meta of the wrong size");
  }
  for (int i = 0; i < roots; ++i) {
    auto v = snapshot.Get<std::vector<std::string>>(RootKey(i));
    if (!v.ok()) return v.status();
    const std::int64_t got = CheckValue(**v);
    if (got != m[i + 1]) {
      return absl::DataLossError(
          absl::StrFormat("MIXED %s holds seq %d where version seq %d says %d",
                          RootKey(i), got, m[0], m[i + 1]));
    }
  }
  return m[0];
}

}  // namespace ancient_test

#endif  // ANCIENT_REPLICA_MULTI_ROOT_TESTING_H_
