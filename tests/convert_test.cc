// ConvertGraph: a graph marked with one version of a type, read as another.
// Each rule of schema_graph.h both ways where it is allowed both ways;
// refusals name the path; sharing, cycles, recursion, hash lookups after
// the keys change type; damaged input is DataLoss. Every converted graph
// must pass the typed check of its new type (VerifyGraph<T>).

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "ancient/ancient.h"
#include "ancient/schema/schema_graph.h"

namespace v1 {
enum class Kind : std::uint8_t { kTown = 1, kCity = 2 };
struct City {
  std::string name;
  std::int32_t population = 0;
  float area = 0;
  Kind kind = Kind::kTown;
  std::string mayor;  // dropped in v2
  std::vector<std::uint16_t> zips;
};
struct Node {
  std::int32_t id = 0;
  std::vector<std::unique_ptr<Node>> kids;
};
struct Cyclic {
  std::int32_t id = 0;
  std::vector<Cyclic*> out;
};
struct Every {  // a part of every kind the conversion checks as it reads
  bool flag = false;
  std::optional<std::int32_t> maybe;
  std::variant<std::int32_t, std::string> either;
  std::unique_ptr<Every> next;
  std::vector<std::string> words;
  std::unordered_map<std::string, std::int32_t> counts;
  std::set<std::int32_t> sorted;
  ancient::Value doc;
};
}  // namespace v1
ANCIENT_STRUCT(v1::City, name, population, area, kind, mayor, zips)
ANCIENT_STRUCT(v1::Node, id, kids)
ANCIENT_STRUCT(v1::Cyclic, id, out)
ANCIENT_STRUCT(v1::Every, flag, maybe, either, next, words, counts, sorted, doc)

namespace v2 {
struct Town {  // renamed, fields reordered, one added, one dropped
  std::vector<std::uint32_t> zips;
  std::int32_t founded = 1143;
  std::string motto = "Ad astra";
  std::int64_t population = 0;
  double area = 0;
  std::int16_t kind = 0;  // an enum read as a wider integer
  std::string name;
};
struct Node {
  std::int64_t id = 0;
  std::string label = "none";
  std::vector<std::unique_ptr<Node>> kids;
};
struct Cyclic {
  std::int64_t id = 0;
  std::vector<Cyclic*> out;
};
struct Every {  // v1::Every, all kept, one field added
  bool flag = false;
  std::optional<std::int32_t> maybe;
  std::variant<std::int32_t, std::string> either;
  std::unique_ptr<Every> next;
  std::vector<std::string> words;
  std::unordered_map<std::string, std::int32_t> counts;
  std::set<std::int32_t> sorted;
  ancient::Value doc;
  std::int32_t added = 5;
};
struct NoDefault {  // no default constructor: missing fields are zeros
  explicit NoDefault(int) {}
  std::int32_t id = 7;
  std::string note = "x";
  std::unordered_map<std::string, int> extra;
};
}  // namespace v2
ANCIENT_STRUCT(v2::Town, zips, founded, motto, population, area, kind, name)
ANCIENT_STRUCT(v2::Node, id, label, kids)
ANCIENT_STRUCT(v2::Cyclic, id, out)
ANCIENT_STRUCT(v2::Every, flag, maybe, either, next, words, counts, sorted, doc,
               added)
ANCIENT_STRUCT(v2::NoDefault, id, note, extra)

