// The schema-driven layer: layouts computed from descriptions agree with the
// compiler's, VerifyGraph by schema agrees with VerifyGraph<T>, JSON out
// equals a rendering computed independently from the heap value, and JSON
// in rebuilds graphs that the C++ type reads back.

#include "ancient/schema/schema_graph.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "absl/strings/escaping.h"
#include "ancient/ancient.h"
#include "ancient/check.h"
#include "ancient/json.h"
#include "ancient/schema/schema.h"
#include "ancient/type_id.h"
#include "ancient/value.h"
#include "tests/schema_types.h"

namespace {

using Json = nlohmann::json;
using sg::SchemaOf;

// -------------------------------------- the JSON a heap value should give

// An independent rendering of heap values in the documented form (through
// nlohmann, not the code under test).
struct Render {
  template <class T>
  static Json Of(const T& v);
};

template <class T>
inline constexpr bool kNullable = false;
template <class T>
inline constexpr bool kNullable<std::optional<T>> = true;
template <class T>
inline constexpr bool kNullable<std::unique_ptr<T>> = true;
template <class T>
inline constexpr bool kNullable<std::shared_ptr<T>> = true;
template <>
inline constexpr bool kNullable<std::monostate> = true;
template <>
inline constexpr bool kNullable<ancient::Value> = true;

Json Bytes(const std::string& s) {
  try {
    (void)Json(s).dump();
    return Json(s);
  } catch (const Json::exception&) {
    Json o = Json::object();
    o["$base64"] = absl::Base64Escape(absl::string_view(s.data(), s.size()));
    return o;
  }
}

template <class K>
bool KeysAreNames(const std::vector<K>& keys) {
  for (const K& k : keys) {
    if constexpr (std::is_same_v<K, char>) {
      if (static_cast<unsigned char>(k) >= 0x80) return false;
    } else if constexpr (std::is_same_v<K, std::string>) {
      if (Bytes(k).is_object()) return false;
    } else {
      return false;
    }
  }
  return true;
}

template <class T>
Json OfCompound(const T& v);

template <class T>
Json Render::Of(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v;
  } else if constexpr (std::is_same_v<T, char>) {
    if (static_cast<unsigned char>(v) < 0x80) return std::string(1, v);
    return static_cast<int>(static_cast<signed char>(v));
  } else if constexpr (std::is_enum_v<T>) {
    return static_cast<std::uint64_t>(
        static_cast<std::make_unsigned_t<std::underlying_type_t<T>>>(v));
  } else if constexpr (std::is_integral_v<T>) {
    return v;
  } else if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    return static_cast<double>(v);
  } else if constexpr (std::is_same_v<T, std::monostate>) {
    return nullptr;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return Bytes(v);
  } else if constexpr (std::is_same_v<T, ancient::Value>) {
    return Json::parse(ancient::ToJson(v));
  } else {
    return OfCompound(v);
  }
}

template <class T>
struct IsMap : std::false_type {};
template <class K, class V>
struct IsMap<std::map<K, V>> : std::true_type {};
template <class K, class V>
struct IsMap<std::unordered_map<K, V>> : std::true_type {};

template <class T>
Json OfCompound(const T& v);

template <class T>
Json OfOptional(const std::optional<T>& o) {
  if (!o) return nullptr;
  if constexpr (kNullable<T>) return Json::array({Render::Of(*o)});
  return Render::Of(*o);
}

