// Graphs to Python objects: scalars as ints, floats and strs, composites
// as views (Wrap), and views back to plain Python copies (ToPython).

#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "ancient/hash.h"
#include "python/src/view_ops.h"

namespace ancient_python {

using ancient::schema_internal::kValueIndexAt;

void Graph::CheckOpen() const {
  if (state->closed.load(std::memory_order_relaxed)) {
    throw py::value_error("ancient: the store of this view ('" + key +
                          "') was closed");
  }
}

namespace {

py::object Str(const Graph& g, std::string_view s) {
  if (!g.state->strings_as_bytes) {
    PyObject* u = PyUnicode_DecodeUTF8(
        s.data(), static_cast<Py_ssize_t>(s.size()), "strict");
    if (u != nullptr) return py::reinterpret_steal<py::object>(u);
    PyErr_Clear();  // Not UTF-8: the bytes.
  }
  return py::bytes(s.data(), s.size());
}

std::uint64_t Range(const View& v, std::uint64_t p, std::uint64_t n,
                    const Node& e) {
  std::uint64_t off = 0;
  if (n != 0) v.Range(p, n, e.size, e.align, &off);  // checked by Verify
  return off;
}

SequenceView Elements(const Ref& r, int elem, std::uint64_t count_at) {
  const View& v = r.g->view;
  const Node& e = (*r.g->nodes)[elem];
  SequenceView s;
  s.g = r.g;
  s.parent = r.node;
  s.elem = elem;
  s.count = v.Load<std::uint64_t>(r.off + count_at);
  s.base = Range(v, v.Load<std::uint64_t>(r.off), s.count, e);
  s.stride = e.size;
  return s;
}

MappingView Entries(const Ref& r, bool hashed) {
  const View& v = r.g->view;
  const Node& n = r.n();
  const Node& e = (*r.g->nodes)[n.args[0]];
  MappingView m;
  m.g = r.g;
  m.parent = r.node;
  m.entry = n.args[0];
  m.count = v.Load<std::uint64_t>(r.off + (hashed ? 16 : 8));
  m.base = Range(v, v.Load<std::uint64_t>(r.off), m.count, e);
  m.stride = e.size;
  if (hashed) {
    m.hashed = true;
    m.mask = v.Load<std::uint64_t>(r.off + 24);
    v.Range(v.Load<std::uint64_t>(r.off + 8), m.mask + 2, 8, 8, &m.starts);
  }
  return m;
}

}  // namespace

py::object WrapValue(const std::shared_ptr<const Graph>& g, int value,
                     std::uint64_t off) {
  const View& v = g->view;
  switch (v.Load<std::uint32_t>(off + kValueIndexAt)) {
    case 1:
      return py::bool_(v.Load<std::uint8_t>(off) != 0);
    case 2:
      return py::int_(v.Load<std::int64_t>(off));
    case 3:
      return py::float_(v.Load<double>(off));
    case 4:
      return Str(*g, v.Bytes(off));
    case 5: {
      const Node& n = (*g->nodes)[value];
      SequenceView s;
      s.g = g;
      s.parent = value;
      s.elem = value;
      s.value = true;
      s.count = v.Load<std::uint64_t>(off + 8);
      s.base = Range(v, v.Load<std::uint64_t>(off), s.count, n);
      s.stride = n.size;
      return py::cast(std::move(s));
    }
    case 6: {
      const int entry = (*g->nodes)[value].args[1];
      const Node& e = (*g->nodes)[entry];
      MappingView m;
      m.g = g;
      m.parent = value;
      m.entry = entry;
      m.value = true;
      m.count = v.Load<std::uint64_t>(off + 8);
      m.base = Range(v, v.Load<std::uint64_t>(off), m.count, e);
      m.stride = e.size;
      return py::cast(std::move(m));
    }
    default:
      return py::none();
  }
}

py::object Wrap(const std::shared_ptr<const Graph>& g, int node,
                std::uint64_t off) {
  const View& v = g->view;
  const Node& n = (*g->nodes)[node];
  switch (n.op) {
    case Op::kBool:
      return py::bool_(v.Load<std::uint8_t>(off) != 0);
    case Op::kChar: {
      const char c = v.Load<char>(off);
      if (static_cast<unsigned char>(c) < 0x80) return py::str(&c, 1);
      return py::bytes(&c, 1);
    }
    case Op::kSigned:
      return py::int_(v.Signed(off, n.size));
    case Op::kUnsigned:
      return py::int_(v.Unsigned(off, n.size));
    case Op::kFloat:
      return py::float_(n.size == 4 ? v.Load<float>(off) : v.Load<double>(off));
    case Op::kNone:
      return py::none();
    case Op::kString:
      return Str(*g, v.Bytes(off));
    case Op::kValue:
      return WrapValue(g, node, off);
    case Op::kVector:
      return py::cast(Elements(Ref{g, node, off}, n.args[0], 8));
    case Op::kSet:
      return py::cast(Elements(Ref{g, node, off}, n.args[0], 8));
    case Op::kHashSet:
      return py::cast(Elements(Ref{g, node, off}, n.args[0], 16));
    case Op::kPair:
    case Op::kTuple: {
      SequenceView s;
      s.g = g;
      s.parent = node;
      s.base = off;
      s.count = n.args.size();
      return py::cast(std::move(s));
    }
    case Op::kMap:
      return py::cast(Entries(Ref{g, node, off}, false));
    case Op::kHashMap:
      return py::cast(Entries(Ref{g, node, off}, true));
    case Op::kStruct:
      return py::cast(StructView{Ref{g, node, off}});
    case Op::kOptional:
      if (v.Load<std::uint8_t>(off + (*g->nodes)[n.args[0]].size) == 0) {
        return py::none();
      }
      return Wrap(g, n.args[0], off);
    case Op::kVariant:
      return Wrap(g, n.args[v.Load<std::uint32_t>(off + n.offsets[0])], off);
    case Op::kPtr: {
      const auto p = v.Load<std::uint64_t>(off);
      if (p == 0) return py::none();
      const Node& e = (*g->nodes)[n.args[0]];
      return Wrap(g, n.args[0], Range(v, p, 1, e));
    }
  }
  return py::none();
}

py::object ToPython(py::handle root) {
  // (graph, node, offset, count) of each composite met: shared objects
  // are copied once, cycles come out as cycles.
  std::map<std::tuple<const Graph*, int, std::uint64_t, std::uint64_t>,
           py::object>
      memo;
  std::vector<std::pair<py::object, py::object>> todo;  // (view, shell)
  std::function<py::object(py::handle)> shell =
      [&](py::handle x) -> py::object {
    if (py::isinstance<StructView>(x)) {
      const auto& s = x.cast<const StructView&>();
      auto key = std::make_tuple(s.r.g.get(), s.r.node, s.r.off, 0ull);
      if (auto it = memo.find(key); it != memo.end()) return it->second;
      py::dict d;
      memo.emplace(key, d);
      todo.emplace_back(py::reinterpret_borrow<py::object>(x), d);
      return std::move(d);
    }
    if (py::isinstance<SequenceView>(x)) {
      const auto& s = x.cast<const SequenceView&>();
      if (s.elem < 0) {  // a pair or tuple: inline, built now
        py::tuple t(s.count);
        for (std::uint64_t i = 0; i < s.count; ++i) t[i] = shell(Item(s, i));
        return std::move(t);
      }
      auto key = std::make_tuple(s.g.get(), s.parent,
                                 s.base + s.start * s.stride, s.count);
      if (auto it = memo.find(key); it != memo.end()) return it->second;
      py::list l;
      memo.emplace(key, l);
      todo.emplace_back(py::reinterpret_borrow<py::object>(x), l);
      return std::move(l);
    }
    if (py::isinstance<MappingView>(x)) {
      const auto& m = x.cast<const MappingView&>();
      auto key = std::make_tuple(m.g.get(), m.parent, m.base, m.count);
      if (auto it = memo.find(key); it != memo.end()) return it->second;
      py::dict d;
      memo.emplace(key, d);
      todo.emplace_back(py::reinterpret_borrow<py::object>(x), d);
      return std::move(d);
    }
    return py::reinterpret_borrow<py::object>(x);
  };
  py::object out = shell(root);
  while (!todo.empty()) {
    auto [view, dest] = std::move(todo.back());
    todo.pop_back();
    if (py::isinstance<StructView>(view)) {
      const auto& s = view.cast<const StructView&>();
      const Node& n = s.r.n();
      for (std::size_t i = 0; i < n.names.size(); ++i) {
        dest[py::str(n.names[i])] =
            shell(Wrap(s.r.g, n.args[i], s.r.off + n.offsets[i]));
      }
    } else if (py::isinstance<SequenceView>(view)) {
      const auto& s = view.cast<const SequenceView&>();
      py::list l = dest.cast<py::list>();
      for (std::uint64_t i = 0; i < s.count; ++i) l.append(shell(Item(s, i)));
    } else {
      const auto& m = view.cast<const MappingView&>();
      py::dict d = dest.cast<py::dict>();
      for (std::uint64_t i = 0; i < m.count; ++i) {
        d[shell(EntryKey(m, i))] = shell(EntryValue(m, m.base + i * m.stride));
      }
    }
  }
  return out;
}

}  // namespace ancient_python
