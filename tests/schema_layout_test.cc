// Layouts computed from descriptions (Schema) agree with the compiler's;
// impossible layouts are refused.

#include <gtest/gtest.h>

#include <cstddef>
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

#include "ancient/ancient.h"
#include "tests/schema_types.h"

namespace {

using sg::SchemaOf;

template <class T>
void ExpectLayout() {
  using F = ancient::Frozen<T>;
  const ancient::Schema s = SchemaOf<T>();
  EXPECT_EQ(s.root().size, sizeof(F)) << ancient::TypeName<T>();
  EXPECT_EQ(s.root().align, alignof(F)) << ancient::TypeName<T>();
}

template <class A, class B>
void ExpectPairLayout() {
  ExpectLayout<std::pair<A, B>>();
  using F = ancient::Frozen<std::pair<A, B>>;
  const ancient::Schema s = SchemaOf<std::pair<A, B>>();
  EXPECT_EQ(s.root().offsets[1], offsetof(F, second));
}

TEST(SchemaLayout, MatchesTheCompilers) {
  ExpectLayout<bool>();
  ExpectLayout<char>();
  ExpectLayout<std::int16_t>();
  ExpectLayout<float>();
  ExpectLayout<sg::Shade>();
  ExpectLayout<std::monostate>();
  ExpectLayout<std::string>();
  ExpectLayout<ancient::Value>();
  ExpectLayout<std::vector<std::int8_t>>();
  ExpectLayout<std::map<std::string, double>>();
  ExpectLayout<std::set<int>>();
  ExpectLayout<std::unordered_map<std::int8_t, std::string>>();
  ExpectLayout<std::unordered_set<std::int64_t>>();
  ExpectLayout<std::unique_ptr<sg::Inner>>();
  ExpectPairLayout<std::int8_t, double>();
  ExpectPairLayout<std::string, std::int8_t>();
  ExpectPairLayout<std::int8_t, std::optional<std::int16_t>>();
  ExpectLayout<std::optional<std::int8_t>>();
  ExpectLayout<std::optional<double>>();
  ExpectLayout<std::optional<std::optional<std::int32_t>>>();
  ExpectLayout<std::variant<std::int8_t, std::int16_t>>();
  ExpectLayout<std::variant<std::monostate, std::string, double>>();
  ExpectLayout<std::tuple<std::int8_t>>();
  ExpectLayout<std::tuple<std::int8_t, std::int64_t, std::int8_t>>();
  ExpectLayout<std::tuple<std::int64_t, std::int8_t, std::int16_t>>();
  ExpectLayout<
      std::tuple<std::optional<std::int8_t>, std::int8_t, std::int8_t>>();
  ExpectLayout<std::tuple<std::pair<std::int64_t, std::int8_t>, std::int8_t>>();
  ExpectLayout<sg::Inner>();
  ExpectLayout<sg::Outer>();
  ExpectLayout<sg::Node>();
  ExpectLayout<sg::Cyclic>();
  // Tuple element offsets.
  using T3 = std::tuple<std::int8_t, std::int64_t, std::int8_t>;
  const ancient::Frozen<T3> f{};
  const ancient::Schema s = SchemaOf<T3>();
  const auto* base = reinterpret_cast<const char*>(&f);
  EXPECT_EQ(s.root().offsets[1],
            reinterpret_cast<const char*>(&ancient::get<1>(f)) - base);
  EXPECT_EQ(s.root().offsets[2],
            reinterpret_cast<const char*>(&ancient::get<2>(f)) - base);
}

TEST(SchemaLayout, ImpossibleLayoutsAreDataLoss) {
  for (const char* d : {
           "ancient/1;le;p64;S{8;a@1:i32}",             // misaligned
           "ancient/1;le;p64;S{8;a@0:i64;b@4:i8}",      // overlapping
           "ancient/1;le;p64;S{4;a@0:i64}",             // past the end
           "ancient/1;le;p64;S{9;a@0:i64}",             // size not aligned
           "ancient/1;le;p64;S{24;a@0:optional<S^1>}",  // itself by value
           "ancient/1;le;p64;S{8;a@0:ptr<T^1>}",        // a ref to another name
           "ancient/1;le;p48;i32",                      // unknown platform
       }) {
    EXPECT_EQ(ancient::Schema::Parse(d).status().code(),
              absl::StatusCode::kDataLoss)
        << d;
  }
  // Out of line, a struct may hold itself.
  EXPECT_TRUE(
      ancient::Schema::Parse("ancient/1;le;p64;S{16;a@0:vector<S^1>}").ok());
}

}  // namespace