template <class T>
Json OfCompound(const T& v) {
  if constexpr (IsMap<T>::value) {
    std::vector<typename T::key_type> keys;
    for (const auto& e : v) keys.push_back(e.first);
    if (KeysAreNames(keys)) {
      Json o = Json::object();
      for (const auto& [k, x] : v) {
        if constexpr (std::is_same_v<typename T::key_type, char>) {
          o[std::string(1, k)] = Render::Of(x);
        } else if constexpr (std::is_same_v<typename T::key_type,
                                            std::string>) {
          o[k] = Render::Of(x);
        }
      }
      return o;
    }
    Json a = Json::array();
    for (const auto& [k, x] : v) {
      a.push_back(Json::array({Render::Of(k), Render::Of(x)}));
    }
    return a;
  } else if constexpr (requires { v.begin(); }) {
    Json a = Json::array();
    for (const auto& e : v) a.push_back(Render::Of(e));
    return a;
  } else if constexpr (requires {
                         v.first;
                         v.second;
                       }) {
    return Json::array({Render::Of(v.first), Render::Of(v.second)});
  } else if constexpr (requires { std::tuple_size<T>::value; }) {
    return std::apply(
        [](const auto&... e) { return Json::array({Render::Of(e)...}); }, v);
  } else if constexpr (requires { v.has_value(); }) {
    return OfOptional(v);
  } else if constexpr (requires { v.index(); }) {
    return std::visit(
        [&](const auto& alt) {
          using A = std::decay_t<decltype(alt)>;
          return Json{{"index", v.index()},
                      {"type", SchemaOf<A>().root().Expression()},
                      {"value", Render::Of(alt)}};
        },
        v);
  } else if constexpr (requires { v.get(); }) {  // owning pointers
    if (!v) return nullptr;
    Json inner = Render::Of(*v);
    using P = std::decay_t<decltype(*v)>;
    constexpr bool kPointer = requires { std::declval<P>().get(); }
    &&!requires { std::declval<P>().has_value(); };
    if (kPointer || (inner.is_object() &&
                     (inner.contains("$id") || inner.contains("$ref") ||
                      inner.contains("$value")))) {
      Json w = Json::object();
      w["$value"] = std::move(inner);
      return w;
    }
    return inner;
  } else {  // ANCIENT_STRUCT
    Json o = Json::object();
    std::apply(
        [&](const auto&... f) {
          (
              [&] {
                if constexpr (requires { f.heap; }) {
                  o[std::string(f.name)] = Render::Of(v.*(f.heap));
                }
              }(),
              ...);
        },
        ancient::StructInfo<T>::Fields());
    return o;
  }
}

// ------------------------------------------------------- round trips

struct Aligned {
  explicit Aligned(std::size_t n)
      : p(static_cast<char*>(::operator new (n, std::align_val_t{64}))) {}
  ~Aligned() { ::operator delete (p, std::align_val_t{64}); }
  char* p;
};

template <class T>
ancient::GraphBytes BytesOf(const ancient::Ancient<T>& a) {
  const char* p = static_cast<const char*>(a.data());
  return {p, a.size_bytes(), reinterpret_cast<std::uintptr_t>(p)};
}

// value -> Mark -> JSON by schema == Render; JSON -> JsonGraph -> the
// typed check passes and gives the same JSON back. Returns the JSON.
template <class T>
std::string RoundTrip(const T& value) {
  const ancient::Schema schema = SchemaOf<T>();
  const ancient::Ancient<T> a = ancient::Mark(value);
  absl::StatusOr<std::string> json = ancient::GraphToJson(schema, BytesOf(a));
  EXPECT_TRUE(json.ok()) << json.status();
  if (!json.ok()) return "";
  EXPECT_EQ(Json::parse(*json), Render::Of(value)) << *json;

  absl::StatusOr<ancient::JsonGraph> g =
      ancient::JsonGraph::Build(schema, *json);
  EXPECT_TRUE(g.ok()) << g.status() << " for " << *json;
  if (!g.ok()) return *json;
  Aligned buf(g->size());
  g->Write(buf.p);
  EXPECT_TRUE((ancient::VerifyGraph<T>(buf.p, g->size()).ok()));
  const ancient::GraphBytes loaded{buf.p, g->size(),
                                   reinterpret_cast<std::uintptr_t>(buf.p)};
  EXPECT_TRUE(ancient::VerifyGraph(schema, loaded).ok());
  absl::StatusOr<std::string> again = ancient::GraphToJson(schema, loaded);
  EXPECT_TRUE(again.ok()) << again.status();
  if (again.ok()) {
    EXPECT_EQ(*again, *json);
  }
  return *json;
}

// A struct of every inline kind: char, nested struct, optional, tuple,
// pair, variant, vector, enum, bool.
sg::Outer SampleOuter() {
  return sg::Outer{'q',
                   {1, "in", 0.5},
                   sg::Inner{2, "maybe", -1},
                   {1, 2, 3},
                   {4, {5, "pair", 6}},
                   sg::Inner{7, "alt", 8},
                   {{9, "l", 10}},
                   sg::Shade::kLight,
                   true};
}

