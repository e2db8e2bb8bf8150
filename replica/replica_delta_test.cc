// Versions move only what changed: what a publish writes and a follow
// fetches, measured in bytes and roots, for changes of none, one, some and
// every root, a shard of a sharded map, deleted roots, rollbacks, hosts at
// different speeds, and repositories and local directories of the format
// before objects.

#include <gtest/gtest.h>
#include <sys/time.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_format.h"
#include "replica/replica.h"
#include "replica/replica_testing.h"
#include "replica/s3/gateway_testing.h"
#include "store/sharded.h"
#include "store/store.h"
#include "tests/test_util.h"

namespace {

using ancient::Replica;
using ancient::Store;
using namespace ancient_test;
using Strings = std::vector<std::string>;

std::string Key(int i) { return absl::StrFormat("root%03d", i); }

ancient::PublishResult PublishOrDie(Store& src, const std::string& repo,
                                    ancient::PublishOptions o = {}) {
  auto r = ancient::Publish(src, repo, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : ancient::PublishResult{};
}

ancient::FollowResult FollowOrDie(const std::string& repo,
                                  const std::string& local) {
  auto r = ancient::FollowOnce(repo, local);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : ancient::FollowResult{};
}

std::uint64_t GraphSize(Store& s, const std::string& key) {
  auto snap = s.Read();
  auto info = snap->Info(key);
  EXPECT_TRUE(info.ok()) << info.status();
  return info.ok() ? info->size_bytes : 0;
}

// Tests of every kind of repository run for a directory ("dir") and for
// a bucket of a real S3 gateway ("s3").
class Repos : public ::testing::TestWithParam<std::string> {
 protected:
  // A new repository for the test, under `root` or in a new bucket.
  std::string NewRepo(const std::string& root) {
    if (GetParam() != "s3") return root + "/repo";
    return "s3://" + S3Gateway::Get().NewBucket("delta") + "/fleet/repo";
  }
};
INSTANTIATE_TEST_SUITE_P(Kinds, Repos, ::testing::Values("dir", "s3"));

std::size_t Objects(const std::string& repo) {
  if (ancient::s3::IsS3Url(repo)) {
    auto loc = ancient::s3::ParseS3Url(repo);
    auto list =
        S3Gateway::Get().Client(loc->bucket)->List(loc->prefix + "/objects/");
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? list->size() : 0;
  }
  std::size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(repo + "/objects")) {
    (void)e;
    ++n;
  }
  return n;
}

// 20 roots, MakeValue(i) at Key(i), each a few KB.
struct Fleet {
  std::string root, repo;
  std::unique_ptr<Store> src;
};
Fleet MakeFleet(const std::string& name, const std::string& repo = "") {
  Fleet f;
  f.root = TempDir(name);
  f.repo = repo.empty() ? f.root + "/repo" : repo;
  f.src = OpenStore(f.root + "/src");
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(f.src->Share(Key(i), MakeValue(i, 200)).ok());
  }
  return f;
}

