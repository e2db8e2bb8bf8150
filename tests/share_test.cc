// One-pass Share: graphs marked straight into the arena as they grow, in a
// free extent or at the end, moved when they outgrow where they started.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/store.h"
#include "tests/test_util.h"

namespace share_types {
// Pointer-rich, with sharing and a cycle: marked in one pass (not a vector
// of numbers or strings, which Share marks in two).
struct Node {
  std::int64_t id = 0;
  std::string name;
  Node* next = nullptr;
  std::vector<Node*> edges;
  std::optional<std::string> note;
};
using Graph = std::vector<std::unique_ptr<Node>>;
}  // namespace share_types
ANCIENT_STRUCT(share_types::Node, id, name, next, edges, note);

namespace {

using ancient::Store;
using ancient::StoreOptions;
using ancient_test::TempDir;
using share_types::Graph;
using share_types::Node;

StoreOptions Small() {
  StoreOptions o;
  o.max_size = std::size_t{1} << 30;
  o.durability = ancient::Durability::kNoSync;
  // The one-pass path, straight into the arena (parallel_mark_test has the
  // path of several threads).
  o.mark_threads = 1;
  return o;
}

std::unique_ptr<Store> OpenOrDie(const std::string& dir,
                                 const StoreOptions& o = Small()) {
  auto s = Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

// `n` nodes in a ring (next), each with edges to three others, names of
// `name_len` bytes, a note on every seventh; `seed` varies the contents.
Graph MakeGraph(int n, int name_len, int seed) {
  Graph g;
  for (int i = 0; i < n; ++i) {
    auto node = std::make_unique<Node>();
    node->id = i * 1000 + seed;
    node->name =
        std::string(name_len, static_cast<char>('a' + (i + seed) % 26));
    if (i % 7 == 0) node->note = "note " + std::to_string(i);
    g.push_back(std::move(node));
  }
  for (int i = 0; i < n; ++i) {
    g[i]->next = g[(i + 1) % n].get();
    for (int k = 1; k <= 3; ++k) {
      g[i]->edges.push_back(g[(i * 31 + k * 17 + seed) % n].get());
    }
  }
  return g;
}

// Checks the frozen graph against the heap one: contents, each pointer
// aimed at the copy of its heap target (sharing kept), the ring closed.
void ExpectSameGraph(const Graph& g, const ancient::Frozen<Graph>& f) {
  ASSERT_EQ(f.size(), g.size());
  const auto* first = f[0].get();
  for (std::size_t i = 0; i < g.size(); ++i) {
    const auto& fn = *f[i];
    ASSERT_EQ(fn.id, g[i]->id) << i;
    ASSERT_EQ(fn.name, g[i]->name) << i;
    ASSERT_EQ(fn.note.has_value(), g[i]->note.has_value()) << i;
    if (fn.note) {
      ASSERT_EQ(*fn.note, *g[i]->note) << i;
    }
    ASSERT_EQ(fn.next.get(), f[(i + 1) % g.size()].get()) << i;
    ASSERT_EQ(fn.edges.size(), 3u);
    for (int k = 0; k < 3; ++k) {
      ASSERT_EQ(fn.edges[k]->id, g[i]->edges[k]->id) << i;
    }
  }
  // Around the ring and back to the start: the cycle survived.
  const auto* p = first;
  for (std::size_t i = 0; i < g.size(); ++i) p = p->next.get();
  EXPECT_EQ(p, first);
}

std::uint64_t OffsetOf(Store& store, const std::string& key) {
  auto snap = store.Read();
  EXPECT_TRUE(snap.ok());
  auto roots = snap->List(key);
  EXPECT_TRUE(roots.ok() && !roots->empty());
  return roots.ok() && !roots->empty() ? (*roots)[0].offset : ~0ull;
}

void ExpectStatsAddUp(Store& store) {
  auto st = store.Stats();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->bytes_live + st->bytes_free + st->bytes_never_used,
            st->arena_size);
}

TEST(OnePassShare, BigGraphGrowsTheArenaAsItIsWritten) {
  auto store = OpenOrDie(TempDir("grow"));
  // About 30 MiB of graph: the arena (1 MiB at first) grows many times
  // while the graph is being written.
  const Graph g = MakeGraph(200000, 60, 1);
  auto info = store->Share("g", g);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_GT(info->size_bytes, 20u << 20);
  EXPECT_GT(info->scratch_bytes, 0u);
  auto root = store->GetVerified<Graph>("g");
  ASSERT_TRUE(root.ok()) << root.status();
  ExpectSameGraph(g, **root);
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();
  ExpectStatsAddUp(*store);
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  // Nothing left over but the extent's alignment.
  EXPECT_LT(st->bytes_live - info->size_bytes, info->size_bytes / 4);
  EXPECT_EQ(st->bytes_free, 0u);
}

TEST(OnePassShare, WriterHoldsTheSharingTableAndLittleElse) {
  auto store = OpenOrDie(TempDir("scratch"));
  const int n = 200000;
  const Graph g = MakeGraph(n, 60, 1);
  auto info = store->Share("g", g);
  ASSERT_TRUE(info.ok()) << info.status();
  // Beside the graph the writer holds its sharing table (room for the n
  // nodes: 8-byte slots at most 5/6 full), the pointer-slot bitmap (a bit
  // per 8 bytes of graph) and a queue of about one group of nodes' tasks.
  // A task queued for every node (16 bytes each, as when each group of the
  // node array was a task of its own) would add 3 MiB or more; a table of
  // 16-byte slots (AddressTable's, as before PackedAddressTable) 2 MiB.
  const std::uint64_t table = std::uint64_t{n} * 8 * 6 / 5 + 4096;
  const std::uint64_t bitmap = info->size_bytes / 64 + 4096;
  EXPECT_LT(info->scratch_bytes, table + bitmap + (1u << 20))
      << "graph " << info->size_bytes << " bytes";
  auto root = store->GetVerified<Graph>("g");
  ASSERT_TRUE(root.ok()) << root.status();
  ExpectSameGraph(g, **root);
}

TEST(OnePassShare, StartsInAFreeExtentAndMovesWhenItOutgrowsIt) {
  auto store = OpenOrDie(TempDir("move"));
  const Graph small = MakeGraph(3000, 20, 2);
  ASSERT_TRUE(store->Share("a", small).ok());
  ASSERT_TRUE(store->Share("b", MakeGraph(100, 5, 3)).ok());  // after a
  const std::uint64_t a_off = OffsetOf(*store, "a");
  ASSERT_TRUE(store->Delete("a").ok());
  // No reader holds "a" any more: its extent is free for the next batch.

  // A bigger graph starts in a's extent, outgrows it and moves to the end.
  const Graph big = MakeGraph(40000, 30, 4);
  auto info = store->Share("c", big);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_GT(info->offset, OffsetOf(*store, "b"));
  auto c = store->GetVerified<Graph>("c");
  ASSERT_TRUE(c.ok()) << c.status();
  ExpectSameGraph(big, **c);
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_GT(st->bytes_free, 0u);  // a's extent went back to the free list

  // A smaller one fits there, and stays.
  const Graph smaller = MakeGraph(1000, 10, 5);
  info = store->Share("d", smaller);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->offset, a_off);
  auto d = store->GetVerified<Graph>("d");
  ASSERT_TRUE(d.ok()) << d.status();
  ExpectSameGraph(smaller, **d);
  ExpectSameGraph(big, **store->GetVerified<Graph>("c"));
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();
  ExpectStatsAddUp(*store);
}

