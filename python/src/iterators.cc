// Iterators over views: sequences through a plain CPython type (no
// pybind11 dispatch per element), mappings' keys, values and items.

#include "python/src/view_ops.h"

namespace ancient_python {
namespace {

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

}  // namespace

py::object IterateSequence(const SequenceView& s) {
  PyTypeObject* type = SeqIterType();
  auto* it = PyObject_New(SeqIterObject, type);
  if (it == nullptr) throw py::error_already_set();
  it->s = new SequenceView(s);
  it->i = 0;
  return py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(it));
}

void DefineIterators(py::module_& m) {
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
}

}  // namespace ancient_python
