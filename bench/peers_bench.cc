// ancient against its peers on the same data, in one run: write, traverse
// and key lookup. (Open-to-first-read and concurrent readers need fresh
// processes: open_bench.cc.)
//
// Names: BM_<Group>_<Contender>/<data>; tools/bench turns them into ratios.

#include <benchmark/benchmark.h>
#include <lmdb.h>

#include <cstring>
#include <deque>
#include <filesystem>
#include <random>
#include <vector>

#include "bench/bench_data.h"
#include "bench/lmdb_kv.h"
#include "bench/peers.h"
#include "store/store.h"

namespace ancient_bench {
namespace {

namespace fs = std::filesystem;

// ------------------------------------------------------------------ write

void BM_Write_Memcpy(benchmark::State& state) {
  // The physical limit: the words' payload bytes, already contiguous,
  // copied into memory that is already mapped.
  const auto& w = Words();
  std::string flat;
  for (const auto& s : w) flat += s;
  std::vector<char> dst(flat.size());
  for (auto _ : state) {
    std::memcpy(dst.data(), flat.data(), flat.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * flat.size());
}
BENCHMARK(BM_Write_Memcpy)->Name("BM_Write_Memcpy/words");

template <class T>
void MarkBench(benchmark::State& state, const T& value, std::size_t bytes) {
  std::size_t size = 0;
  for (auto _ : state) {
    auto a = ancient::Mark(value);
    size = a.size_bytes();
    benchmark::DoNotOptimize(a.data());
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  state.counters["block_bytes"] = static_cast<double>(size);
}

template <class T>
void ShareBench(benchmark::State& state, const T& value, std::size_t bytes,
                ancient::Durability d) {
  const std::string dir = TempDir("share");
  ancient::StoreOptions o;
  o.durability = d;
  o.max_size = std::size_t{1} << 34;
  auto store = ancient::Store::Open(dir + "/s", o);
  if (!store.ok()) {
    state.SkipWithError(std::string(store.status().message()).c_str());
    return;
  }
  for (auto _ : state) {
    auto info = (*store)->Share("k", value);
    if (!info.ok()) state.SkipWithError("share failed");
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  store->reset();
  fs::remove_all(dir);
}

template <class Build>
void BoostBench(benchmark::State& state, std::size_t bytes, Build build) {
  const std::string dir = TempDir("boost");
  const std::string file = dir + "/segment";
  for (auto _ : state) {
    state.PauseTiming();
    fs::remove(file);
    state.ResumeTiming();
    Segment seg(bip::create_only, file.c_str(), BoostFileSize(bytes));
    benchmark::DoNotOptimize(build(seg));
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  fs::remove_all(dir);
}

template <class Serialize>
void KvBench(benchmark::State& state, std::size_t bytes, Serialize serialize) {
  const std::string dir = TempDir("kv");
  {
    LmdbKv kv(dir, /*sync=*/false);
    for (auto _ : state) kv.Put("k", serialize());
  }
  state.SetBytesProcessed(state.iterations() * bytes);
  fs::remove_all(dir);
}

std::size_t WordsBytes() { return PayloadBytes(Words()); }
std::size_t MapBytes() { return PayloadBytes(Words()) + 8 * Words().size(); }
std::size_t GraphBytes() { return GraphSize() * 8 * 4; }

void BM_Write_Mark_Words(benchmark::State& s) {
  MarkBench(s, Words(), WordsBytes());
}
void BM_Write_ShareNoSync_Words(benchmark::State& s) {
  ShareBench(s, Words(), WordsBytes(), ancient::Durability::kNoSync);
}
void BM_Write_ShareSync_Words(benchmark::State& s) {
  ShareBench(s, Words(), WordsBytes(), ancient::Durability::kSync);
}
void BM_Write_Boost_Words(benchmark::State& s) {
  BoostBench(s, WordsBytes(),
             [](Segment& seg) { return BuildBoostWords(seg, Words()); });
}
void BM_Write_CerealLmdb_Words(benchmark::State& s) {
  KvBench(s, WordsBytes(), [] { return CerealBytes(Words()); });
}
void BM_Write_FlatbuffersLmdb_Words(benchmark::State& s) {
  KvBench(s, WordsBytes(), [] {
    flatbuffers::FlatBufferBuilder b;
    BuildFbWords(b, Words());
    return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()),
                       b.GetSize());
  });
}
BENCHMARK(BM_Write_Mark_Words)
    ->Name("BM_Write_Mark/words")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_ShareNoSync_Words)
    ->Name("BM_Write_ShareNoSync/words")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_ShareSync_Words)
    ->Name("BM_Write_ShareSync/words")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_Boost_Words)
    ->Name("BM_Write_Boost/words")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_CerealLmdb_Words)
    ->Name("BM_Write_CerealLmdb/words")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_FlatbuffersLmdb_Words)
    ->Name("BM_Write_FlatbuffersLmdb/words")
    ->Unit(benchmark::kMillisecond);