TEST(OnePassShare, OutgrowingASmallExtentMovesIntoAFreeOneThatFits) {
  // Free space fragmented into 20 small extents, then one big one: a Share
  // starts in one of the first few (small), outgrows it, and moves into the
  // big extent instead of growing the file.
  auto store = OpenOrDie(TempDir("frag"));
  {
    auto batch = store->Write();
    ASSERT_TRUE(batch.ok());
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(
          batch->Share("t" + std::to_string(i), MakeGraph(3, 4, i)).ok());
      ASSERT_TRUE(
          batch->Share("f" + std::to_string(i), MakeGraph(3, 4, i)).ok());
    }
    ASSERT_TRUE(batch->Share("big", MakeGraph(30000, 40, 13)).ok());
    ASSERT_TRUE(batch->Share("tail", MakeGraph(3, 4, 14)).ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  const std::uint64_t big_off = OffsetOf(*store, "big");
  {
    auto batch = store->Write();
    ASSERT_TRUE(batch.ok());
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(batch->Delete("t" + std::to_string(i)).ok());
    }
    ASSERT_TRUE(batch->Delete("big").ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  auto before = store->Stats();
  ASSERT_TRUE(before.ok());
  const Graph g = MakeGraph(8000, 40, 15);
  auto info = store->Share("g", g);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->offset, big_off);
  auto after = store->Stats();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->arena_size, before->arena_size);
  EXPECT_EQ(after->bytes_never_used, before->bytes_never_used);
  ExpectSameGraph(g, **store->GetVerified<Graph>("g"));
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();
  ExpectStatsAddUp(*store);
}

