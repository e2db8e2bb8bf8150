// Mark on deep data, from many threads, of recursive types and a dictionary
// trie; TypeId, Value, Ancient's ownership, the block operations, the typed
// check VerifyGraph and GraphWriter.

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "ancient/ancient.h"
#include "tests/ancient_types.h"
#include "tests/block_copy.h"

namespace {

using namespace test_types;
using ancient::Frozen;

TEST(Deep, MillionLongChain) {
  // Built and torn down iteratively: the heap side must not recurse either.
  constexpr int kLength = 1'000'000;
  auto head = std::make_unique<Chain>();
  Chain* tail = head.get();
  tail->value = 0;
  for (int i = 1; i < kLength; ++i) {
    tail->next = std::make_unique<Chain>();
    tail = tail->next.get();
    tail->value = i;
  }
  auto a = ancient::Mark(head);
  const Frozen<Chain>* p = a.Follow().get();
  std::int64_t n = 0;
  while (p != nullptr) {
    ASSERT_EQ(p->value, n);
    ++n;
    p = p->next.get();
  }
  EXPECT_EQ(n, kLength);
  ExpectSound(a);
  while (head) head = std::move(head->next);
}

// Marking from several threads at once: each Mark has a context of its
// own, and the process-wide table of task functions is filled as types are
// first marked, here by four threads at the same moment (run under TSan by
// `bazel test --config=tsan`).
TEST(Threads, MarkFromManyThreadsAtOnce) {
  using Tags = std::map<std::string, std::vector<std::string>>;
  using Shared = std::vector<std::shared_ptr<std::string>>;
  Tags tags;
  for (int i = 0; i < 300; ++i) {
    tags["k" + std::to_string(i)] = {"a", std::to_string(i)};
  }
  auto one = std::make_shared<std::string>("one");
  Shared shared(500, one);
  std::atomic<int> ready{0};
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      ready.fetch_add(1);
      while (ready.load() < 4) {
      }
      auto a = ancient::Mark(tags);
      auto b = ancient::Mark(shared);
      const auto* k7 = a.Follow().get("k7");
      if (a.Follow().size() != tags.size() || k7 == nullptr ||
          k7->size() != 2 || (*k7)[1] != "7" ||
          b.Follow()[0].get() != b.Follow()[499].get() ||
          *b.Follow()[3] != "one") {
        bad.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Deep, MillionNodeCycle) {
  constexpr int kNodes = 1'000'000;
  std::vector<GraphNode> nodes(kNodes);
  for (int i = 0; i < kNodes; ++i) {
    nodes[i].id = i;
    nodes[i].edges = {&nodes[(i + 1) % kNodes]};
  }
  auto a = ancient::Mark(&nodes[0]);
  const Frozen<GraphNode>* start = a.Follow().get();
  const Frozen<GraphNode>* p = start;
  for (int i = 0; i < kNodes; ++i) {
    ASSERT_EQ(p->id, i);
    ASSERT_EQ(p->edges.size(), 1u);
    p = p->edges[0].get();
  }
  EXPECT_EQ(p, start);  // Back where it started: the cycle closed.
  ExpectSound(a);
}

TEST(Deep, NestedVectorsOfSelf) {
  Tree root{"root", {}};
  Tree* t = &root;
  for (int i = 0; i < 100000; ++i) {
    t->children.push_back(Tree{"n" + std::to_string(i), {}});
    t = &t->children.back();
  }
  auto a = ancient::Mark(root);
  const Frozen<Tree>* f = &a.Follow();
  int depth = 0;
  while (!f->children.empty()) {
    f = &f->children[0];
    ++depth;
  }
  EXPECT_EQ(depth, 100000);
  EXPECT_EQ(f->name, "n99999");
  // Tear down iteratively.
  std::vector<Tree> pending;
  pending.swap(root.children);
  while (!pending.empty()) {
    std::vector<Tree> next;
    next.swap(pending.back().children);
    pending = std::move(next);
  }
}

TEST(Struct, RoundTrip) {
  Record r{"rec",         17,
           Color::kGreen, {{1, 2}, {3.5, -4}},
           "a note",      {{"a", 1}, {"b", -2}}};
  auto a = ancient::Mark(r);
  const Frozen<Record>& f = a.Follow();
  EXPECT_EQ(f.name, "rec");
  EXPECT_EQ(f.id, 17);
  EXPECT_EQ(f.color, Color::kGreen);
  ASSERT_EQ(f.path.size(), 2u);
  EXPECT_EQ(f.path[1].x, 3.5);
  EXPECT_EQ(f.path[1].y, -4);
  EXPECT_EQ(*f.note, "a note");
  EXPECT_EQ(*f.counts.get("b"), -2);
  ExpectSound(a);
}

TEST(Trie, EveryDictionaryWordFound) {
  std::ifstream in("/usr/share/dict/words");
  ASSERT_TRUE(in) << "/usr/share/dict/words missing: run tools/install-deps";
  std::vector<std::string> words;
  Trie root;
  for (std::string w; std::getline(in, w);) {
    Trie* t = &root;
    for (char ch : w) {
      auto& next = t->next[ch];
      if (!next) next = std::make_unique<Trie>();
      t = next.get();
    }
    t->word = true;
    words.push_back(w);
  }
  ASSERT_GT(words.size(), 50000u);
  auto a = ancient::Mark(root);
  auto lookup = [&](std::string_view w) {
    const Frozen<Trie>* t = &a.Follow();
    for (char ch : w) {
      const auto* next = t->next.get(ch);
      if (next == nullptr) return false;
      t = next->get();
    }
    return t->word;
  };
  for (const auto& w : words) ASSERT_TRUE(lookup(w)) << w;
  for (const char* non : {"qzxv", "aardvarkz", "zzzzzz", "helloworldfoo", ""}) {
    EXPECT_FALSE(lookup(non)) << non;
  }
  ExpectSound(a);
}

TEST(TypeId, GoldenAndDistinct) {
  // Pinned: if this changes, stored data of this type becomes unreadable.
  EXPECT_EQ(ancient::TypeId<std::vector<std::string>>(), 0xa3b1c408e7953673ULL)
      << ancient::TypeDescription<std::vector<std::string>>();
  EXPECT_EQ(ancient::TypeId<std::vector<std::string>>(),
            ancient::TypeId<std::vector<std::string_view>>());
  EXPECT_NE(ancient::TypeId<std::vector<std::int32_t>>(),
            ancient::TypeId<std::vector<std::int64_t>>());
  EXPECT_NE(ancient::TypeId<std::vector<std::int32_t>>(),
            ancient::TypeId<std::vector<std::uint32_t>>());
  EXPECT_NE((ancient::TypeId<std::map<std::string, int>>()),
            (ancient::TypeId<std::unordered_map<std::string, int>>()));
  EXPECT_NE((ancient::TypeId<std::pair<int, double>>()),
            (ancient::TypeId<std::pair<double, int>>()));
  EXPECT_NE(ancient::TypeId<Point>(),
            (ancient::TypeId<std::pair<double, double>>()));
  EXPECT_NE(ancient::TypeId<Trie>(), ancient::TypeId<Chain>());
  EXPECT_NE(ancient::TypeId<Trie>(), 0u);  // Recursive types terminate.
  EXPECT_EQ((ancient::TypeName<std::map<std::string, std::int64_t>>()),
            "map<string,i64>");
  EXPECT_EQ(ancient::TypeName<Trie>(), "test_types::Trie");
}

TEST(Value, FromNestedData) {
  ancient::Value::Object inner;
  inner["pi"] = 3.14159;
  inner["list"] = ancient::Value::Array{1, "two", nullptr, false};
  ancient::Value::Object top;
  top["name"] = "ancient";
  top["big"] = std::int64_t{-9007199254740993};
  top["inner"] = inner;
  top["empty"] = ancient::Value::Object();
  ancient::Value v(top);
  auto a = ancient::Mark(v);
  const ancient::FrozenValue& f = a.Follow();
  ASSERT_TRUE(f.is_object());
  EXPECT_EQ(f.as_object().size(), 4u);
  EXPECT_EQ(f.find("name")->as_string(), "ancient");
  EXPECT_EQ(f.find("big")->as_int(), -9007199254740993);
  const auto* in = f.find("inner");
  ASSERT_NE(in, nullptr);
  EXPECT_DOUBLE_EQ(in->find("pi")->as_double(), 3.14159);
  const auto* list = in->find("list");
  ASSERT_TRUE(list->is_array());
  EXPECT_EQ(list->at(0)->as_int(), 1);
  EXPECT_EQ(list->at(1)->as_string(), "two");
  EXPECT_TRUE(list->at(2)->is_null());
  EXPECT_FALSE(list->at(3)->as_bool());
  EXPECT_EQ(list->at(4), nullptr);
  EXPECT_TRUE(f.find("empty")->as_object().empty());
  EXPECT_EQ(f.find("missing"), nullptr);
  EXPECT_EQ(ancient::Thaw(f), v);
  // Plain std::map and std::vector convert as well.
  std::map<std::string, ancient::Value> plain = {{"x", 1}, {"y", "z"}};
  ancient::Value from_plain(plain);
  ASSERT_TRUE(from_plain.is_object());
  EXPECT_EQ(from_plain.as_object().at("y").as_string(), "z");
  ancient::Value from_vector(std::vector<ancient::Value>{1, 2.5, true});
  EXPECT_TRUE(from_vector.as_array()[2].as_bool());
  ExpectSound(a);
}

TEST(Ancient, FollowAfterDeleteIsCaught) {
  auto a = ancient::Mark(std::string("bye"));
  EXPECT_GT(a.size_bytes(), 3u);
  EXPECT_TRUE(a.TryFollow().ok());
  a.Delete();
  EXPECT_TRUE(a.deleted());
  EXPECT_EQ(a.size_bytes(), 0u);
  EXPECT_EQ(a.TryFollow().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_DEATH(a.Follow(), "Follow\\(\\) called after Delete\\(\\)");
  a.Delete();  // Idempotent.
}

TEST(Ancient, MoveTransfersOwnership) {
  auto a = ancient::Mark(std::vector<int>{1, 2, 3});
  const void* block = a.data();
  ancient::Ancient<std::vector<int>> b = std::move(a);
  EXPECT_EQ(b.data(), block);
  EXPECT_TRUE(a.deleted());
  EXPECT_EQ(b.Follow()[2], 3);
}

TEST(Ancient, SizeIsExact) {
  // A vector header (16) + 3 ints (12).
  auto a = ancient::Mark(std::vector<std::int32_t>{1, 2, 3});
  EXPECT_EQ(a.size_bytes(), 28u);
  // A string header (16) + 5 bytes + NUL.
  auto b = ancient::Mark(std::string("hello"));
  EXPECT_EQ(b.size_bytes(), 22u);
}

TEST(Block, ChunkRelocatorMatchesRelocateBlockForEveryChunkSize) {
  std::vector<std::string> words;
  for (int i = 0; i < 200; ++i)
    words.push_back("word number " + std::to_string(i));
  auto a = ancient::Mark(words);
  const std::uint64_t size = a.size_bytes();
  const auto old_base = reinterpret_cast<std::uintptr_t>(a.data());
  const std::uintptr_t new_base = std::uintptr_t{1} << 44;
  std::string whole(static_cast<const char*>(a.data()), size);
  ASSERT_TRUE(ancient::RelocateBlock(whole.data(), size, a.relocations(),
                                     old_base, new_base)
                  .ok());
  for (const std::uint64_t chunk : {8u, 64u, 4096u, 1u << 20}) {
    std::string out;
    std::string buf;
    ancient::ChunkRelocator relocator(a.relocations(), new_base - old_base);
    for (std::uint64_t pos = 0; pos < size; pos += chunk) {
      const std::uint64_t n = std::min(chunk, size - pos);
      buf.assign(static_cast<const char*>(a.data()) + pos, n);
      relocator.Apply(buf.data(), pos, n);
      out += buf;
    }
    EXPECT_EQ(out, whole) << "chunks of " << chunk;
  }
}

TEST(Block, RelocateAndDetectDamage) {
  std::vector<std::string> words = {"one", "two", "three"};
  auto a = ancient::Mark(words);
  // Copy the block elsewhere, relocate, and read it there.
  void* copy = ::operator new (a.size_bytes(), std::align_val_t{64});
  std::memcpy(copy, a.data(), a.size_bytes());
  EXPECT_FALSE(
      ancient::VerifyBlock(copy, a.size_bytes(), a.relocations()).ok());
  ASSERT_TRUE(ancient::RelocateBlock(copy, a.size_bytes(), a.relocations(),
                                     reinterpret_cast<std::uintptr_t>(a.data()))
                  .ok());
  EXPECT_TRUE(ancient::VerifyBlock(copy, a.size_bytes(), a.relocations()).ok());
  const auto& f = *static_cast<const Frozen<std::vector<std::string>>*>(copy);
  EXPECT_EQ(f[2], "three");
  a.Delete();  // The copy no longer depends on the original.
  EXPECT_EQ(f[0], "one");
  // A damaged record is reported, not followed.
  std::string bad(1, '\xff');
  EXPECT_EQ(ancient::VerifyBlock(copy, 64, bad).code(),
            absl::StatusCode::kDataLoss);
  std::string far(1, '\x7f');  // Slot at 127*8, beyond the block.
  EXPECT_EQ(ancient::VerifyBlock(copy, 64, far).code(),
            absl::StatusCode::kDataLoss);
  ::operator delete (copy, std::align_val_t{64});
}

}  // namespace

namespace {

using ancient_test::BlockCopy;

template <class T>
void ExpectTypedDamage(BlockCopy& b, const std::string& needle) {
  const absl::Status s = ancient::VerifyGraph<T>(b.data(), b.size());
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(needle), std::string::npos) << s;
}

static_assert(sizeof(ancient::String) == 16);
static_assert(sizeof(ancient::Vector<int>) == 16);

TEST(VerifyGraph, CatchesWhatPointerChecksCannot) {
  using Words = std::vector<std::string>;
  auto a = ancient::Mark(Words{"alpha", "beta"});
  {
    BlockCopy b(a);
    b.Put<std::uint64_t>(8, 1000);  // The vector's size.
    ExpectTypedDamage<Words>(b, "vector elements");
  }
  {
    BlockCopy b(a);
    // The first String header: data pointer, then size.
    const auto elems =
        b.GetAt<std::uintptr_t>(0) - reinterpret_cast<std::uintptr_t>(b.data());
    b.Put<std::uint64_t>(elems + 8, 1u << 20);
    ExpectTypedDamage<Words>(b, "string bytes");
  }
  {
    BlockCopy b(a);
    const auto elems =
        b.GetAt<std::uintptr_t>(0) - reinterpret_cast<std::uintptr_t>(b.data());
    const auto bytes = b.GetAt<std::uintptr_t>(elems) -
                       reinterpret_cast<std::uintptr_t>(b.data());
    b.Put<char>(bytes + 5, 'x');  // "alpha"'s NUL.
    ExpectTypedDamage<Words>(b, "NUL");
  }
}

TEST(VerifyGraph, FlagsIndexesAndBuckets) {
  {
    auto a = ancient::Mark(true);
    BlockCopy b(a);
    b.Put<unsigned char>(0, 3);
    ExpectTypedDamage<bool>(b, "bool");
  }
  {
    auto a = ancient::Mark(std::optional<std::int32_t>(5));
    BlockCopy b(a);
    b.Put<std::uint8_t>(4, 2);
    ExpectTypedDamage<std::optional<std::int32_t>>(b, "optional flag");
  }
  {
    using V = std::variant<std::int64_t, std::string>;
    auto a = ancient::Mark(V(std::string("s")));
    BlockCopy b(a);
    b.Put<std::uint32_t>(16, 7);  // After the 16-byte storage.
    ExpectTypedDamage<V>(b, "variant index");
  }
  {
    auto a = ancient::Mark(std::make_unique<std::string>("boxed"));
    BlockCopy b(a);
    b.Put<std::uintptr_t>(
        0, reinterpret_cast<std::uintptr_t>(b.data()) + b.size() + 64);
    ExpectTypedDamage<std::unique_ptr<std::string>>(b, "pointee");
  }
  {
    using M = std::unordered_map<std::string, int>;
    auto a = ancient::Mark(M{{"a", 1}, {"b", 2}, {"c", 3}});
    BlockCopy b(a);
    // HashMap header: entries, starts, size, mask.
    const auto starts =
        b.GetAt<std::uintptr_t>(8) - reinterpret_cast<std::uintptr_t>(b.data());
    b.Put<std::uint64_t>(starts + 8, 99);
    ExpectTypedDamage<M>(b, "bucket");
  }
}

TEST(VerifyGraph, CyclesAndSharingCheckOnce) {
  auto x = std::make_shared<SharedNode>();
  x->label = "x";
  x->left = x;
  x->right = x;
  auto a = ancient::Mark(x);
  EXPECT_TRUE(ancient::VerifyGraph<std::shared_ptr<SharedNode>>(a.data(),
                                                                a.size_bytes())
                  .ok());
  x->left.reset();
  x->right.reset();
}

}  // namespace

namespace {

TEST(GraphWriter, WritesPointersForAnotherAddress) {
  // Written at one place with pointers for another (as the store writes
  // through its writable view), then moved there: reads back intact.
  std::vector<std::string> m = {"x", "a string longer than inline", "",
                                std::string(1000, 'z')};
  ancient::internal::GraphWriter<decltype(m)> w(m);
  const std::size_t n = w.size();
  void* write_at = ::operator new (n, std::align_val_t{64});
  void* read_at = ::operator new (n, std::align_val_t{64});
  const std::string relocs = w.Write(write_at, read_at);
  std::memcpy(read_at, write_at, n);
  EXPECT_TRUE(ancient::VerifyBlock(read_at, n, relocs).ok());
  EXPECT_TRUE(ancient::VerifyGraph<decltype(m)>(read_at, n).ok());
  const auto& f = *static_cast<const ancient::Frozen<decltype(m)>*>(read_at);
  ASSERT_EQ(f.size(), 4u);
  for (std::size_t i = 0; i < m.size(); ++i) EXPECT_EQ(f[i].view(), m[i]);
  ::operator delete (write_at, std::align_val_t{64});
  ::operator delete (read_at, std::align_val_t{64});
}

}  // namespace

namespace {

TEST(Pointers, SameAddressDifferentTypesAreDifferentObjects) {
  // A struct and its first member share an address; each pointer gets a
  // copy of its own type, and repeated pointers still share.
  Point pt{1.5, 2.5};
  std::tuple<Point*, double*, Point*, double*> t = {&pt, &pt.x, &pt, &pt.x};
  auto a = ancient::Mark(t);
  const auto& f = a.Follow();
  const auto* p0 = ancient::get<0>(f).get();
  const auto* d1 = ancient::get<1>(f).get();
  EXPECT_EQ(p0->x, 1.5);
  EXPECT_EQ(p0->y, 2.5);
  EXPECT_EQ(*d1, 1.5);
  EXPECT_NE(static_cast<const void*>(p0), static_cast<const void*>(d1));
  EXPECT_EQ(ancient::get<2>(f).get(), p0);
  EXPECT_EQ(ancient::get<3>(f).get(), d1);
  ExpectSound(a);
}

// Pointers to objects of 20 types, std::array<int64_t, N> for N = 1..20,
// each vector {x, y, x} `repeats` times; and first, int64 pointers into the
// last type's object, at its address. Marked on `threads`.
template <std::size_t N>
using Int64s = std::array<std::int64_t, N>;

template <std::size_t... Is>
void MarkManyPointeeTypes(std::index_sequence<Is...>, int threads,
                          std::size_t repeats) {
  constexpr std::size_t kLast = sizeof...(Is);
  std::tuple<std::array<Int64s<Is + 1>, 2>...> objects;
  (std::get<Is>(objects)[0].fill(10 * Is + 1), ...);
  (std::get<Is>(objects)[1].fill(10 * Is + 2), ...);
  const std::int64_t* inside = std::get<kLast - 1>(objects)[0].data();
  std::tuple<std::vector<const std::int64_t*>,
             std::vector<const Int64s<Is + 1>*>...>
      t;
  for (std::size_t r = 0; r < repeats; ++r) {
    std::get<0>(t).insert(std::get<0>(t).end(), {inside, inside});
    (std::get<Is + 1>(t).insert(
         std::get<Is + 1>(t).end(),
         {&std::get<Is>(objects)[0], &std::get<Is>(objects)[1],
          &std::get<Is>(objects)[0]}),
     ...);
  }
  auto a = ancient::Mark(t, ancient::MarkOptions{.threads = threads});
  EXPECT_EQ(a.threads_used(), threads);
  const auto& f = a.Follow();
  const auto check = [&](const auto& v, std::size_t i) {
    ASSERT_EQ(v.size(), 3 * repeats);
    for (std::size_t k = 0; k < v.size(); ++k) {
      ASSERT_EQ(v[k].get(), v[k % 3 == 1 ? 1 : 0].get())
          << "type " << i << ", pointer " << k << ": one copy each";
    }
    EXPECT_NE(v[0].get(), v[1].get()) << "type " << i;
    EXPECT_EQ((*v[0].get())[i], std::int64_t(10 * i + 1)) << "type " << i;
    EXPECT_EQ((*v[1].get())[0], std::int64_t(10 * i + 2)) << "type " << i;
  };
  (check(ancient::get<Is + 1>(f), Is), ...);
  const auto& ints = ancient::get<0>(f);
  ASSERT_EQ(ints.size(), 2 * repeats);
  for (std::size_t k = 0; k < ints.size(); ++k) {
    ASSERT_EQ(ints[k].get(), ints[0].get()) << "pointer " << k;
  }
  EXPECT_EQ(*ints[0].get(), std::int64_t(10 * (kLast - 1) + 1));
  EXPECT_NE(static_cast<const void*>(ints[0].get()),
            static_cast<const void*>(ancient::get<kLast>(f)[0].get()))
      << "an int64 and an array at one address are two objects";
  ExpectSound(a);
}

TEST(Pointers, ManyPointeeTypesEachShareTheirObjects) {
  // Mark's sharing table keeps a small type number beside each offset
  // (4 bits); pointee types past the first 16 of a graph go to a side map.
  MarkManyPointeeTypes(std::make_index_sequence<20>(), 1, 1);
  // The same on two threads (arrays of 9,000 pointers are split between
  // them), where the table is in shards.
  MarkManyPointeeTypes(std::make_index_sequence<20>(), 2, 3000);
}

TEST(Pointers, ArraysOfPointersReadBackWhateverTheMixOfNewAndSeen) {
  // Arrays of pointers are marked in groups of 64, a group of new pointees
  // placed one after another queued as one task: groups of every mix (all
  // new, a null among them, a pointer repeated, pointees seen before, a
  // short last group) must read back the same, each node copied once.
  constexpr int kNodes = 1000;
  std::vector<std::unique_ptr<GraphNode>> nodes;
  for (int i = 0; i < kNodes; ++i) {
    nodes.push_back(std::make_unique<GraphNode>());
    nodes.back()->id = i;
  }
  for (int i = 0; i < kNodes; ++i) {
    nodes[i]->edges = {nodes[(i * 7 + 1) % kNodes].get(), nodes[i].get()};
  }
  // Marked first: a group of 64 new nodes, one with a null, one with a
  // pointer repeated, then every third node, and a short last group.
  std::vector<GraphNode*> refs;
  for (int i = 0; i < 64; ++i) refs.push_back(nodes[i].get());
  for (int i = 64; i < 128; ++i)
    refs.push_back(i == 90 ? nullptr : nodes[i].get());
  for (int i = 128; i < 192; ++i)
    refs.push_back(nodes[i == 150 ? 140 : i].get());
  for (int i = 192; i < kNodes; i += 3) refs.push_back(nodes[i].get());
  for (int i = 0; i < 37; ++i) refs.push_back(nodes[kNodes - 1 - i].get());
  // Then every node through its owner: some groups all seen, some mixed.
  const std::pair<std::vector<GraphNode*>,
                  std::vector<std::unique_ptr<GraphNode>>>
      both(refs, std::move(nodes));
  for (const int threads : {1, 0, 2}) {
    SCOPED_TRACE(threads);
    auto a = ancient::Mark(both, ancient::MarkOptions{.threads = threads});
    const auto& f = a.Follow();
    const auto& owned = f.second;
    ASSERT_EQ(owned.size(), static_cast<std::size_t>(kNodes));
    for (int i = 0; i < kNodes; ++i) {
      const auto* n = owned[i].get();
      ASSERT_NE(n, nullptr) << i;
      ASSERT_EQ(n->id, i);
      ASSERT_EQ(n->edges.size(), 2u) << i;
      EXPECT_EQ(n->edges[0].get(), owned[(i * 7 + 1) % kNodes].get()) << i;
      EXPECT_EQ(n->edges[1].get(), n) << i;
    }
    if (threads != 2) {  // on one thread the block is exactly the graph
      EXPECT_EQ(a.size_bytes(),
                sizeof(f) + (refs.size() + kNodes) * 8 +
                    kNodes * (sizeof(ancient::Frozen<GraphNode>) + 2 * 8));
    }
    const auto& seen = f.first;
    ASSERT_EQ(seen.size(), refs.size());
    for (std::size_t k = 0; k < refs.size(); ++k) {
      if (refs[k] == nullptr) {
        EXPECT_EQ(seen[k].get(), nullptr) << k;
      } else {
        EXPECT_EQ(seen[k].get(), owned[refs[k]->id].get()) << k;
      }
    }
    ExpectSound(a);
  }
}

TEST(Pointers, OwnedRecordsMarkedInGroupsReadBackTheSame) {
  // unique_ptrs to a type no other pointer reaches: no sharing table, every
  // group of 64 one task (its pointees placed one after another).
  std::vector<std::unique_ptr<Record>> records;
  for (int i = 0; i < 1000; ++i) {
    auto r = std::make_unique<Record>();
    r->name = "record " + std::to_string(i);
    r->id = i;
    r->path = {{1.0 * i, 2.0}};
    r->counts["n"] = i;
    records.push_back(std::move(r));
  }
  records[500] = nullptr;
  for (const int threads : {1, 0}) {
    SCOPED_TRACE(threads);
    auto a = ancient::Mark(records, ancient::MarkOptions{.threads = threads});
    const auto& f = a.Follow();
    ASSERT_EQ(f.size(), records.size());
    for (int i = 0; i < 1000; ++i) {
      if (i == 500) {
        EXPECT_EQ(f[i].get(), nullptr);
        continue;
      }
      EXPECT_EQ(f[i]->name, "record " + std::to_string(i));
      EXPECT_EQ(f[i]->id, i);
      ASSERT_EQ(f[i]->path.size(), 1u);
      EXPECT_EQ(f[i]->path[0].x, 1.0 * i);
      EXPECT_EQ(f[i]->counts.find("n")->second, i);
    }
    ExpectSound(a);
  }
}

TEST(Order, TreesOnOneThreadAreMarkedDepthFirst) {
  // Nothing in a Trie is reached twice: on one thread its nodes are walked
  // depth first (MarkContext::RunStack), each node's subtree before its
  // next sibling's, so the copy lies in the order such trees are mostly
  // built in, and marking reads the heap nearly in sequence. Breadth first,
  // B's entries would be placed before A's children.
  Trie root;
  for (const char* w : {"aa", "ab", "ba", "bb"}) {
    Trie* t = &root;
    for (const char* c = w; *c != 0; ++c) {
      auto& next = t->next[*c];
      if (next == nullptr) next = std::make_unique<Trie>();
      t = next.get();
    }
    t->word = true;
  }
  auto a = ancient::Mark(root, ancient::MarkOptions{.threads = 1});
  const Frozen<Trie>& f = a.Follow();
  const auto child = [](const Frozen<Trie>& t, char c) {
    const auto* e = t.next.find(c);
    EXPECT_NE(e, t.next.end());
    return e->second.get();
  };
  const auto* node_a = child(f, 'a');
  const auto* node_b = child(f, 'b');
  const auto* node_aa = child(*node_a, 'a');
  const auto* node_bb = child(*node_b, 'b');
  EXPECT_TRUE(node_aa->word);
  EXPECT_TRUE(node_bb->word);
  const auto at = [&](const void* p) {
    return static_cast<const char*>(p) - static_cast<const char*>(a.data());
  };
  // A's subtree (its entries, its children) before B's entries.
  EXPECT_LT(at(node_a->next.begin()), at(node_b->next.begin()));
  EXPECT_LT(at(node_aa), at(node_b->next.begin()));
  ExpectSound(a);
}

}  // namespace
