// The store in one process: opening, sharing, reading, batches, space,
// bases; store_records_test has the rest.

#include "store/store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/raw_lmdb.h"
#include "tests/store_fixtures.h"
#include "tests/test_util.h"

namespace {

using ancient::Store;
using ancient::StoreOptions;
using ancient_test::RawLmdb;
using ancient_test::TempDir;
using store_fixtures::OpenOrDie;
using store_fixtures::Small;

TEST(Store, ShareGetRoundTrip) {
  const std::string dir = TempDir("roundtrip");
  auto store = OpenOrDie(dir);
  ASSERT_NE(store, nullptr);
  std::vector<std::string> words = {"alpha", "beta", "gamma"};
  auto info = store->Share("words", words);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->offset % 64, 0u);
  EXPECT_GT(info->size_bytes, 0u);

  std::map<std::string, std::int64_t> counts = {{"a", 1}, {"b", -2}};
  ASSERT_TRUE(store->Share("counts", counts).ok());
  store_types::Entry e{"word", 7, {"x", "y"}};
  ASSERT_TRUE(store->Share("entry", e).ok());
  ancient::Value::Object o;
  o["k"] = ancient::Value::Array{1, 2.5, "s"};
  ASSERT_TRUE(store->Share("json", ancient::Value(o)).ok());

  auto w = store->Get<std::vector<std::string>>("words");
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ((*w)->size(), 3u);
  EXPECT_EQ((**w)[2], "gamma");
  // The graph lives in the arena, at the recorded base.
  const auto base = store->base_address();
  EXPECT_GE(reinterpret_cast<std::uintptr_t>(w->get()), base);

  auto c = store->Get<std::map<std::string, std::int64_t>>("counts");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*(*c)->get("b"), -2);
  auto en = store->Get<store_types::Entry>("entry");
  ASSERT_TRUE(en.ok());
  EXPECT_EQ((*en)->word, "word");
  EXPECT_EQ((*en)->tags[1], "y");
  auto j = store->Get<ancient::Value>("json");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ((*j)->find("k")->at(2)->as_string(), "s");
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();

  // Persisted: reopen and read again, at the same address.
  store.reset();
  w = absl::StatusOr<ancient::Root<std::vector<std::string>>>(
      absl::UnknownError("reset"));
  store = OpenOrDie(dir);
  EXPECT_EQ(store->base_address(), base);
  auto again = store->Get<std::vector<std::string>>("words");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((**again)[0], "alpha");
}

