// VerifyGraph by schema (the checker is in check.h).

#include "ancient/schema/check.h"

#include <algorithm>
#include <utility>

#include "ancient/schema/nodes.h"
#include "ancient/schema/schema_graph.h"

namespace ancient {

using schema_internal::Checker;
using schema_internal::Nodes;
using schema_internal::View;

namespace schema_internal {

RefCounts::RefCounts(const Nodes& nodes, const View& view)
    : address_(view.address()) {
  if (nodes.size() > kMaxNode) return;
  std::uint64_t grain = 64;
  for (int i = 0; i < nodes.size(); ++i) {
    if (nodes[i].op == Op::kPtr) {
      grain = std::min(grain, nodes[nodes[i].args[0]].align);
    }
  }
  if (grain < 4) return;  // 2 bytes a byte or more: the map
  grain_ = grain;
  slots_ = Index(view.size()) + 1;
  // A map entry costs about 32 bytes; the table, 2 a slot.
  dense_from_ = std::max<std::size_t>(slots_ / 64, 1024);
}

void RefCounts::GoDense() {
  dense_.assign(slots_, 0);
  absl::flat_hash_map<ObjectKey, std::uint32_t> rest;
  for (const auto& [key, count] : map_) {
    std::uint16_t& e = dense_[Index(key.first)];
    if (e == 0 && key.second < kMaxNode) {
      e = static_cast<std::uint16_t>(key.second + 1) | (count >= 2 ? kMany : 0);
    } else {
      rest.emplace(key, count);
    }
  }
  map_ = std::move(rest);
}

}  // namespace schema_internal

absl::Status VerifyGraph(const Schema& schema, const GraphBytes& graph) {
  Nodes nodes;
  if (absl::Status s = Nodes::Compile(schema, &nodes); !s.ok()) return s;
  const View view(graph.bytes, graph.size, graph.address);
  Checker checker(nodes, view);
  return checker.Run();
}

}  // namespace ancient
