// Marking on several threads (ancient::MarkOptions::threads,
// StoreOptions::mark_threads): every frozen kind, sharing and cycles,
// many threads reaching one object at once, million-long chains; each
// result checked against the heap value and by the typed check, whatever
// the thread count.

#include "ancient/internal/parallel_mark.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_set.h"
#include "ancient/ancient.h"
#include "store/store.h"
#include "tests/block_copy.h"

namespace parallel_types {
struct Leaf {
  std::string name;
  std::vector<std::int64_t> nums;
  std::optional<std::string> note;
  std::variant<std::int64_t, std::string> either;
};
// Every kind of frozen container, big enough that its arrays and hash
// tables are split into tasks (more than 2 x 4096 entries).
struct Kinds {
  std::vector<Leaf> leaves;
  std::vector<std::unique_ptr<Leaf>> owned;
  std::vector<std::shared_ptr<Leaf>> shared;  // a few leaves, many times
  std::vector<const Leaf*> raw;               // into `owned`
  std::map<std::string, std::int64_t> sorted;
  std::set<std::string> names;
  absl::btree_map<std::int64_t, std::string> btree;
  std::unordered_map<std::string, std::vector<std::int64_t>> hashed;
  absl::flat_hash_map<std::int64_t, std::string> flat;
  absl::node_hash_set<std::string> node_set;
  std::array<std::int32_t, 3> arr;
  std::tuple<std::int32_t, std::string> tup;
};
// A tree that nothing reaches twice: marked depth first (RunStack).
struct Trie {
  bool word = false;
  std::map<char, std::unique_ptr<Trie>> next;
};
struct Node {
  std::int64_t id;
  std::vector<Node*> edges;
};
struct Graph {
  std::vector<std::unique_ptr<Node>> nodes;
};
}  // namespace parallel_types
ANCIENT_STRUCT(parallel_types::Leaf, name, nums, note, either);
ANCIENT_STRUCT(parallel_types::Kinds, leaves, owned, shared, raw, sorted, names,
               btree, hashed, flat, node_set, arr, tup);
ANCIENT_STRUCT(parallel_types::Trie, word, next);
ANCIENT_STRUCT(parallel_types::Node, id, edges);
ANCIENT_STRUCT(parallel_types::Graph, nodes);

namespace {

using ancient::Frozen;
using parallel_types::Graph;
using parallel_types::Kinds;
using parallel_types::Leaf;
using parallel_types::Node;
using parallel_types::Trie;

Leaf MakeLeaf(int i) {
  Leaf l;
  l.name = "leaf" + std::to_string(i);
  for (int k = 0; k < i % 5; ++k) l.nums.push_back(i * 10 + k);
  if (i % 3 == 0) l.note = std::string(i % 50, 'n');
  if (i % 2 == 0) {
    l.either = std::int64_t{i};
  } else {
    l.either = "odd" + std::to_string(i);
  }
  return l;
}

Kinds MakeKinds(int n) {
  Kinds k;
  std::vector<std::shared_ptr<Leaf>> few;
  for (int i = 0; i < 7; ++i)
    few.push_back(std::make_shared<Leaf>(MakeLeaf(i)));
  for (int i = 0; i < n; ++i) {
    k.leaves.push_back(MakeLeaf(i));
    k.owned.push_back(std::make_unique<Leaf>(MakeLeaf(n + i)));
    k.shared.push_back(few[i % few.size()]);
    k.sorted["s" + std::to_string(i)] = i;
    k.names.insert("name" + std::to_string(i));
    k.btree[i] = std::to_string(i);
    k.hashed["h" + std::to_string(i)] = std::vector<std::int64_t>(i % 4, i);
    k.flat[i] = "f" + std::to_string(i);
    k.node_set.insert("ns" + std::to_string(i));
  }
  for (int i = 0; i < n; i += 3) k.raw.push_back(k.owned[(i * 7) % n].get());
  k.arr = {1, 2, 3};
  k.tup = {42, "tuple"};
  return k;
}

void ExpectLeaf(const Frozen<Leaf>& f, const Leaf& l) {
  ASSERT_EQ(f.name, l.name);
  ASSERT_EQ(f.nums.size(), l.nums.size());
  for (std::size_t i = 0; i < l.nums.size(); ++i)
    ASSERT_EQ(f.nums[i], l.nums[i]);
  ASSERT_EQ(f.note.has_value(), l.note.has_value());
  if (l.note) ASSERT_EQ(*f.note, *l.note);
  ASSERT_EQ(f.either.index(), l.either.index());
  if (l.either.index() == 0) {
    ASSERT_EQ(*f.either.template get_if<0>(), std::get<0>(l.either));
  } else {
    ASSERT_EQ(*f.either.template get_if<1>(), std::get<1>(l.either));
  }
}

void ExpectKinds(const Frozen<Kinds>& f, const Kinds& k) {
  ASSERT_EQ(f.leaves.size(), k.leaves.size());
  for (std::size_t i = 0; i < k.leaves.size(); ++i) {
    ExpectLeaf(f.leaves[i], k.leaves[i]);
    ExpectLeaf(*f.owned[i], *k.owned[i]);
    ExpectLeaf(*f.shared[i], *k.shared[i]);
  }
  // Shared pointees copied once: equal heap pointers, equal frozen ones.
  for (std::size_t i = 7; i < k.shared.size(); ++i) {
    ASSERT_EQ(f.shared[i].get(), f.shared[i % 7].get()) << i;
  }
  // Raw pointers into owned leaves point at the owned copies themselves.
  ASSERT_EQ(f.raw.size(), k.raw.size());
  for (std::size_t i = 0; i < k.raw.size(); ++i) {
    const std::size_t at = (i * 3 * 7) % k.owned.size();
    ASSERT_EQ(f.raw[i].get(), f.owned[at].get()) << i;
  }
  ASSERT_EQ(f.sorted.size(), k.sorted.size());
  for (const auto& [key, v] : k.sorted) ASSERT_EQ(*f.sorted.get(key), v);
  ASSERT_EQ(f.names.size(), k.names.size());
  for (const auto& s : k.names) ASSERT_TRUE(f.names.contains(s)) << s;
  ASSERT_EQ(f.btree.size(), k.btree.size());
  for (const auto& [key, v] : k.btree) ASSERT_EQ(*f.btree.get(key), v);
  ASSERT_EQ(f.hashed.size(), k.hashed.size());
  for (const auto& [key, v] : k.hashed) {
    const auto* got = f.hashed.get(key);
    ASSERT_NE(got, nullptr) << key;
    ASSERT_EQ(got->size(), v.size()) << key;
    for (std::size_t i = 0; i < v.size(); ++i) ASSERT_EQ((*got)[i], v[i]);
  }
  ASSERT_EQ(f.flat.size(), k.flat.size());
  for (const auto& [key, v] : k.flat) ASSERT_EQ(*f.flat.get(key), v);
  ASSERT_EQ(f.node_set.size(), k.node_set.size());
  for (const auto& s : k.node_set) ASSERT_TRUE(f.node_set.contains(s)) << s;
  ASSERT_EQ(f.arr[2], 3);
  ASSERT_EQ(ancient::get<1>(f.tup), "tuple");
}

// n nodes, node i linking to i+1 (a cycle through all) and to up to three
// pseudo-random others: sharing everywhere.
Graph MakeGraph(int n) {
  Graph g;
  for (int i = 0; i < n; ++i) {
    g.nodes.push_back(std::make_unique<Node>());
    g.nodes.back()->id = i;
  }
  std::uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < n; ++i) {
    g.nodes[i]->edges.push_back(g.nodes[(i + 1) % n].get());
    for (int e = 0; e < i % 4; ++e) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      g.nodes[i]->edges.push_back(g.nodes[x % n].get());
    }
  }
  return g;
}

