// A pointer-rich value for the parallel-Share kill test: records owned by
// unique_ptr and indexed by raw pointers (so they go through the sharing
// table), every one derived from a sequence number, so that a reader can
// tell a whole value from a torn one.

#ifndef ANCIENT_TESTS_PARALLEL_GRAPH_H_
#define ANCIENT_TESTS_PARALLEL_GRAPH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ancient/ancient.h"

namespace parallel_graph {
struct Rec {
  std::string name;
  std::vector<std::int64_t> nums;
};
struct Recs {
  std::int64_t seq = 0;
  std::vector<std::unique_ptr<Rec>> recs;
  std::vector<const Rec*> index;  // recs in reverse order
};
}  // namespace parallel_graph
ANCIENT_STRUCT(parallel_graph::Rec, name, nums);
ANCIENT_STRUCT(parallel_graph::Recs, seq, recs, index);

namespace parallel_graph {

inline std::string NameOf(std::int64_t seq, std::size_t i) {
  return "rec" + std::to_string(seq) + "/" + std::to_string(i);
}

// How many records the value of `seq` has: every eighth is past 64 MiB
// (850,000 records, the arena's and the reservation's growth steps
// crossed), the rest `n`.
inline std::size_t RecordsFor(std::int64_t seq, std::size_t n) {
  return seq % 8 == 5 ? 850000 : n;
}

// `n` records for `seq`.
inline Recs MakeRecs(std::int64_t seq, std::size_t n) {
  Recs r;
  r.seq = seq;
  for (std::size_t i = 0; i < n; ++i) {
    auto rec = std::make_unique<Rec>();
    rec->name = NameOf(seq, i);
    for (std::size_t k = 0; k < i % 6; ++k) {
      rec->nums.push_back(seq * 1000 + static_cast<std::int64_t>(i + k));
    }
    r.recs.push_back(std::move(rec));
  }
  for (std::size_t i = n; i-- > 0;) r.index.push_back(r.recs[i].get());
  return r;
}

// The seq of a frozen MakeRecs(seq, n), or -1 when it is not one.
inline std::int64_t CheckRecs(const ancient::Frozen<Recs>& f, std::size_t n) {
  const std::int64_t seq = f.seq;
  if (f.recs.size() != n || f.index.size() != n) return -1;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& rec = *f.recs[i];
    if (rec.name != NameOf(seq, i) || rec.nums.size() != i % 6) return -1;
    for (std::size_t k = 0; k < i % 6; ++k) {
      if (rec.nums[k] != seq * 1000 + static_cast<std::int64_t>(i + k)) {
        return -1;
      }
    }
    if (f.index[n - 1 - i].get() != &rec) return -1;  // shared, not copied
  }
  return seq;
}

}  // namespace parallel_graph

#endif  // ANCIENT_TESTS_PARALLEL_GRAPH_H_
