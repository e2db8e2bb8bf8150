// Disk full: a store on a small tmpfs that the test mounts (as root; it says
// it is skipped otherwise), filled until the disk is full. Share returns
// ResourceExhausted, the process lives, the store reopens, and earlier roots
// are intact.

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "store/store.h"
#include "tests/test_util.h"

namespace {

using namespace ancient_test;

class DiskFull : public ::testing::Test {
 protected:
  void SetUp() override {
    mnt_ = TempDir("diskfull") + "/mnt";
    ASSERT_EQ(mkdir(mnt_.c_str(), 0700), 0);
    if (mount("tmpfs", mnt_.c_str(), "tmpfs", 0, "size=6m,mode=0700") != 0) {
      // CI runs as root, where mounting works: a skip there would hide
      // the test, so as root a failed mount fails.
      if (geteuid() == 0)
        FAIL() << "as root, cannot mount a tmpfs: " << std::strerror(errno);
      GTEST_SKIP() << "cannot mount a small tmpfs (" << std::strerror(errno)
                   << "; needs root): disk-full test skipped";
    }
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(mnt_.c_str(), MNT_DETACH);
  }
  std::string mnt_;
  bool mounted_ = false;
};

// Shares values made by `make(i)` until the disk is full, then checks the
// store with `check(frozen) == i`, before and after reopening it.
template <class T, class Make, class Check>
void FillUntilFull(const std::string& dir, Make make, Check check) {
  ancient::StoreOptions opts;
  opts.max_size = std::size_t{1} << 30;  // Far more than the disk holds.
  int stored = 0, deleted = 0;
  absl::Status full;
  {
    auto store = ancient::Store::Open(dir, opts);
    ASSERT_TRUE(store.ok()) << store.status();
    for (int i = 0; i < 10000; ++i) {
      auto info = (*store)->Share("k" + std::to_string(i), make(i));
      if (!info.ok()) {
        full = info.status();
        break;
      }
      ++stored;
    }
    EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
    EXPECT_GT(stored, 3);
    // Still usable for reading; Verify passes. Writing may need room even to
    // delete (LMDB copies pages on write): it fails cleanly or succeeds.
    EXPECT_TRUE((*store)->Verify().ok()) << (*store)->Verify();
    const absl::Status del = (*store)->Delete("k0");
    EXPECT_TRUE(del.ok() || absl::IsResourceExhausted(del)) << del;
    if (del.ok()) deleted = 1;
    auto v = (*store)->Get<T>("k1");
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(check(**v), 1);
  }
  auto store = ancient::Store::Open(dir, opts);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Verify().ok()) << (*store)->Verify();
  for (int i = deleted; i < stored; ++i) {
    auto v = (*store)->Get<T>("k" + std::to_string(i));
    ASSERT_TRUE(v.ok()) << i << ": " << v.status();
    EXPECT_EQ(check(**v), i);
  }
  std::printf("disk full after %d values: %s\n", stored,
              std::string(full.message()).c_str());
}

TEST_F(DiskFull, ShareFailsCleanlyAndEarlierRootsSurvive) {
  // A vector of strings: measured first, then written into its extent.
  FillUntilFull<std::vector<std::string>>(
      mnt_ + "/store", [](int i) { return MakeValue(i, 2000); },
      [](const auto& v) { return CheckValue(v); });
}

TEST_F(DiskFull, OnePassShareFailsCleanlyWhileTheArenaGrows) {
  // A pair: marked in one pass, the arena growing as it goes, so the disk
  // fills up in the middle of a graph.
  using Pair = std::pair<std::int64_t, std::vector<std::string>>;
  FillUntilFull<Pair>(
      mnt_ + "/store", [](int i) { return Pair(i, MakeValue(i, 4000)); },
      [](const auto& p) {
        const std::int64_t seq = CheckValue(p.second);
        return seq == p.first ? seq : -1;
      });
}

}  // namespace