TEST_P(Repos, NoneOneSomeEveryAndDeletedRoots) {
  const std::string root = TempDir("delta");
  Fleet f = MakeFleet("delta", NewRepo(root));
  const std::string local = f.root + "/local";
  auto p = PublishOrDie(*f.src, f.repo);
  EXPECT_EQ(p.version, 1u);
  EXPECT_EQ(p.roots_written, 20u);
  EXPECT_EQ(p.bytes_written, p.bytes);
  auto r = FollowOrDie(f.repo, local);
  EXPECT_EQ(r.roots_fetched, 20u);
  EXPECT_EQ(r.bytes_fetched, r.bytes);
  const std::uint64_t total = r.bytes;

  // None: no version, nothing written; the follower has nothing to do.
  p = PublishOrDie(*f.src, f.repo);
  EXPECT_FALSE(p.published);
  EXPECT_EQ(p.version, 1u);
  EXPECT_EQ(p.bytes_written, 0u);
  EXPECT_EQ(p.roots_written, 0u);
  r = FollowOrDie(f.repo, local);
  EXPECT_FALSE(r.switched);
  EXPECT_EQ(r.bytes_fetched, 0u);

  // One root: its bytes move, nothing else.
  ASSERT_TRUE(f.src->Share(Key(7), MakeValue(1007, 200)).ok());
  p = PublishOrDie(*f.src, f.repo);
  EXPECT_TRUE(p.published);
  EXPECT_EQ(p.version, 2u);
  EXPECT_EQ(p.roots_written, 1u);
  EXPECT_GT(p.bytes_written, 0u);
  EXPECT_LE(p.bytes_written, GraphSize(*f.src, Key(7)) * 2);
  r = FollowOrDie(f.repo, local);
  EXPECT_TRUE(r.switched);
  EXPECT_EQ(r.version, 2u);
  EXPECT_EQ(r.roots_fetched, 1u);
  EXPECT_EQ(r.bytes_fetched, p.bytes_written);
  EXPECT_LT(r.bytes_fetched * 10, total);
  EXPECT_EQ(SeqAt(local, Key(7)), 1007);
  EXPECT_EQ(SeqAt(local, Key(8)), 8);

  // A root set back to a value an earlier version had: its object is
  // there already, nothing is written; the follower fetches it.
  ASSERT_TRUE(f.src->Share(Key(7), MakeValue(7, 200)).ok());
  p = PublishOrDie(*f.src, f.repo);
  EXPECT_EQ(p.roots_written, 1u);  // read and hashed...
  EXPECT_EQ(p.bytes_written, 0u);  // ...but not written
  r = FollowOrDie(f.repo, local);
  EXPECT_EQ(r.roots_fetched, 1u);
  EXPECT_EQ(SeqAt(local, Key(7)), 7);

  // Two roots deleted, one added: only the new one moves.
  ASSERT_TRUE(f.src->Delete(Key(3)).ok());
  ASSERT_TRUE(f.src->Delete(Key(4)).ok());
  ASSERT_TRUE(f.src->Share(Key(50), MakeValue(50, 10)).ok());
  p = PublishOrDie(*f.src, f.repo);
  EXPECT_EQ(p.roots_written, 1u);
  r = FollowOrDie(f.repo, local);
  EXPECT_EQ(r.roots_fetched, 1u);
  EXPECT_EQ(r.roots_removed, 2u);
  EXPECT_EQ(SeqAt(local, Key(3)), -1);
  EXPECT_EQ(SeqAt(local, Key(50)), 50);

  // Every root.
  for (int i = 0; i < 20; ++i) {
    if (i == 3 || i == 4) continue;
    ASSERT_TRUE(f.src->Share(Key(i), MakeValue(100 + i, 200)).ok());
  }
  p = PublishOrDie(*f.src, f.repo);
  EXPECT_EQ(p.roots_written, 18u);
  r = FollowOrDie(f.repo, local);
  EXPECT_EQ(r.roots_fetched, 18u);
  // All but the root added before (Key(50), small).
  EXPECT_LT(r.bytes_fetched, r.bytes);
  EXPECT_GT(r.bytes_fetched * 10, r.bytes * 9);
  for (int i = 0; i < 20; ++i) {
    if (i == 3 || i == 4) continue;
    EXPECT_EQ(SeqAt(local, Key(i)), 100 + i);
  }
  // The local store verifies, and holds no space for the old values but
  // what readers could still see.
  auto local_store =
      Store::Open(local + "/store", ancient::StoreOptions{.read_only = true});
  ASSERT_TRUE(local_store.ok());
  EXPECT_TRUE((*local_store)->Verify().ok());
  auto stats = (*local_store)->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->roots, 19u);
}