namespace {

using ::ancient::Frozen;
using ::ancient::Schema;

// A converted graph placed in memory of its own, read as To.
template <class To>
struct Placed {
  std::shared_ptr<char> mem;
  std::uint64_t size = 0;
  const Frozen<To>& operator*() const {
    return *reinterpret_cast<const Frozen<To>*>(mem.get());
  }
  const Frozen<To>* operator->() const { return &**this; }
};

Schema SchemaOf(const std::string& description) {
  absl::StatusOr<Schema> s = Schema::Parse(description);
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

template <class To, class From>
absl::StatusOr<Placed<To>> Convert(const From& value) {
  ancient::Ancient<From> a = ancient::Mark(value);
  const ancient::GraphBytes g{static_cast<const char*>(a.data()),
                              a.size_bytes(),
                              reinterpret_cast<std::uintptr_t>(a.data())};
  absl::StatusOr<ancient::FlatGraph> f =
      ancient::ConvertGraph(SchemaOf(ancient::TypeDescription<From>()), g,
                            SchemaOf(ancient::TypeDescription<To>()),
                            ancient::StructDefaultsOf<To>());
  if (!f.ok()) return f.status();
  Placed<To> p;
  p.size = f->size();
  p.mem = std::move(*f).PlaceWhereBuilt();  // as the store places it
  absl::Status s = ancient::VerifyGraph<To>(p.mem.get(), p.size);
  EXPECT_TRUE(s.ok()) << "the converted graph fails its typed check: " << s;
  return p;
}

template <class To, class From>
std::string Refusal(const From& value) {
  absl::StatusOr<Placed<To>> p = Convert<To>(value);
  EXPECT_FALSE(p.ok());
  if (p.ok()) return "";
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition)
      << p.status();
  return std::string(p.status().message());
}

v1::City Lisbon() {
  v1::City c;
  c.name = "Lisbon";
  c.population = 545923;
  c.area = 100.05f;
  c.kind = v1::Kind::kCity;
  c.mayor = "Moedas";
  c.zips = {1000, 1100, 65535};
  return c;
}

TEST(Convert, StructFieldsByNameWithDefaultsAndWidening) {
  absl::StatusOr<Placed<v2::Town>> t = Convert<v2::Town>(Lisbon());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->name.view(), "Lisbon");
  EXPECT_EQ((*t)->population, 545923);
  EXPECT_DOUBLE_EQ((*t)->area, static_cast<double>(100.05f));
  EXPECT_EQ((*t)->kind, 2);
  EXPECT_EQ((*t)->founded, 1143);             // the default initializer
  EXPECT_EQ((*t)->motto.view(), "Ad astra");  // an out-of-line default
  ASSERT_EQ((*t)->zips.size(), 3u);
  EXPECT_EQ((*t)->zips[2], 65535u);
}

// Place copies the graph to memory given; PlaceWhereBuilt makes the
// pointers absolute where the bytes are: the same graph either way.
TEST(Convert, PlacedWhereBuiltOrCopiedReadsTheSame) {
  ancient::Ancient<v1::City> a = ancient::Mark(Lisbon());
  const ancient::GraphBytes g{static_cast<const char*>(a.data()),
                              a.size_bytes(),
                              reinterpret_cast<std::uintptr_t>(a.data())};
  absl::StatusOr<ancient::FlatGraph> f =
      ancient::ConvertGraph(SchemaOf(ancient::TypeDescription<v1::City>()), g,
                            SchemaOf(ancient::TypeDescription<v2::Town>()),
                            ancient::StructDefaultsOf<v2::Town>());
  ASSERT_TRUE(f.ok()) << f.status();
  const std::uint64_t size = f->size();
  ASSERT_GT(f->pointer_count(), 2u);
  std::shared_ptr<char> copy(
      static_cast<char*>(std::aligned_alloc(64, (size + 63) / 64 * 64)),
      std::free);
  f->Place(copy.get());
  std::unique_ptr<char, void (*)(void*)> built =
      std::move(*f).PlaceWhereBuilt();
  EXPECT_EQ(f->size(), 0u);  // handed over
  EXPECT_EQ(f->pointer_count(), 0u);
  ASSERT_EQ(reinterpret_cast<std::uintptr_t>(built.get()) % 64, 0u);
  for (const char* mem : {static_cast<const char*>(copy.get()),
                          static_cast<const char*>(built.get())}) {
    ASSERT_TRUE(ancient::VerifyGraph<v2::Town>(mem, size).ok());
    const auto& town = *reinterpret_cast<const Frozen<v2::Town>*>(mem);
    EXPECT_EQ(town.name.view(), "Lisbon");
    EXPECT_EQ(town.motto.view(), "Ad astra");
    ASSERT_EQ(town.zips.size(), 3u);
    EXPECT_EQ(town.zips[2], 65535u);
  }
}

