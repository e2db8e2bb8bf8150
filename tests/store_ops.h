// The deterministic sequence of write operations that the crash and
// concurrency tests run, and a model of the store it should leave.

#ifndef ANCIENT_TESTS_STORE_OPS_H_
#define ANCIENT_TESTS_STORE_OPS_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "ancient/hash.h"

namespace ancient_test {

// One committed write transaction.
struct Op {
  std::vector<std::pair<std::string, std::uint64_t>> shares;  // key, seq
  std::vector<std::string> deletes;
  std::size_t size = 0;  // strings per value
};

inline Op OpAt(std::uint64_t i) {
  const std::uint64_t h = ancient::internal::Mix64(i + 1);
  Op op;
  op.size = 10 + (h >> 20) % 300;
  const std::string key = "k" + std::to_string(h % 16);
  switch (i % 10) {
    case 9:  // A delete.
      op.deletes.push_back(key);
      break;
    case 5:  // A batch: two shares and a delete, atomically.
      op.shares.emplace_back(key, i);
      op.shares.emplace_back("b" + std::to_string(i % 4), i);
      op.deletes.push_back("k" + std::to_string((h >> 8) % 16));
      break;
    default:
      op.shares.emplace_back(key, i);
  }
  return op;
}

// key -> seq of its value.
using Model = std::map<std::string, std::uint64_t>;

inline void Apply(const Op& op, Model& m) {
  for (const auto& [key, seq] : op.shares) m[key] = seq;
  // The writer shares first, then deletes, in one transaction.
  for (const auto& key : op.deletes) m.erase(key);
}

}  // namespace ancient_test

#endif  // ANCIENT_TESTS_STORE_OPS_H_
