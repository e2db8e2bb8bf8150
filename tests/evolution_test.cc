// Data outlives code: roots written by one release of a type are read by the
// next and by the one before, through a Store, a Snapshot and a Replica;
// converted once per graph in a process; refused when they cannot convert
// or when conversion is off; migrated in place. Two programs (one binary
// per release, tests/evolution_helper.cc) read each other's roots, and
// followers of a repository read versions published by either release.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <string>

#include "replica/replica.h"
#include "store/store.h"
#include "tests/evolution_types.h"
#include "tests/test_util.h"

namespace {

using ::ancient::Store;
using ::ancient::StoreOptions;
using ::ancient_test::TempDir;
using ::evolution::Cities;
using ::evolution::V1;
using ::evolution::V2;

std::unique_ptr<Store> OpenStore(const std::string& dir,
                                 StoreOptions options = {}) {
  options.durability = ancient::Durability::kNoSync;
  auto s = Store::Open(dir, options);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

std::uint64_t Converted(const Store& store) {
  auto st = store.Stats();
  EXPECT_TRUE(st.ok()) << st.status();
  return st->graphs_converted;
}

TEST(Evolution, NewProgramReadsOldRootsAndTheReverse) {
  const std::string dir = TempDir("evolution");
  auto store = OpenStore(dir);
  ASSERT_TRUE(store->Share("old", Cities<V1>(100)).ok());
  ASSERT_TRUE(store->Share("new", Cities<V2>(100)).ok());
  auto before = Converted(*store);

  auto v2 = store->Get<V2>("old");
  ASSERT_TRUE(v2.ok()) << v2.status();
  ASSERT_EQ((*v2)->size(), 100u);
  const auto* c = (*v2)->get("city7");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name.view(), "City 7");
  EXPECT_EQ(c->population, 7000);
  EXPECT_EQ(c->founded, 1143);
  EXPECT_EQ(c->motto.view(), "none");
  ASSERT_EQ(c->zips.size(), 2u);
  EXPECT_EQ(c->zips[1], 70000u);
  EXPECT_EQ(Converted(*store), before + 1);

  auto v1 = store->GetVerified<V1>("new");
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ((*v1)->get("city99")->population, 99000);
  EXPECT_EQ((*v1)->get("city99")->mayor.view(), "");  // V2 has no mayor
  EXPECT_EQ(Converted(*store), before + 2);

  // Once per graph and type in a process: reading again converts nothing.
  for (int i = 0; i < 3; ++i) {
    auto again = store->Get<V2>("old");
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->get(), v2->get());
  }
  EXPECT_EQ(Converted(*store), before + 2);
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_GT(st->bytes_converted, 100u * sizeof(ancient::Frozen<geo2::City>));

  // Same-type reads stay in place.
  auto native = store->Get<V2>("new");
  ASSERT_TRUE(native.ok());
  EXPECT_EQ(Converted(*store), before + 2);
}

TEST(Evolution, AConvertedRootOutlivesItsRecordAndIsRedoneWhenItChanges) {
  const std::string dir = TempDir("evolution");
  auto store = OpenStore(dir);
  ASSERT_TRUE(store->Share("k", Cities<V1>(10)).ok());
  auto snap = store->Read();
  ASSERT_TRUE(snap.ok());
  auto held = snap->Get<V2>("k");
  ASSERT_TRUE(held.ok()) << held.status();
  // The root is replaced and deleted: what the snapshot gave stays valid.
  ASSERT_TRUE(store->Share("k", Cities<V1>(20)).ok());
  auto fresh = store->Get<V2>("k");
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ((*fresh)->size(), 20u);
  ASSERT_TRUE(store->Delete("k").ok());
  EXPECT_EQ((*held)->size(), 10u);
  EXPECT_EQ((*held)->get("city3")->founded, 1143);
}

