// For the replica tests: a source store opened fast (kNoSync), and the seq
// of the MakeValue a host holds at a key.

#ifndef ANCIENT_REPLICA_REPLICA_TESTING_H_
#define ANCIENT_REPLICA_REPLICA_TESTING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "replica/replica.h"
#include "store/store.h"
#include "tests/test_util.h"

namespace ancient_test {

// A store at `dir` (created if missing) that commits without syncing.
inline std::unique_ptr<ancient::Store> OpenStore(const std::string& dir) {
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto s = ancient::Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

// The seq of MakeValue at `key` in `local`'s current version; -1 absent,
// -2 no replica, -3 not a sound MakeValue.
inline std::int64_t SeqAt(const std::string& local, const std::string& key) {
  auto r = ancient::Replica::Open(local);
  if (!r.ok()) return -2;
  auto v = (*r)->GetVerified<std::vector<std::string>>(key);
  if (absl::IsNotFound(v.status())) return -1;
  return v.ok() ? CheckValue(**v) : -3;
}

}  // namespace ancient_test

#endif  // ANCIENT_REPLICA_REPLICA_TESTING_H_
