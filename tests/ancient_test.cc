// Round trips through ancient::Mark for every supported heap type, sharing,
// cycles, deep data, recursive types, TypeId and Value.

#include "ancient/ancient.h"

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
#include <variant>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"

namespace test_types {
enum class Color : std::uint8_t { kRed, kGreen, kBlue };

struct Point {
  double x;
  double y;
};

struct Record {
  std::string name;
  std::int32_t id;
  Color color;
  std::vector<Point> path;
  std::optional<std::string> note;
  std::map<std::string, std::int64_t> counts;
};

struct Chain {
  std::int64_t value;
  std::unique_ptr<Chain> next;
};

struct GraphNode {
  std::int64_t id;
  std::vector<GraphNode*> edges;
};

struct SharedNode {
  std::string label;
  std::shared_ptr<SharedNode> left;
  std::shared_ptr<SharedNode> right;
};

struct Trie {
  bool word = false;
  std::map<char, std::unique_ptr<Trie>> next;
};

struct Tree {
  std::string name;
  std::vector<Tree> children;
};

// Children owned by unique_ptr, and raw pointers back to their parents and
// to a favourite node anywhere: the owned nodes are also reached by raw
// pointers, so marking must still find them (no second copy).
struct Family {
  std::string name;
  Family* parent = nullptr;
  std::vector<std::unique_ptr<Family>> children;
};
struct Household {
  std::unique_ptr<Family> root;
  const Family* favourite = nullptr;
};
}  // namespace test_types

// With and without the trailing semicolon: both must compile.
ANCIENT_STRUCT(test_types::Point, x, y)
ANCIENT_STRUCT(test_types::Record, name, id, color, path, note, counts);
ANCIENT_STRUCT(test_types::Chain, value, next);
ANCIENT_STRUCT(test_types::GraphNode, id, edges);
ANCIENT_STRUCT(test_types::SharedNode, label, left, right);
ANCIENT_STRUCT(test_types::Trie, word, next);
ANCIENT_STRUCT(test_types::Tree, name, children);
ANCIENT_STRUCT(test_types::Family, name, parent, children);
ANCIENT_STRUCT(test_types::Household, root, favourite);

