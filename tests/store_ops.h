// The deterministic sequence of write operations that the crash and
// concurrency tests run, a model of the store it should leave, and what
// their helper processes share: reading every value back, and failing.

#ifndef ANCIENT_TESTS_STORE_OPS_H_
#define ANCIENT_TESTS_STORE_OPS_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "ancient/hash.h"
#include "store/store.h"
#include "tests/parallel_graph.h"
#include "tests/test_util.h"

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

// The write path the value of op `seq` takes when a writer runs all three
// (store_helper writer ... paths; crash_torture): MakeValue, a vector of
// strings, in two passes; a few records (parallel_graph::MakeRecs), in one
// pass on one thread; 1,500 records, marked on two threads.
enum class WritePath { kTwoPass, kOnePass, kParallel };
inline WritePath PathOf(std::uint64_t seq) {
  return static_cast<WritePath>(seq % 3);
}
// The records of a value written on the one-pass or parallel path: under
// the 64 queued tasks that start other threads, or well past them.
inline std::size_t RecordsOf(std::uint64_t seq) {
  return PathOf(seq) == WritePath::kOnePass ? 20 + seq % 40 : 1500;
}

// key -> seq of its value.
using Model = std::map<std::string, std::uint64_t>;

inline void Apply(const Op& op, Model& m) {
  for (const auto& [key, seq] : op.shares) m[key] = seq;
  // The writer shares first, then deletes, in one transaction.
  for (const auto& key : op.deletes) m.erase(key);
}

// Reads every value of `store` (each a MakeValue) snapshot by snapshot for
// `millis`, checking each; counts them in *reads. DataLoss naming the key
// of a torn value; the store's error when a read fails.
inline absl::Status ReadAndCheckFor(ancient::Store& store, int millis,
                                    std::uint64_t* reads) {
  const auto end =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
  while (std::chrono::steady_clock::now() < end) {
    auto snap = store.Read();
    if (!snap.ok()) return snap.status();
    auto keys = snap->Keys();
    if (!keys.ok()) return keys.status();
    for (const auto& key : *keys) {
      auto v = snap->Get<std::vector<std::string>>(key);
      if (!v.ok()) return v.status();
      if (CheckValue(**v) < 0) return absl::DataLossError("TORN " + key);
      ++*reads;
    }
  }
  return absl::OkStatus();
}

// A helper process's failure: "ERROR what: message" on stdout; exit code 2.
inline int HelperFail(const std::string& what, const absl::Status& s) {
  std::printf("ERROR %s: %s\n", what.c_str(), std::string(s.message()).c_str());
  std::fflush(stdout);
  return 2;
}

}  // namespace ancient_test

#endif  // ANCIENT_TESTS_STORE_OPS_H_
