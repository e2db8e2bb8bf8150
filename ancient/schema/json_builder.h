// Internal: JsonGraphBuilder, which builds a frozen graph from JSON by a
// schema for JsonGraph::Build (schema_graph.h). Scalars, structs,
// sequences and pointers in json_in.cc; Values, maps and sets in
// json_in_keyed.cc.

#ifndef ANCIENT_SCHEMA_JSON_BUILDER_H_
#define ANCIENT_SCHEMA_JSON_BUILDER_H_

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "ancient/block.h"
#include "ancient/hash.h"
#include "ancient/schema/nodes.h"
#include "ancient/schema/schema_graph.h"

namespace ancient {

// Not ordered_json: its objects are vectors of pair<const string, json>,
// which copy (recursively, on the C++ stack) whenever they grow. Member
// order matters nowhere (fields go by name, maps are sorted, hash maps are
// written sorted by key; see WriteGraphJson).
using Json = nlohmann::json;
using schema_internal::Node;
using schema_internal::Nodes;
using schema_internal::Op;

namespace schema_internal {

// Where a JSON value is, for messages: a chain of steps on the C++ stack,
// from the value a queued task started at (`task`, -1 for the document).
struct Where {
  const Where* parent;
  std::string_view key;  // a member name, or empty for an index
  std::uint64_t index;
  std::int64_t task = -1;  // at the chain's start
  const Where& start() const { return parent ? parent->start() : *this; }
  // The steps from the chain's start: ".next[3]".
  std::string steps() const {
    if (parent == nullptr) return "";
    const std::string s = parent->steps();
    return key.empty() ? absl::StrCat(s, "[", index, "]")
                       : absl::StrCat(s, ".", schema_internal::Av(key));
  }
};

// One scalar of a sort key: keys compare as tuples of these.
using Scalar = std::variant<std::int64_t, std::uint64_t, double, std::string>;

// A map's or set's entry: its key (a JSON value, or an object member name)
// and its value (null for sets).
struct Entry {
  const Json* key;
  const std::string* name;
  const Json* value;
};

inline std::optional<std::string> StringOf(const Json& j) {
  if (j.is_string()) return j.get_ref<const std::string&>();
  if (j.is_binary()) {  // from a document built in memory (Python's bytes)
    const auto& b = j.get_binary();
    return std::string(b.begin(), b.end());
  }
  if (j.is_object() && j.size() == 1 && j.contains("$base64")) {
    const Json& b = j["$base64"];
    std::string out;
    if (b.is_string() &&
        absl::Base64Unescape(b.get_ref<const std::string&>(), &out)) {
      return out;
    }
  }
  return std::nullopt;
}

inline std::optional<std::int64_t> SignedOf(const Json& j) {
  if (j.is_number_unsigned()) {
    const auto u = j.get<std::uint64_t>();
    if (u >
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(u);
  }
  if (j.is_number_integer()) return j.get<std::int64_t>();
  return std::nullopt;
}

}  // namespace schema_internal

using schema_internal::Entry;
using schema_internal::Scalar;
using schema_internal::SignedOf;
using schema_internal::StringOf;
using schema_internal::Where;

class JsonGraphBuilder {
 public:
  JsonGraphBuilder(const Nodes& nodes, JsonGraph* g,
                   absl::Span<const std::string_view> blocks = {})
      : n_(nodes), g_(g), blocks_(blocks) {}

  absl::Status Build(const Json& doc);

 private:
  struct Task {
    int node = 0;
    const Json* json = nullptr;
    std::uint64_t off = 0;
    std::int64_t parent = -1;  // the task that queued it
    std::string steps;         // from where that task started
    bool value_array = false, value_object = false;
  };
  struct Id {
    std::uint64_t off;
    int node;
    bool defined;
  };

  // The full path of w: "$" and the steps of every task down to it. Only
  // errors pay for it.
  std::string Path(const Where& w) const {
    std::string out = w.steps();
    for (std::int64_t t = w.start().task; t >= 0; t = tasks_[t].parent) {
      out = tasks_[t].steps + out;
    }
    return "$" + out;
  }
  Task Queue(int node, const Json* j, std::uint64_t off, const Where& w) const {
    Task t;
    t.node = node;
    t.json = j;
    t.off = off;
    t.parent = w.start().task;
    t.steps = w.steps();
    return t;
  }

  absl::Status Bad(const Where& w, std::string_view what, const Json& j) const {
    std::string shown =
        j.is_binary()
            ? absl::StrCat("a block of ", j.get_binary().size(), " bytes")
            : j.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
    if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
    return absl::InvalidArgumentError(absl::StrCat(
        Path(w), ": expected ", schema_internal::Av(what), ", found ", shown));
  }

  absl::Status Put(int node, const Json& j, std::uint64_t off, const Where& w);
  // Put's cases: numbers, null and strings; structs; optionals; variants.
  absl::Status PutScalar(const Node& n, const Json& j, std::uint64_t off,
                         const Where& w);
  absl::Status PutStruct(const Node& n, const Json& j, std::uint64_t off,
                         const Where& w);
  absl::Status PutOptional(const Node& n, const Json& j, std::uint64_t off,
                           const Where& w);
  absl::Status PutVariant(const Node& n, const Json& j, std::uint64_t off,
                          const Where& w);

  absl::Status PutBlock(int elem, const Json& j, std::uint64_t off,
                        const Where& w);
  absl::Status PutArray(int elem, const Json& j, std::uint64_t off,
                        const Where& w);

  absl::Status PutPtr(int e, const Json& j, std::uint64_t off, const Where& w);

  // A Value (node `value`: a variant of the JSON kinds, kValueIndexAt).
  absl::Status PutValue(int value, const Json& j, std::uint64_t off,
                        const Where& w);
  absl::Status ValueArray(int value, const Json& j, std::uint64_t off,
                          const Where& w);
  // Members in key order, as FrozenValue::Object keeps them: the order the
  // parsed object (a std::map of std::string) iterates in.
  absl::Status ValueObject(int value, const Json& j, std::uint64_t off,
                           const Where& w);
  // The key as a tuple of scalars, for ordering; false when its order is
  // not known here (or it is malformed: Put then says how).
  bool SortKey(int node, const Json* j, const std::string* name,
               std::vector<Scalar>* out) const;
  // StableHash of the key, as the heap key hashes (hash.h); nullopt when
  // the key's type cannot key a hash container.
  std::optional<std::uint64_t> HashKey(int node, const Json* j,
                                       const std::string* name) const;
  absl::Status PutKeyed(int node, const Json& j, std::uint64_t off,
                        const Where& w);

  const Nodes& n_;
  JsonGraph* g_;
  absl::Span<const std::string_view> blocks_;  // what kBlockRef values name
  std::vector<Task> tasks_;
  absl::flat_hash_map<std::int64_t, Id> ids_;
};

}  // namespace ancient

#endif  // ANCIENT_SCHEMA_JSON_BUILDER_H_