TEST(OnePassShare, ReplacingAGraphWithOneOfItsSizeReusesItsSpace) {
  // The steady state of a key rewritten with data of the same size: each
  // version goes where the one before last was (its relocation record must
  // fit exactly, not by an upper bound), and the arena stops growing.
  auto store = OpenOrDie(TempDir("same"));
  const Graph g = MakeGraph(20000, 12, 12);
  std::vector<std::uint64_t> offsets;
  for (int i = 0; i < 6; ++i) {
    auto info = store->Share("k", g);
    ASSERT_TRUE(info.ok()) << info.status();
    offsets.push_back(info->offset);
  }
  for (int i = 2; i < 6; ++i) EXPECT_EQ(offsets[i], offsets[i - 2]) << i;
  EXPECT_NE(offsets[0], offsets[1]);
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->bytes_live + st->bytes_free, 2 * st->bytes_live);
  ExpectSameGraph(g, **store->GetVerified<Graph>("k"));
}

TEST(OnePassShare, ManyGraphsInOneBatchFillTheFreedSpace) {
  auto store = OpenOrDie(TempDir("fill"));
  std::vector<Graph> graphs;
  for (int i = 0; i < 20; ++i) graphs.push_back(MakeGraph(500 + i * 50, 8, i));
  for (int round = 0; round < 4; ++round) {
    auto batch = store->Write();
    ASSERT_TRUE(batch.ok());
    for (int i = 0; i < 20; ++i) {
      const auto& g = graphs[(i + round) % 20];
      ASSERT_TRUE(batch->Share("k" + std::to_string(i), g).ok());
    }
    ASSERT_TRUE(batch->Commit().ok());
    for (int i = 0; i < 20; ++i) {
      auto r = store->GetVerified<Graph>("k" + std::to_string(i));
      ASSERT_TRUE(r.ok()) << r.status();
      ExpectSameGraph(graphs[(i + round) % 20], **r);
    }
    EXPECT_TRUE(store->Verify().ok()) << store->Verify();
    ExpectStatsAddUp(*store);
  }
  // Rewriting the same data four times reuses the space: the arena holds
  // about two generations, not four.
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_LT(st->arena_size - st->bytes_never_used, 3 * st->bytes_live);
}