TEST(Convert, NarrowingIsRefusedNamingThePath) {
  // v2 -> v1: population i64 -> i32 would lose values.
  v2::Town t;
  const std::string m = Refusal<v1::City>(t);
  EXPECT_NE(m.find("`population`"), std::string::npos) << m;
  EXPECT_NE(m.find("narrowing"), std::string::npos) << m;
  // Inside containers: the path says where.
  std::map<std::string, std::vector<double>> wide{{"a", {1.5}}};
  const std::string m2 =
      Refusal<std::map<std::string, std::vector<float>>>(wide);
  EXPECT_NE(m2.find("`{value}[]`"), std::string::npos) << m2;
  EXPECT_NE(Refusal<std::vector<std::int32_t>>(std::vector<double>{1})
                .find("cannot become an integer"),
            std::string::npos);
  EXPECT_NE(Refusal<std::vector<std::int64_t>>(std::vector<std::string>{"x"})
                .find("no conversion"),
            std::string::npos);
  EXPECT_NE(Refusal<std::vector<std::int64_t>>(std::map<int, int>{})
                .find("(the root)"),
            std::string::npos);
  EXPECT_FALSE(Convert<std::int32_t>(std::uint32_t{1}).ok());  // u32 -> i32
  EXPECT_FALSE(Convert<float>(std::int32_t{1}).ok());
}

TEST(Convert, NumbersWiden) {
  auto i8 = Convert<std::int64_t>(std::int8_t{-5});
  ASSERT_TRUE(i8.ok());
  EXPECT_EQ(**i8, -5);
  auto u8 = Convert<std::int16_t>(std::uint8_t{250});
  ASSERT_TRUE(u8.ok());
  EXPECT_EQ(**u8, 250);
  auto u32 = Convert<std::uint64_t>(std::uint32_t{4000000000u});
  ASSERT_TRUE(u32.ok());
  EXPECT_EQ(**u32, 4000000000u);
  auto f = Convert<double>(-2.5f);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(**f, -2.5);
  auto i = Convert<double>(std::int64_t{-7});
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(**i, -7.0);
  auto e = Convert<v1::Kind>(std::uint8_t{2});  // integer -> enum
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(**e, v1::Kind::kCity);
}

TEST(Convert, OptionalAndContainersOfStructs) {
  std::vector<v1::City> cities = {Lisbon(), v1::City{}};
  cities[1].name = "Porto";
  auto t = Convert<std::vector<std::optional<v2::Town>>>(cities);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ((*t)->size(), 2u);
  ASSERT_TRUE((**t)[1].has_value());
  EXPECT_EQ((**t)[1]->name.view(), "Porto");
  EXPECT_EQ((**t)[0]->founded, 1143);
  // Maps of structs, pairs, tuples.
  std::map<std::string, std::pair<std::int32_t, v1::City>> m{
      {"pt", {7, Lisbon()}}};
  auto mt =
      Convert<std::map<std::string, std::tuple<std::int64_t, v2::Town>>>(m);
  ASSERT_TRUE(mt.ok()) << mt.status();
  const auto* e = (*mt)->get("pt");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->get<0>(), 7);
  EXPECT_EQ(e->get<1>().population, 545923);
}

TEST(Convert, SortedKeysResortedAndHashKeysRehashed) {
  // Enum keys read as signed integers reorder (200 becomes -56).
  std::set<std::uint8_t> keys{1, 100, 200};
  auto s = Convert<std::set<std::int16_t>>(keys);
  ASSERT_TRUE(s.ok()) << s.status();  // u8 -> i16: the same order
  ASSERT_EQ((*s)->size(), 3u);
  EXPECT_EQ((**s)[0], 1);
  EXPECT_EQ((**s)[1], 100);
  EXPECT_EQ((**s)[2], 200);  // widened, not wrapped to -56
  EXPECT_TRUE((*s)->contains(200));
  std::map<v1::Kind, int> byk{{v1::Kind::kTown, 1}, {v1::Kind::kCity, 2}};
  auto k = Convert<std::map<std::int8_t, std::int64_t>>(byk);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(*(*k)->get(2), 2);
  std::map<v1::Kind, int> em{{static_cast<v1::Kind>(1), 1},
                             {static_cast<v1::Kind>(200), 2}};
  auto r = Convert<std::map<std::int8_t, int>>(em);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ((*r)->size(), 2u);
  EXPECT_EQ((**r)[0].first, -56);  // re-sorted: -56 before 1
  EXPECT_EQ(*(*r)->get(-56), 2);
  EXPECT_EQ(*(*r)->get(1), 1);
  // Hash containers with widened keys are found by lookups afterwards.
  std::unordered_map<std::int32_t, std::string> h;
  for (int i = -500; i < 500; ++i) h[i * 7919] = std::to_string(i);
  auto hh = Convert<std::unordered_map<double, std::string>>(h);
  ASSERT_TRUE(hh.ok()) << hh.status();
  ASSERT_EQ((*hh)->size(), h.size());
  for (const auto& [key, value] : h) {
    const auto* got = (*hh)->get(static_cast<double>(key));
    ASSERT_NE(got, nullptr) << key;
    EXPECT_EQ(got->view(), value);
  }
  std::unordered_set<std::string> same{"x", "y", "z"};
  auto hs = Convert<std::unordered_set<std::string>>(same);
  ASSERT_TRUE(hs.ok());
  EXPECT_TRUE((*hs)->contains(std::string_view("y")));
}

