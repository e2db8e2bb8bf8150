// The types the schema layer's tests describe, mark and read back
// (schema_graph_test, schema_layout_test), and SchemaOf<T>.

#ifndef ANCIENT_TESTS_SCHEMA_TYPES_H_
#define ANCIENT_TESTS_SCHEMA_TYPES_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

#include "ancient/ancient.h"

namespace sg {
enum class Shade : std::int16_t { kDark = -2, kLight = 7 };
struct Inner {
  std::int8_t a;
  std::string s;
  double d;
};
struct Outer {
  char c;
  Inner inner;
  std::optional<Inner> maybe;
  std::tuple<std::int8_t, std::int64_t, std::int8_t> t;
  std::pair<std::int8_t, Inner> p;
  std::variant<std::monostate, std::int8_t, std::string, Inner> v;
  std::vector<Inner> list;
  Shade shade;
  bool flag;
};
struct Node {
  std::string name;
  std::map<char, std::unique_ptr<Node>> next;
  std::vector<Node> kids;
  std::map<int, Node> by_id;
};
struct Cyclic {
  std::int64_t id;
  std::vector<Cyclic*> out;
  std::shared_ptr<std::string> label;
};
// Each Inner reached twice, through fields of two types: the description
// spells Inner out in both.
struct Indexed {
  std::vector<std::unique_ptr<Inner>> owned;
  std::vector<const Inner*> index;
};
}  // namespace sg
ANCIENT_STRUCT(sg::Inner, a, s, d);
ANCIENT_STRUCT(sg::Outer, c, inner, maybe, t, p, v, list, shade, flag);
ANCIENT_STRUCT(sg::Node, name, next, kids, by_id);
ANCIENT_STRUCT(sg::Cyclic, id, out, label);
ANCIENT_STRUCT(sg::Indexed, owned, index);

namespace sg {

// The Schema parsed from T's description.
template <class T>
ancient::Schema SchemaOf() {
  auto s = ancient::Schema::Parse(ancient::TypeDescription<T>());
  EXPECT_TRUE(s.ok()) << s.status();
  return *std::move(s);
}

}  // namespace sg

#endif  // ANCIENT_TESTS_SCHEMA_TYPES_H_