TEST_P(Repos, OneKeyOfAShardedMapMovesOneShard) {
  using Dict = std::unordered_map<std::string, std::vector<std::int64_t>>;
  const std::string root = TempDir("delta_sharded");
  const std::string repo = NewRepo(root), local = root + "/local";
  auto src = OpenStore(root + "/src");
  ancient::Sharded<Dict> m(64);
  for (int i = 0; i < 20000; ++i) {
    m.insert_or_assign("word" + std::to_string(i),
                       std::vector<std::int64_t>(4, i));
  }
  auto share = [&] {
    auto batch = src->Write();
    ASSERT_TRUE(batch.ok());
    ASSERT_TRUE(m.Share(*batch, "dict").ok());
    ASSERT_TRUE(batch->Commit().ok());
  };
  share();
  auto p = PublishOrDie(*src, repo);
  FollowOrDie(repo, local);
  m.insert_or_assign(std::string("word12345"), std::vector<std::int64_t>{7});
  share();
  p = PublishOrDie(*src, repo);
  EXPECT_EQ(p.roots_written, 2u);  // the shard, and the index (read, hashed)
  EXPECT_LT(p.bytes_written * 40, p.bytes)
      << p.bytes_written << " of " << p.bytes;
  auto r = FollowOrDie(repo, local);
  EXPECT_EQ(r.roots_fetched, 1u);  // the index's object did not change
  EXPECT_EQ(r.bytes_fetched, p.bytes_written);
  auto replica = Replica::Open(local);
  ASSERT_TRUE(replica.ok());
  auto snap = (*replica)->Read();
  ASSERT_TRUE(snap.ok());
  auto view = ancient::ShardedView<Dict>::Open(*snap, "dict");
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->size(), 20000u);
  ASSERT_NE(view->get("word12345"), nullptr);
  EXPECT_EQ(view->get("word12345")->size(), 1u);
  EXPECT_EQ(view->get("word42")->size(), 4u);
}

TEST_P(Repos, HostsAtDifferentSpeedsRollbackAndHygiene) {
  Fleet f = MakeFleet("speeds", NewRepo(TempDir("speeds_repo")));
  const std::string fast = f.root + "/fast", slow = f.root + "/slow";
  ancient::PublishOptions keep3;
  keep3.keep = 3;
  keep3.grace_seconds = 0;
  PublishOrDie(*f.src, f.repo, keep3);
  FollowOrDie(f.repo, slow);
  for (int v = 2; v <= 10; ++v) {
    ASSERT_TRUE(f.src->Share(Key(v), MakeValue(1000 + v, 200)).ok());
    auto p = PublishOrDie(*f.src, f.repo, keep3);
    EXPECT_EQ(p.version, static_cast<std::uint64_t>(v));
    FollowOrDie(f.repo, fast);
    EXPECT_EQ(SeqAt(fast, Key(v)), 1000 + v);
  }
  // The slow host jumps from version 1 to 10, some of whose objects came
  // in versions since removed: it fetches what it lacks, nothing more.
  auto r = FollowOrDie(f.repo, slow);
  EXPECT_EQ(r.version, 10u);
  EXPECT_EQ(r.roots_fetched, 9u);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(SeqAt(slow, Key(i)), SeqAt(fast, Key(i))) << i;
  }
  // Hygiene: three versions kept; objects are exactly the ones they name.
  auto st = ancient::GetReplicaStatus(f.repo);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->versions.size(), 3u);
  EXPECT_EQ(st->versions[0].version, 8u);
  // 20 objects of version 8, plus one new in 9 and in 10.
  EXPECT_EQ(Objects(f.repo), 22u);
  for (const auto& v : st->versions) {
    if (v.version > 8) {
      EXPECT_LT(v.new_bytes * 10, v.bytes);
    }
  }
  // Rollback by pin to version 8: two roots move back.
  ASSERT_TRUE(ancient::SetPin(fast, 8).ok());
  r = FollowOrDie(f.repo, fast);
  EXPECT_EQ(r.version, 8u);
  EXPECT_EQ(r.roots_fetched, 2u);
  EXPECT_EQ(SeqAt(fast, Key(9)), 9);
  EXPECT_EQ(SeqAt(fast, Key(8)), 1008);
  // A pin to a removed version: NotFound, the host keeps version 8.
  ASSERT_TRUE(ancient::SetPin(fast, 2).ok());
  auto bad = ancient::FollowOnce(f.repo, fast);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound) << bad.status();
  EXPECT_EQ(ancient::GetReplicaStatus(fast)->current, 8u);
  ASSERT_TRUE(ancient::SetPin(fast, std::nullopt).ok());
  r = FollowOrDie(f.repo, fast);
  EXPECT_EQ(r.version, 10u);
  EXPECT_EQ(SeqAt(fast, Key(9)), 1009);
}