namespace {

using namespace test_types;
using ancient::Frozen;

// Every pointer in a marked block points inside it.
template <class T>
void ExpectSound(const ancient::Ancient<T>& a) {
  EXPECT_TRUE(
      ancient::VerifyBlock(a.data(), a.size_bytes(), a.relocations()).ok());
  const absl::Status typed = ancient::VerifyGraph<T>(a.data(), a.size_bytes());
  EXPECT_TRUE(typed.ok()) << typed;
}

TEST(Scalars, RoundTrip) {
  auto i = ancient::Mark(std::int64_t{-42});
  EXPECT_EQ(i.Follow(), -42);
  auto d = ancient::Mark(3.25);
  EXPECT_EQ(d.Follow(), 3.25);
  auto b = ancient::Mark(true);
  EXPECT_TRUE(b.Follow());
  auto e = ancient::Mark(Color::kBlue);
  EXPECT_EQ(e.Follow(), Color::kBlue);
  static_assert(std::is_same_v<Frozen<std::uint16_t>, std::uint16_t>);
  static_assert(std::is_same_v<Frozen<Color>, Color>);
}

TEST(String, RoundTrip) {
  for (const std::string& s :
       {std::string(), std::string("a"), std::string("hello, world"),
        std::string(1000, 'x'), std::string("nul\0inside", 10)}) {
    auto a = ancient::Mark(s);
    const ancient::String& f = a.Follow();
    EXPECT_EQ(f.size(), s.size());
    EXPECT_EQ(f.view(), s);
    EXPECT_EQ(f, std::string_view(s));
    EXPECT_EQ(f.c_str()[s.size()], '\0');
    EXPECT_EQ(f.empty(), s.empty());
    ExpectSound(a);
  }
  auto v = ancient::Mark(std::string_view("view"));
  EXPECT_EQ(v.Follow(), "view");
  EXPECT_LT(v.Follow(), std::string_view("x"));
  EXPECT_GT(v.Follow(), std::string_view("a"));
}

TEST(Vector, RoundTrip) {
  std::vector<std::string> words = {"alpha", "", "gamma", "delta"};
  auto a = ancient::Mark(words);
  const auto& f = a.Follow();
  ASSERT_EQ(f.size(), words.size());
  for (std::size_t i = 0; i < words.size(); ++i) EXPECT_EQ(f[i], words[i]);
  std::size_t n = 0;
  for (const ancient::String& s : f) EXPECT_EQ(s, words[n++]);
  EXPECT_EQ(n, words.size());
  EXPECT_EQ(f.span().size(), words.size());
  ExpectSound(a);

  std::vector<int> ints(1000);
  for (int i = 0; i < 1000; ++i) ints[i] = i * i - 7;
  auto b = ancient::Mark(ints);
  ASSERT_EQ(b.Follow().size(), ints.size());
  EXPECT_TRUE(std::equal(ints.begin(), ints.end(), b.Follow().begin()));

  std::vector<bool> bits = {true, false, true, true};
  auto c = ancient::Mark(bits);
  ASSERT_EQ(c.Follow().size(), 4u);
  for (std::size_t i = 0; i < bits.size(); ++i) {
    EXPECT_EQ(c.Follow()[i], bits[i]);
  }

  auto empty = ancient::Mark(std::vector<std::string>());
  EXPECT_TRUE(empty.Follow().empty());
  EXPECT_EQ(empty.Follow().begin(), empty.Follow().end());

  std::vector<std::vector<std::string>> nested = {{"a", "b"}, {}, {"c"}};
  auto d = ancient::Mark(nested);
  ASSERT_EQ(d.Follow().size(), 3u);
  EXPECT_EQ(d.Follow()[0][1], "b");
  EXPECT_TRUE(d.Follow()[1].empty());
  EXPECT_EQ(d.Follow()[2][0], "c");
  ExpectSound(d);
}

TEST(Array, RoundTrip) {
  std::array<std::string, 3> a = {"x", "yy", "zzz"};
  auto m = ancient::Mark(a);
  static_assert(
      std::is_same_v<Frozen<decltype(a)>, ancient::Vector<ancient::String>>);
  ASSERT_EQ(m.Follow().size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(m.Follow()[i], a[i]);
}

template <class M>
void CheckSortedMap(const M& m) {
  auto a = ancient::Mark(m);
  const auto& f = a.Follow();
  ASSERT_EQ(f.size(), m.size());
  auto it = m.begin();
  for (const auto& [k, v] : f) {
    EXPECT_EQ(k, it->first);
    EXPECT_EQ(v, it->second);
    ++it;
  }
  for (const auto& [k, v] : m) {
    const auto* e = f.find(k);
    ASSERT_NE(e, f.end());
    EXPECT_EQ(e->second, v);
    EXPECT_TRUE(f.contains(k));
  }
  ExpectSound(a);
}

TEST(Map, RoundTripAndLookup) {
  std::map<std::string, std::int64_t> m;
  for (int i = 0; i < 500; ++i) m["key" + std::to_string(i)] = i * 3 - 100;
  CheckSortedMap(m);
  absl::btree_map<std::string, std::int64_t> bm(m.begin(), m.end());
  CheckSortedMap(bm);
  std::map<int, std::string> im = {{-5, "minus five"}, {0, ""}, {9, "nine"}};
  CheckSortedMap(im);

  auto a = ancient::Mark(m);
  const auto& f = a.Follow();
  // Heterogeneous lookups with string_view, std::string and C strings.
  EXPECT_TRUE(f.contains(std::string_view("key7")));
  EXPECT_TRUE(f.contains(std::string("key499")));
  EXPECT_TRUE(f.contains("key0"));
  EXPECT_FALSE(f.contains("key500"));
  EXPECT_FALSE(f.contains(""));
  EXPECT_FALSE(f.contains("zzz"));
  ASSERT_NE(f.get("key10"), nullptr);
  EXPECT_EQ(*f.get("key10"), 30 - 100);
  EXPECT_EQ(f.get("nope"), nullptr);
  EXPECT_EQ(f.lower_bound("key1")->first, "key1");
  EXPECT_EQ(f.lower_bound("key10a")->first, "key11");  // "a" > "9"
  EXPECT_EQ(f.lower_bound("key100")->first, "key100");
  EXPECT_EQ(f.upper_bound("key1")->first, "key10");

  auto e = ancient::Mark(std::map<std::string, int>());
  EXPECT_FALSE(e.Follow().contains("a"));
  EXPECT_EQ(e.Follow().find("a"), e.Follow().end());
}

TEST(Set, RoundTrip) {
  std::set<std::string> s = {"pear", "apple", "fig", ""};
  auto a = ancient::Mark(s);
  ASSERT_EQ(a.Follow().size(), s.size());
  auto it = s.begin();
  for (const ancient::String& k : a.Follow()) EXPECT_EQ(k, *it++);
  EXPECT_TRUE(a.Follow().contains("fig"));
  EXPECT_TRUE(a.Follow().contains(""));
  EXPECT_FALSE(a.Follow().contains("kiwi"));

  absl::btree_set<std::int64_t> bs = {5, -3, 99, 0};
  auto b = ancient::Mark(bs);
  std::vector<std::int64_t> got(b.Follow().begin(), b.Follow().end());
  EXPECT_EQ(got, std::vector<std::int64_t>(bs.begin(), bs.end()));
  EXPECT_TRUE(b.Follow().contains(-3));
  EXPECT_FALSE(b.Follow().contains(4));
}

template <class M>
void CheckHashMap(const M& m) {
  auto a = ancient::Mark(m);
  const auto& f = a.Follow();
  ASSERT_EQ(f.size(), m.size());
  std::size_t n = 0;
  for (const auto& [k, v] : f) {
    auto it = m.find(typename M::key_type(k));
    ASSERT_NE(it, m.end());
    EXPECT_EQ(v, it->second);
    ++n;
  }
  EXPECT_EQ(n, m.size());
  for (const auto& [k, v] : m) {
    ASSERT_NE(f.get(k), nullptr) << "missing key";
    EXPECT_EQ(*f.get(k), v);
  }
  ExpectSound(a);
}

TEST(HashMap, RoundTripAndLookup) {
  std::unordered_map<std::string, std::int64_t> m;
  for (int i = 0; i < 2000; ++i) m["k" + std::to_string(i * 7)] = -i;
  CheckHashMap(m);
  absl::flat_hash_map<std::string, std::int64_t> fm(m.begin(), m.end());
  CheckHashMap(fm);
  std::unordered_map<std::int64_t, std::string> im = {{-1, "a"}, {1, "b"}};
  CheckHashMap(im);

  auto a = ancient::Mark(m);
  EXPECT_TRUE(a.Follow().contains(std::string_view("k7")));
  EXPECT_TRUE(a.Follow().contains("k0"));
  EXPECT_FALSE(a.Follow().contains("k1"));
  EXPECT_FALSE(a.Follow().contains(""));
  EXPECT_GE(a.Follow().bucket_count(), m.size());

  auto e = ancient::Mark(std::unordered_map<std::string, int>());
  EXPECT_TRUE(e.Follow().empty());
  EXPECT_FALSE(e.Follow().contains("x"));
}

// One pass sorts a hash container's entries by bucket in the block itself,
// each slot holding its source's heap address until the entry is written:
// none may be left behind (in padding, here after a 4-byte key), which would
// also put heap addresses into shared files.
TEST(HashMap, NoSourceAddressLeftInTheBlock) {
  std::unordered_map<std::int32_t, std::int64_t> m;
  for (int i = 0; i < 5000; ++i) m[i * 3] = i;
  auto a = ancient::Mark(m);
  const auto& f = a.Follow();
  ASSERT_EQ(f.size(), m.size());
  for (const auto& e : f) {
    std::int32_t pad;
    std::memcpy(&pad, reinterpret_cast<const char*>(&e) + 4, 4);
    ASSERT_EQ(pad, 0) << e.first;
    EXPECT_EQ(e.second, m.at(e.first));
  }
  ExpectSound(a);
}

TEST(HashSet, RoundTrip) {
  std::unordered_set<std::string> s = {"one", "two", "three"};
  auto a = ancient::Mark(s);
  EXPECT_EQ(a.Follow().size(), 3u);
  for (const auto& k : s) EXPECT_TRUE(a.Follow().contains(k));
  EXPECT_FALSE(a.Follow().contains("four"));
  absl::flat_hash_set<std::int32_t> fs = {1, 2, 3, -100};
  auto b = ancient::Mark(fs);
  for (int k : fs) EXPECT_TRUE(b.Follow().contains(k));
  EXPECT_FALSE(b.Follow().contains(4));
}

// Nested hash containers, some empty, in vectors and behind pointers: each
// is sorted by bucket in the block (its slots holding source addresses)
// while the others wait in the queue, with the sort's scratch reused from
// one container to the next.
TEST(HashMap, NestedAndSharedContainersFindEveryKey) {
  using Inner = std::unordered_set<std::int32_t>;
  using Outer = std::unordered_map<std::string, Inner>;
  auto shared = std::make_shared<Outer>();
  std::vector<std::shared_ptr<Outer>> v;
  for (int m = 0; m < 20; ++m) {
    auto o = m % 5 == 0 ? shared : std::make_shared<Outer>();
    for (int i = 0; i < m * 30; ++i) {
      Inner& in = (*o)["k" + std::to_string(i)];
      for (int j = 0; j < i % 7; ++j) in.insert(i * 100 + j);
    }
    v.push_back(o);
  }
  auto a = ancient::Mark(v);
  ASSERT_TRUE(
      (ancient::VerifyGraph<decltype(v)>(a.data(), a.size_bytes()).ok()));
  const auto& f = a.Follow();
  ASSERT_EQ(f.size(), v.size());
  for (std::size_t m = 0; m < v.size(); ++m) {
    ASSERT_EQ(f[m]->size(), v[m]->size());
    for (const auto& [k, in] : *v[m]) {
      const auto* got = f[m]->get(k);
      ASSERT_NE(got, nullptr) << k;
      ASSERT_EQ(got->size(), in.size());
      for (std::int32_t x : in) EXPECT_TRUE(got->contains(x)) << k << " " << x;
    }
  }
  EXPECT_EQ(f[0].get(), f[5].get());  // shared, copied once
}

// Mark writes in one pass into a block that grows: a heap buffer, then a
// mapping that mremap enlarges (and may move). Past 64 MiB every one of
// these happens, and every pointer written before a move must follow it.
TEST(Mark, BigBlocksGrowAndTheirPointersFollow) {
  std::vector<std::shared_ptr<std::vector<std::int64_t>>> v;
  for (int i = 0; i < 1100; ++i) {
    v.push_back(std::make_shared<std::vector<std::int64_t>>(8000, i));
  }
  v.push_back(v[3]);  // shared: copied once
  auto a = ancient::Mark(v);
  ASSERT_GT(a.size_bytes(), std::size_t{64} << 20);
  EXPECT_TRUE(
      (ancient::VerifyGraph<decltype(v)>(a.data(), a.size_bytes())).ok());
  EXPECT_TRUE(
      ancient::VerifyBlock(a.data(), a.size_bytes(), a.relocations()).ok());
  const auto& f = a.Follow();
  ASSERT_EQ(f.size(), v.size());
  for (int i = 0; i < 1100; ++i) {
    ASSERT_EQ(f[i]->size(), 8000u);
    ASSERT_EQ((*f[i])[0], i);
    ASSERT_EQ((*f[i])[7999], i);
  }
  EXPECT_EQ(f[1100].get(), f[3].get());
  // Moved from: the new owner frees the mapping; deleting twice is fine.
  ancient::Ancient<decltype(v)> b = std::move(a);
  EXPECT_TRUE(a.deleted());
  b.Delete();
  b.Delete();
  // A small graph with pointers: moved into a block of its own size.
  auto s = ancient::Mark(std::make_unique<std::string>("small"));
  EXPECT_LT(s.size_bytes(), 256u);
  EXPECT_EQ(*s.Follow(), "small");
}

TEST(StableHash, FixedValues) {
  // A HashMap written by one build is probed by another: pin the hash.
  EXPECT_EQ(ancient::StableHash(std::string_view("")), 0x2d06800538d394c2ULL);
  EXPECT_EQ(ancient::StableHash(std::string("abc")),
            ancient::StableHash(std::string_view("abc")));
  EXPECT_EQ(ancient::StableHash(std::int32_t{-1}),
            ancient::StableHash(std::int64_t{-1}));
  EXPECT_EQ(ancient::StableHash(0.0), ancient::StableHash(-0.0));
}

TEST(Optional, RoundTrip) {
  std::optional<std::string> some = "here";
  auto a = ancient::Mark(some);
  ASSERT_TRUE(a.Follow().has_value());
  EXPECT_EQ(*a.Follow(), "here");
  EXPECT_EQ(a.Follow()->size(), 4u);
  auto b = ancient::Mark(std::optional<std::string>());
  EXPECT_FALSE(b.Follow().has_value());
  EXPECT_FALSE(static_cast<bool>(b.Follow()));
  auto c = ancient::Mark(std::optional<int>(7));
  EXPECT_EQ(c.Follow().value_or(0), 7);
}

TEST(PairAndTuple, RoundTrip) {
  auto p = ancient::Mark(std::pair<std::string, int>("x", 5));
  EXPECT_EQ(p.Follow().first, "x");
  EXPECT_EQ(p.Follow().second, 5);
  const auto& [s, i] = p.Follow();
  EXPECT_EQ(s, "x");
  EXPECT_EQ(i, 5);

  auto t = ancient::Mark(
      std::tuple<int, std::string, double, bool>(1, "two", 3.5, true));
  EXPECT_EQ(ancient::get<0>(t.Follow()), 1);
  EXPECT_EQ(ancient::get<1>(t.Follow()), "two");
  EXPECT_EQ(ancient::get<2>(t.Follow()), 3.5);
  EXPECT_EQ(t.Follow().get<3>(), true);
}

TEST(Variant, RoundTrip) {
  using V = std::variant<int, std::string, std::vector<double>>;
  std::vector<V> vs = {V(5), V(std::string("str")),
                       V(std::vector<double>{1.5})};
  auto a = ancient::Mark(vs);
  const auto& f = a.Follow();
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].index(), 0u);
  EXPECT_EQ(*f[0].get_if<0>(), 5);
  EXPECT_EQ(f[0].get_if<1>(), nullptr);
  EXPECT_EQ(f[1].index(), 1u);
  EXPECT_EQ(*ancient::get_if<ancient::String>(&f[1]), "str");
  EXPECT_TRUE(f[2].holds_alternative<ancient::Vector<double>>());
  EXPECT_EQ((*f[2].get_if<2>())[0], 1.5);
  std::string seen;
  for (const auto& v : f) {
    ancient::visit(
        [&](const auto& x) {
          using X = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<X, int>) seen += "int,";
          if constexpr (std::is_same_v<X, ancient::String>) seen += "string,";
          if constexpr (std::is_same_v<X, ancient::Vector<double>>) {
            seen += "vector,";
          }
        },
        v);
  }
  EXPECT_EQ(seen, "int,string,vector,");
}