TEST(SchemaJson, EveryKindRoundTrips) {
  RoundTrip(true);
  RoundTrip('x');
  RoundTrip(static_cast<char>(-61));
  RoundTrip(std::int8_t{-128});
  RoundTrip(std::uint64_t{18446744073709551615ull});
  RoundTrip(std::int64_t{-9223372036854775807ll - 1});
  RoundTrip(sg::Shade::kDark);
  RoundTrip(0.1);
  RoundTrip(1.0f / 3);
  RoundTrip(std::nan(""));
  RoundTrip(-HUGE_VAL);
  RoundTrip(std::string("a\0b\"\\\n\x01 é", 11));
  RoundTrip(std::string("\xff\xfe bytes"));
  RoundTrip(std::string());
  RoundTrip(std::vector<std::string>{});
  RoundTrip(std::vector<std::int32_t>{3, 1, 2});
  RoundTrip(std::set<std::string>{"b", "a", ""});
  RoundTrip(std::map<std::string, std::int64_t>{{"x", 1}, {"$ref", 2}});
  RoundTrip(std::map<std::string, std::int64_t>{{"\xff", 1}, {"ok", 2}});
  RoundTrip(std::map<int, std::string>{{-1, "m"}, {5, "f"}});
  RoundTrip(std::map<char, int>{{'a', 1}, {'\xe9', 2}});
  RoundTrip(std::map<std::pair<int, std::string>, bool>{{{1, "a"}, true}});
  RoundTrip(std::pair<std::int8_t, std::string>{1, "one"});
  RoundTrip(std::tuple<std::int8_t, std::int64_t, std::int8_t>{1, 2, 3});
  RoundTrip(std::optional<std::string>{});
  RoundTrip(std::optional<std::string>{"s"});
  RoundTrip(std::optional<std::optional<int>>{std::optional<int>{}});
  RoundTrip(std::optional<std::optional<int>>{});
  RoundTrip(std::variant<std::monostate, std::int8_t, std::string>{"v"});
  RoundTrip(std::unique_ptr<std::unique_ptr<int>>{});
  RoundTrip(std::make_unique<std::unique_ptr<int>>(std::make_unique<int>(4)));
  RoundTrip(std::make_unique<std::map<std::string, int>>(
      std::map<std::string, int>{{"$value", 1}}));
  RoundTrip(std::vector<ancient::Value>{
      ancient::Value(), ancient::Value(true), ancient::Value(-5),
      ancient::Value(2.5), ancient::Value(1.0), ancient::Value("s"),
      ancient::Value(ancient::Value::Array{1, "x", ancient::Value::Array{}}),
      ancient::Value(ancient::Value::Object{{"k", 1}, {"$ref", 2}})});
  sg::Outer o = SampleOuter();
  RoundTrip(o);
  o.maybe.reset();
  o.v = std::monostate{};
  RoundTrip(o);
}

// As RoundTrip, comparing arrays as multisets (hash order is not the
// heap's), then looks every key up in the rebuilt container.
template <class C>
void RoundTripHashed(const C& c) {
  const ancient::Schema schema = SchemaOf<C>();
  const ancient::Ancient<C> a = ancient::Mark(c);
  absl::StatusOr<std::string> json = ancient::GraphToJson(schema, BytesOf(a));
  ASSERT_TRUE(json.ok()) << json.status();
  Json got = Json::parse(*json), want = Render::Of(c);
  if (got.is_array()) {
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
  }
  EXPECT_EQ(got, want);
  auto g = ancient::JsonGraph::Build(schema, *json);
  ASSERT_TRUE(g.ok()) << g.status();
  Aligned buf(g->size());
  g->Write(buf.p);
  ASSERT_TRUE((ancient::VerifyGraph<C>(buf.p, g->size()).ok()));
  const auto& f = *reinterpret_cast<const ancient::Frozen<C>*>(buf.p);
  ASSERT_EQ(f.size(), c.size());
  for (const auto& e : c) {
    if constexpr (requires { e.first; }) {
      EXPECT_TRUE(f.contains(e.first)) << *json;
    } else {
      EXPECT_TRUE(f.contains(e)) << *json;
    }
  }
}