TEST_P(Repos, AKeptVersionOutlivesKeepUntilReleased) {
  Fleet f = MakeFleet("kept", NewRepo(TempDir("kept_repo")));
  const std::string host = f.root + "/host";
  ancient::PublishOptions keep2;
  keep2.keep = 2;
  keep2.grace_seconds = 0;
  PublishOrDie(*f.src, f.repo, keep2);
  EXPECT_EQ(ancient::KeepVersion(f.repo, 7, true).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ancient::KeepVersion(f.repo, 0, true).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(ancient::KeepVersion(f.repo, 1, true).ok());
  for (int v = 2; v <= 4; ++v) {
    ASSERT_TRUE(f.src->Share(Key(v), MakeValue(1000 + v, 200)).ok());
    PublishOrDie(*f.src, f.repo, keep2);
  }
  // Versions 3 and 4 (the newest two), and 1, kept; a host pinned to it
  // rolls back to it.
  auto st = ancient::GetReplicaStatus(f.repo);
  ASSERT_TRUE(st.ok()) << st.status();
  ASSERT_EQ(st->versions.size(), 3u);
  EXPECT_EQ(st->versions[0].version, 1u);
  EXPECT_TRUE(st->versions[0].kept);
  EXPECT_FALSE(st->versions[1].kept);
  ASSERT_TRUE(ancient::SetPin(host, 1).ok());
  auto r = FollowOrDie(f.repo, host);
  EXPECT_EQ(r.version, 1u);
  EXPECT_EQ(SeqAt(host, Key(3)), 3);
  // Released: the next publish removes it.
  ASSERT_TRUE(ancient::KeepVersion(f.repo, 1, false).ok());
  ASSERT_TRUE(f.src->Share(Key(5), MakeValue(1005, 200)).ok());
  auto p = PublishOrDie(*f.src, f.repo, keep2);
  EXPECT_EQ(std::count(p.removed.begin(), p.removed.end(), 1u), 1);
  st = ancient::GetReplicaStatus(f.repo);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->versions.size(), 2u);
}

// The format before objects: a version directory holding a whole copy
// (data.mdb and arena) and a manifest of format 1, as Publish wrote it.
std::string FileLine(const std::string& dir, const char* name) {
  std::ifstream in(dir + "/" + name, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  return absl::StrFormat("file %s %d %016x\n", name, bytes.size(),
                         XXH3_64bits(bytes.data(), bytes.size()));
}
void PublishWhole(Store& src, const std::string& dir, std::uint64_t v) {
  ASSERT_TRUE(src.CopyTo(dir, /*compact=*/true).ok());
  unlink((dir + "/lock.mdb").c_str());
  std::string m = absl::StrFormat("ancient-manifest 1\nversion %d\n", v);
  m += FileLine(dir, "arena") + FileLine(dir, "data.mdb");
  auto snap = src.Read();
  auto roots = snap->List();
  for (const auto& r : *roots) {
    std::string hex;
    for (unsigned char c : r.key) hex += absl::StrFormat("%02x", c);
    m += absl::StrFormat("root %s %016x %d %s\n", hex, r.type_id, r.size_bytes,
                         r.type_name);
  }
  std::ofstream(dir + "/MANIFEST") << m;
}

TEST(ReplicaDelta, RepositoriesAndLocalDirectoriesOfTheFormerFormat) {
  Fleet f = MakeFleet("former");
  const std::string repo = f.repo;
  std::filesystem::create_directories(repo + "/versions");
  std::filesystem::create_directories(repo + "/tmp");
  std::ofstream(repo + "/FORMAT") << "ancient-repository 1\n";
  PublishWhole(*f.src, repo + "/versions/0000000001", 1);
  std::ofstream(repo + "/ANNOUNCE") << "version 1\n";
  // A host that followed it with the former release: a whole copy, CURRENT.
  const std::string old_host = f.root + "/old_host";
  std::filesystem::create_directories(old_host + "/versions");
  std::filesystem::create_directories(old_host + "/tmp");
  std::ofstream(old_host + "/FORMAT") << "ancient-local 1\n";
  std::filesystem::copy(repo + "/versions/0000000001",
                        old_host + "/versions/0000000001");
  std::ofstream(old_host + "/CURRENT") << "version 1\n";
  // A reader of the old host, open across the move to the store.
  auto old_reader = Replica::Open(old_host);
  ASSERT_TRUE(old_reader.ok()) << old_reader.status();
  EXPECT_EQ((*old_reader)->version(), 1u);
  EXPECT_EQ(CheckValue(**(*old_reader)->Get<Strings>(Key(5))), 5);
  // A new host follows the former repository.
  const std::string new_host = f.root + "/new_host";
  auto r = FollowOrDie(repo, new_host);
  EXPECT_EQ(r.version, 1u);
  EXPECT_EQ(r.roots_fetched, 20u);
  EXPECT_EQ(SeqAt(new_host, Key(5)), 5);
  // The old host's first follow moves it to the store, keeping version 1's
  // content (applied root by root), then removes the unread copy.
  r = FollowOrDie(repo, old_host);
  EXPECT_TRUE(r.switched);
  EXPECT_EQ(r.removed, std::vector<std::uint64_t>{1});
  EXPECT_FALSE(std::filesystem::exists(old_host + "/CURRENT"));
  EXPECT_EQ(SeqAt(old_host, Key(5)), 5);
  // This release publishes objects into the same repository; both hosts
  // move by the one changed root.
  ASSERT_TRUE(f.src->Share(Key(5), MakeValue(55, 200)).ok());
  auto p = PublishOrDie(*f.src, repo);
  EXPECT_EQ(p.version, 2u);
  EXPECT_EQ(p.roots_written, 20u);  // nothing known of the whole copy
  for (const std::string& host : {old_host, new_host}) {
    r = FollowOrDie(repo, host);
    EXPECT_EQ(r.version, 2u);
    EXPECT_EQ(r.roots_fetched, 1u) << host;
    EXPECT_EQ(SeqAt(host, Key(5)), 55);
  }
  // The reader opened on the old layout moved to the store with it.
  EXPECT_EQ(CheckValue(**(*old_reader)->Get<Strings>(Key(5))), 55);
  EXPECT_EQ((*old_reader)->version(), 2u);
}

}  // namespace

