// Moved: the schema layer's public header is ancient/schema/schema_graph.h.
// This header forwards to it, so that code written before the move still
// compiles.

#ifndef ANCIENT_SCHEMA_GRAPH_H_
#define ANCIENT_SCHEMA_GRAPH_H_

#include "ancient/schema/schema_graph.h"  // IWYU pragma: export

#endif  // ANCIENT_SCHEMA_GRAPH_H_