TEST(SchemaJson, HashContainersRoundTripAndStayFindable) {
  std::unordered_map<std::string, std::vector<std::int64_t>> m;
  for (int i = 0; i < 1000; ++i) m["k" + std::to_string(i)] = {i, -i};
  const std::string json = RoundTrip(m);
  auto g = ancient::JsonGraph::Build(SchemaOf<decltype(m)>(), json);
  ASSERT_TRUE(g.ok());
  Aligned buf(g->size());
  g->Write(buf.p);
  const auto& f = *reinterpret_cast<const ancient::Frozen<decltype(m)>*>(buf.p);
  ASSERT_EQ(f.size(), m.size());
  for (const auto& [k, v] : m) {
    const auto* got = f.get(k);
    ASSERT_NE(got, nullptr) << k;
    ASSERT_EQ(got->size(), 2u);
    EXPECT_EQ((*got)[1], v[1]);
  }
  // Other key types hash as the heap's do.
  RoundTripHashed(std::unordered_map<std::int32_t, std::string>{
      {-7, "a"}, {9, "b"}, {1 << 20, "c"}});
  RoundTripHashed(std::unordered_set<std::int64_t>{-1, 0, 5, 1ll << 40});
  RoundTripHashed(std::unordered_map<char, int>{{'a', 1}, {'z', 2}});
  RoundTripHashed(std::unordered_set<double>{0.5, -0.0, 1e300});
}