TEST(OnePassShare, ReusedSpaceIsClearedBeforeTheGraphRelyOnZeros) {
  // Absent optionals and null pointers are left as the zeros of the room
  // they are written in: room that held something must be cleared first.
  // Here it held another graph (freed in the batch) or, at the end, the
  // bytes an aborted batch wrote past the high-water mark.
  auto store = OpenOrDie(TempDir("zeros"));
  std::vector<std::optional<std::string>> noise(30000, std::string(40, '\xff'));
  std::vector<std::optional<std::string>> maybe(3000);
  maybe[7] = "seven";
  for (int round = 0; round < 3; ++round) {
    {
      auto aborted = store->Write();
      ASSERT_TRUE(aborted.ok());
      ASSERT_TRUE(aborted->Share("noise", noise).ok());
    }  // not committed
    auto batch = store->Write();
    ASSERT_TRUE(batch.ok());
    if (round > 0) {
      ASSERT_TRUE(batch->Share("noise", noise).ok());
      ASSERT_TRUE(batch->Delete("noise").ok());
    }
    ASSERT_TRUE(batch->Share("maybe", maybe).ok());
    ASSERT_TRUE(batch->Commit().ok());
    auto m = store->GetVerified<decltype(maybe)>("maybe");
    ASSERT_TRUE(m.ok()) << m.status();
    for (std::size_t i = 0; i < maybe.size(); ++i) {
      ASSERT_EQ((**m)[i].has_value(), i == 7) << "round " << round << " " << i;
    }
    EXPECT_EQ(*(**m)[7], "seven");
  }
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();
}

TEST(OnePassShare, MaxSizeReachedWhileWritingLosesNothing) {
  StoreOptions o = Small();
  o.max_size = 4 << 20;
  auto store = OpenOrDie(TempDir("maxsize"), o);
  const Graph kept = MakeGraph(2000, 10, 6);
  ASSERT_TRUE(store->Share("kept", kept).ok());
  ASSERT_TRUE(store->Share("gone", MakeGraph(2000, 10, 7)).ok());
  ASSERT_TRUE(store->Share("tail", MakeGraph(10, 10, 8)).ok());
  ASSERT_TRUE(store->Delete("gone").ok());  // a free extent to start in
  auto before = store->Stats();
  ASSERT_TRUE(before.ok());

  auto batch = store->Write();
  ASSERT_TRUE(batch.ok());
  const Graph huge = MakeGraph(60000, 40, 9);  // about 9 MiB
  auto info = batch->Share("huge", huge);
  EXPECT_EQ(info.status().code(), absl::StatusCode::kResourceExhausted)
      << info.status();
  EXPECT_NE(info.status().message().find("huge"), std::string::npos)
      << info.status();
  // The batch is still usable; the free extent was given back.
  const Graph fits = MakeGraph(500, 10, 10);
  info = batch->Share("fits", fits);
  ASSERT_TRUE(info.ok()) << info.status();
  ASSERT_TRUE(batch->Commit().ok());

  EXPECT_FALSE(store->Get<Graph>("huge").ok());
  ExpectSameGraph(kept, **store->GetVerified<Graph>("kept"));
  ExpectSameGraph(fits, **store->GetVerified<Graph>("fits"));
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();
  ExpectStatsAddUp(*store);
  auto after = store->Stats();
  ASSERT_TRUE(after.ok());
  // Only "fits" (graph and relocation record) was added.
  EXPECT_GE(after->bytes_live - before->bytes_live, info->size_bytes);
  EXPECT_LT(after->bytes_live - before->bytes_live, 2 * info->size_bytes);
  EXPECT_LE(after->arena_size, o.max_size);
}

TEST(OnePassShare, SyncedShareReadsBackAfterReopening) {
  // The kSync path (graph synced before its root) writes a whole graph;
  // whether it reached the disk before a crash is crash_torture's to test.
  StoreOptions o = Small();
  o.durability = ancient::Durability::kSync;
  const std::string dir = TempDir("sync");
  const Graph g = MakeGraph(5000, 16, 11);
  {
    auto store = OpenOrDie(dir, o);
    ASSERT_TRUE(store->Share("g", g).ok());
  }
  auto store = OpenOrDie(dir, o);
  auto r = store->GetVerified<Graph>("g");
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectSameGraph(g, **r);
}

}  // namespace
