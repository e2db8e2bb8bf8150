// The view classes: Struct, Sequence, Mapping (see views.h).

#include "python/views.h"

#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "ancient/hash.h"

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

namespace {

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
int Compare(const View& v, const Node& k, std::uint64_t off, const Probe& p) {
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

std::uint64_t Hash(const Node& k, const Probe& p) {
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

// The offset of the entry whose key is `key`, or nullopt.
std::optional<std::uint64_t> Find(const MappingView& m, py::handle key) {
  m.g->CheckOpen();
  const Nodes& nodes = *m.g->nodes;
  const Node& e = nodes[m.entry];
  const Node& k = nodes[e.args[0]];
  Probe p;
  if (!MakeProbe(k, key, &p)) return std::nullopt;
  const View& v = m.g->view;
  if (m.hashed) {
    const std::uint64_t b = Hash(k, p) & m.mask;
    const auto from = v.Load<std::uint64_t>(m.starts + 8 * b);
    const auto to = v.Load<std::uint64_t>(m.starts + 8 * b + 8);
    for (std::uint64_t i = from; i < to && i < m.count; ++i) {
      if (Compare(v, k, m.base + i * m.stride, p) == 0) {
        return m.base + i * m.stride;
      }
    }
    return std::nullopt;
  }
  std::uint64_t lo = 0, hi = m.count;
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo) / 2;
    const int c = Compare(v, k, m.base + mid * m.stride, p);
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

struct SequenceIter {
  SequenceView s;
  std::uint64_t i;
};

// The sequence iterator as a plain CPython type: tp_iternext costs no
// pybind11 dispatch (which is most of an element's time otherwise).
struct SeqIterObject {
  PyObject_HEAD SequenceView* s;
  std::uint64_t i;
};

PyObject* SeqIterNext(PyObject* self) {
  auto* it = reinterpret_cast<SeqIterObject*>(self);
  if (it->i >= it->s->count) return nullptr;  // StopIteration
  try {
    return Item(*it->s, it->i++).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
  }
  return nullptr;
}

void SeqIterDealloc(PyObject* self) {
  auto* it = reinterpret_cast<SeqIterObject*>(self);
  delete it->s;
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyTypeObject* SeqIterType() {
  static PyTypeObject* type = [] {
    static PyType_Slot slots[] = {
        {Py_tp_iter, reinterpret_cast<void*>(PyObject_SelfIter)},
        {Py_tp_iternext, reinterpret_cast<void*>(SeqIterNext)},
        {Py_tp_dealloc, reinterpret_cast<void*>(SeqIterDealloc)},
        {0, nullptr}};
    static PyType_Spec spec = {"ancient._SequenceIterator",
                               sizeof(SeqIterObject), 0, Py_TPFLAGS_DEFAULT,
                               slots};
    return reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&spec));
  }();
  return type;
}

py::object IterateSequence(const SequenceView& s) {
  PyTypeObject* type = SeqIterType();
  auto* it = PyObject_New(SeqIterObject, type);
  if (it == nullptr) throw py::error_already_set();
  it->s = new SequenceView(s);
  it->i = 0;
  return py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(it));
}
struct MappingIter {
  MappingView m;
  std::uint64_t i;
  int mode;  // 0 keys, 1 values, 2 items
};

// The buffer format of a number node, or "" when it has none.
std::string Format(const Node& n) {
  switch (n.op) {
    case Op::kBool:
      return "?";
    case Op::kChar:
      return "c";
    case Op::kSigned:
      return n.size == 1 ? "b" : n.size == 2 ? "h" : n.size == 4 ? "i" : "q";
    case Op::kUnsigned:
      return n.size == 1 ? "B" : n.size == 2 ? "H" : n.size == 4 ? "I" : "Q";
    case Op::kFloat:
      return n.size == 4 ? "f" : "d";
    default:
      return "";
  }
}

// tp_getattro of Struct: fields first, without the failed generic lookup
// (and the AttributeError it makes) that __getattr__ would follow.
PyObject* StructGetAttr(PyObject* self, PyObject* name) {
  Py_ssize_t len = 0;
  const char* c = PyUnicode_AsUTF8AndSize(name, &len);
  if (c == nullptr) return nullptr;
  const std::string_view want(c, static_cast<std::size_t>(len));
  const StructView* s = nullptr;
  try {
    s = &py::handle(self).cast<const StructView&>();
    if (want.substr(0, 2) != "__") {
      const Node& n = s->r.n();
      for (std::size_t i = 0; i < n.names.size(); ++i) {
        if (n.names[i] == want) {
          s->r.g->CheckOpen();
          return Wrap(s->r.g, n.args[i], s->r.off + n.offsets[i])
              .release()
              .ptr();
        }
      }
    }
  } catch (py::error_already_set& e) {
    e.restore();
    return nullptr;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
    return nullptr;
  }
  PyObject* r = PyObject_GenericGetAttr(self, name);
  if (r == nullptr && PyErr_ExceptionMatches(PyExc_AttributeError)) {
    PyErr_Clear();
    PyErr_Format(PyExc_AttributeError, "struct %s has no field '%U'",
                 s->r.n().expression.c_str(), name);
  }
  return r;
}

// bf_getbuffer of Sequence: numbers only, read-only, zero-copy.
int GetBuffer(PyObject* obj, Py_buffer* view, int flags) {
  const SequenceView* s = nullptr;
  try {
    s = &py::handle(obj).cast<const SequenceView&>();
    s->g->CheckOpen();
  } catch (py::error_already_set& e) {
    e.restore();
    return -1;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_ValueError, e.what());
    return -1;
  }
  const Node* e =
      s->elem >= 0 && !s->value ? &(*s->g->nodes)[s->elem] : nullptr;
  static const std::string kFormats[] = {"?", "c", "b", "h", "i", "q",
                                         "B", "H", "I", "Q", "f", "d"};
  const std::string format = e ? Format(*e) : "";
  if (format.empty()) {
    PyErr_SetString(PyExc_TypeError,
                    "ancient.Sequence: only sequences of numbers have a "
                    "buffer");
    return -1;
  }
  if ((flags & PyBUF_WRITABLE) != 0) {
    PyErr_SetString(PyExc_BufferError, "ancient.Sequence is read-only");
    return -1;
  }
  const char* fmt = nullptr;
  for (const std::string& f : kFormats) {
    if (f == format) fmt = f.c_str();
  }
  auto* dims = new Py_ssize_t[2];
  dims[0] = static_cast<Py_ssize_t>(s->count);
  dims[1] =
      static_cast<Py_ssize_t>(s->step * static_cast<std::int64_t>(s->stride));
  view->buf = const_cast<char*>(
      s->count == 0 ? s->g->view.at(0)
                    : s->g->view.at(s->base + s->start * s->stride));
  view->obj = obj;
  Py_INCREF(obj);
  view->itemsize = static_cast<Py_ssize_t>(e->size);
  view->len = dims[0] * view->itemsize;
  view->readonly = 1;
  view->ndim = 1;
  view->format = (flags & PyBUF_FORMAT) ? const_cast<char*>(fmt) : nullptr;
  view->shape = (flags & PyBUF_ND) == PyBUF_ND ? &dims[0] : nullptr;
  view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? &dims[1] : nullptr;
  view->suboffsets = nullptr;
  view->internal = dims;
  if (view->strides == nullptr && dims[1] != view->itemsize && dims[0] > 1) {
    delete[] dims;
    Py_DECREF(obj);
    view->obj = nullptr;
    PyErr_SetString(PyExc_BufferError,
                    "ancient.Sequence: a strided slice needs PyBUF_STRIDES");
    return -1;
  }
  return 0;
}

