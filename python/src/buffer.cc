// The buffer protocol of Sequence views of numbers: read-only, zero-copy
// (numpy.asarray, memoryview), written by hand because pybind11's
// def_buffer cannot refuse a request (an exception there ends the process).

#include <cstring>
#include <string>

#include "python/src/view_ops.h"

namespace ancient_python {
namespace {

// The nodes Format reads struct fields from (set for each call).
thread_local const Nodes* nodes_for_format = nullptr;

// The buffer format of a number node, or of a struct of numbers (Python's
// struct-module syntax, as numpy reads it), or "" when it has none.
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
    case Op::kStruct: {
      // Fields of numbers (or such structs) at their offsets, padding as
      // 'x' bytes, standard sizes with no implicit alignment ('<'): numpy
      // reads it as a structured dtype with the schema's field names.
      std::string out = "T{";
      std::uint64_t at = 0;
      for (std::size_t i = 0; i < n.args.size(); ++i) {
        const Node& f = (*nodes_for_format)[n.args[i]];
        const std::string ff = Format(f);
        if (ff.empty()) return "";
        if (n.offsets[i] > at) out += std::to_string(n.offsets[i] - at) + "x";
        out += (f.op == Op::kStruct ? "" : "<") + ff + ":" + n.names[i] + ":";
        at = n.offsets[i] + f.size;
      }
      if (n.size > at) out += std::to_string(n.size - at) + "x";
      return out + "}";
    }
    default:
      return "";
  }
}

// What a buffer holds while it is out: its shape and stride, its format.
struct Held {
  Py_ssize_t dims[2];
  std::string format;
};

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
  nodes_for_format = s->g->nodes.get();
  const std::string format = e ? Format(*e) : "";
  if (format.empty()) {
    PyErr_SetString(PyExc_TypeError,
                    "ancient.Sequence: only sequences of numbers, or of "
                    "structs of numbers, have a buffer");
    return -1;
  }
  if ((flags & PyBUF_WRITABLE) != 0) {
    PyErr_SetString(PyExc_BufferError, "ancient.Sequence is read-only");
    return -1;
  }
  auto* held = new Held{{0, 0}, format};
  Py_ssize_t* dims = held->dims;
  const char* fmt = held->format.c_str();
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
  view->internal = held;
  if (view->strides == nullptr && dims[1] != view->itemsize && dims[0] > 1) {
    delete held;
    Py_DECREF(obj);
    view->obj = nullptr;
    PyErr_SetString(PyExc_BufferError,
                    "ancient.Sequence: a strided slice needs PyBUF_STRIDES");
    return -1;
  }
  return 0;
}

void ReleaseBuffer(PyObject*, Py_buffer* view) {
  delete static_cast<Held*>(view->internal);
}

}  // namespace

void InstallBufferProtocol(PyTypeObject* type) {
  type->tp_as_buffer->bf_getbuffer = GetBuffer;
  type->tp_as_buffer->bf_releasebuffer = ReleaseBuffer;
  PyType_Modified(type);
}

}  // namespace ancient_python
