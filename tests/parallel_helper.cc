// The writer that parallel_kill_test kills: for seq = FIRST, FIRST+1, ...
// shares MakeRecs(seq, RecordsFor(seq, RECORDS)) at key "g<seq % 3>" with
// kSync on THREADS marking threads, printing "STARTED SEQ" before each
// Share and "COMMITTED KEY SEQ THREADS BYTES" after it returns.
//
//   parallel_helper DIR THREADS RECORDS FIRST

#include <cstdio>
#include <string>

#include "store/store.h"
#include "tests/parallel_graph.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: parallel_helper DIR THREADS RECORDS FIRST\n");
    return 64;
  }
  ancient::StoreOptions o;
  o.mark_threads = std::stoi(argv[2]);
  const std::size_t n = std::stoull(argv[3]);
  auto store = ancient::Store::Open(argv[1], o);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  for (std::int64_t seq = std::stoll(argv[4]);; ++seq) {
    const std::string key = "g" + std::to_string(seq % 3);
    const parallel_graph::Recs r =
        parallel_graph::MakeRecs(seq, parallel_graph::RecordsFor(seq, n));
    std::printf("STARTED %lld\n", static_cast<long long>(seq));
    std::fflush(stdout);
    auto info = (*store)->Share(key, r);
    if (!info.ok()) {
      std::fprintf(stderr, "share: %s\n", info.status().ToString().c_str());
      return 1;
    }
    std::printf("COMMITTED %s %lld %d %llu\n", key.c_str(),
                static_cast<long long>(seq), info->mark_threads,
                static_cast<unsigned long long>(info->size_bytes));
    std::fflush(stdout);
  }
}
