// Reading old types through new ones (issue 17): ConvertGraph of a graph
// written with one release of a type into the next release's layout, beside
// Mark of the same data (the target: conversion at >= 50% of Mark's speed
// in MiB of graph a second). Private memory = the converted graph (its
// bytes are reported). And Store::Migrate of the 4M-entry map: time and
// arena growth.
//
//   trie     the dictionary trie (bench_data.h words with suffixes) whose
//            node gains a field (int32 count = 0)
//   map      4M-entry unordered_map<string, vector<i64>> read as
//            unordered_map<string, vector<f64>> (every element converted;
//            buckets kept: the keys did not change)
//   graph    the 1M-node graph (shared edges, cycles) whose node gains a
//            string label
//
// ANCIENT_BENCH_SCALE=tiny shrinks everything (bench/smoke_test.sh).

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ancient/ancient.h"
#include "ancient/schema/schema_graph.h"
#include "bench/bench_data.h"
#include "store/store.h"

namespace convert_bench {
struct TrieNode {
  bool word = false;
  std::map<char, std::unique_ptr<TrieNode>> next;
};
struct TrieNode2 {
  bool word = false;
  std::int32_t count = 0;
  std::map<char, std::unique_ptr<TrieNode2>> next;
};
struct GraphNode2 {
  std::int64_t id = 0;
  std::string label;
  std::vector<GraphNode2*> edges;
};
struct Graph2 {
  std::vector<std::unique_ptr<GraphNode2>> nodes;
};
}  // namespace convert_bench
ANCIENT_STRUCT(convert_bench::TrieNode, word, next);
ANCIENT_STRUCT(convert_bench::TrieNode2, word, count, next);
ANCIENT_STRUCT(convert_bench::GraphNode2, id, label, edges);
ANCIENT_STRUCT(convert_bench::Graph2, nodes);

namespace {

using convert_bench::TrieNode;
using BigMap = std::unordered_map<std::string, std::vector<std::int64_t>>;
using BigMap2 = std::unordered_map<std::string, std::vector<double>>;

bool Tiny() {
  const char* s = std::getenv("ANCIENT_BENCH_SCALE");
  return s != nullptr && std::string(s) == "tiny";
}

const TrieNode& Trie() {
  static const TrieNode* root = [] {
    auto* r = new TrieNode;
    std::ifstream in("/usr/share/dict/words");
    std::vector<std::string> words;
    for (std::string w;
         std::getline(in, w) && !(Tiny() && words.size() > 3000);) {
      for (const char* suffix : {"", "s", "ed", "ing", "er", "ly"}) {
        words.push_back(w + suffix);
      }
    }
    if (words.empty()) words = ancient_bench::Words();
    for (const auto& w : words) {
      TrieNode* n = r;
      for (char ch : w) {
        auto& child = n->next[ch];
        if (child == nullptr) child = std::make_unique<TrieNode>();
        n = child.get();
      }
      n->word = true;
    }
    return r;
  }();
  return *root;
}

const BigMap& TheMap() {
  static const BigMap* m = [] {
    auto* out = new BigMap;
    const std::size_t n = Tiny() ? 10000 : 4000000;
    out->reserve(n);
    std::uint64_t x = 88172645463325252ULL;
    for (std::size_t i = 0; i < n; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      std::vector<std::int64_t> v(1 + x % 8);
      for (auto& e : v) e = static_cast<std::int64_t>(x ^ i);
      out->emplace("key" + std::to_string(i), std::move(v));
    }
    return out;
  }();
  return *m;
}

template <class T>
void MarkBench(benchmark::State& state, const T& value) {
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto a = ancient::Mark(value);
    bytes = a.size_bytes();
    benchmark::DoNotOptimize(a.data());
  }
  state.counters["graph_mib"] = bytes / 1048576.0;
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * bytes));
}

// ConvertGraph of `value`'s graph (type From) into To's layout, placed
// where it was built, as Get does.
template <class From, class To>
void ConvertBench(benchmark::State& state, const From& value) {
  auto a = ancient::Mark(value);
  auto from = ancient::Schema::Parse(ancient::TypeDescription<From>());
  auto to = ancient::Schema::Parse(ancient::TypeDescription<To>());
  if (!from.ok() || !to.ok()) std::abort();
  const ancient::GraphBytes g{static_cast<const char*>(a.data()),
                              a.size_bytes(),
                              reinterpret_cast<std::uintptr_t>(a.data())};
  std::size_t out_bytes = 0;
  for (auto _ : state) {
    auto f =
        ancient::ConvertGraph(*from, g, *to, ancient::StructDefaultsOf<To>());
    if (!f.ok()) {
      state.SkipWithError(std::string(f.status().message()).c_str());
      return;
    }
    out_bytes = f->size();
    auto placed = std::move(*f).PlaceWhereBuilt();
    benchmark::DoNotOptimize(placed.get());
  }
  state.counters["graph_mib"] = a.size_bytes() / 1048576.0;
  state.counters["converted_mib"] = out_bytes / 1048576.0;
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * a.size_bytes()));
}

void BM_MarkTrie(benchmark::State& state) { MarkBench(state, Trie()); }
BENCHMARK(BM_MarkTrie)->Unit(benchmark::kMillisecond);
void BM_ConvertTrie(benchmark::State& state) {
  ConvertBench<TrieNode, convert_bench::TrieNode2>(state, Trie());
}
BENCHMARK(BM_ConvertTrie)->Unit(benchmark::kMillisecond);

void BM_MarkMap(benchmark::State& state) { MarkBench(state, TheMap()); }
BENCHMARK(BM_MarkMap)->Unit(benchmark::kMillisecond)->Iterations(3);
void BM_ConvertMap(benchmark::State& state) {
  ConvertBench<BigMap, BigMap2>(state, TheMap());
}
BENCHMARK(BM_ConvertMap)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_MarkGraph(benchmark::State& state) {
  MarkBench(state, ancient_bench::TheGraph());
}
BENCHMARK(BM_MarkGraph)->Unit(benchmark::kMillisecond);
void BM_ConvertGraph(benchmark::State& state) {
  ConvertBench<ancient_bench::Graph, convert_bench::Graph2>(
      state, ancient_bench::TheGraph());
}
BENCHMARK(BM_ConvertGraph)->Unit(benchmark::kMillisecond);

// Store::Migrate of the 4M-entry map to its next release: the time of the
// commit (kNoSync) and the arena's growth (the new graph beside the old
// until no reader holds it).
void BM_MigrateMap(benchmark::State& state) {
  const std::string dir = ancient_bench::TempDir("convert-bench");
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  double growth = 0, old_mib = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(dir);
    auto store = ancient::Store::Open(dir, o);
    if (!store.ok() || !(*store)->Share("map", TheMap()).ok()) std::abort();
    auto before = (*store)->Stats();
    state.ResumeTiming();
    auto info = (*store)->Migrate<BigMap2>("map");
    state.PauseTiming();
    if (!info.ok()) std::abort();
    auto after = (*store)->Stats();
    growth = (after->arena_size - before->arena_size) / 1048576.0;
    old_mib = before->bytes_live / 1048576.0;
    state.ResumeTiming();
  }
  state.counters["old_graph_mib"] = old_mib;
  state.counters["arena_growth_mib"] = growth;
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_MigrateMap)->Unit(benchmark::kMillisecond)->Iterations(2);

}  // namespace

BENCHMARK_MAIN();