TEST(SchemaJson, BytesAsJsonAndBack) {
  for (const std::string& b :
       {std::string(""), std::string("key"), std::string("a\0b", 3),
        std::string("\xff\xfe"), std::string("caf\xc3\xa9")}) {
    const std::string json = ancient::JsonBytes(b);
    EXPECT_EQ(json.find("$base64") != std::string::npos, b == "\xff\xfe")
        << json;
    absl::StatusOr<std::string> back = ancient::ParseJsonBytes(json);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, b);
  }
  for (const char* bad :
       {"1", "null", "{\"$base64\":\"!!\"}", "[\"x\"]", "\"x"}) {
    EXPECT_EQ(ancient::ParseJsonBytes(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

// Documents built in memory (the Python module's puts): binary values as
// strings' bytes and as blocks of numbers, inline or by reference.
TEST(SchemaJson, DocumentsInMemoryTakeBlocksOfNumbers) {
  using Row = std::pair<std::vector<std::int32_t>, std::string>;
  const ancient::Schema schema = SchemaOf<std::vector<Row>>();
  const std::vector<std::int32_t> nums = {1, -2, 300000};
  std::vector<std::uint8_t> inline_bytes(12);
  std::memcpy(inline_bytes.data(), nums.data(), 12);
  const std::int32_t referred[] = {7, 8};
  const std::vector<std::string_view> blocks = {
      std::string_view(reinterpret_cast<const char*>(referred), 8)};
  std::vector<std::uint8_t> ref(8, 0);  // index 0
  Json doc = Json::array(
      {Json::array({Json::binary(inline_bytes),
                    Json::binary(std::vector<std::uint8_t>{'h', 0, 'i'})}),
       Json::array({Json::binary(ref, ancient::JsonGraph::kBlockRef), "x"})});
  auto g = ancient::JsonGraph::BuildFromDocument(schema, doc, blocks);
  ASSERT_TRUE(g.ok()) << g.status();
  Aligned buf(g->size());
  g->Write(buf.p);
  ASSERT_TRUE((ancient::VerifyGraph<std::vector<Row>>(buf.p, g->size()).ok()));
  const auto& f =
      *reinterpret_cast<const ancient::Frozen<std::vector<Row>>*>(buf.p);
  ASSERT_EQ(f.size(), 2u);
  ASSERT_EQ(f[0].first.size(), 3u);
  EXPECT_EQ(f[0].first[2], 300000);
  EXPECT_EQ(std::string_view(f[0].second), std::string_view("h\0i", 3));
  ASSERT_EQ(f[1].first.size(), 2u);
  EXPECT_EQ(f[1].first[1], 8);

  // Refused, naming where: a block that is not whole elements, an index
  // past the blocks, a block where the elements are not plain numbers, a
  // bool that is not 0 or 1.
  auto bad = [&](const Json& d, const ancient::Schema& s,
                 const std::string& want) {
    auto r = ancient::JsonGraph::BuildFromDocument(s, d, blocks);
    ASSERT_FALSE(r.ok()) << d.dump();
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(want), std::string::npos) << r.status();
  };
  bad(Json::array(
          {Json::array({Json::binary(std::vector<std::uint8_t>(5)), "s"})}),
      schema, "$[0][0]: expected an array (a block of bytes");
  std::vector<std::uint8_t> far(8, 0);
  far[0] = 1;
  bad(Json::array({Json::array(
          {Json::binary(far, ancient::JsonGraph::kBlockRef), ""})}),
      schema, "a reference to one of the caller's blocks");
  bad(Json::binary(std::vector<std::uint8_t>(16)),
      SchemaOf<std::vector<std::string>>(), "a block of bytes stands only");
  bad(Json::binary(std::vector<std::uint8_t>{1, 0, 2}),
      SchemaOf<std::vector<bool>>(), "$[2]: expected true or false");
}

// Past a thousand objects reached through pointers the checker counts them
// in a dense table instead of a hash map: each shared object is still
// written once, then referred to, whichever it used.
TEST(SchemaJson, ManySharedObjectsAreEachWrittenOnce) {
  for (int n : {100, 5000}) {
    SCOPED_TRACE(n);
    // The top object points at every node; node i at node i + 1 too: every
    // node but the first is reached twice.
    std::vector<std::unique_ptr<sg::Cyclic>> nodes;
    sg::Cyclic top{-1, {}, nullptr};
    for (int i = 0; i < n; ++i) {
      nodes.push_back(std::make_unique<sg::Cyclic>(sg::Cyclic{i, {}, nullptr}));
      top.out.push_back(nodes.back().get());
      if (i > 0) nodes[i - 1]->out.push_back(nodes.back().get());
    }
    const auto schema = SchemaOf<sg::Cyclic>();
    const auto a = ancient::Mark(top);
    ASSERT_TRUE(ancient::VerifyGraph(schema, BytesOf(a)).ok());
    absl::StatusOr<std::string> json = ancient::GraphToJson(schema, BytesOf(a));
    ASSERT_TRUE(json.ok()) << json.status();
    auto count = [&](std::string_view what) {
      int k = 0;
      for (auto at = json->find(what); at != std::string::npos;
           at = json->find(what, at + 1)) {
        ++k;
      }
      return k;
    };
    EXPECT_EQ(count("\"$id\""), n - 1);
    EXPECT_EQ(count("\"$ref\""), n - 1);
    auto g = ancient::JsonGraph::Build(schema, *json);
    ASSERT_TRUE(g.ok()) << g.status();
    Aligned buf(g->size());
    g->Write(buf.p);
    ASSERT_TRUE(ancient::VerifyGraph<sg::Cyclic>(buf.p, g->size()).ok());
    const auto& f =
        *reinterpret_cast<const ancient::Frozen<sg::Cyclic>*>(buf.p);
    ASSERT_EQ(f.out.size(), static_cast<std::size_t>(n));
    for (int i = 1; i < n; ++i) {
      ASSERT_EQ(f.out[i - 1]->out[0].get(), f.out[i].get()) << i;
      ASSERT_EQ(f.out[i]->id, i);
    }
  }
}

TEST(SchemaJson, SharingAndCyclesAreWrittenOnceThenReferredTo) {
  // a -> b, a -> c, b -> c, c -> a. Mark copies the top object a itself,
  // so c's pointer reaches a second copy, a', whose pointers reach b and c
  // again: b and c are shared, and so is the label of b and c.
  std::vector<std::unique_ptr<sg::Cyclic>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(std::make_unique<sg::Cyclic>(sg::Cyclic{i, {}, nullptr}));
  }
  auto label = std::make_shared<std::string>("shared label");
  nodes[0]->out = {nodes[1].get(), nodes[2].get()};
  nodes[1]->out = {nodes[2].get()};
  nodes[2]->out = {nodes[0].get()};
  nodes[1]->label = label;
  nodes[2]->label = label;
  const auto schema = SchemaOf<sg::Cyclic>();
  const auto a = ancient::Mark(*nodes[0]);
  absl::StatusOr<std::string> json = ancient::GraphToJson(schema, BytesOf(a));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json,
            R"({"id":0,"out":[{"$id":1,"$value":{"id":1,"out":[{"$id":2,)"
            R"("$value":{"id":2,"out":[{"id":0,"out":[{"$ref":1},{"$ref":2}],)"
            R"("label":null}],"label":{"$id":3,"$value":"shared label"}}}],)"
            R"("label":{"$ref":3}}},{"$ref":2}],"label":null})");
  auto g = ancient::JsonGraph::Build(schema, *json);
  ASSERT_TRUE(g.ok()) << g.status();
  Aligned buf(g->size());
  g->Write(buf.p);
  ASSERT_TRUE(ancient::VerifyGraph<sg::Cyclic>(buf.p, g->size()).ok());
  const auto& f = *reinterpret_cast<const ancient::Frozen<sg::Cyclic>*>(buf.p);
  const auto* b = f.out[0].get();
  const auto* c = f.out[1].get();
  EXPECT_EQ(b->out[0].get(), c);  // c is one object
  const auto* a2 = c->out[0].get();
  EXPECT_EQ(a2->id, 0);
  EXPECT_EQ(a2->out[0].get(), b);  // the cycle through a'
  EXPECT_EQ(a2->out[1].get(), c);
  EXPECT_EQ(b->label.get(), c->label.get());  // the label is shared
  EXPECT_EQ(*c->label, "shared label");
  // {"$ref": 0} is the top object.
  auto top = ancient::JsonGraph::Build(
      schema, R"({"id":5,"out":[{"$ref":0}],"label":null})");
  ASSERT_TRUE(top.ok()) << top.status();
  Aligned tb(top->size());
  top->Write(tb.p);
  const auto& t = *reinterpret_cast<const ancient::Frozen<sg::Cyclic>*>(tb.p);
  EXPECT_EQ(t.out[0].get(), &t);
  // Refs in any order, and errors for bad ones.
  for (
      const char* bad : {
          R"({"id":0,"out":[{"$ref":7}],"label":null})",
          R"({"id":0,"out":[{"$id":1,"$value":{"id":1,"out":[],"label":null}},)"
          R"({"$id":1,"$value":{"id":1,"out":[],"label":null}}],"label":null})",
          R"({"id":0,"out":[],"label":{"$ref":0}})",
          R"({"id":0,"out":[],"label":null,"extra":1})",
          R"({"id":0,"out":[]})",
          R"({"id":"0","out":[],"label":null})",
          R"({"id":0,"out":[],"label":null)",
      }) {
    auto r = ancient::JsonGraph::Build(schema, bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(ancient::JsonGraph::Build(
                  schema,
                  R"({"id":0,"out":[{"$ref":3},{"$id":3,"$value":{"id":1,)"
                  R"("out":[],"label":null}}],"label":null})")
                  .ok());
}

// A description spells a struct out again in every field that holds it;
// the same text is one struct, so an object reached through both fields is
// one object: checked once (the whole check fits the graph's size) and
// written once in JSON, then referred to.
TEST(SchemaJson, AStructSpelledOutTwiceIsOneStruct) {
  sg::Indexed x;
  for (int i = 0; i < 3; ++i) {
    x.owned.push_back(std::make_unique<sg::Inner>(sg::Inner{
        static_cast<std::int8_t>(i), "inner" + std::to_string(i), 0.5}));
  }
  for (int i = 3; i-- > 0;) x.index.push_back(x.owned[i].get());
  const std::string description = ancient::TypeDescription<sg::Indexed>();
  const std::string inner_text = "sg::Inner{";
  const std::size_t first = description.find(inner_text);
  ASSERT_NE(first, std::string::npos);
  ASSERT_NE(description.find(inner_text, first + 1), std::string::npos)
      << description;  // spelled out twice
  const auto schema = SchemaOf<sg::Indexed>();
  const ancient::SchemaType& root = schema.root();
  ASSERT_EQ(root.fields.size(), 2u);
  EXPECT_EQ(&root.fields[0].type->args[0]->args[0]->resolved(),
            &root.fields[1].type->args[0]->args[0]->resolved());
  const auto a = ancient::Mark(x);
  EXPECT_TRUE(ancient::VerifyGraph(schema, BytesOf(a)).ok())
      << ancient::VerifyGraph(schema, BytesOf(a));
  absl::StatusOr<std::string> json = ancient::GraphToJson(schema, BytesOf(a));
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ(*json,
            R"({"owned":[{"$id":1,"$value":{"a":0,"s":"inner0","d":0.5}},)"
            R"({"$id":2,"$value":{"a":1,"s":"inner1","d":0.5}},)"
            R"({"$id":3,"$value":{"a":2,"s":"inner2","d":0.5}}],)"
            R"("index":[{"$ref":3},{"$ref":2},{"$ref":1}]})");
  // A struct of the same name spelled out differently stays two structs.
  std::string other = description;
  const std::size_t second = other.find(inner_text, first + 1);
  const std::size_t a_field = other.find("a@0:i8", second);
  ASSERT_NE(a_field, std::string::npos) << other;
  other.replace(a_field, 6, "a@0:u8");
  absl::StatusOr<ancient::Schema> two = ancient::Schema::Parse(other);
  ASSERT_TRUE(two.ok()) << two.status() << " " << other;
  EXPECT_NE(&two->root().fields[0].type->args[0]->args[0]->resolved(),
            &two->root().fields[1].type->args[0]->args[0]->resolved());
}

TEST(SchemaJson, DeepChainsNeedNoRecursion) {
  std::unique_ptr<sg::Node> head;
  for (int i = 0; i < 100000; ++i) {  // deeper than a C++ stack recursion
    auto n = std::make_unique<sg::Node>();
    n->next['n'] = std::move(head);
    head = std::move(n);
  }
  const auto schema = SchemaOf<sg::Node>();
  const auto a = ancient::Mark(*head);
  absl::StatusOr<std::string> json = ancient::GraphToJson(schema, BytesOf(a));
  ASSERT_TRUE(json.ok()) << json.status();
  auto g = ancient::JsonGraph::Build(schema, *json);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->size(), a.size_bytes());
  // Iterative destruction of the heap chain.
  while (head) head = std::move(head->next['n']);
}

TEST(SchemaJson, PathsNameParts) {
  sg::Node root{"root", {}, {}, {}};
  root.next['a'] = std::make_unique<sg::Node>(sg::Node{"A", {}, {}, {}});
  root.kids.push_back(sg::Node{"kid", {}, {}, {}});
  root.by_id.emplace(-4, sg::Node{"four", {}, {}, {}});
  const auto schema = SchemaOf<sg::Node>();
  const auto a = ancient::Mark(root);
  auto at = [&](std::string path) {
    ancient::JsonOptions o;
    o.path = std::move(path);
    return ancient::GraphToJson(schema, BytesOf(a), o);
  };
  EXPECT_EQ(*at("next.a.name"), R"("A")");
  EXPECT_EQ(*at("kids.0.name"), R"("kid")");
  EXPECT_EQ(*at("by_id.-4.name"), R"("four")");
  EXPECT_EQ(*at("name"), R"("root")");
  EXPECT_EQ(at("next.b").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(at("kids.1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(at("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(at("name.x").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(at("by_id.x").status().code(), absl::StatusCode::kInvalidArgument);
  ancient::JsonOptions pretty;
  pretty.pretty = true;
  pretty.path = "kids.0";
  EXPECT_EQ(*ancient::GraphToJson(schema, BytesOf(a), pretty),
            "{\n  \"name\": \"kid\",\n  \"next\": {},\n  \"kids\": [],\n"
            "  \"by_id\": []\n}");
}

// A copy of `a` relocated to `buf`, whose Vector at `vector` (in a) is made
// to point at `elements` (in a): an array made to hold itself. Every walk
// of the whole graph must refuse it as damage, in time and memory bounded
// by its size, not walk it for ever.
template <class T>
void ExpectArrayHoldingItselfRefused(const ancient::Ancient<T>& a,
                                     const void* vector, const void* elements) {
  const auto* base = static_cast<const char*>(a.data());
  const std::uint64_t size = a.size_bytes();
  Aligned buf(size);
  std::memcpy(buf.p, base, size);
  ASSERT_TRUE(ancient::RelocateBlock(buf.p, size, a.relocations(),
                                     reinterpret_cast<std::uintptr_t>(base))
                  .ok());
  const ancient::Schema schema = SchemaOf<T>();
  const ancient::GraphBytes g{buf.p, size,
                              reinterpret_cast<std::uintptr_t>(buf.p)};
  ASSERT_TRUE(ancient::VerifyGraph<T>(buf.p, size).ok());  // sound so far
  ASSERT_TRUE(ancient::VerifyGraph(schema, g).ok());
  const char* target = buf.p + (static_cast<const char*>(elements) - base);
  std::memcpy(buf.p + (static_cast<const char*>(vector) - base), &target, 8);
  auto expect_refused = [](const absl::Status& s, const char* what) {
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << what << ": " << s;
    EXPECT_NE(s.message().find("reached twice"), std::string_view::npos)
        << what << ": " << s;
  };
  expect_refused(ancient::VerifyGraph<T>(buf.p, size), "VerifyGraph<T>");
  expect_refused(ancient::VerifyGraph(schema, g), "VerifyGraph by schema");
  expect_refused(ancient::GraphToJson(schema, g).status(), "GraphToJson");
  expect_refused(ancient::ConvertGraph(schema, g, schema).status(),
                 "ConvertGraph");
}

TEST(SchemaVerify, AnArrayHoldingItselfIsDamageNotAnEndlessWalk) {
  {
    using V = ancient::Value;
    const auto a = ancient::Mark(V(V::Array{V(V::Array{V(1), V(2)}), V(3)}));
    const auto& outer = a.Follow().as_array();
    ExpectArrayHoldingItselfRefused(a, &outer[0].as_array(), outer.data());
  }
  {
    sg::Node root;
    root.kids.resize(2);
    root.kids[0].name = "a";
    root.kids[0].kids.resize(1);
    const auto a = ancient::Mark(root);
    const auto& kids = a.Follow().kids;
    ExpectArrayHoldingItselfRefused(a, &kids[0].kids, kids.data());
  }
}

// Damage that VerifyGraph<T> catches, VerifyGraph by schema catches too.
TEST(SchemaVerify, CatchesWhatTheTypedCheckCatches) {
  sg::Outer o = SampleOuter();
  const auto a = ancient::Mark(o);
  const auto schema = SchemaOf<sg::Outer>();
  std::string bytes(static_cast<const char*>(a.data()), a.size_bytes());
  // Each copy is relocated to where it lies before it is damaged: an
  // unrelocated copy points into the original block, and both checks would
  // refuse it undamaged, so the test could not fail.
  auto relocated_copy = [&](Aligned& buf) {
    std::memcpy(buf.p, bytes.data(), bytes.size());
    return ancient::RelocateBlock(buf.p, bytes.size(), a.relocations(),
                                  reinterpret_cast<std::uintptr_t>(a.data()));
  };
  {
    Aligned buf(bytes.size());
    ASSERT_TRUE(relocated_copy(buf).ok());
    ASSERT_TRUE(ancient::VerifyGraph<sg::Outer>(buf.p, bytes.size()).ok());
    ASSERT_TRUE(
        ancient::VerifyGraph(schema, {buf.p, bytes.size(),
                                      reinterpret_cast<std::uintptr_t>(buf.p)})
            .ok());
  }
  int caught = 0, damaged = 0, sound = 0;
  // Every byte of the block, set to a few values: whenever the typed check
  // fails, the schema check must fail too (and never crash).
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (const unsigned char v : {0x00, 0x02, 0x7f, 0xff}) {
      Aligned buf(bytes.size());
      ASSERT_TRUE(relocated_copy(buf).ok());
      buf.p[i] = static_cast<char>(v);
      const bool typed =
          ancient::VerifyGraph<sg::Outer>(buf.p, bytes.size()).ok();
      const absl::Status s = ancient::VerifyGraph(
          schema,
          {buf.p, bytes.size(), reinterpret_cast<std::uintptr_t>(buf.p)});
      if (!typed) {
        ++damaged;
        EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "byte " << i;
        if (!s.ok()) ++caught;
      } else {
        ++sound;
      }
    }
  }
  EXPECT_GT(damaged, 100);
  EXPECT_GT(sound, 100);  // Most bytes (string contents...) damage nothing.
  EXPECT_EQ(caught, damaged);
  // The forged-size case: a string whose size runs past the block.
  const auto s = ancient::Mark(std::string("hello"));
  std::string forged(static_cast<const char*>(s.data()), s.size_bytes());
  const std::uint64_t huge = 1u << 30;
  std::memcpy(forged.data() + 8, &huge, 8);
  Aligned buf(forged.size());
  std::memcpy(buf.p, forged.data(), forged.size());
  EXPECT_EQ(ancient::VerifyGraph(
                SchemaOf<std::string>(),
                {buf.p, forged.size(), reinterpret_cast<std::uintptr_t>(buf.p)})
                .code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
