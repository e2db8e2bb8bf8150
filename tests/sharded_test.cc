// Sharded maps: shared as shard roots, read as one map, re-shared a shard
// at a time.

#include "store/sharded.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/store.h"
#include "tests/test_util.h"

namespace {

using ancient::Sharded;
using ancient::ShardedView;
using ancient::Store;
using HashDict = std::unordered_map<std::string, std::vector<std::int64_t>>;
using SortedDict = std::map<std::int64_t, std::string>;

std::unique_ptr<Store> OpenStore(const std::string& dir) {
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto s = Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

template <class Map>
void ShareOrDie(Store& store, Sharded<Map>& m, const std::string& key) {
  auto batch = store.Write();
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_TRUE(m.Share(*batch, key).ok());
  ASSERT_TRUE(batch->Commit().ok());
}

HashDict MakeHashDict(int n) {
  HashDict d;
  for (int i = 0; i < n; ++i) {
    d["key" + std::to_string(i)] = std::vector<std::int64_t>(i % 7, i);
  }
  return d;
}

TEST(Sharded, ReadsLikeTheHeapMap) {
  auto store = OpenStore(ancient_test::TempDir("sharded_read"));
  const HashDict heap = MakeHashDict(5000);
  auto m = Sharded<HashDict>::From(heap, 16);
  EXPECT_EQ(m.size(), heap.size());
  EXPECT_EQ(m.changed_shards(), 16u);
  ShareOrDie(*store, m, "dict");
  EXPECT_EQ(m.changed_shards(), 0u);
  auto snap = store->Read();
  ASSERT_TRUE(snap.ok());
  auto view = ShardedView<HashDict>::Open(*snap, "dict");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->size(), heap.size());
  EXPECT_EQ(view->shard_count(), 16u);
  for (const auto& [k, v] : heap) {
    const auto* got = view->get(k);
    ASSERT_NE(got, nullptr) << k;
    ASSERT_EQ(got->size(), v.size()) << k;
    for (std::size_t i = 0; i < v.size(); ++i) EXPECT_EQ((*got)[i], v[i]);
    EXPECT_TRUE(view->contains(std::string_view(k)));
    auto it = view->find(k);
    ASSERT_NE(it, view->end());
    EXPECT_EQ(it->first.view(), k);
  }
  EXPECT_EQ(view->get("absent"), nullptr);
  EXPECT_FALSE(view->contains("absent"));
  EXPECT_EQ(view->find("absent"), view->end());
  // Iteration visits every entry once.
  std::size_t n = 0;
  std::map<std::string, std::size_t> seen;
  for (const auto& [k, v] : *view) {
    ++n;
    ++seen[std::string(k.view())];
    EXPECT_EQ(v.size(), heap.at(std::string(k.view())).size());
  }
  EXPECT_EQ(n, heap.size());
  EXPECT_EQ(seen.size(), heap.size());
  // Each shard is an ordinary root of the map's type.
  auto shard = snap->Get<HashDict>(ancient::ShardKey("dict", 3));
  ASSERT_TRUE(shard.ok());
  EXPECT_EQ((*shard)->size(), m.shard(3).size());
}

TEST(Sharded, SortedMapsAndEmptyShards) {
  auto store = OpenStore(ancient_test::TempDir("sharded_sorted"));
  Sharded<SortedDict> m(64);
  for (std::int64_t i = -5; i < 5; ++i)
    m.insert_or_assign(i, "v" + std::to_string(i));
  ShareOrDie(*store, m, "s");
  auto snap = store->Read();
  ASSERT_TRUE(snap.ok());
  auto view = ShardedView<SortedDict>::Open(*snap, "s");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->size(), 10u);
  for (std::int64_t i = -5; i < 5; ++i) {
    ASSERT_NE(view->get(i), nullptr);
    EXPECT_EQ(view->get(i)->view(), "v" + std::to_string(i));
  }
  EXPECT_EQ(std::distance(view->begin(), view->end()), 10);
  // An empty map: nothing to iterate.
  Sharded<SortedDict> empty(8);
  ShareOrDie(*store, empty, "e");
  auto snap2 = store->Read();
  auto ev = ShardedView<SortedDict>::Open(*snap2, "e");
  ASSERT_TRUE(ev.ok());
  EXPECT_TRUE(ev->empty());
  EXPECT_EQ(ev->begin(), ev->end());
}

