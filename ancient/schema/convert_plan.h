// Internal to schema_graph: how a graph of one schema converts to another
// (ConvertGraph, schema_graph.h). A Plan per pair of types met, made from
// the two schemas alone (CheckConvertible is making them); convert.cc runs
// them over a graph.

#ifndef ANCIENT_SCHEMA_CONVERT_PLAN_H_
#define ANCIENT_SCHEMA_CONVERT_PLAN_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "ancient/defaults.h"
#include "ancient/schema/nodes.h"

namespace ancient::schema_internal {

// How a value of node `f` (of the nodes of side `side`: 0 the graph's
// schema, 1.. a struct default's) becomes a value of node `t` of the
// target schema.
struct Plan {
  int side = 0;
  int f = 0;
  int t = 0;
  bool identical = false;  // the same layout, all the way down
  bool copy = false;       // identical, and its bytes are all of it
  bool wrap = false;       // X to optional<X'>: kids[0] converts X
  // Per target part: pair, tuple, struct fields; vector, set: {element};
  // map, hash_map: {entry, key, value}; optional, ptr: {pointee}.
  // Struct fields the source lacks: the plan from its default's field (on
  // the default's side), or nullptr for zeros.
  std::vector<const Plan*> kids;
  // Struct: each target field's source field, -1 when the source lacks it
  // (then dflt_off is where the default holds it). Variant: each source
  // alternative's target alternative, -1 when the target lacks it.
  std::vector<int> map;
  std::vector<std::uint64_t> dflt_off;
  // Variant: per source alternative, its plan (nullptr when map is -1).
  std::vector<const Plan*> alts;
  // Sorted containers: the key converts in a way that may reorder keys or
  // make two equal; hash containers: the key's hash changes.
  bool rekey = false;
  std::string path;  // the type path, for messages: "cities{value}.kind"
};

// The plans for one pair of schemas.
class Planner {
 public:
  // `defaults`: the target's struct defaults, each compiled (side 1..).
  Planner(const Nodes& from, const Nodes& to,
          const std::vector<const StructDefault*>& defaults);

  // The plan for the roots, or FailedPrecondition naming the first path
  // that cannot convert.
  absl::StatusOr<const Plan*> Root();

  const Nodes& nodes(int side) const {
    return side == 0 ? from_ : *dflt_nodes_[side - 1];
  }
  const Nodes& to() const { return to_; }
  // How many sides: the graph's, then one per usable default.
  int sides() const { return 1 + static_cast<int>(dflts_.size()); }
  // Side's default struct (side >= 1).
  const StructDefault& default_of(int side) const { return *dflts_[side - 1]; }

 private:
  absl::StatusOr<const Plan*> Make(int side, int f, int t,
                                   const std::string& path);
  absl::Status Fill(Plan& p);
  // Drops the plans made since made_ had `mark` entries (a variant
  // alternative that did not convert).
  void Forget(std::size_t mark);
  absl::Status Keyed(Plan& p, const Node& a, const Node& b);
  absl::Status Scalar(const Node& a, const Node& b, const std::string& path);
  absl::Status Struct(Plan& p, const Node& a, const Node& b);
  absl::Status Variant(Plan& p, const Node& a, const Node& b);
  // Whether keys of target node t have an order known here (numbers,
  // chars, bools, strings, pairs and tuples of them), so that converted
  // keys can be sorted and hashed.
  bool KeyKnown(int t) const;
  bool Identical(int side, int f, int t);
  // The default of target struct node t: its side, or 0 when none.
  int DefaultSide(int t);

  const Nodes& from_;
  const Nodes& to_;
  std::vector<std::unique_ptr<Nodes>> dflt_nodes_;
  std::vector<const StructDefault*> dflts_;
  std::map<std::tuple<int, int, int>, std::unique_ptr<Plan>> plans_;
  std::vector<std::tuple<int, int, int>> made_;  // in the order made
  std::map<std::tuple<int, int, int>, bool> identical_;
  std::map<int, int> default_side_;
};

// A type path one step further: "a" + ".b", "[]", "{key}", "->", "?".
std::string Sub(const std::string& path, const std::string& step);

}  // namespace ancient::schema_internal

#endif  // ANCIENT_SCHEMA_CONVERT_PLAN_H_