TEST(Convert, KeysThatCollideOnceConvertedAreRefused) {
  const std::int64_t p = std::int64_t{1} << 53;
  std::set<std::int64_t> keys{p, p + 1};
  absl::StatusOr<Placed<std::set<double>>> r = Convert<std::set<double>>(keys);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("equal once"), std::string::npos)
      << r.status();
}

TEST(Convert, Variants) {
  using Old = std::variant<std::int32_t, std::string, float>;
  using New = std::variant<std::string, double, std::int64_t, bool>;
  std::vector<Old> olds = {Old{std::int32_t{-3}}, Old{std::string("s")},
                           Old{1.5f}};
  auto n = Convert<std::vector<New>>(olds);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ((*n)->size(), 3u);
  // i32 -> first alternative it converts to: double (i64 comes later).
  ASSERT_NE((**n)[0].get_if<double>(), nullptr);
  EXPECT_EQ(*(**n)[0].get_if<double>(), -3.0);
  EXPECT_EQ((**n)[1].get_if<ancient::String>()->view(), "s");
  EXPECT_EQ(*(**n)[2].get_if<double>(), 1.5);
  // A value whose alternative the new type lacks: an error at that value.
  using Narrow = std::variant<std::string>;
  absl::StatusOr<Placed<std::vector<Narrow>>> bad =
      Convert<std::vector<Narrow>>(olds);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("`[]`"), std::string::npos)
      << bad.status();
  EXPECT_NE(bad.status().message().find("lacks"), std::string::npos);
  // Without such values it converts.
  auto ok = Convert<std::vector<Narrow>>(std::vector<Old>{Old{"only"}});
  ASSERT_TRUE(ok.ok()) << ok.status();
}

TEST(Convert, RecursiveTypesDeepChains) {
  // A chain a million deep: nothing may recurse on the data.
  auto root = std::make_unique<v1::Node>();
  v1::Node* at = root.get();
  for (int i = 1; i <= 1000000; ++i) {
    at->kids.push_back(std::make_unique<v1::Node>());
    at = at->kids.back().get();
    at->id = i;
  }
  auto n = Convert<v2::Node>(*root);
  // Tear the chain down without recursion (before any ASSERT returns).
  while (!root->kids.empty()) {
    std::unique_ptr<v1::Node> next = std::move(root->kids[0]);
    root = std::move(next);
  }
  ASSERT_TRUE(n.ok()) << n.status();
  const Frozen<v2::Node>* p = &**n;
  std::int64_t depth = 0;
  while (!p->kids.empty()) {
    EXPECT_EQ(p->label.view(), "none");
    p = p->kids[0].get();
    ++depth;
    ASSERT_EQ(p->id, depth);
  }
  EXPECT_EQ(depth, 1000000);
}

