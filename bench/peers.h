// The peers, built on the same data: Boost.Interprocess containers in a
// managed_mapped_file, cereal (binary) and FlatBuffers and Cap'n Proto
// messages.

#ifndef ANCIENT_BENCH_PEERS_H_
#define ANCIENT_BENCH_PEERS_H_

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <flatbuffers/flatbuffers.h>

#include <boost/container/map.hpp>
#include <boost/interprocess/allocators/allocator.hpp>
#include <boost/interprocess/containers/string.hpp>
#include <boost/interprocess/containers/vector.hpp>
#include <boost/interprocess/managed_mapped_file.hpp>
#include <boost/interprocess/offset_ptr.hpp>
#include <cereal/archives/binary.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_data.h"
#include "bench/peers.capnp.h"
#include "bench/peers_generated.h"

namespace ancient_bench {

// ---------------------------------------------------------------- Boost

namespace bip = boost::interprocess;
using Segment = bip::managed_mapped_file;
using SegmentManager = Segment::segment_manager;
template <class T>
using BAlloc = bip::allocator<T, SegmentManager>;
using BString = bip::basic_string<char, std::char_traits<char>, BAlloc<char>>;
using BWords = bip::vector<BString, BAlloc<BString>>;

struct BLess {
  using is_transparent = void;
  static std::string_view V(const BString& s) { return {s.data(), s.size()}; }
  static std::string_view V(std::string_view s) { return s; }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return V(a) < V(b);
  }
};
using BMap =
    boost::container::map<BString, std::int64_t, BLess,
                          BAlloc<std::pair<const BString, std::int64_t>>>;

struct BNode {
  using Edges =
      bip::vector<bip::offset_ptr<BNode>, BAlloc<bip::offset_ptr<BNode>>>;
  BNode(std::int64_t i, const BAlloc<bip::offset_ptr<BNode>>& a)
      : id(i), edges(a) {}
  std::int64_t id;
  Edges edges;
};
using BGraph = bip::vector<BNode, BAlloc<BNode>>;

inline std::size_t BoostFileSize(std::size_t payload) {
  return payload * 4 + (std::size_t{64} << 20);
}

inline BWords* BuildBoostWords(Segment& seg,
                               const std::vector<std::string>& w) {
  auto* v = seg.construct<BWords>("words")(seg.get_segment_manager());
  v->reserve(w.size());
  BAlloc<char> a(seg.get_segment_manager());
  for (const auto& s : w) v->emplace_back(s.data(), s.size(), a);
  return v;
}

inline BMap* BuildBoostMap(Segment& seg,
                           const std::map<std::string, std::int64_t>& m) {
  auto* out = seg.construct<BMap>("map")(BLess(), seg.get_segment_manager());
  BAlloc<char> a(seg.get_segment_manager());
  for (const auto& [k, v] : m)
    out->emplace_hint(out->end(), BString(k.data(), k.size(), a), v);
  return out;
}

inline BGraph* BuildBoostGraph(Segment& seg, const Graph& g) {
  auto* out = seg.construct<BGraph>("graph")(seg.get_segment_manager());
  out->reserve(g.nodes.size());
  BAlloc<bip::offset_ptr<BNode>> a(seg.get_segment_manager());
  for (const auto& n : g.nodes) out->emplace_back(n->id, a);
  for (std::size_t i = 0; i < g.nodes.size(); ++i) {
    auto& edges = (*out)[i].edges;
    edges.reserve(g.nodes[i]->edges.size());
    for (const GraphNode* e : g.nodes[i]->edges) {
      edges.push_back(&(*out)[static_cast<std::size_t>(e->id)]);
    }
  }
  return out;
}

// --------------------------------------------------------------- cereal

struct CerealGraph {
  std::vector<std::int64_t> ids;
  std::vector<std::vector<std::uint32_t>> edges;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(ids, edges);
  }
};