TEST(Evolution, RefusalsNameThePathAndConversionCanBeOff) {
  const std::string dir = TempDir("evolution");
  auto store = OpenStore(dir);
  ASSERT_TRUE(store->Share("k", Cities<V1>(5)).ok());
  using Narrow = std::map<std::string, std::vector<std::int16_t>>;
  auto bad = store->Get<Narrow>("k");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(bad.status().message().find("key 'k'"), std::string::npos);
  EXPECT_NE(bad.status().message().find("`{value}`"), std::string::npos)
      << bad.status();
  EXPECT_NE(bad.status().message().find(dir), std::string::npos);

  StoreOptions off;
  off.convert_types = false;
  auto strict = OpenStore(dir, off);
  auto no = strict->Get<V2>("k");
  ASSERT_FALSE(no.ok());
  EXPECT_EQ(no.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(no.status().message().find("convert_types"), std::string::npos)
      << no.status();
  // The other handle on the same store still converts.
  EXPECT_TRUE(store->Get<V2>("k").ok());
}

TEST(Evolution, MigrateRewritesTheRootInTheNewLayout) {
  const std::string dir = TempDir("evolution");
  auto store = OpenStore(dir);
  ASSERT_TRUE(store->Share("k", Cities<V1>(50)).ok());
  auto old_reader = store->Get<V1>("k");  // holds the old version
  ASSERT_TRUE(old_reader.ok());
  auto info = store->Migrate<V2>("k");
  ASSERT_TRUE(info.ok()) << info.status();
  auto snap = store->Read();
  ASSERT_TRUE(snap.ok());
  auto ri = snap->Info("k");
  ASSERT_TRUE(ri.ok());
  EXPECT_EQ(ri->type_id, ancient::TypeId<V2>());
  const auto before = Converted(*store);
  auto v2 = store->GetVerified<V2>("k");  // in place now
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ((*v2)->get("city9")->founded, 1143);
  EXPECT_EQ(Converted(*store), before);
  EXPECT_EQ((*old_reader)->get("city9")->population, 9000);  // still its own
  EXPECT_TRUE(store->Verify().ok());
  // Migrating to the type it has already writes nothing.
  auto again = store->Migrate<V2>("k");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->offset, info->offset);
  // By description (what `ancientctl migrate` does): back to V1, whose
  // missing field (mayor) is empty.
  auto back = store->Migrate("k", ancient::TypeDescription<V1>());
  ASSERT_TRUE(back.ok()) << back.status();
  auto v1 = store->GetVerified<V1>("k");
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ((*v1)->get("city9")->population, 9000);
  // Errors: a missing key, a type that does not convert, a bad description.
  EXPECT_EQ(store->Migrate<V2>("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Migrate<std::vector<int>>("k").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Migrate("k", "ancient/1;garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store->Verify().ok());
}

// Two programs, one per release.
std::string RunHelper(int release, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {ancient_test::Runfile(
      "tests/evolution_helper_v" + std::to_string(release))};
  argv.insert(argv.end(), args.begin(), args.end());
  ancient_test::Child c = ancient_test::Spawn(argv);
  std::string line, out;
  while (ancient_test::ReadLine(c.out, &line)) out += line;
  const int status = ancient_test::Wait(c);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "release " << release << " " << args[0] << " failed: " << out;
  return out;
}

TEST(Evolution, TwoReleasesReadEachOthersRoots) {
  const std::string dir = TempDir("evolution");
  RunHelper(1, {"share", dir, "30"});
  const std::string pop = std::to_string(29 * 30 / 2 * 1000);
  EXPECT_EQ(
      RunHelper(1, {"read", dir}),
      "COUNT 30 POP " + pop + " FOUNDED -1 CONVERTED 0 WRONG 0 DEFAULTED 30");
  EXPECT_EQ(
      RunHelper(2, {"read", dir}),
      "COUNT 30 POP " + pop + " FOUNDED 1143 CONVERTED 1 WRONG 0 DEFAULTED 30");
  RunHelper(2, {"share", dir, "30"});
  EXPECT_EQ(
      RunHelper(1, {"read", dir}),
      "COUNT 30 POP " + pop + " FOUNDED -1 CONVERTED 1 WRONG 0 DEFAULTED 30");
  EXPECT_EQ(
      RunHelper(2, {"read", dir}),
      "COUNT 30 POP " + pop + " FOUNDED 1143 CONVERTED 0 WRONG 0 DEFAULTED 30");
}

TEST(Evolution, FollowersOfEitherReleaseReadEveryPublishedVersion) {
  const std::string producer = TempDir("producer");
  const std::string repo = TempDir("repo");
  const std::string old_host = TempDir("host1");
  const std::string new_host = TempDir("host2");
  const std::string pop = std::to_string(19 * 20 / 2 * 1000);
  // The producer of `release` shares 20 cities and publishes a version.
  auto ShareAndPublish = [&](int release) {
    RunHelper(release, {"share", producer, "20"});
    auto store = OpenStore(producer);
    ASSERT_TRUE(ancient::Publish(*store, repo).ok());
  };
  // Version 1 by the old release, read by an old and an upgraded host.
  ShareAndPublish(1);
  EXPECT_EQ(
      RunHelper(1, {"follow", repo, old_host}),
      "COUNT 20 POP " + pop + " FOUNDED -1 CONVERTED 0 WRONG 0 DEFAULTED 20");
  EXPECT_EQ(
      RunHelper(2, {"follow", repo, new_host}),
      "COUNT 20 POP " + pop + " FOUNDED 1143 CONVERTED 1 WRONG 0 DEFAULTED 20");
  // In this process, a Replica that lives across the switch.
  auto replica = ancient::Replica::Open(old_host);
  ASSERT_TRUE(replica.ok()) << replica.status();
  auto r1 = (*replica)->Get<V1>("cities");
  ASSERT_TRUE(r1.ok()) << r1.status();
  // Version 2 by the upgraded producer: the old host reads it converted.
  ShareAndPublish(2);
  EXPECT_EQ(
      RunHelper(1, {"follow", repo, old_host}),
      "COUNT 20 POP " + pop + " FOUNDED -1 CONVERTED 1 WRONG 0 DEFAULTED 20");
  EXPECT_EQ(
      RunHelper(2, {"follow", repo, new_host}),
      "COUNT 20 POP " + pop + " FOUNDED 1143 CONVERTED 0 WRONG 0 DEFAULTED 20");
  auto r2 = (*replica)->Get<V1>("cities");
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ((*replica)->version(), 2u);
  EXPECT_EQ((*r2)->get("city4")->population, 4000);
  EXPECT_EQ((*r1)->get("city4")->population, 4000);  // version 1, still held
  auto st = (*replica)->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->graphs_converted, 1u);
  // A rollback of the producer: the upgraded host reads old data again.
  ShareAndPublish(1);
  EXPECT_EQ(
      RunHelper(2, {"follow", repo, new_host}),
      "COUNT 20 POP " + pop + " FOUNDED 1143 CONVERTED 1 WRONG 0 DEFAULTED 20");
  ancient::ReplicaOptions strict;
  strict.convert_types = false;
  auto no = ancient::Replica::Open(new_host, strict);
  ASSERT_TRUE(no.ok());
  EXPECT_EQ((*no)->Get<V2>("cities").status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