// The source is read, and the result written, depth first: a node's
// subtree before its next sibling's parts, the order Mark lays trees out
// in (breadth first, conversion of a big trie read its source a level at a
// time across the whole graph and took twice as long).
TEST(Convert, TreesAreConvertedDepthFirst) {
  v1::Node root;
  for (int k = 0; k < 2; ++k) {
    auto kid = std::make_unique<v1::Node>();
    for (int g = 0; g < 2; ++g) {
      auto grandkid = std::make_unique<v1::Node>();
      grandkid->kids.push_back(std::make_unique<v1::Node>());
      kid->kids.push_back(std::move(grandkid));
    }
    root.kids.push_back(std::move(kid));
  }
  auto c = Convert<v2::Node>(root);
  ASSERT_TRUE(c.ok()) << c.status();
  const Frozen<v2::Node>& r = **c;
  ASSERT_EQ(r.kids.size(), 2u);
  const auto* first_grandkids_kids = r.kids[0]->kids[0]->kids.data();
  const auto* second_kids_kids = r.kids[1]->kids.data();
  ASSERT_NE(first_grandkids_kids, nullptr);
  EXPECT_LT(static_cast<const void*>(first_grandkids_kids),
            static_cast<const void*>(second_kids_kids));
}

TEST(Convert, SharingAndCyclesKept) {
  std::vector<std::unique_ptr<v1::Cyclic>> owned;
  for (int i = 0; i < 50; ++i) {
    owned.push_back(std::make_unique<v1::Cyclic>());
    owned.back()->id = i;
  }
  for (int i = 0; i < 50; ++i) {
    owned[i]->out = {owned[(i + 1) % 50].get(), owned[(i * 7) % 50].get(),
                     owned[i].get()};
  }
  std::vector<v1::Cyclic*> roots = {owned[0].get(), owned[0].get(),
                                    owned[13].get()};
  auto c = Convert<std::vector<v2::Cyclic*>>(roots);
  ASSERT_TRUE(c.ok()) << c.status();
  const auto& r = **c;
  EXPECT_EQ(r[0].get(), r[1].get());  // one object, reached twice
  const Frozen<v2::Cyclic>* x = r[0].get();
  for (int step = 0; step < 50; ++step) {
    EXPECT_EQ(x->id, step);
    EXPECT_EQ(x->out[2].get(), x);  // the self-loop
    x = x->out[0].get();
  }
  EXPECT_EQ(x, r[0].get());  // round the cycle
  EXPECT_EQ(r[2]->id, 13);
  EXPECT_EQ(r[2]->out[1]->id, (13 * 7) % 50);
}

// A pointer to the root (Mark copies a pointee that is the root, but a
// graph may point at offset 0: the check reaches the root once) reaches the
// converted root itself, not a second copy of it.
TEST(Convert, APointerToTheRootReachesTheConvertedRoot) {
  v1::Cyclic root, other;
  root.id = 1;
  other.id = 2;
  root.out = {&other};
  other.out = {&root};
  const ancient::Ancient<v1::Cyclic> a = ancient::Mark(root);
  const auto* base = static_cast<const char*>(a.data());
  const auto address = reinterpret_cast<std::uintptr_t>(base);
  std::string bytes(base, a.size_bytes());
  // other.out[0] now points at the root itself.
  const auto at = reinterpret_cast<const char*>(&a.Follow().out[0]->out[0]);
  ASSERT_TRUE(at > base && at + 8 <= base + bytes.size());
  std::memcpy(bytes.data() + (at - base), &address, 8);
  const ancient::GraphBytes g{bytes.data(), bytes.size(), address};
  const Schema from = SchemaOf(ancient::TypeDescription<v1::Cyclic>());
  ASSERT_TRUE(ancient::VerifyGraph(from, g).ok());
  absl::StatusOr<ancient::FlatGraph> f = ancient::ConvertGraph(
      from, g, SchemaOf(ancient::TypeDescription<v2::Cyclic>()),
      ancient::StructDefaultsOf<v2::Cyclic>());
  ASSERT_TRUE(f.ok()) << f.status();
  const std::uint64_t size = f->size();
  const std::shared_ptr<char> mem = std::move(*f).PlaceWhereBuilt();
  ASSERT_TRUE(ancient::VerifyGraph<v2::Cyclic>(mem.get(), size).ok());
  const auto& r = *reinterpret_cast<const Frozen<v2::Cyclic>*>(mem.get());
  ASSERT_EQ(r.out.size(), 1u);
  EXPECT_EQ(r.out[0]->id, 2);
  EXPECT_EQ(r.out[0]->out[0].get(), &r);
}