// Every edge of the frozen graph points at the one copy of its target.
void ExpectGraph(const Frozen<Graph>& f, const Graph& g) {
  ASSERT_EQ(f.nodes.size(), g.nodes.size());
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    const auto& fn = *f.nodes[i];
    const Node& n = *g.nodes[i];
    ASSERT_EQ(fn.id, n.id);
    ASSERT_EQ(fn.edges.size(), n.edges.size());
    for (std::size_t e = 0; e < n.edges.size(); ++e) {
      ASSERT_EQ(fn.edges[e].get(), f.nodes[n.edges[e]->id].get())
          << "node " << i << " edge " << e;
    }
  }
}

constexpr int kThreadCounts[] = {1, 2, 3, 8};

TEST(ParallelMark, EveryKindReadsBackTheSameWhateverTheThreads) {
  const Kinds k = MakeKinds(20000);
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(threads);
    auto a = ancient::Mark(k, ancient::MarkOptions{.threads = threads});
    ASSERT_TRUE(ancient::VerifyGraph<Kinds>(a.data(), a.size_bytes()).ok());
    ASSERT_TRUE(
        ancient::VerifyBlock(a.data(), a.size_bytes(), a.relocations()).ok());
    ExpectKinds(a.Follow(), k);
    EXPECT_EQ(a.threads_used(), threads);
  }
}

// A copy of `a`'s block at another address, relocated by its record:
// every pointer slot the workers wrote must be in the record, or the copy
// still points into the original (which VerifyGraph, bounding every
// pointer by the copy, reports).
template <class T>
void ExpectRelocatedCopyReads(
    const ancient::Ancient<T>& a,
    const std::function<void(const Frozen<T>&)>& check) {
  ancient_test::BlockCopy copy(a);
  EXPECT_TRUE(ancient::VerifyGraph<T>(copy.data(), copy.size()).ok());
  check(*reinterpret_cast<const Frozen<T>*>(copy.data()));
}

TEST(ParallelMark, EveryPointerWrittenIsInTheRelocationRecord) {
  // Each worker records the pointer slots it writes in its own pages of
  // bits (the first worker also in its bitmap, for what it marked alone);
  // the record is made from all of them.
  const Kinds k = MakeKinds(20000);
  const Graph g = MakeGraph(100000);
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(threads);
    auto ak = ancient::Mark(k, ancient::MarkOptions{.threads = threads});
    EXPECT_EQ(ak.threads_used(), threads);
    ExpectRelocatedCopyReads<Kinds>(
        ak, [&](const Frozen<Kinds>& f) { ExpectKinds(f, k); });
    auto ag = ancient::Mark(g, ancient::MarkOptions{.threads = threads});
    EXPECT_EQ(ag.threads_used(), threads);
    ExpectRelocatedCopyReads<Graph>(
        ag, [&](const Frozen<Graph>& f) { ExpectGraph(f, g); });
  }
}