inline CerealGraph ToCerealGraph(const Graph& g) {
  CerealGraph c;
  for (const auto& n : g.nodes) {
    c.ids.push_back(n->id);
    std::vector<std::uint32_t> e;
    for (const GraphNode* x : n->edges)
      e.push_back(static_cast<std::uint32_t>(x->id));
    c.edges.push_back(std::move(e));
  }
  return c;
}

template <class T>
std::string CerealBytes(const T& value) {
  std::ostringstream os;
  {
    cereal::BinaryOutputArchive ar(os);
    ar(value);
  }
  return std::move(os).str();
}

template <class T>
T CerealLoad(std::string_view bytes) {
  std::istringstream is{std::string(bytes)};
  cereal::BinaryInputArchive ar(is);
  T value;
  ar(value);
  return value;
}

// ---------------------------------------------------------- FlatBuffers

namespace fb = ancient_bench::fb;

inline void BuildFbWords(flatbuffers::FlatBufferBuilder& b,
                         const std::vector<std::string>& w) {
  auto v = b.CreateVectorOfStrings(w);
  b.Finish(fb::CreateWords(b, v));
}

inline void BuildFbDict(flatbuffers::FlatBufferBuilder& b,
                        const std::map<std::string, std::int64_t>& m) {
  std::vector<flatbuffers::Offset<fb::Entry>> entries;
  entries.reserve(m.size());
  for (const auto& [k, v] : m) {
    entries.push_back(fb::CreateEntry(b, b.CreateString(k), v));
  }
  b.Finish(fb::CreateDict(b, b.CreateVectorOfSortedTables(&entries)));
}

inline void BuildFbGraph(flatbuffers::FlatBufferBuilder& b, const Graph& g) {
  std::vector<flatbuffers::Offset<fb::Node>> nodes;
  nodes.reserve(g.nodes.size());
  std::vector<std::uint32_t> e;
  for (const auto& n : g.nodes) {
    e.clear();
    for (const GraphNode* x : n->edges)
      e.push_back(static_cast<std::uint32_t>(x->id));
    nodes.push_back(fb::CreateNode(b, n->id, b.CreateVector(e)));
  }
  b.Finish(fb::CreateGraph(b, b.CreateVector(nodes)));
}

// ---------------------------------------------------------- Cap'n Proto

namespace cp = ancient_bench::cp;

inline kj::Array<capnp::word> CapnpWords(const std::vector<std::string>& w) {
  capnp::MallocMessageBuilder m;
  auto list =
      m.initRoot<cp::Words>().initWords(static_cast<unsigned>(w.size()));
  for (unsigned i = 0; i < w.size(); ++i) list.set(i, w[i]);
  return capnp::messageToFlatArray(m);
}

inline kj::Array<capnp::word> CapnpDict(
    const std::map<std::string, std::int64_t>& d) {
  capnp::MallocMessageBuilder m;
  auto list =
      m.initRoot<cp::Dict>().initEntries(static_cast<unsigned>(d.size()));
  unsigned i = 0;
  for (const auto& [k, v] : d) {
    list[i].setKey(k);
    list[i].setValue(v);
    ++i;
  }
  return capnp::messageToFlatArray(m);
}

inline kj::Array<capnp::word> CapnpGraph(const Graph& g) {
  capnp::MallocMessageBuilder m;
  auto list =
      m.initRoot<cp::Graph>().initNodes(static_cast<unsigned>(g.nodes.size()));
  for (unsigned i = 0; i < g.nodes.size(); ++i) {
    list[i].setId(g.nodes[i]->id);
    auto e = list[i].initEdges(static_cast<unsigned>(g.nodes[i]->edges.size()));
    for (unsigned j = 0; j < e.size(); ++j) {
      e.set(j, static_cast<std::uint32_t>(g.nodes[i]->edges[j]->id));
    }
  }
  return capnp::messageToFlatArray(m);
}

inline capnp::ReaderOptions BigReader() {
  capnp::ReaderOptions o;
  o.traversalLimitInWords = ~std::uint64_t{0} >> 4;
  return o;
}

}  // namespace ancient_bench

#endif  // ANCIENT_BENCH_PEERS_H_