namespace {

// Sets a file's modification time `seconds` into the past.
void Age(const std::string& path, int seconds) {
  struct timeval times[2];
  gettimeofday(&times[0], nullptr);
  times[0].tv_sec -= seconds;
  times[1] = times[0];
  ASSERT_EQ(utimes(path.c_str(), times), 0) << path;
}

TEST(ReplicaDelta, SupersededVersionsStayForTheGracePeriod) {
  // keep 1, grace 600 s: a version superseded less than 600 s ago stays
  // (a follower may still be fetching it); one superseded longer ago goes,
  // with the objects only it named.
  Fleet f = MakeFleet("grace");
  ancient::PublishOptions o;
  o.keep = 1;
  o.grace_seconds = 600;
  for (int v = 1; v <= 3; ++v) {
    ASSERT_TRUE(f.src->Share(Key(0), MakeValue(2000 + v, 200)).ok());
    auto p = PublishOrDie(*f.src, f.repo, o);
    EXPECT_EQ(p.version, static_cast<std::uint64_t>(v));
    EXPECT_TRUE(p.removed.empty()) << v;  // all superseded just now
  }
  const std::size_t objects = Objects(f.repo);
  // Version 2 superseded version 1 ten minutes and more ago.
  Age(f.repo + "/versions/0000000002/MANIFEST", 700);
  ASSERT_TRUE(f.src->Share(Key(0), MakeValue(2004, 200)).ok());
  auto p = PublishOrDie(*f.src, f.repo, o);
  EXPECT_EQ(p.version, 4u);
  ASSERT_EQ(p.removed.size(), 1u);
  EXPECT_EQ(p.removed[0], 1u);
  auto st = ancient::GetReplicaStatus(f.repo);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->versions.size(), 3u);  // 2 and 3 in their grace, and 4
  EXPECT_EQ(st->versions[0].version, 2u);
  // Version 1's one object of its own went with it; version 4 added one.
  EXPECT_EQ(p.objects_removed, 1u);
  EXPECT_EQ(Objects(f.repo), objects);
  // A host pinned to version 2, still in its grace, follows it.
  const std::string local = f.root + "/late";
  ASSERT_TRUE(ancient::SetPin(local, 2).ok());
  EXPECT_EQ(FollowOrDie(f.repo, local).version, 2u);
  EXPECT_EQ(SeqAt(local, Key(0)), 2002);
}

}  // namespace