TEST(Pointers, NullStaysNull) {
  std::unique_ptr<std::string> none;
  auto a = ancient::Mark(none);
  EXPECT_FALSE(a.Follow());
  EXPECT_EQ(a.Follow().get(), nullptr);
  auto b = ancient::Mark(std::make_unique<std::string>("boxed"));
  ASSERT_TRUE(b.Follow());
  EXPECT_EQ(*b.Follow(), "boxed");
  EXPECT_EQ(b.Follow()->size(), 5u);
  ExpectSound(b);
}

TEST(Pointers, SharingIsPreserved) {
  auto shared = std::make_shared<SharedNode>();
  shared->label = "shared";
  auto root = std::make_shared<SharedNode>();
  root->label = "root";
  root->left = shared;
  root->right = shared;
  auto a = ancient::Mark(root);
  const auto& f = *a.Follow();
  ASSERT_TRUE(f.left);
  EXPECT_EQ(f.left.get(), f.right.get());  // One copy, two pointers.
  EXPECT_EQ(f.left->label, "shared");

  // Raw pointers share too; distinct objects stay distinct.
  std::string x = "x", y = "x";
  std::vector<const std::string*> ptrs = {&x, &y, &x, nullptr};
  auto b = ancient::Mark(ptrs);
  const auto& fb = b.Follow();
  EXPECT_EQ(fb[0].get(), fb[2].get());
  EXPECT_NE(fb[0].get(), fb[1].get());
  EXPECT_EQ(*fb[1], "x");
  EXPECT_FALSE(fb[3]);
  ExpectSound(b);
}

