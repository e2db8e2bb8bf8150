// Marking speed: ancient::Mark of 1,000,000 short strings, against memcpy of
// the same payload bytes (the physical limit) and a std::vector copy.

#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "ancient/ancient.h"

namespace {

std::vector<std::string> Words(std::size_t n) {
  std::vector<std::string> v;
  v.reserve(n);
  std::uint64_t x = 88172645463325252ULL;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v.push_back(std::string(4 + x % 9, static_cast<char>('a' + x % 26)));
  }
  return v;
}

std::size_t PayloadBytes(const std::vector<std::string>& v) {
  std::size_t n = 0;
  for (const auto& s : v) n += s.size();
  return n;
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

}  // namespace

BENCHMARK_MAIN();
