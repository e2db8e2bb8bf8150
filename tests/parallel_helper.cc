// The writer that parallel_kill_test kills: shares MakeRecs(seq) at key
// "g<seq % 3>" for seq = 1, 2, ... with kSync on several marking threads,
// printing "COMMITTED KEY SEQ" after each Share returns.
//
//   parallel_helper DIR THREADS RECORDS

#include <cstdio>
#include <string>

#include "store/store.h"
#include "tests/parallel_graph.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: parallel_helper DIR THREADS RECORDS\n");
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
  for (std::int64_t seq = 1;; ++seq) {
    const std::string key = "g" + std::to_string(seq % 3);
    const parallel_graph::Recs r = parallel_graph::MakeRecs(seq, n);
    auto info = (*store)->Share(key, r);
    if (!info.ok()) {
      std::fprintf(stderr, "share: %s\n", info.status().ToString().c_str());
      return 1;
    }
    std::printf("COMMITTED %s %lld %d\n", key.c_str(),
                static_cast<long long>(seq), info->mark_threads);
    std::fflush(stdout);
  }
}
