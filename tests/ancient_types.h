// The heap types the graph layer's tests mark (ancient_test, mark_test), and
// the soundness check every marked block passes.

#ifndef ANCIENT_TESTS_ANCIENT_TYPES_H_
#define ANCIENT_TESTS_ANCIENT_TYPES_H_

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ancient/ancient.h"

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

namespace test_types {

// Every pointer in a marked block points inside it.
template <class T>
void ExpectSound(const ancient::Ancient<T>& a) {
  EXPECT_TRUE(
      ancient::VerifyBlock(a.data(), a.size_bytes(), a.relocations()).ok());
  const absl::Status typed = ancient::VerifyGraph<T>(a.data(), a.size_bytes());
  EXPECT_TRUE(typed.ok()) << typed;
}

}  // namespace test_types

#endif  // ANCIENT_TESTS_ANCIENT_TYPES_H_