TEST(Convert, MissingFieldsWithoutADefaultAreZeros) {
  // v1::Node {id, kids} -> v2::NoDefault {id, note, extra}: kids dropped,
  // note and extra zero (no default constructor to ask).
  v1::Node n;
  n.id = 3;
  auto z = Convert<v2::NoDefault>(n);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_EQ((*z)->id, 3);
  EXPECT_EQ((*z)->note.view(), "");
  EXPECT_TRUE((*z)->extra.empty());
  EXPECT_EQ((*z)->extra.get(std::string_view("k")), nullptr);
}

TEST(Convert, ValuesAndStringsPassThrough) {
  ancient::Value v = ancient::Value::Object{
      {"a", ancient::Value::Array{1, 2.5, "x", nullptr, true}},
      {"b", ancient::Value::Object{{"c", "d"}}}};
  std::map<std::string, std::tuple<ancient::Value, std::int8_t>> in{
      {"k", {v, 3}}};
  auto out =
      Convert<std::map<std::string, std::tuple<ancient::Value, std::int32_t>>>(
          in);
  ASSERT_TRUE(out.ok()) << out.status();
  const auto* e = (*out)->get("k");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->get<1>(), 3);
  // The Value passes through whole: every member, element and kind.
  const ancient::FrozenValue& got = e->get<0>();
  ASSERT_TRUE(got.is_object());
  const ancient::FrozenValue* a = got.find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->is_array());
  ASSERT_EQ(a->as_array().size(), 5u);
  EXPECT_EQ(a->at(0)->as_int(), 1);
  EXPECT_EQ(a->at(1)->as_double(), 2.5);
  EXPECT_EQ(a->at(2)->as_string().view(), "x");
  EXPECT_TRUE(a->at(3)->is_null());
  EXPECT_TRUE(a->at(4)->as_bool());
  const ancient::FrozenValue* b = got.find("b");
  ASSERT_NE(b, nullptr);
  ASSERT_NE(b->find("c"), nullptr);
  EXPECT_EQ(b->find("c")->as_string().view(), "d");
  EXPECT_EQ(got.find("z"), nullptr);
}

TEST(Convert, DamagedGraphIsDataLoss) {
  ancient::Ancient<v1::City> a = ancient::Mark(Lisbon());
  std::string copy(static_cast<const char*>(a.data()), a.size_bytes());
  // The name's pointer now points outside the graph.
  std::uint64_t bad = 0x10;
  std::memcpy(copy.data(), &bad, sizeof bad);
  const ancient::GraphBytes g{copy.data(), copy.size(),
                              reinterpret_cast<std::uintptr_t>(a.data())};
  absl::StatusOr<ancient::FlatGraph> f =
      ancient::ConvertGraph(SchemaOf(ancient::TypeDescription<v1::City>()), g,
                            SchemaOf(ancient::TypeDescription<v2::Town>()));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss) << f.status();
  // Found while converting: the message names the part and where it is.
  EXPECT_NE(f.status().message().find("`name`, graph offset 0"),
            std::string_view::npos)
      << f.status();
}