void ReleaseBuffer(PyObject*, Py_buffer* view) {
  delete[] static_cast<Py_ssize_t*>(view->internal);
}

// repr of a part inside another's repr: composites as a summary, so that
// repr never recurses on the data (deep chains, cycles).
std::string Short(py::handle x) {
  if (py::isinstance<StructView>(x)) {
    return x.cast<const StructView&>().r.n().expression + "(...)";
  }
  if (py::isinstance<SequenceView>(x)) {
    return "<ancient.Sequence of " +
           std::to_string(x.cast<const SequenceView&>().count) + ">";
  }
  if (py::isinstance<MappingView>(x)) {
    return "<ancient.Mapping of " +
           std::to_string(x.cast<const MappingView&>().count) + ">";
  }
  return py::repr(x);
}

}  // namespace

void DefineViews(py::module_& m) {
  py::class_<StructView>(m, "Struct")
      .def_property_readonly("_fields",
                             [](const StructView& s) {
                               return py::tuple(py::cast(s.r.n().names));
                             })
      .def("__dir__", [](const StructView& s) { return s.r.n().names; })
      .def("to_python", [](py::handle self) { return ToPython(self); })
      .def("__eq__",
           [](py::handle self, py::handle other) {
             return ToPython(self).equal(ToPython(other));
           })
      .def("__repr__", [](const StructView& s) {
        s.r.g->CheckOpen();
        const Node& n = s.r.n();
        std::string out = n.expression + "(";
        for (std::size_t i = 0; i < n.names.size(); ++i) {
          if (i != 0) out += ", ";
          out += n.names[i] + "=" +
                 Short(Wrap(s.r.g, n.args[i], s.r.off + n.offsets[i]));
        }
        return out + ")";
      });

  py::class_<SequenceView>(m, "Sequence", py::buffer_protocol())
      .def("__len__", [](const SequenceView& s) { return s.count; })
      .def("__getitem__",
           [](const SequenceView& s, std::int64_t i) {
             return Item(s, Index(s.count, i));
           })
      .def("__getitem__",
           [](const SequenceView& s, const py::slice& slice) {
             py::ssize_t start, stop, step, length;
             if (!slice.compute(static_cast<py::ssize_t>(s.count), &start,
                                &stop, &step, &length)) {
               throw py::error_already_set();
             }
             SequenceView out = s;
             out.start = static_cast<std::uint64_t>(
                 static_cast<std::int64_t>(s.start) + start * s.step);
             out.step = s.step * step;
             out.count = static_cast<std::uint64_t>(length);
             return out;
           })
      .def("__iter__", [](const SequenceView& s) { return IterateSequence(s); })
      .def("to_python", [](py::handle self) { return ToPython(self); })
      .def("__eq__",
           [](const SequenceView& s, py::handle other) {
             if (!py::isinstance<py::sequence>(other) ||
                 py::isinstance<py::str>(other) ||
                 static_cast<std::uint64_t>(py::len(other)) != s.count) {
               return false;
             }
             for (std::uint64_t i = 0; i < s.count; ++i) {
               if (!Item(s, i).equal(other[py::int_(i)])) return false;
             }
             return true;
           })
      .def("__repr__", [](const SequenceView& s) {
        std::string out = "ancient.Sequence([";
        for (std::uint64_t i = 0; i < std::min<std::uint64_t>(s.count, 20);
             ++i) {
          out += (i ? ", " : "") + Short(Item(s, i));
        }
        return out + (s.count > 20 ? ", ...])" : "])");
      });
  auto* struct_type = reinterpret_cast<PyTypeObject*>(m.attr("Struct").ptr());
  struct_type->tp_getattro = StructGetAttr;
  PyType_Modified(struct_type);
  // The buffer protocol by hand: pybind11's def_buffer cannot refuse
  // (an exception there ends the process).
  auto* type = reinterpret_cast<PyTypeObject*>(m.attr("Sequence").ptr());
  type->tp_as_buffer->bf_getbuffer = GetBuffer;
  type->tp_as_buffer->bf_releasebuffer = ReleaseBuffer;
  PyType_Modified(type);

  py::class_<SequenceIter>(m, "_SequenceIterator")
      .def("__iter__", [](py::handle self) { return self; })
      .def("__next__", [](SequenceIter& it) {
        if (it.i >= it.s.count) throw py::stop_iteration();
        return Item(it.s, it.i++);
      });
  py::class_<MappingIter>(m, "_MappingIterator")
      .def("__iter__", [](py::handle self) { return self; })
      .def("__next__", [](MappingIter& it) -> py::object {
        if (it.i >= it.m.count) throw py::stop_iteration();
        const std::uint64_t i = it.i++;
        if (it.mode == 0) return EntryKey(it.m, i);
        py::object v = EntryValue(it.m, it.m.base + i * it.m.stride);
        if (it.mode == 1) return v;
        return py::make_tuple(EntryKey(it.m, i), v);
      });

  py::class_<MappingView>(m, "Mapping")
      .def("__iter__",
           [](const MappingView& m) {
             return MappingIter{m, 0, 0};
           })
      .def("_iter",
           [](const MappingView& m, int mode) {
             return MappingIter{m, 0, mode};
           })
      .def("__len__", [](const MappingView& m) { return m.count; })
      .def("__getitem__",
           [](const MappingView& m, py::handle key) {
             std::optional<std::uint64_t> at = Find(m, key);
             if (!at) throw py::key_error(std::string(py::repr(key)));
             return EntryValue(m, *at);
           })
      .def("__contains__",
           [](const MappingView& m, py::handle key) {
             return Find(m, key).has_value();
           })
      .def(
          "get",
          [](const MappingView& m, py::handle key, py::object dflt) {
            std::optional<std::uint64_t> at = Find(m, key);
            return at ? EntryValue(m, *at) : dflt;
          },
          py::arg("key"), py::arg("default") = py::none())
      .def("_key_at",
           [](const MappingView& m, std::uint64_t i) {
             if (i >= m.count) throw py::index_error("no such entry");
             return EntryKey(m, i);
           })
      .def("_value_at",
           [](const MappingView& m, std::uint64_t i) {
             if (i >= m.count) throw py::index_error("no such entry");
             m.g->CheckOpen();
             return EntryValue(m, m.base + i * m.stride);
           })
      .def("to_python", [](py::handle self) { return ToPython(self); })
      .def("__repr__", [](const MappingView& m) {
        std::string out = "ancient.Mapping({";
        for (std::uint64_t i = 0; i < std::min<std::uint64_t>(m.count, 20);
             ++i) {
          out += (i ? ", " : "") + Short(EntryKey(m, i)) + ": " +
                 Short(EntryValue(m, m.base + i * m.stride));
        }
        return out + (m.count > 20 ? ", ...})" : "})");
      });
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