void BM_Write_Mark_Map(benchmark::State& s) {
  MarkBench(s, WordMap(), MapBytes());
}
void BM_Write_ShareNoSync_Map(benchmark::State& s) {
  ShareBench(s, WordMap(), MapBytes(), ancient::Durability::kNoSync);
}
void BM_Write_Boost_Map(benchmark::State& s) {
  BoostBench(s, MapBytes(),
             [](Segment& seg) { return BuildBoostMap(seg, WordMap()); });
}
void BM_Write_CerealLmdb_Map(benchmark::State& s) {
  KvBench(s, MapBytes(), [] { return CerealBytes(WordMap()); });
}
void BM_Write_FlatbuffersLmdb_Map(benchmark::State& s) {
  KvBench(s, MapBytes(), [] {
    flatbuffers::FlatBufferBuilder b;
    BuildFbDict(b, WordMap());
    return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()),
                       b.GetSize());
  });
}
BENCHMARK(BM_Write_Mark_Map)
    ->Name("BM_Write_Mark/map")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_ShareNoSync_Map)
    ->Name("BM_Write_ShareNoSync/map")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_Boost_Map)
    ->Name("BM_Write_Boost/map")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_CerealLmdb_Map)
    ->Name("BM_Write_CerealLmdb/map")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_FlatbuffersLmdb_Map)
    ->Name("BM_Write_FlatbuffersLmdb/map")
    ->Unit(benchmark::kMillisecond);

void BM_Write_Mark_Graph(benchmark::State& s) {
  MarkBench(s, TheGraph(), GraphBytes());
}
void BM_Write_ShareNoSync_Graph(benchmark::State& s) {
  ShareBench(s, TheGraph(), GraphBytes(), ancient::Durability::kNoSync);
}
void BM_Write_Boost_Graph(benchmark::State& s) {
  BoostBench(s, GraphBytes(),
             [](Segment& seg) { return BuildBoostGraph(seg, TheGraph()); });
}
void BM_Write_CerealLmdb_Graph(benchmark::State& s) {
  const CerealGraph c = ToCerealGraph(TheGraph());
  KvBench(s, GraphBytes(), [&] { return CerealBytes(c); });
}
void BM_Write_FlatbuffersLmdb_Graph(benchmark::State& s) {
  KvBench(s, GraphBytes(), [] {
    flatbuffers::FlatBufferBuilder b;
    BuildFbGraph(b, TheGraph());
    return std::string(reinterpret_cast<const char*>(b.GetBufferPointer()),
                       b.GetSize());
  });
}
BENCHMARK(BM_Write_Mark_Graph)
    ->Name("BM_Write_Mark/graph")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_ShareNoSync_Graph)
    ->Name("BM_Write_ShareNoSync/graph")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_Boost_Graph)
    ->Name("BM_Write_Boost/graph")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_CerealLmdb_Graph)
    ->Name("BM_Write_CerealLmdb/graph")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_FlatbuffersLmdb_Graph)
    ->Name("BM_Write_FlatbuffersLmdb/graph")
    ->Unit(benchmark::kMillisecond);

void BM_Write_Mark_Json(benchmark::State& s) { MarkBench(s, Json(), 1); }
void BM_Write_ShareNoSync_Json(benchmark::State& s) {
  ShareBench(s, Json(), 1, ancient::Durability::kNoSync);
}
BENCHMARK(BM_Write_Mark_Json)
    ->Name("BM_Write_Mark/json")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Write_ShareNoSync_Json)
    ->Name("BM_Write_ShareNoSync/json")
    ->Unit(benchmark::kMillisecond);

