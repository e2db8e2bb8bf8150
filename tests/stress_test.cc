// Stress: one writer and 4 reader processes for a bounded time (30 s, or
// ANCIENT_STRESS_SECONDS), readers checking the checksum embedded in every
// value. Every second one reader is killed with SIGKILL mid-read and a new
// one started: their reader slots must be reclaimed.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "tests/test_util.h"

namespace {

using namespace ancient_test;

TEST(Stress, WriterAndFourReadersNoTornReads) {
  const char* env = std::getenv("ANCIENT_STRESS_SECONDS");
  const int seconds = env ? std::atoi(env) : 30;
  const std::string dir = TempDir("stress");
  const std::string helper = Runfile("tests/store_helper");
  ancient::StoreOptions opts;
  opts.max_size = std::size_t{1} << 32;
  {
    auto store = ancient::Store::Open(dir, opts);
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Share("k0", MakeValue(0, 10)).ok());
  }
  Child writer = Spawn({helper, "writer", dir, "0", "1000000000", "nosync"});
  std::string line;
  ASSERT_TRUE(ReadLine(writer.out, &line));
  ASSERT_EQ(line, "READY");
  // Drain the writer's ACKs in the background so it never blocks.
  std::uint64_t writes = 0;
  std::thread drain([&] {
    std::string l;
    while (ReadLine(writer.out, &l)) ++writes;
  });

  const std::string reader_ms = std::to_string(seconds * 1000);
  std::vector<Child> readers;
  for (int i = 0; i < 4; ++i) {
    readers.push_back(Spawn({helper, "reader", dir, reader_ms}));
  }
  std::uint64_t reads = 0, torn = 0, killed = 0, failed = 0;
  // A reader we killed must have died of our SIGKILL and of nothing else
  // (SIGSEGV or SIGBUS is how reading reused space would show); one we let
  // run must finish its reads and exit 0.
  auto collect = [&](Child& r, bool killed_by_us) {
    std::string out;
    ReadLine(r.out, &out);
    const int status = Wait(r);
    if (out.rfind("TORN", 0) == 0) ++torn;
    if (out.rfind("READS ", 0) == 0) reads += std::stoull(out.substr(6));
    const bool finished = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                          out.rfind("READS ", 0) == 0;
    const bool ok = finished || (killed_by_us && WIFSIGNALED(status) &&
                                 WTERMSIG(status) == SIGKILL);
    if (!ok) {
      ++failed;
      ADD_FAILURE() << "reader: " << out << " ("
                    << (WIFSIGNALED(status)
                            ? "signal " + std::to_string(WTERMSIG(status))
                            : "exit " + std::to_string(WEXITSTATUS(status)))
                    << ")";
    }
  };
  const auto end =
      std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int victim = 0;
  while (std::chrono::steady_clock::now() + std::chrono::seconds(2) < end) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    Child& r = readers[victim];
    kill(r.pid, SIGKILL);
    collect(r, true);
    ++killed;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    r = Spawn({helper, "reader", dir, std::to_string(left.count())});
    victim = (victim + 1) % 4;
  }
  for (auto& r : readers) collect(r, false);
  // The writer ran throughout: still alive (it has far more to write), so
  // our SIGKILL is what ends it.
  kill(writer.pid, SIGKILL);
  drain.join();
  const int writer_status = Wait(writer);
  EXPECT_TRUE(WIFSIGNALED(writer_status) && WTERMSIG(writer_status) == SIGKILL)
      << "the writer stopped by itself: " << writer_status;

  auto store = ancient::Store::Open(dir, opts);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->Verify().ok()) << (*store)->Verify();
  auto st = (*store)->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->readers, 0u);  // Killed readers' slots were reclaimed.
  EXPECT_EQ(st->bytes_live + st->bytes_free + st->bytes_never_used,
            st->arena_size);
  std::printf(
      "stress: %d s, %lu writes, %lu reads checked, %lu torn, %lu readers "
      "killed mid-read, %lu reader slots left\n",
      seconds, static_cast<unsigned long>(writes),
      static_cast<unsigned long>(reads), static_cast<unsigned long>(torn),
      static_cast<unsigned long>(killed),
      static_cast<unsigned long>(st->readers));
  EXPECT_EQ(torn, 0u);
  EXPECT_EQ(failed, 0u);
  EXPECT_GT(reads, 0u);
  EXPECT_GT(writes, 0u);
  EXPECT_GT(killed, 0u);
}

}  // namespace
