// JSON out of and into a store without the C++ type (what `ancientctl
// dump` and `load` do per root), on the peers' data sets, beside what
// `ancientctl get` printed before schemas: the lines of a strings root, and
// ToJson of a Value root.
//
// Counters: bytes_per_second = JSON bytes; json_mb = the JSON's size;
// peak_rss_mb = the process's peak resident memory so far (load keeps the
// parsed document and the built graph at once).

#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "ancient/json.h"
#include "bench/bench_data.h"
#include "store/store.h"

namespace {

using namespace ancient_bench;

double PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// One store holding the three data sets, shared once per process.
ancient::Store& TheStore() {
  static ancient::Store* store = [] {
    static const std::string dir = TempDir("json_bench");
    // The store stays open to the end; its files go with the process (each
    // run left a directory in /tmp behind).
    std::atexit([] { std::filesystem::remove_all(dir); });
    ancient::StoreOptions o;
    o.durability = ancient::Durability::kNoSync;
    auto s = ancient::Store::Open(dir, o);
    if (!s.ok()) std::abort();
    if (!(*s)->Share("words", Words()).ok() ||
        !(*s)->Share("map", WordMap()).ok() ||
        !(*s)->Share("graph", TheGraph()).ok() ||
        !(*s)->Share("words_value", WordsValue()).ok()) {
      std::abort();
    }
    return s->release();
  }();
  return *store;
}

void Out(benchmark::State& state, const char* key) {
  auto snap = TheStore().Read();
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto json = snap->GetJson(key);
    if (!json.ok()) {
      state.SkipWithError(std::string(json.status().message()).c_str());
      return;
    }
    bytes = json->size();
    benchmark::DoNotOptimize(json->data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) *
                          state.iterations());
  state.counters["json_mb"] = bytes / 1e6;
  state.counters["peak_rss_mb"] = PeakRssMb();
}

void In(benchmark::State& state, const char* key) {
  auto snap = TheStore().Read();
  const std::string json = *snap->GetJson(key);
  const std::string type = *snap->TypeDescription(key);
  snap = absl::StatusOr<ancient::Snapshot>(absl::UnknownError("released"));
  for (auto _ : state) {
    auto info = TheStore().ShareJson(std::string(key) + "_loaded", type, json);
    if (!info.ok()) {
      state.SkipWithError(std::string(info.status().message()).c_str());
      return;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(json.size()) *
                          state.iterations());
  state.counters["json_mb"] = json.size() / 1e6;
  state.counters["peak_rss_mb"] = PeakRssMb();
}

void BM_JsonOut_Words(benchmark::State& s) { Out(s, "words"); }
void BM_JsonOut_Map(benchmark::State& s) { Out(s, "map"); }
void BM_JsonOut_Graph(benchmark::State& s) { Out(s, "graph"); }
void BM_JsonIn_Words(benchmark::State& s) { In(s, "words"); }
void BM_JsonIn_Map(benchmark::State& s) { In(s, "map"); }
void BM_JsonIn_Graph(benchmark::State& s) { In(s, "graph"); }

// Before schemas, `ancientctl get` printed a strings root line by line...
void BM_GetBefore_WordsLines(benchmark::State& state) {
  auto snap = TheStore().Read();
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto v = snap->GetVerified<std::vector<std::string>>("words");
    std::string out;
    for (const ancient::String& s : **v) {
      out.append(s.data(), s.size());
      out.push_back('\n');
    }
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) *
                          state.iterations());
  state.counters["json_mb"] = bytes / 1e6;
}

// ...and a Value root with ToJson (nlohmann), here the words as a Value.
void BM_GetBefore_WordsValueToJson(benchmark::State& state) {
  auto snap = TheStore().Read();
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto v = snap->GetVerified<ancient::Value>("words_value");
    const std::string out = ancient::ToJson(**v);
    bytes = out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes) *
                          state.iterations());
  state.counters["json_mb"] = bytes / 1e6;
}

// The same Value, through the schema path: the two JSON writers compared.
void BM_JsonOut_WordsValue(benchmark::State& s) { Out(s, "words_value"); }

BENCHMARK(BM_JsonOut_Words)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JsonOut_Map)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JsonOut_Graph)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JsonOut_WordsValue)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GetBefore_WordsLines)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_GetBefore_WordsValueToJson)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JsonIn_Words)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JsonIn_Map)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_JsonIn_Graph)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