// --------------------------------------------------------------- traverse

// Sum of all string lengths.
void BM_SumLengths_Native(benchmark::State& state) {
  const auto& w = Words();
  for (auto _ : state) {
    std::size_t n = 0;
    for (const auto& s : w) n += s.size();
    benchmark::DoNotOptimize(n);
  }
}
void BM_SumLengths_Ancient(benchmark::State& state) {
  auto a = ancient::Mark(Words());
  const auto& f = a.Follow();
  for (auto _ : state) {
    std::size_t n = 0;
    for (const auto& s : f) n += s.size();
    benchmark::DoNotOptimize(n);
  }
}
void BM_SumLengths_Boost(benchmark::State& state) {
  const std::string dir = TempDir("boostsum");
  Segment seg(bip::create_only, (dir + "/s").c_str(),
              BoostFileSize(WordsBytes()));
  const BWords* v = BuildBoostWords(seg, Words());
  for (auto _ : state) {
    std::size_t n = 0;
    for (const auto& s : *v) n += s.size();
    benchmark::DoNotOptimize(n);
  }
  fs::remove_all(dir);
}
void BM_SumLengths_Flatbuffers(benchmark::State& state) {
  flatbuffers::FlatBufferBuilder b;
  BuildFbWords(b, Words());
  const auto* root = flatbuffers::GetRoot<fb::Words>(b.GetBufferPointer());
  for (auto _ : state) {
    std::size_t n = 0;
    for (const auto* s : *root->words()) n += s->size();
    benchmark::DoNotOptimize(n);
  }
}
void BM_SumLengths_Capnp(benchmark::State& state) {
  auto bytes = CapnpWords(Words());
  capnp::FlatArrayMessageReader reader(bytes, BigReader());
  auto words = reader.getRoot<cp::Words>().getWords();
  for (auto _ : state) {
    std::size_t n = 0;
    for (auto s : words) n += s.size();
    benchmark::DoNotOptimize(n);
  }
}
BENCHMARK(BM_SumLengths_Native)->Name("BM_SumLengths_Native/words");
BENCHMARK(BM_SumLengths_Ancient)->Name("BM_SumLengths_Ancient/words");
BENCHMARK(BM_SumLengths_Boost)->Name("BM_SumLengths_Boost/words");
BENCHMARK(BM_SumLengths_Flatbuffers)->Name("BM_SumLengths_Flatbuffers/words");
BENCHMARK(BM_SumLengths_Capnp)->Name("BM_SumLengths_Capnp/words");

// 1,000,000 random lookups in the map.
void BM_Lookups_Native(benchmark::State& state) {
  const auto& m = WordMap();
  const auto& keys = LookupKeys();
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (const auto& k : keys) sum += m.find(k)->second;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * keys.size());
}
void BM_Lookups_Ancient(benchmark::State& state) {
  auto a = ancient::Mark(WordMap());
  const auto& m = a.Follow();
  const auto& keys = LookupKeys();
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (const auto& k : keys) sum += *m.get(k);
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * keys.size());
}
void BM_Lookups_Boost(benchmark::State& state) {
  const std::string dir = TempDir("boostmap");
  Segment seg(bip::create_only, (dir + "/s").c_str(),
              BoostFileSize(MapBytes()) * 2);
  const BMap* m = BuildBoostMap(seg, WordMap());
  const auto& keys = LookupKeys();
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (const auto& k : keys) sum += m->find(std::string_view(k))->second;
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * keys.size());
  fs::remove_all(dir);
}
void BM_Lookups_Flatbuffers(benchmark::State& state) {
  flatbuffers::FlatBufferBuilder b;
  BuildFbDict(b, WordMap());
  const auto* entries =
      flatbuffers::GetRoot<fb::Dict>(b.GetBufferPointer())->entries();
  const auto& keys = LookupKeys();
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (const auto& k : keys) sum += entries->LookupByKey(k.c_str())->value();
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * keys.size());
}
void BM_Lookups_Capnp(benchmark::State& state) {
  auto bytes = CapnpDict(WordMap());
  capnp::FlatArrayMessageReader reader(bytes, BigReader());
  auto entries = reader.getRoot<cp::Dict>().getEntries();
  const auto& keys = LookupKeys();
  for (auto _ : state) {
    std::int64_t sum = 0;
    for (const auto& k : keys) {
      // A sorted list: binary search by key.
      unsigned lo = 0, hi = entries.size();
      while (lo < hi) {
        const unsigned mid = (lo + hi) / 2;
        auto key = entries[mid].getKey();
        if (std::string_view(key.cStr(), key.size()) < k)
          lo = mid + 1;
        else
          hi = mid;
      }
      sum += entries[lo].getValue();
    }
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(state.iterations() * keys.size());
}
BENCHMARK(BM_Lookups_Native)
    ->Name("BM_Lookups_Native/map")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Lookups_Ancient)
    ->Name("BM_Lookups_Ancient/map")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Lookups_Boost)
    ->Name("BM_Lookups_Boost/map")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Lookups_Flatbuffers)
    ->Name("BM_Lookups_Flatbuffers/map")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Lookups_Capnp)
    ->Name("BM_Lookups_Capnp/map")
    ->Unit(benchmark::kMillisecond);