TEST(ParallelMark, BigHashContainersReadBackTheSameWhateverTheThreads) {
  // Past kLaneWalkFrom entries a std::unordered_* source is walked bucket by
  // bucket in lanes, and on two threads from both ends of the scratch: every
  // entry lands in its bucket once, whatever the threads.
  constexpr int kEntries = 150000;
  static_assert(kEntries > ancient::internal::kLaneWalkFrom);
  std::unordered_map<std::string, std::vector<std::int64_t>> m;
  std::unordered_set<std::int64_t> set;
  for (int i = 0; i < kEntries; ++i) {
    m["key" + std::to_string(i)] = std::vector<std::int64_t>(1 + i % 5, i);
    set.insert(std::int64_t{i} * 7919);
  }
  using Both = std::pair<decltype(m), decltype(set)>;
  const Both both(m, set);
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(threads);
    auto a = ancient::Mark(both, ancient::MarkOptions{.threads = threads});
    ASSERT_TRUE(ancient::VerifyGraph<Both>(a.data(), a.size_bytes()).ok());
    const auto& f = a.Follow();
    ASSERT_EQ(f.first.size(), m.size());
    ASSERT_EQ(f.second.size(), set.size());
    std::size_t entries = 0;
    for (const auto& e : f.first) {
      ++entries;
      ASSERT_EQ(m.count(std::string(e.first.view())), 1u);
    }
    EXPECT_EQ(entries, m.size());
    for (const auto& [k, v] : m) {
      const auto* got = f.first.get(k);
      ASSERT_NE(got, nullptr) << k;
      ASSERT_EQ(got->size(), v.size()) << k;
      ASSERT_EQ((*got)[0], v[0]) << k;
    }
    for (std::int64_t x : set) ASSERT_TRUE(f.second.contains(x)) << x;
    EXPECT_FALSE(f.second.contains(1));
  }
}

TEST(ParallelMark, SharingAndCyclesAreKeptExactlyOnce) {
  const Graph g = MakeGraph(200000);
  std::size_t one_thread = 0;
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(threads);
    auto a = ancient::Mark(g, ancient::MarkOptions{.threads = threads});
    ASSERT_TRUE(ancient::VerifyGraph<Graph>(a.data(), a.size_bytes()).ok());
    ExpectGraph(a.Follow(), g);
    EXPECT_EQ(a.threads_used(), threads);
    if (threads == 1) one_thread = a.size_bytes();
    // Each node copied once: no bigger than one thread's block but for the
    // unused tails of the threads' last chunks.
    EXPECT_LE(a.size_bytes(),
              one_thread + threads * ancient::internal::SharedMark::kChunk);
  }
}

TEST(ParallelMark, ManyThreadsReachingOneObjectAtOnceCopyItOnce) {
  // A million raw pointers to 3 nodes, in 256 vectors (tasks enough for
  // the other threads to start and take some), all reached at once: every
  // pointer to a node resolves to its one copy.
  Graph g = MakeGraph(3);
  std::vector<std::vector<const Node*>> many(256);
  for (std::size_t v = 0; v < many.size(); ++v) {
    for (int i = 0; i < 4096; ++i) many[v].push_back(g.nodes[i % 3].get());
  }
  using V = std::pair<std::vector<std::vector<const Node*>>, Graph>;
  V value{many, std::move(g)};
  for (int threads : {2, 8}) {
    auto a = ancient::Mark(value, ancient::MarkOptions{.threads = threads});
    EXPECT_EQ(a.threads_used(), threads);
    ASSERT_TRUE(ancient::VerifyGraph<V>(a.data(), a.size_bytes()).ok());
    const auto& f = a.Follow();
    for (std::size_t v = 0; v < many.size(); ++v) {
      for (std::size_t i = 0; i < many[v].size(); ++i) {
        ASSERT_EQ(f.first[v][i].get(), f.second.nodes[i % 3].get()) << v;
      }
    }
  }
}

