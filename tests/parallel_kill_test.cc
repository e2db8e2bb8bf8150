// Kills of a writer that shares on several marking threads (kSync), at
// random moments, most of them while a Share is marking or copying: after
// each kill the store verifies, every root reads back whole, the last
// acknowledged Share is there (or a later one at its key), and no arena
// space is lost.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "store/store.h"
#include "tests/parallel_graph.h"
#include "tests/test_util.h"

namespace {

using namespace ancient_test;

constexpr std::size_t kRecords = 40000;  // about 4 MiB of graph

TEST(ParallelShareKill, KilledWhileMarkingLosesNothing) {
  const std::string dir = TempDir("parallel_kill") + "/s";
  const std::string helper = Runfile("tests/parallel_helper");
  std::mt19937_64 rng(7);
  std::map<std::string, std::int64_t> acked;  // key -> last seq acknowledged
  int on_two_threads = 0;
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE(round);
    Child c = Spawn({helper, dir, "2", std::to_string(kRecords)});
    // The first acknowledgement, then a kill a random part of a Share's
    // time later (one Share: the time between two acknowledgements).
    std::string line;
    auto last = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration per_share{};
    for (int k = 0; k < 2 && ReadLine(c.out, &line); ++k) {
      std::istringstream in(line);
      std::string word, key;
      std::int64_t seq = 0;
      int threads = 0;
      in >> word >> key >> seq >> threads;
      ASSERT_EQ(word, "COMMITTED") << line;
      acked[key] = seq;
      on_two_threads += threads == 2;
      const auto now = std::chrono::steady_clock::now();
      per_share = now - last;
      last = now;
    }
    std::this_thread::sleep_for(per_share * (rng() % 100) / 100);
    kill(c.pid, SIGKILL);
    // What it acknowledged before dying counts too.
    while (ReadLine(c.out, &line)) {
      std::istringstream in(line);
      std::string word, key;
      std::int64_t seq = 0;
      in >> word >> key >> seq;
      if (word == "COMMITTED") acked[key] = seq;
    }
    const int status = Wait(c);
    ASSERT_TRUE(WIFSIGNALED(status)) << status;

    auto store = ancient::Store::Open(dir);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Verify().ok()) << (*store)->Verify();
    for (const auto& [key, seq] : acked) {
      auto r = (*store)->GetVerified<parallel_graph::Recs>(key);
      ASSERT_TRUE(r.ok()) << key << ": " << r.status();
      const std::int64_t got = parallel_graph::CheckRecs(**r, kRecords);
      EXPECT_GE(got, seq) << key;  // whole, and no older than acknowledged
      EXPECT_EQ(got % 3, std::stoll(key.substr(1)) % 3) << key;
    }
    auto st = (*store)->Stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->bytes_live + st->bytes_free + st->bytes_never_used,
              st->arena_size);
    EXPECT_LE(st->roots, 3u);
    // Space is reused: at most a few versions of each key's size.
    EXPECT_LE(st->arena_size, 12 * (st->bytes_live / 3 + (1 << 20)))
        << st->arena_size;
  }
  EXPECT_GT(on_two_threads, 0);  // the Shares did mark on two threads
}

}  // namespace
