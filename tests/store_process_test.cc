// The store across processes: concurrent readers, snapshots held across
// overwrites, read-only protection, dead readers. (kill -9 of the writer:
// crash_torture.cc.)
// Children are separate programs (fork + exec of store_helper).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "tests/store_ops.h"
#include "tests/test_util.h"

namespace {

using ancient::Store;
using ancient::StoreOptions;
using namespace ancient_test;

std::string Helper() { return Runfile("tests/store_helper"); }

StoreOptions Opts() {
  StoreOptions o;
  o.max_size = std::size_t{1} << 32;
  return o;
}

// The store's contents as key -> seq; fails the test on a torn value.
Model ReadAll(Store& store) {
  Model m;
  auto keys = store.Keys();
  EXPECT_TRUE(keys.ok()) << keys.status();
  if (!keys.ok()) return m;
  for (const auto& key : *keys) {
    auto v = store.Get<std::vector<std::string>>(key);
    EXPECT_TRUE(v.ok()) << key << ": " << v.status();
    if (!v.ok()) continue;
    const std::int64_t seq = CheckValue(**v);
    EXPECT_GE(seq, 0) << "damaged value at " << key;
    m[key] = static_cast<std::uint64_t>(seq);
  }
  return m;
}

void ExpectSpaceAddsUp(Store& store) {
  auto st = store.Stats();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->bytes_live + st->bytes_free + st->bytes_never_used,
            st->arena_size);
}

TEST(Processes, WriterAndThreeReaders) {
  const std::string dir = TempDir("readers");
  { ASSERT_TRUE(Store::Open(dir, Opts()).ok()); }
  Child writer = Spawn({Helper(), "writer", dir, "0", "1500", "nosync"});
  std::vector<Child> readers;
  for (int i = 0; i < 3; ++i) {
    readers.push_back(Spawn({Helper(), "reader", dir, "3000"}));
  }
  std::string line, last;
  while (ReadLine(writer.out, &line)) last = line;
  EXPECT_EQ(last, "ACK 1499");
  const int ws = Wait(writer);
  EXPECT_TRUE(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
  for (auto& r : readers) {
    std::string out;
    ReadLine(r.out, &out);
    const int rs = Wait(r);
    EXPECT_TRUE(WIFEXITED(rs) && WEXITSTATUS(rs) == 0) << out;
    EXPECT_EQ(out.substr(0, 6), "READS ") << out;
    EXPECT_GT(std::stoul(out.substr(6)), 0u);
  }
  auto store = Store::Open(dir, Opts());
  ASSERT_TRUE(store.ok());
  Model expected;
  for (std::uint64_t i = 0; i < 1500; ++i) Apply(OpAt(i), expected);
  EXPECT_EQ(ReadAll(**store), expected);
  EXPECT_TRUE((*store)->Verify().ok()) << (*store)->Verify();
}

TEST(Processes, HeldSnapshotSurvivesThousandOverwrites) {
  const std::string dir = TempDir("hold");
  StoreOptions o = Opts();
  o.durability = ancient::Durability::kNoSync;
  auto store = Store::Open(dir, o);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Share("held", MakeValue(1, 200)).ok());
  Child h = Spawn({Helper(), "hold", dir, "held"});
  std::string line;
  ASSERT_TRUE(ReadLine(h.out, &line));
  ASSERT_EQ(line, "HELD 1");
  for (int i = 0; i < 1000; ++i) {
    if (i % 2 == 0) {
      ASSERT_TRUE((*store)->Share("held", MakeValue(1000 + i, 200)).ok());
    } else {
      ASSERT_TRUE((*store)->Delete("held").ok());
    }
  }
  ASSERT_EQ(write(h.in, "go\n", 3), 3);
  ASSERT_TRUE(ReadLine(h.out, &line));
  EXPECT_EQ(line, "STILL 1");
  const int status = Wait(h);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE((*store)->Verify().ok());
}

TEST(Processes, DeadReaderDoesNotPinSpace) {
  const std::string dir = TempDir("deadreader");
  StoreOptions o = Opts();
  o.durability = ancient::Durability::kNoSync;
  auto store = Store::Open(dir, o);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Share("k", MakeValue(1, 500)).ok());
  Child h = Spawn({Helper(), "hold", dir, "k"});
  std::string line;
  ASSERT_TRUE(ReadLine(h.out, &line));
  ASSERT_EQ(line, "HELD 1");
  ASSERT_TRUE((*store)->Share("k", MakeValue(2, 500)).ok());
  ASSERT_TRUE((*store)->Share("k", MakeValue(3, 500)).ok());
  auto st = (*store)->Stats();
  EXPECT_EQ(st->readers, 1u);
  EXPECT_GT(st->bytes_pending, 0u);  // Pinned by the live reader.
  kill(h.pid, SIGKILL);
  Wait(h);
  // The next writer clears the dead reader's slot and reclaims the space.
  ASSERT_TRUE((*store)->Share("other", 1).ok());
  st = (*store)->Stats();
  EXPECT_EQ(st->readers, 0u);
  EXPECT_EQ(st->bytes_pending, 0u);
  EXPECT_TRUE((*store)->Verify().ok());
}

TEST(Processes, ReadOnlyProcessCannotWriteTheArena) {
  const std::string dir = TempDir("rowrite");
  {
    auto store = Store::Open(dir, Opts());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Share("k", std::string("intact")).ok());
  }
  Child c = Spawn({Helper(), "ro-write", dir, "k"});
  std::string line;
  ASSERT_TRUE(ReadLine(c.out, &line));
  EXPECT_EQ(line, "WRITING");
  EXPECT_FALSE(ReadLine(c.out, &line));  // Never reaches "WROTE".
  const int status = Wait(c);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGSEGV);
  auto store = Store::Open(dir, Opts());
  EXPECT_EQ(**(*store)->Get<std::string>("k"), "intact");
}

TEST(Processes, WriterInOneProcessReaderInAnother) {
  // The README's example: one process shares a map, another reads it.
  const std::string dir = TempDir("twoproc");
  {
    auto store = Store::Open(dir, Opts());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Share("k0", MakeValue(77, 30)).ok());
  }
  Child r = Spawn({Helper(), "hold", dir, "k0"});
  std::string line;
  ASSERT_TRUE(ReadLine(r.out, &line));
  EXPECT_EQ(line, "HELD 77");
  ASSERT_EQ(write(r.in, "\n", 1), 1);
  ASSERT_TRUE(ReadLine(r.out, &line));
  EXPECT_EQ(line, "STILL 77");
  Wait(r);
}

}  // namespace