TEST(Store, FilesAreMode0600) {
  const std::string dir = TempDir("mode");
  auto store = OpenOrDie(dir);
  ASSERT_TRUE(store->Share("k", std::string("v")).ok());
  for (const char* f : {"/data.mdb", "/lock.mdb", "/arena"}) {
    struct stat st;
    ASSERT_EQ(stat((dir + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
}

TEST(Store, MissingKeyAndDelete) {
  auto store = OpenOrDie(TempDir("delete"), Small());
  EXPECT_EQ(store->Get<std::string>("nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store->Delete("nope").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store->Share("k", std::string("v")).ok());
  EXPECT_TRUE(store->Delete("k").ok());
  auto g = store->Get<std::string>("k");
  EXPECT_EQ(g.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(g.status().message().find("'k'"), std::string::npos);
}

TEST(Store, BadKeys) {
  auto store = OpenOrDie(TempDir("keys"), Small());
  EXPECT_EQ(store->Share("", 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string long_key(512, 'k');
  EXPECT_EQ(store->Share(long_key, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Get<int>("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->Delete(long_key).code(), absl::StatusCode::kInvalidArgument);
  // The longest allowed key, and binary keys, work.
  const std::string max_key(511, 'm');
  EXPECT_TRUE(store->Share(max_key, 1).ok());
  const std::string binary("\0\xff\x01key", 6);
  EXPECT_TRUE(store->Share(binary, 2).ok());
  EXPECT_EQ(**store->Get<int>(binary), 2);
  auto longest = store->Get<int>(max_key);
  ASSERT_TRUE(longest.ok()) << longest.status();
  EXPECT_EQ(**longest, 1);
  auto keys = store->Keys();
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, (std::vector<std::string>{binary, max_key}));
  // Refused keys wrote nothing.
  EXPECT_EQ(store->Get<int>(long_key).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Store, TypeMismatchNamesBothTypes) {
  auto store = OpenOrDie(TempDir("types"), Small());
  ASSERT_TRUE(store->Share("v", std::vector<std::string>{"a"}).ok());
  auto g = store->Get<std::map<std::string, int>>("v");
  ASSERT_EQ(g.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(g.status().message().find("vector<string>"), std::string::npos)
      << g.status();
  EXPECT_NE(g.status().message().find("map<string,i32>"), std::string::npos)
      << g.status();
  EXPECT_EQ(store->Get<std::vector<std::int32_t>>("v").status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The first difference, from the type the store recorded.
  EXPECT_NE(g.status().message().find(
                "`(the root)` is vector<string> in the store, map<string, "
                "i32> in this program"),
            std::string::npos)
      << g.status();
  ASSERT_TRUE(store->Share("e", store_types::Entry{"w", 1, {}}).ok());
  auto e = store->Get<std::vector<std::int32_t>>("e");
  EXPECT_NE(e.status().message().find("store_types::Entry"), std::string::npos)
      << e.status();
  auto t = store->Get<std::vector<std::vector<std::int32_t>>>("v");
  EXPECT_NE(t.status().message().find(
                "`[]` is string in the store, vector<i32> in this program"),
            std::string::npos)
      << t.status();
}

TEST(Store, OverwriteKeepsHeldRootReadable) {
  auto store = OpenOrDie(TempDir("overwrite"), Small());
  ASSERT_TRUE(store->Share("k", ancient_test::MakeValue(1)).ok());
  auto held = store->Get<std::vector<std::string>>("k");
  ASSERT_TRUE(held.ok());
  for (int i = 2; i < 200; ++i) {
    ASSERT_TRUE(store->Share("k", ancient_test::MakeValue(i)).ok());
  }
  EXPECT_EQ(ancient_test::CheckValue(**held), 1);
  auto now = store->Get<std::vector<std::string>>("k");
  EXPECT_EQ(ancient_test::CheckValue(**now), 199);
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();
}

TEST(Store, SpaceIsReusedOnceReadersAreGone) {
  auto store = OpenOrDie(TempDir("reuse"), Small());
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(store->Share("k", ancient_test::MakeValue(i, 2000)).ok());
  }
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  // With no reader holding old versions, overwriting reuses space: the
  // arena holds about two values, not fifty.
  const auto one = ancient_test::MakeValue(0, 2000);
  std::uint64_t bytes = 0;
  for (const auto& s : one) bytes += s.size() + 17;
  EXPECT_LT(st->arena_size - st->bytes_never_used, 4 * bytes + (1 << 20));
  EXPECT_EQ(st->bytes_live + st->bytes_free + st->bytes_never_used,
            st->arena_size);
  EXPECT_EQ(st->roots, 1u);
}

TEST(Store, SnapshotIsConsistentAndKeysList) {
  auto store = OpenOrDie(TempDir("snapshot"), Small());
  ASSERT_TRUE(store->Share("a/1", 1).ok());
  ASSERT_TRUE(store->Share("a/2", 2).ok());
  ASSERT_TRUE(store->Share("b/1", 3).ok());
  auto snap = store->Read();
  ASSERT_TRUE(snap.ok());
  ASSERT_TRUE(store->Share("a/3", 4).ok());
  ASSERT_TRUE(store->Delete("a/1").ok());
  // The snapshot still sees the old state.
  auto keys = snap->Keys("a/");
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, (std::vector<std::string>{"a/1", "a/2"}));
  auto one = snap->Get<int>("a/1");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(**one, 1);
  EXPECT_EQ(snap->Get<int>("a/3").status().code(), absl::StatusCode::kNotFound);
  // The store sees the new.
  EXPECT_EQ(*store->Keys("a/"), (std::vector<std::string>{"a/2", "a/3"}));
  EXPECT_EQ(store->Keys()->size(), 3u);
  EXPECT_TRUE(store->Keys("zzz")->empty());
  auto list = snap->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].type_name, "i32");
  EXPECT_EQ((*list)[0].type_id, ancient::TypeId<int>());
}

TEST(Store, WriteBatchIsAtomic) {
  auto store = OpenOrDie(TempDir("batch"), Small());
  {
    auto b = store->Write();
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(b->Share("x", 1).ok());
    ASSERT_TRUE(b->Share("y", 2).ok());
    ASSERT_TRUE(b->Share("x", 3).ok());  // Overwritten inside the batch.
    EXPECT_EQ(b->Delete("nope").code(), absl::StatusCode::kNotFound);
    // Another writer on this thread would deadlock: refused instead.
    EXPECT_EQ(store->Share("z", 1).status().code(),
              absl::StatusCode::kFailedPrecondition);
    // Not visible before the commit.
    EXPECT_EQ(store->Get<int>("x").status().code(),
              absl::StatusCode::kNotFound);
    ASSERT_TRUE(b->Commit().ok());
    EXPECT_EQ(b->Commit().code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_EQ(**store->Get<int>("x"), 3);
  EXPECT_EQ(**store->Get<int>("y"), 2);
  {
    auto b = store->Write();
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(b->Share("x", 100).ok());
    ASSERT_TRUE(b->Delete("y").ok());
  }  // Destroyed uncommitted: aborted.
  EXPECT_EQ(**store->Get<int>("x"), 3);
  EXPECT_EQ(**store->Get<int>("y"), 2);
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();
}

TEST(Store, ReadOnly) {
  const std::string dir = TempDir("readonly");
  {
    auto store = OpenOrDie(dir, Small());
    ASSERT_TRUE(store->Share("k", std::string("v")).ok());
  }
  StoreOptions ro = Small();
  ro.read_only = true;
  auto store = OpenOrDie(dir, ro);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(**store->Get<std::string>("k"), "v");
  EXPECT_EQ(store->Share("k", std::string("w")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Delete("k").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Write().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store->Verify().ok());
  // A missing store is NotFound, not created.
  auto missing = Store::Open(dir + "/none", ro);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  StoreOptions no_create = Small();
  no_create.create_if_missing = false;
  EXPECT_EQ(Store::Open(dir + "/none", no_create).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_NE(access((dir + "/none").c_str(), F_OK), 0);
}

TEST(Store, TwoStoresInOneProcessGetDifferentBases) {
  auto a = OpenOrDie(TempDir("two_a"));
  auto b = OpenOrDie(TempDir("two_b"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(a->base_address(), b->base_address());
  ASSERT_TRUE(a->Share("k", 1).ok());
  ASSERT_TRUE(b->Share("k", 2).ok());
  EXPECT_EQ(**a->Get<int>("k"), 1);
  EXPECT_EQ(**b->Get<int>("k"), 2);
}

TEST(Store, OpeningTwiceSharesOneEnvironment) {
  const std::string dir = TempDir("twice");
  auto a = OpenOrDie(dir, Small());
  auto b = OpenOrDie(dir, Small());
  ASSERT_TRUE(a->Share("k", 5).ok());
  EXPECT_EQ(**b->Get<int>("k"), 5);
  EXPECT_EQ(a->base_address(), b->base_address());
  a.reset();
  EXPECT_EQ(**b->Get<int>("k"), 5);
}

TEST(Store, RootOutlivesStore) {
  const std::string dir = TempDir("outlive");
  auto store = OpenOrDie(dir, Small());
  ASSERT_TRUE(store->Share("k", std::string("still here")).ok());
  auto root = store->Get<std::string>("k");
  ASSERT_TRUE(root.ok());
  store.reset();
  EXPECT_EQ(**root, "still here");
}

TEST(Store, BaseAddressTaken) {
  const std::string dir = TempDir("taken");
  std::uintptr_t base;
  {
    auto store = OpenOrDie(dir, Small());
    ASSERT_TRUE(store->Share("k", 1).ok());
    base = store->base_address();
  }
  void* p = mmap(reinterpret_cast<void*>(base), 4096, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ASSERT_EQ(p, reinterpret_cast<void*>(base));
  {
    // Taken: opens all the same, relocated, and reads right.
    auto store = OpenOrDie(dir, Small());
    ASSERT_NE(store, nullptr);
    auto root = store->Get<int>("k");
    ASSERT_TRUE(root.ok()) << root.status();
    EXPECT_EQ(**root, 1);
    EXPECT_NE(reinterpret_cast<std::uintptr_t>(root->get()), base);
    auto st = store->Stats();
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(st->relocated);
    EXPECT_EQ(st->graphs_relocated, 1u);
  }
  munmap(p, 4096);
  // Free again: opens in place, and the data is intact.
  auto store = OpenOrDie(dir, Small());
  auto root = store->Get<int>("k");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(root->get()), base);
  EXPECT_EQ(**root, 1);
  root = absl::StatusOr<ancient::Root<int>>(absl::CancelledError(""));
  EXPECT_FALSE(store->Stats()->relocated);
  // Asking for another base than the recorded one is refused.
  StoreOptions other = Small();
  store.reset();
  other.base_address = base + (std::uintptr_t{1} << 30);
  EXPECT_EQ(Store::Open(dir, other).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(Store, ChosenBaseAddressIsUsed) {
  StoreOptions o = Small();
#if defined(__SANITIZE_THREAD__)
  o.base_address = std::uintptr_t{0x567000000000};  // TSan's application range.
#else
  o.base_address = std::uintptr_t{0x4ff000000000};
#endif
  auto store = OpenOrDie(TempDir("chosen"), o);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->base_address(), o.base_address);
}

}  // namespace
