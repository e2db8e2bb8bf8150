// VerifyGraph by schema (the checker is in check.h).

#include "ancient/schema/check.h"

#include "ancient/schema/nodes.h"
#include "ancient/schema/schema_graph.h"

namespace ancient {

using schema_internal::Checker;
using schema_internal::Nodes;
using schema_internal::View;

absl::Status VerifyGraph(const Schema& schema, const GraphBytes& graph) {
  Nodes nodes;
  if (absl::Status s = Nodes::Compile(schema, &nodes); !s.ok()) return s;
  const View view(graph.bytes, graph.size, graph.address);
  Checker checker(nodes, view);
  return checker.Run();
}

}  // namespace ancient