// Breadth-first search over the whole graph from node 0.
template <class Node, class Edges, class Id>
std::size_t Bfs(const Node* start, std::size_t n, Edges edges, Id id) {
  std::vector<std::uint8_t> seen(n, 0);
  std::vector<const Node*> queue = {start};
  seen[id(start)] = 1;
  for (std::size_t i = 0; i < queue.size(); ++i) {
    for (const Node* next : edges(queue[i])) {
      if (!seen[id(next)]) {
        seen[id(next)] = 1;
        queue.push_back(next);
      }
    }
  }
  return queue.size();
}

void BM_Bfs_Native(benchmark::State& state) {
  const Graph& g = TheGraph();
  for (auto _ : state) {
    benchmark::DoNotOptimize(Bfs(
        g.nodes[0].get(), g.nodes.size(),
        [](const GraphNode* n) -> const std::vector<GraphNode*>& {
          return n->edges;
        },
        [](const GraphNode* n) { return static_cast<std::size_t>(n->id); }));
  }
}
void BM_Bfs_Ancient(benchmark::State& state) {
  auto a = ancient::Mark(TheGraph());
  using FNode = ancient::Frozen<GraphNode>;
  const auto& nodes = a.Follow().nodes;
  struct PtrRange {
    const ancient::Ptr<FNode>* b;
    const ancient::Ptr<FNode>* e;
    struct It {
      const ancient::Ptr<FNode>* p;
      const FNode* operator*() const { return p->get(); }
      It& operator++() {
        ++p;
        return *this;
      }
      bool operator!=(const It& o) const { return p != o.p; }
    };
    It begin() const { return {b}; }
    It end() const { return {e}; }
  };
  for (auto _ : state) {
    benchmark::DoNotOptimize(Bfs(
        nodes[0].get(), nodes.size(),
        [](const FNode* n) {
          return PtrRange{n->edges.begin(), n->edges.end()};
        },
        [](const FNode* n) { return static_cast<std::size_t>(n->id); }));
  }
}
void BM_Bfs_Boost(benchmark::State& state) {
  const std::string dir = TempDir("boostgraph");
  Segment seg(bip::create_only, (dir + "/s").c_str(),
              BoostFileSize(GraphBytes()) * 2);
  const BGraph* g = BuildBoostGraph(seg, TheGraph());
  struct Range {
    const BNode::Edges* e;
    struct It {
      BNode::Edges::const_iterator p;
      const BNode* operator*() const { return p->get(); }
      It& operator++() {
        ++p;
        return *this;
      }
      bool operator!=(const It& o) const { return p != o.p; }
    };
    It begin() const { return {e->begin()}; }
    It end() const { return {e->end()}; }
  };
  for (auto _ : state) {
    benchmark::DoNotOptimize(Bfs(
        &(*g)[0], g->size(), [](const BNode* n) { return Range{&n->edges}; },
        [](const BNode* n) { return static_cast<std::size_t>(n->id); }));
  }
  fs::remove_all(dir);
}
// FlatBuffers and Cap'n Proto hold edges as node indices.
void BM_Bfs_Flatbuffers(benchmark::State& state) {
  flatbuffers::FlatBufferBuilder b;
  BuildFbGraph(b, TheGraph());
  const auto* nodes =
      flatbuffers::GetRoot<fb::Graph>(b.GetBufferPointer())->nodes();
  for (auto _ : state) {
    std::vector<std::uint8_t> seen(nodes->size(), 0);
    std::vector<std::uint32_t> queue = {0};
    seen[0] = 1;
    for (std::size_t i = 0; i < queue.size(); ++i) {
      for (std::uint32_t next : *nodes->Get(queue[i])->edges()) {
        if (!seen[next]) {
          seen[next] = 1;
          queue.push_back(next);
        }
      }
    }
    benchmark::DoNotOptimize(queue.size());
  }
}
void BM_Bfs_Capnp(benchmark::State& state) {
  auto bytes = CapnpGraph(TheGraph());
  capnp::FlatArrayMessageReader reader(bytes, BigReader());
  auto nodes = reader.getRoot<cp::Graph>().getNodes();
  for (auto _ : state) {
    std::vector<std::uint8_t> seen(nodes.size(), 0);
    std::vector<std::uint32_t> queue = {0};
    seen[0] = 1;
    for (std::size_t i = 0; i < queue.size(); ++i) {
      for (std::uint32_t next : nodes[queue[i]].getEdges()) {
        if (!seen[next]) {
          seen[next] = 1;
          queue.push_back(next);
        }
      }
    }
    benchmark::DoNotOptimize(queue.size());
  }
}
BENCHMARK(BM_Bfs_Native)
    ->Name("BM_Bfs_Native/graph")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Bfs_Ancient)
    ->Name("BM_Bfs_Ancient/graph")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Bfs_Boost)
    ->Name("BM_Bfs_Boost/graph")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Bfs_Flatbuffers)
    ->Name("BM_Bfs_Flatbuffers/graph")
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Bfs_Capnp)
    ->Name("BM_Bfs_Capnp/graph")
    ->Unit(benchmark::kMillisecond);