// The conversion checks the source as it reads it (no separate pass): for a
// target that keeps every part, each damaged byte must be found exactly when
// the typed check finds it, as DataLoss naming the offset, and whatever
// converts must be sound.
TEST(Convert, DamageIsFoundWhileConvertingExactlyAsTheTypedCheckFindsIt) {
  auto every = [](bool flag, std::int32_t seed) {
    v1::Every e;
    e.flag = flag;
    e.maybe = seed;
    if (seed % 2 == 0) e.either = std::string("even");
    e.words = {"a", "", "ccc"};
    e.counts = {{"x", seed}, {"yy", 2}, {"zzz", 3}};
    e.sorted = {seed, 7, 9};
    e.doc = ancient::Value::Object{
        {"b", flag}, {"s", "str"}, {"a", ancient::Value::Array{1, 2.5}}};
    return e;
  };
  v1::Every root = every(true, 1);
  root.next = std::make_unique<v1::Every>(every(false, 2));
  ancient::Ancient<v1::Every> a = ancient::Mark(root);
  const Schema from = SchemaOf(ancient::TypeDescription<v1::Every>());
  const Schema to = SchemaOf(ancient::TypeDescription<v2::Every>());
  const auto address = reinterpret_cast<std::uintptr_t>(a.data());
  int damaged = 0, converted = 0;
  for (std::size_t at = 0; at < a.size_bytes(); ++at) {
    for (const std::uint8_t x : {0x01, 0x02, 0x80, 0xff}) {
      std::string copy(static_cast<const char*>(a.data()), a.size_bytes());
      copy[at] = static_cast<char>(copy[at] ^ x);
      const ancient::GraphBytes g{copy.data(), copy.size(), address};
      const absl::Status check = ancient::VerifyGraph(from, g);
      absl::StatusOr<ancient::FlatGraph> f = ancient::ConvertGraph(
          from, g, to, ancient::StructDefaultsOf<v2::Every>());
      if (!check.ok()) {
        ++damaged;
        ASSERT_FALSE(f.ok()) << "byte " << at << " ^ " << int{x}
                             << " converted; the check says " << check;
        ASSERT_EQ(f.status().code(), absl::StatusCode::kDataLoss)
            << "byte " << at << ": " << f.status();
        EXPECT_NE(f.status().message().find("graph offset"),
                  std::string_view::npos)
            << f.status();
        continue;
      }
      ASSERT_TRUE(f.ok()) << "byte " << at << " ^ " << int{x}
                          << " passes the check: " << f.status();
      ++converted;
      std::shared_ptr<char> mem(static_cast<char*>(std::aligned_alloc(
                                    64, (f->size() + 63) / 64 * 64)),
                                std::free);
      f->Place(mem.get());
      const absl::Status sound =
          ancient::VerifyGraph<v2::Every>(mem.get(), f->size());
      ASSERT_TRUE(sound.ok()) << "byte " << at << ": " << sound;
    }
  }
  // Both outcomes were met many times.
  EXPECT_GT(damaged, 100);
  EXPECT_GT(converted, 100);
}

TEST(Convert, CheckConvertibleOnTypesAlone) {
  const Schema city = SchemaOf(ancient::TypeDescription<v1::City>());
  const Schema town = SchemaOf(ancient::TypeDescription<v2::Town>());
  EXPECT_TRUE(ancient::CheckConvertible(city, town).ok());
  absl::Status back = ancient::CheckConvertible(town, city);
  EXPECT_EQ(back.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(ancient::CheckConvertible(city, city).ok());
}

}  // namespace

namespace {

// A set of pairs was once described as a map ("set<u8,string>"), which no
// schema parses: its roots could not be read without their C++ type, nor
// converted. Found by tests/fuzz/convert_fuzzer.cc.
TEST(Convert, SetsOfPairsAreDescribedAsSets) {
  using S = std::set<std::pair<std::uint8_t, std::string>>;
  EXPECT_EQ(ancient::TypeName<S>(), "set<pair<u8,string>>");
  EXPECT_TRUE(Schema::Parse(ancient::TypeDescription<S>()).ok());
  using H = absl::flat_hash_set<std::pair<std::int32_t, std::int32_t>>;
  EXPECT_TRUE(Schema::Parse(ancient::TypeDescription<H>()).ok());
  S s{{1, "b"}, {1, "a"}, {200, ""}};
  auto t = Convert<std::set<std::pair<std::int16_t, std::string>>>(s);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ((*t)->size(), 3u);
  EXPECT_EQ((**t)[2].first, 200);
  EXPECT_EQ((**t)[0].second.view(), "a");
  H h{{1, 2}, {-3, 4}};
  auto th =
      Convert<absl::flat_hash_set<std::pair<std::int64_t, std::int32_t>>>(h);
  ASSERT_TRUE(th.ok()) << th.status();
  ASSERT_EQ((*th)->size(), 2u);
  std::set<std::pair<std::int64_t, std::int32_t>> values;
  for (const auto& e : **th) values.emplace(e.first, e.second);
  EXPECT_EQ(values,
            (std::set<std::pair<std::int64_t, std::int32_t>>{{-3, 4}, {1, 2}}));
  for (const auto& e : **th) {
    EXPECT_TRUE((*th)->contains(e)) << e.first;  // in its new bucket
    EXPECT_EQ(e.first == -3 ? 4 : 2, e.second);
  }
}

}  // namespace