TEST(ParallelMark, SplitArraysOfPointersPlaceEveryMixOnce) {
  // Arrays of pointers long enough to be placed in parts (more than 2 x
  // 4096) by any worker, their new pointees' contents queued once every
  // part is placed: nulls, a few nodes repeated within and across parts,
  // nodes placed before by another array or placed first here, and a short
  // last part. Every pointer must resolve to its node's one copy.
  constexpr int kNodes = 30000;
  constexpr std::size_t kRefs = 3 * 4096 + 100;
  Graph g = MakeGraph(kNodes);
  std::vector<const Node*> refs;
  for (std::size_t i = 0; i < kRefs; ++i) {
    if (i % 97 == 0) {
      refs.push_back(nullptr);
    } else if (i % 5 == 0) {
      refs.push_back(g.nodes[i % 50].get());
    } else {
      refs.push_back(g.nodes[(i * 7) % kNodes].get());
    }
  }
  std::map<const Node*, std::size_t> first_ref;
  for (std::size_t i = 0; i < refs.size(); ++i) first_ref.emplace(refs[i], i);
  const auto expect_refs = [&](const auto& frozen, const auto& nodes) {
    ASSERT_EQ(frozen.size(), refs.size());
    for (std::size_t i = 0; i < refs.size(); ++i) {
      if (refs[i] == nullptr) {
        ASSERT_EQ(frozen[i].get(), nullptr) << i;
      } else {
        ASSERT_EQ(frozen[i].get(), nodes[refs[i]->id].get()) << i;
      }
    }
  };
  // The refs first (their parts place nodes new, the graph's parts find
  // them seen), then the graph first.
  using RefsFirst = std::pair<std::vector<const Node*>, Graph>;
  using GraphFirst = std::pair<Graph, std::vector<const Node*>>;
  const RefsFirst refs_first(refs, std::move(g));
  const GraphFirst graph_first(MakeGraph(kNodes), refs);
  std::size_t one_thread[2] = {0, 0};
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(threads);
    auto a =
        ancient::Mark(refs_first, ancient::MarkOptions{.threads = threads});
    EXPECT_EQ(a.threads_used(), threads);
    ASSERT_TRUE(ancient::VerifyGraph<RefsFirst>(a.data(), a.size_bytes()).ok());
    ExpectGraph(a.Follow().second, refs_first.second);
    expect_refs(a.Follow().first, a.Follow().second.nodes);
    auto b =
        ancient::Mark(graph_first, ancient::MarkOptions{.threads = threads});
    ASSERT_TRUE(
        ancient::VerifyGraph<GraphFirst>(b.data(), b.size_bytes()).ok());
    ExpectGraph(b.Follow().first, graph_first.first);
    // graph_first's refs point into refs_first's graph, not into its own:
    // their nodes (and all they reach) are new, each copied once, however
    // often and in whichever parts it is referred to.
    const auto& got = b.Follow().second;
    ASSERT_EQ(got.size(), refs.size());
    for (std::size_t i = 0; i < refs.size(); ++i) {
      if (refs[i] == nullptr) {
        ASSERT_EQ(got[i].get(), nullptr) << i;
        continue;
      }
      ASSERT_EQ(got[i]->id, refs[i]->id) << i;
      ASSERT_EQ(got[i].get(), got[first_ref[refs[i]]].get()) << i;
    }
    // Each node copied once: no bigger than one thread's block but for the
    // unused tails of the threads' last chunks.
    if (threads == 1) one_thread[0] = a.size_bytes();
    if (threads == 1) one_thread[1] = b.size_bytes();
    const std::uint64_t tails = threads * ancient::internal::SharedMark::kChunk;
    EXPECT_LE(a.size_bytes(), one_thread[0] + tails);
    EXPECT_LE(b.size_bytes(), one_thread[1] + tails);
  }
}

TEST(ParallelMark, SharingTablesGrowWhileOtherThreadsFindInThem) {
  // Nodes reached only through raw pointers in many vectors: no count of
  // distinct objects is known ahead, so the sharing table's shards grow
  // while other threads look objects up in them without the shards' locks.
  // Every pointer to a node must resolve to its one copy.
  const Graph g = MakeGraph(100000);
  std::vector<std::vector<Node*>> entries(512);
  std::uint64_t x = 2463534242ULL;
  for (auto& v : entries) {
    for (int i = 0; i < 1000; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      v.push_back(g.nodes[x % g.nodes.size()].get());
    }
  }
  for (int threads : {2, 8}) {
    SCOPED_TRACE(threads);
    auto a = ancient::Mark(entries, ancient::MarkOptions{.threads = threads});
    EXPECT_EQ(a.threads_used(), threads);
    ASSERT_TRUE(ancient::VerifyGraph<std::vector<std::vector<Node*>>>(
                    a.data(), a.size_bytes())
                    .ok());
    const auto& f = a.Follow();
    std::vector<const void*> copy_of(g.nodes.size(), nullptr);
    std::vector<const Frozen<Node>*> todo;
    auto see = [&](const Frozen<Node>* n, std::int64_t id) {
      ASSERT_EQ(n->id, id);
      const void*& c = copy_of[static_cast<std::size_t>(id)];
      if (c == nullptr) {
        c = n;
        todo.push_back(n);
      }
      ASSERT_EQ(c, n) << "node " << id << " copied twice";
    };
    for (std::size_t v = 0; v < entries.size(); ++v) {
      for (std::size_t i = 0; i < entries[v].size(); ++i) {
        see(f[v][i].get(), entries[v][i]->id);
      }
    }
    // Their edges too: the whole cycle was copied, each node once.
    while (!todo.empty()) {
      const Frozen<Node>* n = todo.back();
      todo.pop_back();
      const Node& src = *g.nodes[static_cast<std::size_t>(n->id)];
      ASSERT_EQ(n->edges.size(), src.edges.size());
      for (std::size_t e = 0; e < src.edges.size(); ++e) {
        see(n->edges[e].get(), src.edges[e]->id);
      }
    }
    EXPECT_EQ(std::count(copy_of.begin(), copy_of.end(), nullptr), 0);
  }
}

