// Reading views: a sequence's elements by index, a mapping's entries by
// key (the key converted to the map's key type, then found by the map's own
// order or hash) and by position.

#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ancient/hash.h"
#include "python/src/view_ops.h"

namespace ancient_python {

// Element i (after slicing) of a sequence.
py::object Item(const SequenceView& s, std::uint64_t i) {
  s.g->CheckOpen();
  const std::uint64_t at =
      static_cast<std::uint64_t>(static_cast<std::int64_t>(s.start) +
                                 static_cast<std::int64_t>(i) * s.step);
  if (s.elem < 0) {
    const Node& p = (*s.g->nodes)[s.parent];
    return Wrap(s.g, p.args[at], s.base + p.offsets[at]);
  }
  if (s.value) return WrapValue(s.g, s.elem, s.base + at * s.stride);
  return Wrap(s.g, s.elem, s.base + at * s.stride);
}

std::uint64_t Index(std::uint64_t count, std::int64_t i) {
  if (i < 0) i += static_cast<std::int64_t>(count);
  if (i < 0 || static_cast<std::uint64_t>(i) >= count) {
    throw py::index_error("ancient.Sequence index out of range");
  }
  return static_cast<std::uint64_t>(i);
}

namespace {

// A Python key as the map's key type sees it; nullopt when it cannot be
// one (then it is in no map of that type).
struct Probe {
  std::string bytes;  // strings
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
};

bool MakeProbe(const Node& k, py::handle key, Probe* p) {
  switch (k.op) {
    case Op::kString:
      if (py::isinstance<py::str>(key)) {
        p->bytes = key.cast<std::string>();
        return true;
      }
      if (py::isinstance<py::bytes>(key)) {
        p->bytes = std::string(key.cast<py::bytes>());
        return true;
      }
      return false;
    case Op::kChar:
      if (py::isinstance<py::str>(key) || py::isinstance<py::bytes>(key)) {
        const std::string s = py::isinstance<py::str>(key)
                                  ? key.cast<std::string>()
                                  : std::string(key.cast<py::bytes>());
        if (s.size() != 1) return false;
        p->i = static_cast<signed char>(s[0]);
        return true;
      }
      return false;
    case Op::kBool:
      if (!py::isinstance<py::bool_>(key)) return false;
      p->i = key.cast<bool>();
      return true;
    case Op::kSigned:
    case Op::kUnsigned: {
      if (!py::isinstance<py::int_>(key)) return false;
      const int bits = static_cast<int>(8 * k.size);
      if (k.op == Op::kSigned) {
        const py::int_ lo(-(py::int_(1) << py::int_(bits - 1)));
        const py::int_ hi((py::int_(1) << py::int_(bits - 1)));
        if (key < lo || !(key < hi)) return false;
        p->i = key.cast<std::int64_t>();
      } else {
        const py::int_ hi(py::int_(1) << py::int_(bits));
        if (key < py::int_(0) || !(key < hi)) return false;
        p->u = key.cast<std::uint64_t>();
      }
      return true;
    }
    case Op::kFloat:
      if (!py::isinstance<py::float_>(key) && !py::isinstance<py::int_>(key)) {
        return false;
      }
      p->d = key.cast<double>();
      if (k.size == 4) p->d = static_cast<float>(p->d);
      return true;
    default:
      return false;
  }
}

// <0, 0, >0: the key at `off` (node k) against the probe.
int CompareScalar(const View& v, const Node& k, std::uint64_t off,
                  const Probe& p) {
  switch (k.op) {
    case Op::kString: {
      const std::string_view s = v.Bytes(off);
      const int c = std::string_view(s).compare(p.bytes);
      return c < 0 ? -1 : c > 0;
    }
    case Op::kChar: {
      const std::int64_t c = v.Load<signed char>(off);
      return c < p.i ? -1 : c > p.i;
    }
    case Op::kBool: {
      const std::int64_t c = v.Load<std::uint8_t>(off);
      return c < p.i ? -1 : c > p.i;
    }
    case Op::kSigned: {
      const std::int64_t c = v.Signed(off, k.size);
      return c < p.i ? -1 : c > p.i;
    }
    case Op::kUnsigned: {
      const std::uint64_t c = v.Unsigned(off, k.size);
      return c < p.u ? -1 : c > p.u;
    }
    case Op::kFloat: {
      const double c = k.size == 4 ? v.Load<float>(off) : v.Load<double>(off);
      return c < p.d ? -1 : c > p.d;
    }
    default:
      return 1;
  }
}

std::uint64_t HashScalar(const Node& k, const Probe& p) {
  switch (k.op) {
    case Op::kString:
      return ancient::StableHash(std::string_view(p.bytes));
    case Op::kUnsigned:
      return ancient::internal::Mix64(p.u);
    case Op::kFloat:
      return ancient::StableHash(p.d);
    default:
      return ancient::internal::Mix64(static_cast<std::uint64_t>(p.i));
  }
}

// A key of pairs, tuples and structs (of those or scalars) probed part by
// part: a Python tuple (or list) of the parts, in order; a struct's also an
// object or dict with its field names.
struct Key {
  Probe p;
  std::vector<Key> parts;
};

bool IsComposite(const Node& k) {
  return k.op == Op::kPair || k.op == Op::kTuple || k.op == Op::kStruct;
}

bool MakeKey(const Nodes& nodes, int node, py::handle key, Key* out) {
  const Node& k = nodes[node];
  if (!IsComposite(k)) return MakeProbe(k, key, &out->p);
  const bool seq = PyTuple_Check(key.ptr()) || PyList_Check(key.ptr());
  if (seq && py::len(key) != k.args.size()) return false;
  if (!seq && k.op != Op::kStruct) return false;
  out->parts.resize(k.args.size());
  for (std::size_t i = 0; i < k.args.size(); ++i) {
    py::object part;
    if (seq) {
      part = py::reinterpret_borrow<py::sequence>(key)[i];
    } else if (PyDict_Check(key.ptr())) {
      PyObject* x = PyDict_GetItemString(key.ptr(), k.names[i].c_str());
      if (x == nullptr) return false;
      part = py::reinterpret_borrow<py::object>(x);
    } else if (PyObject_HasAttrString(key.ptr(), k.names[i].c_str()) == 1) {
      part = key.attr(k.names[i].c_str());
    } else {
      return false;
    }
    if (!MakeKey(nodes, k.args[i], part, &out->parts[i])) return false;
  }
  return true;
}

int Compare(const View& v, const Nodes& nodes, int node, std::uint64_t off,
            const Key& key) {
  const Node& k = nodes[node];
  if (!IsComposite(k)) return CompareScalar(v, k, off, key.p);
  for (std::size_t i = 0; i < k.args.size(); ++i) {
    const int c =
        Compare(v, nodes, k.args[i], off + k.offsets[i], key.parts[i]);
    if (c != 0) return c;
  }
  return 0;
}

// As ancient/hash.h hashes the key (pairs and tuples: each part combined
// in order).
std::uint64_t Hash(const Nodes& nodes, int node, const Key& key) {
  const Node& k = nodes[node];
  if (!IsComposite(k)) return HashScalar(k, key.p);
  std::uint64_t acc = ancient::internal::kHashSeed;
  for (std::size_t i = 0; i < k.args.size(); ++i) {
    acc = ancient::internal::Combine(acc, Hash(nodes, k.args[i], key.parts[i]));
  }
  return acc;
}

}  // namespace

// The offset of the entry whose key is `key`, or nullopt.
std::optional<std::uint64_t> Find(const MappingView& m, py::handle key) {
  m.g->CheckOpen();
  const Nodes& nodes = *m.g->nodes;
  const Node& e = nodes[m.entry];
  const int kn = e.args[0];
  Key p;
  if (!MakeKey(nodes, kn, key, &p)) return std::nullopt;
  const View& v = m.g->view;
  if (nodes[kn].op == Op::kStruct) {
    // A struct's order and hash are its program's own: every entry.
    for (std::uint64_t i = 0; i < m.count; ++i) {
      if (Compare(v, nodes, kn, m.base + i * m.stride, p) == 0) {
        return m.base + i * m.stride;
      }
    }
    return std::nullopt;
  }
  if (m.hashed) {
    const std::uint64_t b = Hash(nodes, kn, p) & m.mask;
    const auto from = v.Load<std::uint64_t>(m.starts + 8 * b);
    const auto to = v.Load<std::uint64_t>(m.starts + 8 * b + 8);
    for (std::uint64_t i = from; i < to && i < m.count; ++i) {
      if (Compare(v, nodes, kn, m.base + i * m.stride, p) == 0) {
        return m.base + i * m.stride;
      }
    }
    return std::nullopt;
  }
  std::uint64_t lo = 0, hi = m.count;
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    const int c = Compare(v, nodes, kn, m.base + mid * m.stride, p);
    if (c == 0) return m.base + mid * m.stride;
    if (c < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return std::nullopt;
}

py::object EntryValue(const MappingView& m, std::uint64_t at) {
  const Node& e = (*m.g->nodes)[m.entry];
  if (m.value) return WrapValue(m.g, e.args[1], at + e.offsets[1]);
  return Wrap(m.g, e.args[1], at + e.offsets[1]);
}

py::object EntryKey(const MappingView& m, std::uint64_t i) {
  m.g->CheckOpen();
  const Node& e = (*m.g->nodes)[m.entry];
  return Wrap(m.g, e.args[0], m.base + i * m.stride);
}

}  // namespace ancient_python
