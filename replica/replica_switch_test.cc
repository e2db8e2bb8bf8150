// A version of many roots switches whole on a host: reader processes check
// on every read that all roots of their snapshot are of one version (and of
// the version the host reports for it) while a follower applies versions,
// and while followers are killed in the middle of applying one.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "replica/multi_root_testing.h"
#include "replica/replica.h"
#include "store/store.h"
#include "tests/test_util.h"

namespace {

using ancient::Replica;
using ancient::Store;
using namespace ancient_test;

constexpr int kRoots = 48;

std::string Helper() { return Runfile("replica/replica_helper"); }
std::string Ctl() { return Runfile("tools/ancientctl"); }

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// A reader's last line: "READS n LAST seq VERSIONS k", reading across at
// least two versions.
void ExpectReaderFinished(Child& r, std::int64_t last) {
  std::string line;
  ASSERT_TRUE(ReadLine(r.out, &line));
  EXPECT_EQ(ExitCode(Wait(r)), 0) << line;
  EXPECT_EQ(line.substr(0, 6), "READS ") << line;
  EXPECT_NE(line.find(" LAST " + std::to_string(last) + " "), std::string::npos)
      << line;
  std::printf("reader: %s\n", line.c_str());
  const std::size_t at = line.find(" VERSIONS ");
  ASSERT_NE(at, std::string::npos) << line;
  EXPECT_GE(std::stoull(line.substr(at + 10)), 2u) << line;
}

TEST(ReplicaSwitch, ManyRootVersionsSwitchWholeWhileReadersRead) {
  const std::string root = TempDir("switch");
  const std::string repo = root + "/repo", local = root + "/local";
  constexpr int kVersions = 30;
  Child follower = Spawn({Ctl(), "follow", repo, local, "--interval", "0.005"});
  std::vector<Child> readers;
  for (int i = 0; i < 3; ++i) {
    readers.push_back(
        Spawn({Helper(), "read-multi", local, "120000",
               std::to_string(kVersions - 1), std::to_string(kRoots)}));
  }
  Child publisher = Spawn({Helper(), "publish-multi", root + "/src", repo, "0",
                           std::to_string(kVersions), std::to_string(kRoots)});
  std::string line, last;
  while (ReadLine(publisher.out, &line)) last = line;
  EXPECT_EQ(last, "PUBLISHED 30 29");
  EXPECT_EQ(ExitCode(Wait(publisher)), 0);
  for (Child& r : readers) ExpectReaderFinished(r, kVersions - 1);
  kill(follower.pid, SIGTERM);
  Wait(follower);
}

// A file's modification time, in nanoseconds.
std::int64_t MtimeNs(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return -1;
  return st.st_mtim.tv_sec * std::int64_t{1000000000} + st.st_mtim.tv_nsec;
}

TEST(ReplicaSwitch, KilledFollowersLeaveEveryRootOfOneVersion) {
  const std::string root = TempDir("killswitch");
  const std::string repo = root + "/repo", local = root + "/local";
  constexpr int kRounds = 24;
  constexpr std::size_t kStrings = 1500;  // ~1 MB of roots a version
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto src = Store::Open(root + "/src", o);
  ASSERT_TRUE(src.ok()) << src.status();
  std::uint64_t seq = 0;
  ASSERT_TRUE(WriteMultiRoot(**src, seq, kRoots, kStrings).ok());
  ASSERT_TRUE(ancient::Publish(**src, repo).ok());
  // Readers in other processes, reading every root on every read through
  // all the rounds (started first: the follower is timed beside them).
  std::vector<Child> readers;
  for (int i = 0; i < 2; ++i) {
    readers.push_back(Spawn({Helper(), "read-multi", local, "300000",
                             std::to_string(kRounds), std::to_string(kRoots)}));
  }
  // How long a follower takes from its start to the end of its first
  // fetch: the kills land anywhere in that span and a little past it.
  const std::optional<FollowTiming> timing =
      TimeFirstFollow({Ctl(), "follow", repo, local, "--interval", "0.001"});
  ASSERT_TRUE(timing.has_value()) << "no first fetch from the follower";
  const std::int64_t start_us = timing->start_us, fetch_us = timing->fetch_us;
  std::mt19937 rng(29);
  // Kills aim at the apply, the span between the follower's first write
  // into the arena and its commit: each kill's delay is drawn between the
  // latest that came too early (nothing written) and the earliest that came
  // too late (committed). Both bounds widen a little every round, so that a
  // bound set by a follower that started unusually fast or slow is undone.
  double early = 0, late = 2.0 * static_cast<double>(start_us + fetch_us);
  int before = 0, after = 0, mid_apply = 0;
  // Rounds past kRounds (at most three times as many, the readers done)
  // only while too few kills have landed where the checks below ask: on a
  // slow machine (sanitizers, load) the aim takes longer to settle.
  const auto landed = [&] { return before >= 3 && mid_apply >= 2; };
  for (int round = 0; round < kRounds || (!landed() && round < 4 * kRounds);
       ++round) {
    ASSERT_TRUE(WriteMultiRoot(**src, ++seq, kRoots, kStrings).ok());
    ASSERT_TRUE(ancient::Publish(**src, repo).ok());
    // The file system's clock now: a later write into the arena can only
    // be the follower's (readers do not write, nothing else runs).
    const std::string marker = root + "/marker";
    std::ofstream(marker) << round << '\n';
    const std::int64_t marked = MtimeNs(marker);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    Child f = Spawn({Ctl(), "follow", repo, local, "--interval", "0.001"});
    const double delay =
        std::uniform_real_distribution<double>(early, late)(rng);
    std::this_thread::sleep_for(
        std::chrono::microseconds(static_cast<std::int64_t>(delay)));
    kill(f.pid, SIGKILL);
    const int status = Wait(f);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "round " << round << ": status " << status;
    const bool wrote_arena = MtimeNs(local + "/store/arena") > marked;
    // Every root of one version: the one before (killed before the commit)
    // or this one, and the version the host reports for the snapshot is
    // the one its roots are of (version v holds seq v - 1).
    {
      auto replica = Replica::Open(local);
      ASSERT_TRUE(replica.ok()) << replica.status();
      auto snapshot = (*replica)->Read();
      ASSERT_TRUE(snapshot.ok()) << snapshot.status();
      auto got = CheckMultiRoot(*snapshot, kRoots);
      ASSERT_TRUE(got.ok()) << "round " << round << ": " << got.status();
      auto version = Replica::VersionOf(*snapshot);
      ASSERT_TRUE(version.ok()) << version.status();
      EXPECT_EQ(*version, static_cast<std::uint64_t>(*got) + 1)
          << "round " << round;
      ASSERT_TRUE(*got == static_cast<std::int64_t>(seq) ||
                  *got == static_cast<std::int64_t>(seq) - 1)
          << "round " << round << ": " << *got;
      if (*got == static_cast<std::int64_t>(seq)) {
        ++after;
        late = std::min(late, delay);
      } else {
        ++before;
        // Killed between its first write into the arena and its commit.
        if (wrote_arena) {
          ++mid_apply;
        } else {
          early = std::max(early, delay);
        }
      }
      early *= 0.95;
      late *= 1.05;
      if (early >= late) std::swap(early, late);
    }  // Closed: this process's follow below opens the store read-write.
    // The next round completes it.
    auto r = ancient::FollowOnce(repo, local);
    ASSERT_TRUE(r.ok()) << "round " << round << ": " << r.status();
    EXPECT_EQ(r->version, seq + 1);
    // The readers stop at the last of kRounds' versions: they must have
    // read it before a later round replaces it.
    if (round + 1 == kRounds) {
      for (Child& reader : readers) ExpectReaderFinished(reader, kRounds);
    }
  }
  std::printf(
      "killed followers in %d rounds: %d before the commit (%d of them "
      "after writing into the arena), %d after (start-up %ld us, fetch %ld "
      "us)\n",
      before + after, before, mid_apply, after, static_cast<long>(start_us),
      static_cast<long>(fetch_us));
  EXPECT_GE(before, 3);     // kills landed before the commit...
  EXPECT_GE(mid_apply, 2);  // ...some after writing roots into the arena
}

TEST(ReplicaSwitch, ARootAloneKeepsItsVersionAcrossFollows) {
  // A Root held with no Snapshot beside it: the versions after it replace
  // its root (at seq 3 and 6) and write over the freed space of others,
  // and it still reads the version it was read from.
  const std::string root = TempDir("rootalone");
  const std::string repo = root + "/repo", local = root + "/local";
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto src = Store::Open(root + "/src", o);
  ASSERT_TRUE(src.ok()) << src.status();
  ASSERT_TRUE(WriteMultiRoot(**src, 0, kRoots, 300).ok());
  ASSERT_TRUE(ancient::Publish(**src, repo).ok());
  ASSERT_TRUE(ancient::FollowOnce(repo, local).ok());
  auto replica = Replica::Open(local);
  ASSERT_TRUE(replica.ok()) << replica.status();
  auto held = (*replica)->Get<std::vector<std::string>>(RootKey(0));
  ASSERT_TRUE(held.ok()) << held.status();
  for (std::uint64_t seq = 1; seq <= 8; ++seq) {
    ASSERT_TRUE(WriteMultiRoot(**src, seq, kRoots, 300).ok());
    ASSERT_TRUE(ancient::Publish(**src, repo).ok());
    auto r = ancient::FollowOnce(repo, local);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(CheckValue(**held), 0) << "after version " << r->version;
    auto now = (*replica)->Get<std::vector<std::string>>(RootKey(0));
    ASSERT_TRUE(now.ok());
    EXPECT_EQ(CheckValue(**now), seq >= 6 ? 6 : seq >= 3 ? 3 : 0);
  }
}

TEST(ReplicaSwitch, AFollowerStopsCleanlyOnSigterm) {
  // `ancientctl follow` as a service is stopped with SIGTERM: between
  // rounds it exits 0 at once (even in a long interval); in the middle of
  // a round it finishes the round first, so the host holds a whole
  // version either way.
  const std::string root = TempDir("sigterm");
  const std::string repo = root + "/repo", local = root + "/local";
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto src = Store::Open(root + "/src", o);
  ASSERT_TRUE(src.ok()) << src.status();
  ASSERT_TRUE(WriteMultiRoot(**src, 0, kRoots, 1500).ok());
  ASSERT_TRUE(ancient::Publish(**src, repo).ok());
  std::mt19937 rng(3);
  std::uint64_t seq = 0;  // versions are written one seq after another
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE(round);
    const bool mid_round = round % 2 == 1;
    // A new version, which the follower applies first: its line says it
    // runs (its handlers are in place).
    ASSERT_TRUE(WriteMultiRoot(**src, ++seq, kRoots, 1500).ok());
    ASSERT_TRUE(ancient::Publish(**src, repo).ok());
    Child f = Spawn({Ctl(), "follow", repo, local, "--interval",
                     mid_round ? "0.001" : "60"});
    std::string line;
    ASSERT_TRUE(ReadLine(f.out, &line));
    if (mid_round) {
      // Another version, and the signal while the follower may be applying
      // it; otherwise the follower sleeps its minute.
      ASSERT_TRUE(WriteMultiRoot(**src, ++seq, kRoots, 1500).ok());
      ASSERT_TRUE(ancient::Publish(**src, repo).ok());
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    }
    const auto signalled = std::chrono::steady_clock::now();
    kill(f.pid, SIGTERM);
    const int status = Wait(f);
    const double took = std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - signalled)
                            .count();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "status " << status;
    EXPECT_LT(took, 5.0);  // not the 60 s interval
    auto replica = Replica::Open(local);
    ASSERT_TRUE(replica.ok()) << replica.status();
    auto snapshot = (*replica)->Read();
    ASSERT_TRUE(snapshot.ok());
    auto got = CheckMultiRoot(*snapshot, kRoots);
    EXPECT_TRUE(got.ok()) << got.status();
  }
  auto st =
      Store::Open(local + "/store", ancient::StoreOptions{.read_only = true});
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_TRUE((*st)->Verify().ok());
}

}  // namespace
