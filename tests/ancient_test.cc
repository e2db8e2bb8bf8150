// Round trips through ancient::Mark for every supported heap type, sharing
// and cycles.

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
#include "tests/ancient_types.h"

namespace {

using namespace test_types;
using ancient::Frozen;

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

}  // namespace
