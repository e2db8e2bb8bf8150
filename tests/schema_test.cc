// Schema: every kind parsed and printed, differences named by path,
// hostile descriptions refused.

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
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
#include "ancient/ancient.h"
#include "tests/ancient_types.h"

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

// What ToString prints reads back (ParseReadable) as the very description
// C++ records for the type: the readable form names a type exactly.
template <class T>
void ExpectReadableRoundTrip() {
  const std::string want = ancient::TypeDescription<T>();
  const std::string text = SchemaOf<T>().ToString();
  auto back = ancient::Schema::ParseReadable(text);
  ASSERT_TRUE(back.ok()) << back.status() << " for " << text;
  EXPECT_EQ(back->Description(), want) << text;
  EXPECT_EQ(SchemaOf<T>().Description(), want);
}

TEST(Schema, ReadableFormReadsBackAsTheRecordedDescription) {
  ExpectReadableRoundTrip<schema_types::MapNode>();
  ExpectReadableRoundTrip<schema_types::VecNode>();
  ExpectReadableRoundTrip<std::vector<test_types::Record>>();
  ExpectReadableRoundTrip<test_types::Household>();  // two structs, a cycle
  ExpectReadableRoundTrip<test_types::Tree>();
  ExpectReadableRoundTrip<
      std::unordered_map<std::string, std::vector<std::int64_t>>>();
  ExpectReadableRoundTrip<
      std::tuple<int, std::optional<std::string>,
                 std::variant<std::monostate, double>, std::pair<char, bool>,
                 std::set<std::uint8_t>, std::unordered_set<std::int16_t>,
                 std::shared_ptr<float>, ancient::Value>>();
  ExpectReadableRoundTrip<
      std::map<std::pair<std::string, std::int32_t>, std::vector<float>>>();
  // Written by hand: any spacing, a trailing ';' after a struct, the root
  // a struct when no expression comes first.
  auto points = ancient::Schema::ParseReadable(
      "vector<test_types::Point>\n"
      "struct test_types::Point{f64 x;f64 y;};");
  ASSERT_TRUE(points.ok()) << points.status();
  EXPECT_EQ(points->Description(),
            ancient::TypeDescription<std::vector<test_types::Point>>());
  auto node = ancient::Schema::ParseReadable(
      "  struct schema_types::MapNode {\n  bool word;\n"
      "  map< char , ptr<schema_types::MapNode> > next;\n}\n");
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->Description(),
            ancient::TypeDescription<schema_types::MapNode>());
}

TEST(Schema, ReadableFormLaysOutStructsAsCppDoes) {
  struct Mixed {
    std::int8_t a;
    double b;
    std::int16_t c;
    std::pair<char, std::int32_t> d;
    bool e;
  };
  auto s = ancient::Schema::ParseReadable(
      "struct M { i8 a; f64 b; i16 c; pair<char, i32> d; bool e; }");
  ASSERT_TRUE(s.ok()) << s.status();
  const ancient::SchemaType& m = s->root();
  EXPECT_EQ(m.size, sizeof(Mixed));
  EXPECT_EQ(m.align, alignof(Mixed));
  ASSERT_EQ(m.fields.size(), 5u);
  EXPECT_EQ(m.fields[0].offset, offsetof(Mixed, a));
  EXPECT_EQ(m.fields[1].offset, offsetof(Mixed, b));
  EXPECT_EQ(m.fields[2].offset, offsetof(Mixed, c));
  EXPECT_EQ(m.fields[3].offset, offsetof(Mixed, d));
  EXPECT_EQ(m.fields[4].offset, offsetof(Mixed, e));
}

TEST(Schema, ReadableFormErrorsNameTheProblem) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "a type was expected"},
           {"vector<", "a type was expected"},
           {"vector<i32", "'>' or ',' expected"},
           {"vectr<i32>", "unknown container 'vectr'"},
           {"map<string>", "map takes 2 type arguments"},
           {"vector", "'vector' needs type arguments"},
           {"int", "unknown type 'int'"},
           {"vector<P>", "unknown type 'P'"},
           {"P struct P { i32 x; } struct P { i32 y; }", "defined twice"},
           {"struct P { i32 x; i32 x; }", "field 'x' named twice"},
           {"struct P { }", "struct P has no fields"},
           {"struct P { i32 x; P inner; }", "holds itself by value"},
           {"struct P { i32 x }", "';' expected"},
           {"i32 i32", "'struct NAME { ... }' expected"},
           {"struct vector { i32 x; }", "cannot be named 'vector'"},
       }) {
    auto s = ancient::Schema::ParseReadable(c.text);
    ASSERT_FALSE(s.ok()) << c.text;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_NE(s.status().message().find(c.message), std::string::npos)
        << c.text << ": " << s.status();
  }
  // Deep nesting is refused, never a stack overflow.
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "vector<";
  EXPECT_EQ(ancient::Schema::ParseReadable(deep).status().code(),
            absl::StatusCode::kInvalidArgument);
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
