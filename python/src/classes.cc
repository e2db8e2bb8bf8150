// The view classes Struct, Sequence and Mapping, registered in the module
// (DefineViews): their Python methods, Struct's attribute slot, reprs.

#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <string>

#include "python/src/view_ops.h"

namespace ancient_python {
namespace {

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

void DefineStruct(py::module_& m) {
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
  auto* struct_type = reinterpret_cast<PyTypeObject*>(m.attr("Struct").ptr());
  struct_type->tp_getattro = StructGetAttr;
  PyType_Modified(struct_type);
}

void DefineSequence(py::module_& m) {
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
  InstallBufferProtocol(
      reinterpret_cast<PyTypeObject*>(m.attr("Sequence").ptr()));
}

void DefineMapping(py::module_& m) {
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

}  // namespace

void DefineViews(py::module_& m) {
  DefineStruct(m);
  DefineSequence(m);
  DefineIterators(m);
  DefineMapping(m);
}

}  // namespace ancient_python