TEST(ParallelMark, MillionLongChainMarksWithASmallStack) {
  // A chain of raw pointers through a million nodes, closed into a cycle,
  // entered at 256 places at once (so that the other threads start): each
  // thread walks a long line of tasks, one node at a time.
  constexpr int kNodes = 1000000;
  std::vector<Node> nodes(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    nodes[i].id = i;
    nodes[i].edges.push_back(&nodes[(i + 1) % kNodes]);
  }
  using V = std::vector<std::vector<const Node*>>;
  V entries(256);
  for (std::size_t e = 0; e < entries.size(); ++e) {
    entries[e].push_back(&nodes[e * (kNodes / entries.size())]);
  }
  for (int threads : {2, 8}) {
    auto a = ancient::Mark(entries, ancient::MarkOptions{.threads = threads});
    EXPECT_EQ(a.threads_used(), threads);
    ASSERT_TRUE(ancient::VerifyGraph<V>(a.data(), a.size_bytes()).ok());
    const Frozen<Node>* first = a.Follow()[0][0].get();
    const Frozen<Node>* p = first;
    for (int i = 0; i < kNodes; ++i) {
      ASSERT_EQ(p->id, i);
      p = p->edges[0].get();
    }
    EXPECT_EQ(p, first);  // the cycle closes on the first copy
    for (std::size_t e = 0; e < entries.size(); ++e) {
      ASSERT_EQ(a.Follow()[e][0]->id, entries[e][0]->id);
    }
  }
}

TEST(ParallelMark, TheReservationIsCommittedInWholePagesToItsEnd) {
  // Every step of a reservation's growth to 64 GiB is whole pages (mprotect
  // refuses others: steps of a quarter more, unaligned, once aborted a
  // 2.5 GiB parallel Mark), covers what was asked and grows.
  using ancient::internal::SharedMark;
  const std::uint64_t reserved = std::uint64_t{64} << 30;
  const std::uint64_t page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  std::uint64_t have = 0;
  int steps = 0;
  for (std::uint64_t end = 1 << 20; have < reserved; end = have + 1) {
    const std::uint64_t to = SharedMark::CommitEnd(have, end, reserved);
    ASSERT_EQ(to % page, 0u) << "from " << have << " for " << end;
    ASSERT_GE(to, end);
    ASSERT_GT(to, have);
    ASSERT_LE(to, reserved);
    have = to;
    ++steps;
  }
  EXPECT_LT(steps, 64);  // a quarter more each time, not one step a time
}

TEST(ParallelMark, GraphsPastManyCommitStepsOfTheReservation) {
  // 400 MiB of numbers in 400 owned vectors (each a task of its own), on
  // two threads: the reservation is committed step by step past 320 MiB,
  // and every byte lands where it is read.
  constexpr std::size_t kVectors = 400, kNums = (std::size_t{1} << 20) / 8;
  std::vector<std::unique_ptr<std::vector<std::int64_t>>> v;
  for (std::size_t i = 0; i < kVectors; ++i) {
    v.push_back(std::make_unique<std::vector<std::int64_t>>(
        kNums, static_cast<std::int64_t>(i)));
    v.back()->back() = -static_cast<std::int64_t>(i);
  }
  auto a = ancient::Mark(v, ancient::MarkOptions{.threads = 2});
  EXPECT_EQ(a.threads_used(), 2);
  EXPECT_GT(a.size_bytes(), kVectors * kNums * 8);
  const auto& f = a.Follow();
  ASSERT_EQ(f.size(), kVectors);
  for (std::size_t i = 0; i < kVectors; ++i) {
    const auto& n = *f[i];
    ASSERT_EQ(n.size(), kNums);
    ASSERT_EQ(n[0], static_cast<std::int64_t>(i));
    ASSERT_EQ(n[kNums / 2], static_cast<std::int64_t>(i));
    ASSERT_EQ(n[kNums - 1], -static_cast<std::int64_t>(i));
  }
}

// The flags the kernel shows for the mapping that holds `p` (the VmFlags
// line of /proc/self/smaps), each with a space before it; "" if none does.
std::string VmFlagsOf(const void* p) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    unsigned long lo, hi;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 &&
        line.find(':') > line.find(' ')) {
      inside = lo <= addr && addr < hi;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line.substr(8);
    }
  }
  return "";
}

TEST(ParallelMark, HugePagesAreAskedForOnlyWhenWanted) {
  // A graph past the first MiB (kept in the heap) marks into a mapping of
  // its own, on one thread (GrowableBlock) or several (the SharedMark's
  // reservation): madvise(MADV_HUGEPAGE) marks it "hg" in smaps. Asked for
  // or not, the graph reads back the same.
  const Kinds k = MakeKinds(20000);
  for (int threads : {1, 2}) {
    for (bool huge : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << threads << " threads, huge pages " << huge);
      auto a = ancient::Mark(
          k, ancient::MarkOptions{.threads = threads, .huge_pages = huge});
      ASSERT_GT(a.size_bytes(), 1u << 20);
      EXPECT_EQ(a.threads_used(), threads);
      ASSERT_TRUE(ancient::VerifyGraph<Kinds>(a.data(), a.size_bytes()).ok());
      ExpectKinds(a.Follow(), k);
      const std::string flags = VmFlagsOf(a.data());
      ASSERT_NE(flags, "") << "no mapping holds the block";
      EXPECT_EQ(flags.find(" hg") != std::string::npos, huge) << flags;
    }
  }
}