TEST(Pointers, OwnedPointeesReachedByRawPointersAreShared) {
  using test_types::Family;
  using test_types::Household;
  Household h;
  h.root = std::make_unique<Family>();
  h.root->name = "root";
  for (int i = 0; i < 3; ++i) {
    auto child = std::make_unique<Family>();
    child->name = "child" + std::to_string(i);
    child->parent = h.root.get();
    h.root->children.push_back(std::move(child));
  }
  h.favourite = h.root->children[1].get();
  // Only unique_ptrs reach Family in this type? No: Family::parent and
  // Household::favourite are raw pointers to Family, so owned Family nodes
  // must be looked up like any other.
  EXPECT_FALSE(ancient::SharedPointees<Household>().empty());
  auto a = ancient::Mark(h);
  const auto& f = a.Follow();
  ASSERT_TRUE(f.root);
  const auto& root = *f.root;
  ASSERT_EQ(root.children.size(), 3u);
  for (const auto& child : root.children) {
    EXPECT_EQ(child->parent.get(), &root);  // Not a second copy of root.
  }
  EXPECT_EQ(f.favourite.get(), root.children[1].get());
  EXPECT_EQ(f.favourite->name, "child1");
  ExpectSound(a);
}

TEST(Pointers, OnlyOwnedPointeesSkipTheSharingTable) {
  // A trie holds only unique_ptrs: nothing is shareable, and it marks whole.
  EXPECT_TRUE(ancient::SharedPointees<test_types::Trie>().empty());
  EXPECT_TRUE(ancient::SharedPointees<test_types::Chain>().empty());
  EXPECT_FALSE(ancient::SharedPointees<test_types::GraphNode>().empty());
  EXPECT_FALSE(ancient::SharedPointees<test_types::SharedNode>().empty());
  // TypeIds are unchanged by the analysis (the description is the same).
  EXPECT_EQ(ancient::TypeName<std::unique_ptr<int>>(),
            ancient::TypeName<std::shared_ptr<int>>());
  EXPECT_EQ(ancient::TypeId<std::unique_ptr<int>>(), ancient::TypeId<int*>());
}

