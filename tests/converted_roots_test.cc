// Roots read as another release of their type, in one process: the
// conversion made once per graph is not handed out for another graph that
// later takes the same space, one root converted by many threads at once
// gives every thread the same whole graph, and a relocated store converts
// the graph where it is read.

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "tests/test_util.h"

namespace before {
struct Rec {
  std::string name;
  std::int32_t n = 0;
};
}  // namespace before
ANCIENT_STRUCT(before::Rec, name, n)

namespace after {
struct Rec {  // reordered, widened, one field added
  std::int64_t n = 0;
  std::string name;
  std::string note = "added";
};
}  // namespace after
ANCIENT_STRUCT(after::Rec, n, name, note)

namespace {

using ancient_test::TempDir;
using Old = std::vector<before::Rec>;
using New = std::vector<after::Rec>;

Old MakeOld(int tag) {
  Old v;
  for (int i = 0; i < 200; ++i) {
    v.push_back({"rec" + std::to_string(tag) + "/" + std::to_string(i),
                 tag * 1000 + i});
  }
  return v;
}

// Whether `f` is MakeOld(tag) read as New.
void ExpectConverted(const ancient::Frozen<New>& f, int tag) {
  ASSERT_EQ(f.size(), 200u);
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(f[i].n, tag * 1000 + i) << i;
    ASSERT_EQ(f[i].name.view(),
              "rec" + std::to_string(tag) + "/" + std::to_string(i));
    ASSERT_EQ(f[i].note.view(), "added");
  }
}

std::unique_ptr<ancient::Store> Open(const std::string& dir) {
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto s = ancient::Store::Open(dir, o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

TEST(ConvertedRoots, AGraphInTheSpaceOfAConvertedOneIsConvertedAgain) {
  auto store = Open(TempDir("reuse") + "/s");
  auto first = store->Share("a", MakeOld(1));
  ASSERT_TRUE(first.ok());
  {
    auto r = store->Get<New>("a");
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectConverted(**r, 1);
  }
  // The root goes; a graph of the same size and type takes its space
  // (first fit, no reader left): same offset, same type, other contents.
  ASSERT_TRUE(store->Delete("a").ok());
  absl::StatusOr<ancient::ShareInfo> second;
  std::string key;
  for (int tries = 0; tries < 3; ++tries) {
    key = "b" + std::to_string(tries);
    second = store->Share(key, MakeOld(2));
    ASSERT_TRUE(second.ok());
    if (second->offset == first->offset) break;
  }
  ASSERT_EQ(second->offset, first->offset) << "the space was not reused";
  auto r = store->Get<New>(key);
  ASSERT_TRUE(r.ok()) << r.status();
  ExpectConverted(**r, 2);  // not the conversion of what was there before
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->graphs_converted, 2u);
}

TEST(ConvertedRoots, ManyThreadsConvertingOneRootGetOneWholeGraph) {
  auto store = Open(TempDir("threads") + "/s");
  ASSERT_TRUE(store->Share("a", MakeOld(5)).ok());
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<const void*> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();  // all ask at once
      auto r = store->Get<New>("a");
      ASSERT_TRUE(r.ok()) << r.status();
      ExpectConverted(**r, 5);
      seen[t] = r->get();
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 1; t < kThreads; ++t) EXPECT_EQ(seen[t], seen[0]) << t;
}

TEST(ConvertedRoots, ARelocatedStoreConvertsWhereItReads) {
  const std::string dir = TempDir("relocated") + "/s";
  std::uintptr_t base = 0;
  {
    auto store = Open(dir);
    ASSERT_TRUE(store->Share("a", MakeOld(7)).ok());
    base = store->base_address();
  }
  // The store's base taken, as by another library: it opens relocated.
  void* blocker =
      mmap(reinterpret_cast<void*>(base), 4096, PROT_NONE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ASSERT_EQ(blocker, reinterpret_cast<void*>(base)) << "base not taken";
  {
    auto store = Open(dir);
    auto r = store->GetVerified<New>("a");
    ASSERT_TRUE(r.ok()) << r.status();
    ExpectConverted(**r, 7);
    auto st = store->Stats();
    ASSERT_TRUE(st.ok());
    EXPECT_TRUE(st->relocated);
    EXPECT_EQ(st->graphs_converted, 1u);
  }
  munmap(blocker, 4096);
}

}  // namespace