TEST(ParallelMark, SmallGraphsStayOnOneThreadAndInTheHeap) {
  std::map<std::string, std::int64_t> m{{"a", 1}, {"b", 2}};
  auto a = ancient::Mark(m, ancient::MarkOptions{.threads = 8});
  EXPECT_EQ(*a.Follow().get("b"), 2);
  EXPECT_LT(a.size_bytes(), 4096u);
  EXPECT_EQ(a.threads_used(), 1);
}

TEST(ParallelMark, AutomaticThreadsOnlyWhereTheyWereMeasuredToGain) {
  // threads 0: the cores for a big graph of owned objects; one thread for
  // a graph whose objects go through the sharing table, and for a small
  // one.
  std::vector<std::unique_ptr<Leaf>> owned;
  for (int i = 0; i < 60000; ++i) {
    owned.push_back(std::make_unique<Leaf>(MakeLeaf(i)));
  }
  auto a = ancient::Mark(owned);
  EXPECT_EQ(a.threads_used(), ancient::internal::DefaultMarkThreads());
  ASSERT_EQ(a.Follow().size(), owned.size());
  ExpectLeaf(*a.Follow()[59999], *owned[59999]);
  const Graph g = MakeGraph(100000);
  auto b = ancient::Mark(g);
  EXPECT_EQ(b.threads_used(), 1);
  ExpectGraph(b.Follow(), g);
  owned.resize(2000);
  EXPECT_EQ(ancient::Mark(owned).threads_used(), 1);
}

// ---- Store::Share with mark_threads ----------------------------------------

std::string TempDir(const std::string& name) {
  const std::string d = ::testing::TempDir() + "/parallel_" + name + "_" +
                        std::to_string(getpid());
  std::filesystem::remove_all(d);
  return d;
}

std::unique_ptr<ancient::Store> Open(const std::string& dir, int threads,
                                     std::size_t max_size = std::size_t{1}
                                                            << 40) {
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  o.mark_threads = threads;
  o.max_size = max_size;
  auto s = ancient::Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

TEST(ParallelShare, ReadsBackTheSameWhateverTheThreads) {
  const Kinds k = MakeKinds(12000);
  const Graph g = MakeGraph(100000);
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(threads);
    auto store = Open(TempDir("same" + std::to_string(threads)), threads);
    ASSERT_NE(store, nullptr);
    auto info = store->Share("kinds", k);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->mark_threads, threads);
    info = store->Share("graph", g);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->mark_threads, threads);
    auto fk = store->GetVerified<Kinds>("kinds");
    ASSERT_TRUE(fk.ok()) << fk.status();
    ExpectKinds(**fk, k);
    auto fg = store->GetVerified<Graph>("graph");
    ASSERT_TRUE(fg.ok()) << fg.status();
    ExpectGraph(**fg, g);
    EXPECT_TRUE(store->Verify().ok()) << store->Verify();
  }
}

// Shares `g` into a new store at `dir` marked on `threads` workers, checks
// that it did and that the graph reads back, and sets *info.
void ShareGraphOn(const Graph& g, const std::string& dir, int threads,
                  ancient::ShareInfo* info) {
  auto store = Open(dir, threads);
  ASSERT_NE(store, nullptr);
  auto shared = store->Share("graph", g);
  ASSERT_TRUE(shared.ok()) << shared.status();
  EXPECT_EQ(shared->mark_threads, threads);
  auto fg = store->GetVerified<Graph>("graph");
  ASSERT_TRUE(fg.ok()) << fg.status();
  ExpectGraph(**fg, g);
  *info = *shared;
}

// The sharing table's shards for `nodes` distinct objects: room for every
// one, a thirty-second more and 64 a shard, 8-byte slots at most as full as
// the load limit,
// and a few shards grown twice over (16-byte slots, as before
// PackedAddressTable, would take 4.5 MB for 200,000 nodes, past the bounds
// below).
std::uint64_t SharingTableBytes(int nodes) {
  const std::uint64_t room = std::uint64_t(nodes) * 33 / 32 + 256 * 64;
  using T = ancient::internal::PackedAddressTable;
  const std::uint64_t slots = room * 8 * T::kLoadDen / T::kLoadNum;
  return slots + slots / 256 * 4 + 256 * 8;
}

TEST(ParallelShare, SplitArraysOfPointersQueueAGroupPerPartNotATaskPerNode) {
  // The node array is placed in parts by both workers before any node's
  // edges are followed; then each part's nodes are queued a group at a
  // time. Were each part's nodes queued as it was placed, each worker's
  // queue would hold a task per node of its parts (16 bytes each, over 3
  // MiB for this graph on two threads), or a breadth-first walk of the
  // graph when one worker follows edges into parts not yet placed.
  constexpr int kNodes = 200000;
  const Graph g = MakeGraph(kNodes);
  for (int threads : {2, 8}) {
    SCOPED_TRACE(threads);
    ancient::ShareInfo info;
    ShareGraphOn(g, TempDir("queue" + std::to_string(threads)), threads, &info);
    if (HasFatalFailure()) return;
    // The table, the split's bit per node, and for each worker at most a
    // bitmap of the whole block (a bit per 8 bytes of graph; the workers'
    // pages of slot bits take less, and no worker keeps a whole bitmap now)
    // and a queue of up to 512 KiB (done tasks dropped in runs of 16,384;
    // they are dropped from 1,024 on now).
    const std::uint64_t each = info.size_bytes / 64 + 4096 + (512u << 10);
    EXPECT_LT(info.scratch_bytes, SharingTableBytes(kNodes) + kNodes / 8 +
                                      threads * each + (256u << 10))
        << "graph " << info.size_bytes << " bytes";
  }
}

