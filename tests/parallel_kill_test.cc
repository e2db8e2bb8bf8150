// Kills of a writer that shares on two marking threads (kSync) with
// SIGKILL, at random moments, most of them inside a Share (between the
// writer's "STARTED" and its acknowledgement): after each kill the store
// verifies, every root reads back whole, every Share acknowledged in any
// round is there (or a later one at its key; the writer's sequence goes on
// across rounds, so a lost one cannot hide behind an older round's), and no
// arena space is lost. Every eighth graph is past 64 MiB.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
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
constexpr int kRounds = 14;

// What the writer said: acknowledged Shares (key -> seq) and the last seq
// it started.
struct Said {
  std::map<std::string, std::int64_t>* acked;
  std::int64_t started = 0, committed = 0;
  int shares = 0, on_two_threads = 0;
  std::size_t most_records = 0;  // of the values it started
  std::uint64_t biggest = 0;     // the biggest graph it acknowledged
  // Takes one line; false when it is not one the writer prints.
  bool Take(const std::string& line) {
    std::istringstream in(line);
    std::string word;
    in >> word;
    if (word == "STARTED") {
      in >> started;
      most_records =
          std::max(most_records, parallel_graph::RecordsFor(started, kRecords));
      return true;
    }
    if (word != "COMMITTED") return false;
    std::string key;
    int threads = 0;
    std::uint64_t bytes = 0;
    in >> key >> committed >> threads >> bytes;
    biggest = std::max(biggest, bytes);
    (*acked)[key] = committed;
    ++shares;
    on_two_threads += threads == 2;
    return true;
  }
};

TEST(ParallelShareKill, KilledWhileMarkingLosesNothing) {
  const std::string dir = TempDir("parallel_kill") + "/s";
  const std::string helper = Runfile("tests/parallel_helper");
  std::mt19937_64 rng(7);
  std::map<std::string, std::int64_t> acked;  // key -> last seq acknowledged
  std::int64_t next = 1;                      // the next round's first seq
  int shares = 0, on_two_threads = 0, inside = 0;
  std::uint64_t biggest = 0;       // the biggest root committed, in bytes
  std::size_t largest = kRecords;  // the most records a started value had
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    Child c = Spawn(
        {helper, dir, "2", std::to_string(kRecords), std::to_string(next)});
    Said said{&acked};
    // One whole Share timed from its STARTED to its acknowledgement; then,
    // at the next STARTED, a kill a random part of that time later.
    std::string line;
    auto started_at = std::chrono::steady_clock::now();
    std::chrono::steady_clock::duration per_share{};
    bool timed = false;
    while (ReadLine(c.out, &line)) {
      ASSERT_TRUE(said.Take(line)) << line;
      const auto now = std::chrono::steady_clock::now();
      if (line.rfind("STARTED", 0) == 0) {
        if (timed) break;
        started_at = now;
      } else if (said.started == said.committed) {
        per_share = now - started_at;
        timed = true;
      }
    }
    std::this_thread::sleep_for(per_share * (rng() % 100) / 100);
    kill(c.pid, SIGKILL);
    // What it said before dying counts too.
    while (ReadLine(c.out, &line)) ASSERT_TRUE(said.Take(line)) << line;
    const int status = Wait(c);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer died of something else: " << status;
    // Killed inside a Share: one was started and not acknowledged.
    inside += said.started > said.committed;
    shares += said.shares;
    on_two_threads += said.on_two_threads;
    next = said.started + 1;

    auto store = ancient::Store::Open(dir);
    ASSERT_TRUE(store.ok()) << store.status();
    ASSERT_TRUE((*store)->Verify().ok()) << (*store)->Verify();
    for (const auto& [key, seq] : acked) {
      auto r = (*store)->GetVerified<parallel_graph::Recs>(key);
      ASSERT_TRUE(r.ok()) << key << ": " << r.status();
      const std::int64_t seen = (*r)->seq;
      const std::int64_t got = parallel_graph::CheckRecs(
          **r, parallel_graph::RecordsFor(seen, kRecords));
      EXPECT_GE(got, seq) << key;  // whole, and no older than acknowledged
      EXPECT_LE(got, said.started) << key;  // and nothing never written
      EXPECT_EQ(got % 3, std::stoll(key.substr(1)) % 3) << key;
    }
    auto st = (*store)->Stats();
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->bytes_live + st->bytes_free + st->bytes_never_used,
              st->arena_size);
    EXPECT_LE(st->roots, 3u);
    // Space is reused: at most a few times the biggest value the writer
    // started (killed ones too: they grew the arena), at under 100 bytes a
    // record.
    largest = std::max(largest, said.most_records);
    biggest = std::max(biggest, said.biggest);
    EXPECT_LE(st->arena_size, 8 * (largest * 100 + (1 << 20)))
        << st->arena_size;
  }
  std::printf(
      "parallel kills: %d of %d inside a Share; %d of %d Shares on two "
      "threads; biggest graph %lu bytes\n",
      inside, kRounds, on_two_threads, shares,
      static_cast<unsigned long>(biggest));
  EXPECT_GE(inside, kRounds / 2);               // kills landed inside Shares
  EXPECT_GE(on_two_threads * 4, shares * 3);    // most marked on two threads
  EXPECT_GT(biggest, std::uint64_t{64} << 20);  // some past 64 MiB
}

}  // namespace