// ------------------------------------------------------------ key lookup

// Snapshot::Get on a warm snapshot against raw mdb_get of the same key in
// the same LMDB environment (the store's own).
void BM_KeyLookup_SnapshotGet(benchmark::State& state) {
  const std::string dir = TempDir("keylookup");
  auto store = ancient::Store::Open(dir + "/s");
  for (int i = 0; i < 1000; ++i) {
    (void)(*store)->Share("key" + std::to_string(i), std::string("v"));
  }
  auto snap = (*store)->Read();
  for (auto _ : state) {
    auto v = snap->Get<std::string>("key500");
    benchmark::DoNotOptimize(v);
  }
  fs::remove_all(dir);
}
void BM_KeyLookup_MdbGet(benchmark::State& state) {
  const std::string dir = TempDir("mdbget");
  {
    auto store = ancient::Store::Open(dir + "/s");
    for (int i = 0; i < 1000; ++i) {
      (void)(*store)->Share("key" + std::to_string(i), std::string("v"));
    }
  }
  MDB_env* env;
  mdb_env_create(&env);
  mdb_env_set_maxdbs(env, 8);
  mdb_env_open(env, (dir + "/s").c_str(), MDB_RDONLY | MDB_NOTLS, 0600);
  MDB_txn* txn;
  mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn);
  MDB_dbi dbi;
  mdb_dbi_open(txn, "roots", 0, &dbi);
  const std::string key = "key500";
  for (auto _ : state) {
    MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
    benchmark::DoNotOptimize(mdb_get(txn, dbi, &k, &v));
    benchmark::DoNotOptimize(v.mv_data);
  }
  mdb_txn_abort(txn);
  mdb_env_close(env);
  fs::remove_all(dir);
}
BENCHMARK(BM_KeyLookup_SnapshotGet)->Name("BM_KeyLookup_SnapshotGet/key");
BENCHMARK(BM_KeyLookup_MdbGet)->Name("BM_KeyLookup_MdbGet/key");

}  // namespace
}  // namespace ancient_bench

BENCHMARK_MAIN();