TEST(Pointers, CyclesArePreserved) {
  auto a = std::make_shared<SharedNode>();
  auto b = std::make_shared<SharedNode>();
  a->label = "a";
  b->label = "b";
  a->left = b;
  b->left = a;   // a <-> b
  a->right = a;  // self loop
  auto m = ancient::Mark(a);
  const auto& fa = *m.Follow();
  EXPECT_EQ(fa.label, "a");
  EXPECT_EQ(fa.left->label, "b");
  EXPECT_EQ(fa.left->left.get(), &fa);
  EXPECT_EQ(fa.right.get(), &fa);
  ExpectSound(m);
  b->left.reset();  // Break the cycle so the heap graph is freed.
  a->right.reset();
}

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

// A writable, relocated copy of a block, to damage.
class BlockCopy {
 public:
  template <class T>
  explicit BlockCopy(const ancient::Ancient<T>& a)
      : size_(a.size_bytes()),
        p_(static_cast<char*>(::operator new (size_, std::align_val_t{64}))) {
    std::memcpy(p_, a.data(), size_);
    EXPECT_TRUE(
        ancient::RelocateBlock(p_, size_, a.relocations(),
                               reinterpret_cast<std::uintptr_t>(a.data()))
            .ok());
  }
  ~BlockCopy() { ::operator delete (p_, std::align_val_t{64}); }
  char* data() { return p_; }
  std::uint64_t size() const { return size_; }
  template <class V>
  void Put(std::size_t at, V v) {
    std::memcpy(p_ + at, &v, sizeof v);
  }
  template <class V>
  V GetAt(std::size_t at) const {
    V v;
    std::memcpy(&v, p_ + at, sizeof v);
    return v;
  }