TEST(ParallelShare, ManyWorkersHoldOneBitmapBetweenThem) {
  // A producer on many cores: the writer's memory beside the sharing table
  // must not grow with the workers by a bitmap of the whole block each (a
  // bit per 8 bytes of graph: 32 workers held half the graph's size in
  // bitmaps; with them this test's bound is passed by 4 MB).
  constexpr int kNodes = 200000;
  constexpr int kThreads = 32;
  ancient::ShareInfo info;
  ShareGraphOn(MakeGraph(kNodes), TempDir("many"), kThreads, &info);
  if (HasFatalFailure()) return;
  // The table, the split's bit per node, the workers' pages of slot bits
  // (a bit per 8 bytes of graph between them, and a 512-byte page for each
  // 32 KiB of block a worker wrote a pointer into besides its own; bounded
  // here as two bitmaps of the whole block), and each worker's queue
  // (done tasks dropped in runs of 1,024 or more: 4,096 before, up to 128
  // KiB). (The queues' peaks vary with the scheduling too much for this
  // bound to tell the pages' size or the runs': 3.3-3.6 MB in all now,
  // 4.5-5.0 MB with runs of 4,096 and the first worker's whole bitmap,
  // 5.7-6.5 MB with 4 KiB pages besides; write_bench shows them.)
  const std::uint64_t bitmap = info.size_bytes / 64 + 4096;
  const std::uint64_t pages = kThreads * (info.size_bytes >> 18) * 4096 / 4;
  EXPECT_LT(info.scratch_bytes, SharingTableBytes(kNodes) + kNodes / 8 +
                                    2 * bitmap + pages +
                                    kThreads * (128u << 10) + (256u << 10))
      << "graph " << info.size_bytes << " bytes";
}

TEST(ParallelShare, TreesAreWalkedDepthFirstOnEveryThreadCount) {
  // A trie, which nothing reaches twice: each worker takes its tasks last
  // in, first out, and one with nothing gets the bottom half of a busy
  // one's (the biggest subtrees). Every word reads back on every count, and
  // the queues hold paths' pending siblings, not the trie's widest level
  // (breadth first, the writer held 2.0-3.0 MB here on 2 to 8 threads;
  // depth first 0.34-0.42 MB).
  std::vector<std::string> words;
  std::uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 60000; ++i) {
    std::string w;
    for (int n = 3 + static_cast<int>(i % 9); n > 0; --n) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      w += static_cast<char>('a' + x % 26);
    }
    words.push_back(w);
  }
  std::sort(words.begin(), words.end());  // built depth first, as usual
  Trie root;
  std::size_t nodes = 1;
  for (const std::string& w : words) {
    Trie* t = &root;
    for (char c : w) {
      auto& next = t->next[c];
      if (next == nullptr) {
        next = std::make_unique<Trie>();
        ++nodes;
      }
      t = next.get();
    }
    t->word = true;
  }
  for (int threads : kThreadCounts) {
    SCOPED_TRACE(threads);
    auto store = Open(TempDir("trie" + std::to_string(threads)), threads);
    ASSERT_NE(store, nullptr);
    auto shared = store->Share("trie", root);
    ASSERT_TRUE(shared.ok()) << shared.status();
    EXPECT_EQ(shared->mark_threads, threads);
    auto f = store->GetVerified<Trie>("trie");
    ASSERT_TRUE(f.ok()) << f.status();
    for (const std::string& w : words) {
      const Frozen<Trie>* t = &**f;
      for (char c : w) {
        const auto* e = t->next.find(c);
        ASSERT_NE(e, t->next.end()) << w;
        t = e->second.get();
      }
      ASSERT_TRUE(t->word) << w;
    }
    std::size_t seen = 0;
    std::vector<const Frozen<Trie>*> todo = {&**f};
    while (!todo.empty()) {
      const Frozen<Trie>* t = todo.back();
      todo.pop_back();
      ++seen;
      for (const auto& e : t->next) todo.push_back(e.second.get());
    }
    EXPECT_EQ(seen, nodes);
    // Bit pages as ManyWorkersHoldOneBitmapBetweenThem bounds them, and 64
    // KiB of queue a worker.
    const std::uint64_t bitmap = shared->size_bytes / 64 + 4096;
    const std::uint64_t pages = threads * (shared->size_bytes >> 18) * 4096 / 4;
    EXPECT_LT(shared->scratch_bytes, 2 * bitmap + pages + threads * (64u << 10))
        << "graph " << shared->size_bytes << " bytes";
  }
}