TEST(Sharded, OneKeyChangedReSharesOneShard) {
  auto store = OpenStore(ancient_test::TempDir("sharded_change"));
  auto m = Sharded<HashDict>::From(MakeHashDict(2000), 32);
  ShareOrDie(*store, m, "dict");
  auto offsets = [&] {
    std::map<std::string, std::uint64_t> out;
    auto snap = store->Read();
    auto list = snap->List("dict");
    for (const auto& info : *list) out[info.key] = info.offset;
    return out;
  };
  const auto before = offsets();
  ASSERT_EQ(before.size(), 33u);  // the index and 32 shards
  m.insert_or_assign(std::string("key17"), std::vector<std::int64_t>{1, 2, 3});
  EXPECT_EQ(m.changed_shards(), 1u);
  EXPECT_FALSE(m.erase("no such key"));
  EXPECT_EQ(m.changed_shards(), 1u);
  ShareOrDie(*store, m, "dict");
  const auto after = offsets();
  int moved = 0;
  for (const auto& [k, off] : before) moved += after.at(k) != off;
  EXPECT_EQ(moved, 2);  // the shard holding key17, and the index
  EXPECT_NE(after.at(ancient::ShardKey(
                "dict", ancient::ShardOf(std::string("key17"), 32))),
            before.at(ancient::ShardKey(
                "dict", ancient::ShardOf(std::string("key17"), 32))));
  auto snap = store->Read();
  auto view = ShardedView<HashDict>::Open(*snap, "dict");
  ASSERT_TRUE(view.ok());
  ASSERT_NE(view->get("key17"), nullptr);
  EXPECT_EQ(view->get("key17")->size(), 3u);
  EXPECT_TRUE(m.erase("key17"));
  ShareOrDie(*store, m, "dict");
  auto snap2 = store->Read();
  auto view2 = ShardedView<HashDict>::Open(*snap2, "dict");
  EXPECT_FALSE(view2->contains("key17"));
  EXPECT_EQ(view2->size(), 1999u);
  EXPECT_TRUE(view->contains("key17"));  // The older snapshot still does.
}

TEST(Sharded, BadIndexOrMissingShardIsAnError) {
  auto store = OpenStore(ancient_test::TempDir("sharded_bad"));
  ASSERT_TRUE(store->Share("plain", std::vector<std::uint64_t>{1, 2}).ok());
  ASSERT_TRUE(store->Share("text", std::string("x")).ok());
  auto m = Sharded<HashDict>::From(MakeHashDict(100), 4);
  ShareOrDie(*store, m, "dict");
  ASSERT_TRUE(store->Delete(ancient::ShardKey("dict", 2)).ok());
  auto snap = store->Read();
  auto v = ShardedView<HashDict>::Open(*snap, "plain");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(v.status().message().find("plain"), std::string::npos);
  v = ShardedView<HashDict>::Open(*snap, "text");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kFailedPrecondition);
  v = ShardedView<HashDict>::Open(*snap, "nothing");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  v = ShardedView<HashDict>::Open(*snap, "dict");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(v.status().message().find(ancient::ShardKey("dict", 2)),
            std::string::npos)
      << v.status();
  // Read as another map type: refused, naming the shard.
  auto w = ShardedView<SortedDict>::Open(*snap, "dict");
  EXPECT_FALSE(w.ok());
}

}  // namespace

namespace {

TEST(Sharded, ShardOfHashIsFixedAcrossReleases) {
  // Stored maps depend on it: a key's shard must never move. Values from
  // the documented formula (Mix64 of the hash xor 0x2545f4914f6cdd1d,
  // times the shard count, high 64 bits), computed apart from the code.
  struct Golden {
    std::uint64_t hash;
    std::size_t shards, shard;
  };
  for (const Golden& g : {
           Golden{0, 2, 1},
           Golden{1, 256, 203},
           Golden{42, 64, 26},
           Golden{0xdeadbeefcafef00dULL, 256, 190},
           Golden{~std::uint64_t{0}, 65536, 55589},
           Golden{123456789, 7, 6},
           Golden{std::uint64_t{1} << 63, 1000, 734},
       }) {
    EXPECT_EQ(ancient::ShardOfHash(g.hash, g.shards), g.shard)
        << g.hash << " of " << g.shards;
  }
}

}  // namespace