 private:
  std::uint64_t size_;
  char* p_;
};

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

}  // namespace

// --------------------------------------------------------------- Schema

namespace schema_types {
struct MapNode {
  bool word = false;
  std::map<char, std::unique_ptr<MapNode>> next;
};
struct VecNode {
  bool word = false;
  std::vector<std::unique_ptr<VecNode>> next;
};
}  // namespace schema_types
ANCIENT_STRUCT(schema_types::MapNode, word, next);
ANCIENT_STRUCT(schema_types::VecNode, word, next);

namespace {

template <class T>
ancient::Schema SchemaOf() {
  auto s = ancient::Schema::Parse(ancient::TypeDescription<T>());
  EXPECT_TRUE(s.ok()) << s.status() << " for " << ancient::TypeDescription<T>();
  return *std::move(s);
}

TEST(Schema, ParsesEveryKindAndPrintsItReadably) {
  using test_types::Record;
  EXPECT_EQ(SchemaOf<schema_types::MapNode>().ToString(),
            "struct schema_types::MapNode { bool word; map<char, "
            "ptr<schema_types::MapNode>> next; }\n");
  EXPECT_EQ(
      (SchemaOf<std::unordered_map<std::string, std::vector<std::int64_t>>>()
           .ToString()),
      "hash_map<string, vector<i64>>\n");
  EXPECT_EQ(
      (SchemaOf<std::tuple<int, std::optional<std::string>,
                           std::variant<std::monostate, double>,
                           std::pair<char, bool>, std::set<std::uint8_t>,
                           std::unordered_set<std::int16_t>,
                           std::shared_ptr<float>, ancient::Value>>()
           .ToString()),
      "tuple<i32, optional<string>, variant<none, f64>, pair<char, bool>, "
      "set<u8>, hash_set<i16>, ptr<f32>, value>\n");
  const ancient::Schema r = SchemaOf<std::vector<Record>>();
  EXPECT_EQ(r.platform(), "ancient/1;le;p64");
  const std::string text = r.ToString();
  EXPECT_EQ(text.substr(0, text.find('\n')), "vector<test_types::Record>");
  EXPECT_NE(text.find("struct test_types::Record { string name;"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("struct test_types::Point {"), std::string::npos) << text;
  // Two structs that point at each other.
  SchemaOf<test_types::Household>();
}

TEST(Schema, FirstDifferenceNamesThePathAndBothSides) {
  const auto a = SchemaOf<schema_types::MapNode>();
  const auto b = SchemaOf<schema_types::VecNode>();
  // The struct names differ first.
  EXPECT_EQ(ancient::Schema::FirstDifference(a, b, "the store", "this program"),
            "`(the root)` is struct schema_types::MapNode of 24 bytes with 2 "
            "fields in the store, struct schema_types::VecNode of 24 bytes "
            "with 2 fields in this program");
  const auto m = SchemaOf<std::map<std::string, std::vector<std::int64_t>>>();
  const auto v = SchemaOf<std::map<std::string, std::vector<std::int32_t>>>();
  EXPECT_EQ(ancient::Schema::FirstDifference(m, v, "A", "B"),
            "`{value}[]` is i64 in A, i32 in B");
  EXPECT_EQ(ancient::Schema::FirstDifference(m, m, "A", "B"), "");
  const auto r1 = SchemaOf<test_types::Record>();
  const auto r2 = SchemaOf<test_types::Point>();
  EXPECT_NE(ancient::Schema::FirstDifference(r1, r2, "A", "B"), "");
}

TEST(Schema, HostileDescriptionsAreDataLoss) {
  const std::string good = ancient::TypeDescription<schema_types::MapNode>();
  std::vector<std::string> bad = {
      "",
      "ancient/1;le;p64;",
      "not a description",
      good.substr(0, good.size() - 1),                 // truncated
      good + "x",                                      // trailing bytes
      "ancient/1;le;p64;frob<i32>",                    // unknown container
      "ancient/1;le;p64;quux",                         // unknown type
      "ancient/1;le;p64;map<i32>",                     // wrong arity
      "ancient/1;le;p64;S{8;a@8:i32}",                 // field past the struct
      "ancient/1;le;p64;S{8;a@0:i32;a@4:i32}",         // field twice
      "ancient/1;le;p64;S{99999999999999999999999;}",  // absurd size
      "ancient/1;le;p64;S^1",                          // dangling ref
      "ancient/1;le;p64;vector<" + std::string(1, '\0') + ">",
  };
  std::string deep = "ancient/1;le;p64;";  // recursive without end
  for (int i = 0; i < 100000; ++i) deep += "vector<";
  bad.push_back(deep);
  bad.push_back(std::string("ancient/1;le;p64;") +
                std::string(2 << 20, 'v'));  // too long
  for (const auto& d : bad) {
    auto s = ancient::Schema::Parse(d);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss)
        << d.substr(0, 60);
  }
}

}  // namespace