TEST(ParallelShare, DefaultIsEveryCoreForGraphsWithoutSharing) {
  // mark_threads 0: as Mark's default, the process's cores for a graph of
  // at least 1 MiB whose objects cannot be reached twice, marked straight
  // into the arena; one thread for a graph that goes through the sharing
  // table.
  auto store = Open(TempDir("default"), 0);
  ASSERT_NE(store, nullptr);
  std::vector<std::unique_ptr<Leaf>> owned;
  for (int i = 0; i < 60000; ++i) {
    owned.push_back(std::make_unique<Leaf>(MakeLeaf(i)));
  }
  auto info = store->Share("owned", owned);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->mark_threads, ancient::internal::DefaultMarkThreads());
  const Graph g = MakeGraph(100000);
  auto graph = store->Share("graph", g);
  ASSERT_TRUE(graph.ok()) << graph.status();
  EXPECT_EQ(graph->mark_threads, 1);
  auto f = store->GetVerified<std::vector<std::unique_ptr<Leaf>>>("owned");
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ((*f)->size(), owned.size());
  for (std::size_t i = 0; i < owned.size(); ++i) {
    ExpectLeaf(*(**f)[i], *owned[i]);
  }
  ExpectGraph(**store->GetVerified<Graph>("graph"), g);
  // In place: the writer held no copy of the graph beside its tables.
  EXPECT_LT(info->scratch_bytes, info->size_bytes / 4) << info->scratch_bytes;
}

TEST(ParallelShare, RewritingAKeyReusesTheSpace) {
  // The steady state of a big key rewritten on two threads: the arena stops
  // growing. A version cannot move once the workers write, so it starts in
  // a free extent only when that holds the last version with room to spare
  // (the chunk tails differ from one marking to the next): one freed
  // version is not enough, two merged are. So the arena holds about three
  // versions' room (the one read, the one written, one freed that is too
  // small alone) and the file's last growth step (half again).
  auto store = Open(TempDir("steady"), 2);
  ASSERT_NE(store, nullptr);
  const Graph g = MakeGraph(60000);
  auto arena_after = [&](int shares) -> std::uint64_t {
    for (int i = 0; i < shares; ++i) {
      auto info = store->Share("g", g);
      EXPECT_TRUE(info.ok()) << info.status();
      EXPECT_EQ(info->mark_threads, 2);
    }
    auto st = store->Stats();
    EXPECT_TRUE(st.ok());
    EXPECT_LE(st->arena_size, 5 * st->bytes_live) << st->arena_size;
    return st->arena_size;
  };
  const std::uint64_t settled = arena_after(12);
  EXPECT_EQ(arena_after(12), settled) << "still growing";
  ExpectGraph(**store->GetVerified<Graph>("g"), g);
}

TEST(ParallelShare, AGraphThatOutgrowsTheFreeExtentItStartedInIsMarkedAgain) {
  // A rewritten key starts on several threads in a free extent that holds
  // its last version's size; one that then grows past the extent cannot
  // move while the workers write: it is marked again at the arena's end,
  // and the extent stays free.
  auto store = Open(TempDir("outgrown"), 2);
  ASSERT_NE(store, nullptr);
  const Graph big = MakeGraph(150000), small = MakeGraph(40000),
              bigger = MakeGraph(300000);
  auto a = store->Share("a", big);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(store->Share("g", small).ok());
  ASSERT_TRUE(store->Delete("a").ok());
  ASSERT_TRUE(store->Share("other", MakeGraph(10)).ok());  // frees a's space
  auto before = store->Stats();
  ASSERT_TRUE(before.ok());
  ASSERT_GE(before->bytes_free, a->size_bytes);
  auto g = store->Share("g", bigger);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->mark_threads, 2);
  EXPECT_GE(g->offset, a->offset + a->size_bytes) << "not at the end";
  ExpectGraph(**store->GetVerified<Graph>("g"), bigger);
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();
  auto after = store->Stats();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->bytes_live + after->bytes_free + after->bytes_never_used,
            after->arena_size);
  EXPECT_GE(after->bytes_free, a->size_bytes);
  // The same size again fits where the last version was once it is free.
  ASSERT_TRUE(store->Share("g", bigger).ok());
  ASSERT_TRUE(store->Share("g", bigger).ok());
  ExpectGraph(**store->GetVerified<Graph>("g"), bigger);
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();
}

TEST(ParallelShare, NoRoomLosesNothingAndNamesTheKey) {
  auto store = Open(TempDir("full"), 4, 4 << 20);
  ASSERT_NE(store, nullptr);
  const Graph small = MakeGraph(1000);
  ASSERT_TRUE(store->Share("kept", small).ok());
  auto batch = store->Write();
  ASSERT_TRUE(batch.ok());
  auto info = batch->Share("huge", MakeGraph(200000));  // about 10 MiB
  EXPECT_EQ(info.status().code(), absl::StatusCode::kResourceExhausted)
      << info.status();
  EXPECT_NE(info.status().message().find("huge"), std::string::npos)
      << info.status();
  ASSERT_TRUE(batch->Share("fits", small).ok());  // the batch goes on
  ASSERT_TRUE(batch->Commit().ok());
  EXPECT_FALSE(store->Get<Graph>("huge").ok());
  ExpectGraph(**store->GetVerified<Graph>("kept"), small);
  ExpectGraph(**store->GetVerified<Graph>("fits"), small);
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();
}

}  // namespace
