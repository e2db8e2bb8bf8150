// Marking speed: ancient::Mark of 1,000,000 short strings, against memcpy of
// the same payload bytes (the physical limit) and a std::vector copy.

#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ancient/ancient.h"
#include "bench/mem_stats.h"
#include "store/store.h"

namespace mark_bench {
// A trie of a dictionary: every word of /usr/share/dict/words with five
// suffixes as well (about 625,000 words), the pointer-rich shape of issue 10.
struct TrieNode {
  bool word = false;
  std::map<char, std::unique_ptr<TrieNode>> next;
};
}  // namespace mark_bench
ANCIENT_STRUCT(mark_bench::TrieNode, word, next);

namespace {

using mark_bench::TrieNode;

// The benchmarks' pseudo-random sequence (xorshift64), deterministic.
void XorShift(std::uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
}

std::vector<std::string> Words(std::size_t n) {
  std::vector<std::string> v;
  v.reserve(n);
  std::uint64_t x = 88172645463325252ULL;
  for (std::size_t i = 0; i < n; ++i) {
    XorShift(x);
    v.push_back(std::string(4 + x % 9, static_cast<char>('a' + x % 26)));
  }
  return v;
}

std::size_t PayloadBytes(const std::vector<std::string>& v) {
  std::size_t n = 0;
  for (const auto& s : v) n += s.size();
  return n;
}

using ancient_bench::ResetPeakRss;
using ancient_bench::StatusMb;

// Shares `value` (kNoSync) into a fresh store once per iteration, at one
// key (so that from the third on, the space of the one before last is
// reused), and reports the graph's size and the writer's heap memory beside
// it (ShareInfo::scratch_bytes), and the process's resident memory before
// and at its peak during the Shares (the value, the graph's file pages, the
// writer's scratch).
template <class T>
void ShareBench(benchmark::State& state, const T& value) {
  state.counters["rss_before_mb"] = StatusMb("VmRSS");
  ResetPeakRss();
  char tmpl[] = "/tmp/ancient-bench-share.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) std::abort();
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  std::uint64_t graph = 0, scratch = 0;
  {
    auto store = ancient::Store::Open(std::string(tmpl) + "/s", o);
    if (!store.ok()) std::abort();
    for (auto _ : state) {
      auto info = (*store)->Share("v", value);
      if (!info.ok()) std::abort();
      graph = info->size_bytes;
      scratch = info->scratch_bytes;
    }
  }
  std::filesystem::remove_all(tmpl);
  state.SetBytesProcessed(
      static_cast<std::int64_t>(state.iterations() * graph));
  state.counters["graph_bytes"] = static_cast<double>(graph);
  state.counters["scratch_bytes"] = static_cast<double>(scratch);
  state.counters["peak_rss_mb"] = StatusMb("VmHWM");
}

void BM_MarkWords(benchmark::State& state) {
  const auto words = Words(state.range(0));
  std::size_t block = 0;
  for (auto _ : state) {
    auto a = ancient::Mark(words);
    block = a.size_bytes();
    benchmark::DoNotOptimize(a.data());
  }
  state.SetBytesProcessed(state.iterations() * PayloadBytes(words));
  state.counters["block_bytes"] = static_cast<double>(block);
}
BENCHMARK(BM_MarkWords)->Arg(1000)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_ShareWords(benchmark::State& state) {
  ShareBench(state, Words(state.range(0)));
}
BENCHMARK(BM_ShareWords)->Arg(1000000)->Unit(benchmark::kMillisecond);

void BM_MemcpyWords(benchmark::State& state) {
  const auto words = Words(state.range(0));
  const std::size_t bytes = PayloadBytes(words);
  // The same payload, already contiguous, copied to fresh memory.
  std::string flat;
  flat.reserve(bytes);
  for (const auto& s : words) flat += s;
  for (auto _ : state) {
    char* dst = static_cast<char*>(::operator new(bytes));
    std::memcpy(dst, flat.data(), bytes);
    benchmark::DoNotOptimize(dst);
    ::operator delete(dst);
  }
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(BM_MemcpyWords)
    ->Arg(1000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond);

void BM_CopyVector(benchmark::State& state) {
  const auto words = Words(state.range(0));
  for (auto _ : state) {
    std::vector<std::string> copy = words;
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetBytesProcessed(state.iterations() * PayloadBytes(words));
}
BENCHMARK(BM_CopyVector)
    ->Arg(1000)
    ->Arg(1000000)
    ->Unit(benchmark::kMillisecond);

const std::vector<std::string>& Dictionary() {
  static const auto* words = [] {
    auto* v = new std::vector<std::string>;
    std::ifstream in("/usr/share/dict/words");
    std::string w;
    const bool tiny = std::getenv("ANCIENT_BENCH_SCALE") != nullptr &&
                      std::string(std::getenv("ANCIENT_BENCH_SCALE")) == "tiny";
    while (std::getline(in, w) && !(tiny && v->size() > 3000)) {
      for (const char* suffix : {"", "s", "ed", "ing", "er", "ly"}) {
        v->push_back(w + suffix);
      }
    }
    if (v->empty()) *v = Words(600000);
    return v;
  }();
  return *words;
}

std::size_t BuildTrie(TrieNode& root, const std::vector<std::string>& words) {
  std::size_t nodes = 1;
  for (const auto& w : words) {
    TrieNode* n = &root;
    for (char ch : w) {
      auto& child = n->next[ch];
      if (child == nullptr) {
        child = std::make_unique<TrieNode>();
        ++nodes;
      }
      n = child.get();
    }
    n->word = true;
  }
  return nodes;
}

void BM_BuildTrieInHeap(benchmark::State& state) {
  const auto& words = Dictionary();
  std::size_t nodes = 0;
  for (auto _ : state) {
    TrieNode root;
    nodes = BuildTrie(root, words);
    benchmark::DoNotOptimize(root.next.size());
    state.PauseTiming();  // Freeing the trie is not building it.
    root.next.clear();
    state.ResumeTiming();
  }
  state.counters["nodes"] = static_cast<double>(nodes);
  state.counters["words"] = static_cast<double>(words.size());
}
BENCHMARK(BM_BuildTrieInHeap)->Unit(benchmark::kMillisecond);

void BM_MarkTrie(benchmark::State& state) {
  TrieNode root;
  const std::size_t nodes = BuildTrie(root, Dictionary());
  std::size_t block = 0;
  for (auto _ : state) {
    auto a = ancient::Mark(
        root,
        ancient::MarkOptions{.threads = static_cast<int>(state.range(0))});
    block = a.size_bytes();
    benchmark::DoNotOptimize(a.data());
  }
  state.counters["nodes"] = static_cast<double>(nodes);
  state.counters["block_bytes"] = static_cast<double>(block);
  state.counters["ns_per_node"] =
      benchmark::Counter(static_cast<double>(nodes),
                         benchmark::Counter::kIsIterationInvariantRate |
                             benchmark::Counter::kInvert);
}
BENCHMARK(BM_MarkTrie)
    ->ArgName("threads")
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond);

void BM_ShareTrie(benchmark::State& state) {
  TrieNode root;
  BuildTrie(root, Dictionary());
  ShareBench(state, root);
}
BENCHMARK(BM_ShareTrie)->Unit(benchmark::kMillisecond);

// Small one-pass Shares (a map of 20 words) into a store whose free space
// is fragmented: 20,000 keys written, every other one deleted, so 10,000
// free extents that cannot coalesce. What finding room costs per Share.
void BM_ShareSmallFragmented(benchmark::State& state) {
  char tmpl[] = "/tmp/ancient-bench-frag.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) std::abort();
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  std::map<std::string, std::int64_t> small;
  for (int i = 0; i < 20; ++i) small["word" + std::to_string(i)] = i;
  {
    auto store = ancient::Store::Open(std::string(tmpl) + "/s", o);
    if (!store.ok()) std::abort();
    {
      auto batch = (*store)->Write();
      if (!batch.ok()) std::abort();
      for (int i = 0; i < 20000; ++i) {
        if (!batch->Share("k" + std::to_string(i), small).ok()) std::abort();
      }
      if (!batch->Commit().ok()) std::abort();
    }
    {
      auto batch = (*store)->Write();
      if (!batch.ok()) std::abort();
      for (int i = 0; i < 20000; i += 2) {
        if (!batch->Delete("k" + std::to_string(i)).ok()) std::abort();
      }
      if (!batch->Commit().ok()) std::abort();
    }
    auto batch = (*store)->Write();  // one batch: no commit per Share
    if (!batch.ok()) std::abort();
    std::int64_t i = 0;
    for (auto _ : state) {
      if (!batch->Share("new" + std::to_string(i++ % 1000), small).ok()) {
        std::abort();
      }
    }
  }
  std::filesystem::remove_all(tmpl);
}
BENCHMARK(BM_ShareSmallFragmented)->Unit(benchmark::kMicrosecond);

// A big hash map of strings to vectors (issue 10): 4M entries, about
// 0.5 GiB of heap (ANCIENT_BENCH_SCALE=tiny: 10,000; =big: 16M, 2 GiB).
using BigMap = std::unordered_map<std::string, std::vector<std::int64_t>>;

std::size_t BigMapEntries() {
  const char* s = std::getenv("ANCIENT_BENCH_SCALE");
  const std::string scale = s == nullptr ? "" : s;
  return scale == "tiny" ? 10000 : scale == "big" ? 16000000 : 4000000;
}

void FillBigMap(BigMap& m, std::size_t n) {
  m.reserve(n);
  std::uint64_t x = 88172645463325252ULL;
  for (std::size_t i = 0; i < n; ++i) {
    XorShift(x);
    std::vector<std::int64_t> v(1 + x % 8);
    for (auto& e : v) e = static_cast<std::int64_t>(x ^ i);
    m.emplace("key" + std::to_string(i), std::move(v));
  }
}

void BM_BuildBigMapInHeap(benchmark::State& state) {
  for (auto _ : state) {
    BigMap m;
    FillBigMap(m, BigMapEntries());
    benchmark::DoNotOptimize(m.size());
    state.PauseTiming();  // Freeing it is not building it.
    m = BigMap();
    state.ResumeTiming();
  }
}
BENCHMARK(BM_BuildBigMapInHeap)->Unit(benchmark::kMillisecond)->Iterations(2);

void BM_ShareBigMap(benchmark::State& state) {
  BigMap m;
  FillBigMap(m, BigMapEntries());
  // The heap holding the map (ShareBench adds the peak resident memory).
  state.counters["heap_mb"] = mallinfo2().uordblks / 1048576.0;
  ShareBench(state, m);
}
BENCHMARK(BM_ShareBigMap)->Unit(benchmark::kMillisecond)->Iterations(2);

}  // namespace

BENCHMARK_MAIN();
