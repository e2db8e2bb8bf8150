// The Python module's views: frozen graphs read in place through each
// root's recorded schema, without their C++ type and without copying.
//
// A view is (graph, node, offset): the graph holds the snapshot that keeps
// the bytes mapped (and so its version) and the compiled schema; the
// store's state says whether the store was closed. Scalars become Python
// ints, floats, strs; composites become Struct, Sequence and Mapping views
// (registered as collections.abc Sequence and Mapping in __init__.py).

#ifndef ANCIENT_PYTHON_SRC_VIEWS_H_
#define ANCIENT_PYTHON_SRC_VIEWS_H_

#include <pybind11/pybind11.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>

#include "ancient/schema/nodes.h"
#include "store/store.h"

namespace ancient_python {

namespace py = pybind11;
using ancient::schema_internal::Node;
using ancient::schema_internal::Nodes;
using ancient::schema_internal::Op;
using ancient::schema_internal::View;

// What a Store (or Replica) object shares with every view made from it.
struct StoreState {
  std::atomic<bool> closed{false};
  bool strings_as_bytes = false;
  std::mutex mu;
  // Compiled schemas by type id, and the roots checked already (offset,
  // size, checksum, type id): each is checked once per process.
  std::map<std::uint64_t, std::shared_ptr<const Nodes>> types;
  std::set<
      std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::uint64_t>>
      verified;
};

// One root's graph as a snapshot holds it.
struct Graph {
  std::shared_ptr<StoreState> state;
  std::shared_ptr<const ancient::Snapshot> snapshot;  // keeps bytes mapped
  std::shared_ptr<const Nodes> nodes;
  View view;
  std::string key;
  void CheckOpen() const;  // ValueError once the store is closed
};

// A part of a graph.
struct Ref {
  std::shared_ptr<const Graph> g;
  int node = 0;
  std::uint64_t off = 0;
  const Node& n() const { return (*g->nodes)[node]; }
};

// A struct: fields as attributes.
struct StructView {
  Ref r;
};

// A vector, array, set, hash_set, pair, tuple, or a Value's array: `count`
// elements of node `elem` (-1: pair/tuple, parts by the node's offsets)
// every `stride` bytes from `base`, or for Values of node `value`.
struct SequenceView {
  std::shared_ptr<const Graph> g;
  int parent = 0;  // the container's node
  int elem = -1;
  std::uint64_t base = 0, count = 0, stride = 0;
  bool value = false;  // elements are Values of node `elem`
  std::uint64_t start = 0;
  std::int64_t step = 1;  // a slice: elements start, start+step, ...
};

// A map, hash_map, or a Value's object: `count` entries of node `entry` (a
// pair: key at 0, value at offsets[1]) every `stride` bytes from `base`.
struct MappingView {
  std::shared_ptr<const Graph> g;
  int parent = 0;
  int entry = 0;
  std::uint64_t base = 0, count = 0, stride = 0;
  bool value = false;  // a Value object (keys: strings, sorted)
  // hash maps: the bucket starts and mask.
  bool hashed = false;
  std::uint64_t starts = 0, mask = 0;
};

// The Python object for node `node` at `off` of graph `g`: a scalar, None,
// or a view.
py::object Wrap(const std::shared_ptr<const Graph>& g, int node,
                std::uint64_t off);
inline py::object Wrap(const Ref& r) { return Wrap(r.g, r.node, r.off); }
// A Value (node `value`) at `off`.
py::object WrapValue(const std::shared_ptr<const Graph>& g, int value,
                     std::uint64_t off);
// Registers the view classes in `m`.
void DefineViews(py::module_& m);
// A plain Python copy (dicts, lists, tuples, ...) of any object this module
// returns, shared objects copied once, cycles kept, without recursion.
py::object ToPython(py::handle obj);

}  // namespace ancient_python

#endif  // ANCIENT_PYTHON_SRC_VIEWS_H_
