// Puts from Python objects: a document built in memory by the root's
// schema, walking the object and the type together (no JSON text), then
// JsonGraph::BuildFromDocument. Buffers of numbers (numpy arrays, bytes,
// array.array) go in as one block; objects reached twice through ptr<T>
// are stored once. Type mismatches raise TypeError, values out of range
// ValueError, both naming the path in the object.

#include "python/src/put.h"

#include <pthread.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ancient_python {

namespace {

using Json = nlohmann::json;

// Puts recurse on the object's nesting. They stop, with a ValueError,
// before the thread's stack is this close to its end (frames are several
// times larger under sanitizers, and threads' stacks differ), and at most
// kMaxDepth deep.
constexpr std::uintptr_t kStackReserve = 512 * 1024;
constexpr int kMaxDepth = 100000;

// The lowest address this thread's stack may reach with kStackReserve
// left; 0 when unknown (then only kMaxDepth bounds the nesting).
std::uintptr_t StackLimit() {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return 0;
  void* lo = nullptr;
  std::size_t size = 0;
  const int rc = pthread_attr_getstack(&attr, &lo, &size);
  pthread_attr_destroy(&attr);
  if (rc != 0 || size <= 2 * kStackReserve) return 0;
  return reinterpret_cast<std::uintptr_t>(lo) + kStackReserve;
}

class DocumentBuilder {
 public:
  explicit DocumentBuilder(const Nodes& nodes) : n_(nodes) {}

  Json Build(py::handle obj) {
    root_ = obj;
    stack_limit_ = StackLimit();
    return Convert(0, obj, 0);
  }

 private:
  [[noreturn]] void Fail(bool type_error, const std::string& what,
                         py::handle found) const {
    const std::string where = path_.empty() ? "the object" : Path();
    std::string msg =
        absl::StrCat(where, ": expected ", what, ", found ", Describe(found));
    if (type_error) throw py::type_error(msg);
    throw py::value_error(msg);
  }
  static std::string Describe(py::handle o) {
    // repr of a deep object can itself fail (RecursionError): then the
    // type alone.
    PyObject* rep = PyObject_Repr(o.ptr());
    if (rep == nullptr) {
      PyErr_Clear();
      return absl::StrCat(Py_TYPE(o.ptr())->tp_name, " object");
    }
    py::object keep = py::reinterpret_steal<py::object>(rep);
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(rep, &size);
    if (text == nullptr) {
      PyErr_Clear();
      return absl::StrCat(Py_TYPE(o.ptr())->tp_name, " object");
    }
    std::string r(text, static_cast<std::size_t>(size));
    if (r.size() > 60) r = r.substr(0, 57) + "...";
    return absl::StrCat(Py_TYPE(o.ptr())->tp_name, " ", r);
  }
  std::string Path() const {
    std::string p;
    const std::size_t n = path_.size();
    for (std::size_t i = 0; i < n; ++i) {
      if (n > 16 && i == 6) {  // a deep path: its start and its end
        p += absl::StrCat("...(", n - 12, " steps)...");
        i = n - 7;
        continue;
      }
      const PathStep& st = path_[i];
      if (st.is_index) {
        absl::StrAppend(&p, "[", st.index, "]");
      } else if (st.field != nullptr) {
        absl::StrAppend(&p, ".", *st.field);
      } else if (st.key) {  // a map's key, shown only now
        std::string r = py::repr(st.key).cast<std::string>();
        if (r.size() > 40) r = r.substr(0, 37) + "...";
        absl::StrAppend(&p, "[", r, "]", st.name);
      } else {
        p += st.name;
      }
    }
    return p;
  }
  struct PathStep {
    std::string name;  // ".field"; after a key: " (key)" or ""
    std::uint64_t index = 0;
    bool is_index = false;
    py::handle key;  // a map's key (alive while the step is)
    const std::string* field = nullptr;  // a struct's field name
  };
  struct Step {
    Step(DocumentBuilder* b, std::string s) : b_(b) {
      b_->path_.push_back(PathStep{std::move(s)});
    }
    Step(DocumentBuilder* b, std::uint64_t i) : b_(b) {
      b_->path_.push_back(PathStep{{}, i, true});
    }
    Step(DocumentBuilder* b, const std::string* field) : b_(b) {
      b_->path_.push_back(PathStep{{}, 0, false, {}, field});
    }
    Step(DocumentBuilder* b, py::handle key, const char* suffix) : b_(b) {
      b_->path_.push_back(PathStep{suffix, 0, false, key});
    }
    ~Step() { b_->path_.pop_back(); }
    DocumentBuilder* b_;
  };

  bool TooDeep(int depth) const {
    const auto here =
        reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
    return depth > kMaxDepth || (stack_limit_ != 0 && here < stack_limit_);
  }

  static bool IsText(py::handle o) {
    return PyUnicode_Check(o.ptr()) || PyBytes_Check(o.ptr()) ||
           PyByteArray_Check(o.ptr());
  }

  Json Int(const Node& n, py::handle o) {
    if (PyFloat_Check(o.ptr()) || IsText(o) || o.is_none()) {
      Fail(true, absl::StrCat("an int (", n.expression, ")"), o);
    }
    PyObject* i = PyNumber_Index(o.ptr());
    if (i == nullptr) {
      PyErr_Clear();
      Fail(true, absl::StrCat("an int (", n.expression, ")"), o);
    }
    py::object io = py::reinterpret_steal<py::object>(i);
    const int bits = static_cast<int>(8 * n.size);
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(i, &overflow);
    if (n.op == Op::kSigned) {
      if (overflow != 0 || (bits < 64 && (v < -(1LL << (bits - 1)) ||
                                          v >= (1LL << (bits - 1))))) {
        Fail(false, absl::StrCat("an int that fits ", n.expression), o);
      }
      return Json(static_cast<std::int64_t>(v));
    }
    if (overflow < 0 || (overflow == 0 && v < 0)) {
      Fail(false, absl::StrCat("an int that fits ", n.expression), o);
    }
    const unsigned long long u = PyLong_AsUnsignedLongLong(i);
    if (PyErr_Occurred() != nullptr) {
      PyErr_Clear();
      Fail(false, absl::StrCat("an int that fits ", n.expression), o);
    }
    if (bits < 64 && (u >> bits) != 0) {
      Fail(false, absl::StrCat("an int that fits ", n.expression), o);
    }
    return Json(static_cast<std::uint64_t>(u));
  }

  Json Scalar(const Node& n, py::handle o) {
    switch (n.op) {
      case Op::kBool:
        if (PyBool_Check(o.ptr()) ||
            std::string_view(Py_TYPE(o.ptr())->tp_name) == "numpy.bool_") {
          return Json(PyObject_IsTrue(o.ptr()) == 1);
        }
        Fail(true, "a bool", o);
      case Op::kChar:
        if (PyUnicode_Check(o.ptr())) {
          const std::string s = o.cast<std::string>();
          if (s.size() == 1) return Json(s);
        } else if (PyBytes_Check(o.ptr()) && PyBytes_Size(o.ptr()) == 1) {
          return Json(static_cast<std::int64_t>(
              static_cast<unsigned char>(PyBytes_AsString(o.ptr())[0])));
        }
        Fail(true, "a one-character str or bytes (char)", o);
      case Op::kSigned:
      case Op::kUnsigned:
        return Int(n, o);
      case Op::kFloat: {
        if (IsText(o) || o.is_none() || PyBool_Check(o.ptr())) {
          Fail(true, absl::StrCat("a float (", n.expression, ")"), o);
        }
        const double d = PyFloat_AsDouble(o.ptr());
        if (d == -1.0 && PyErr_Occurred() != nullptr) {
          PyErr_Clear();
          Fail(true, absl::StrCat("a float (", n.expression, ")"), o);
        }
        if (std::isnan(d)) return Json("NaN");
        if (std::isinf(d)) return Json(d > 0 ? "Infinity" : "-Infinity");
        if (n.size == 4 && std::fabs(d) > std::numeric_limits<float>::max()) {
          Fail(false, "a float that fits f32", o);
        }
        return Json(d);
      }
      case Op::kNone:
        if (o.is_none()) return Json(nullptr);
        Fail(true, "None", o);
      case Op::kString:
        if (PyUnicode_Check(o.ptr())) {
          Py_ssize_t size = 0;
          const char* s = PyUnicode_AsUTF8AndSize(o.ptr(), &size);
          if (s == nullptr) {
            PyErr_Clear();
            Fail(false, "a str that encodes as UTF-8", o);
          }
          return Json(std::string(s, size));
        }
        if (PyBytes_Check(o.ptr()) || PyByteArray_Check(o.ptr()) ||
            PyMemoryView_Check(o.ptr())) {
          Py_buffer view;
          if (PyObject_GetBuffer(o.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0) {
            PyErr_Clear();
            Fail(true, "a str, bytes or contiguous buffer", o);
          }
          const auto* p = static_cast<const std::uint8_t*>(view.buf);
          Json j = Json::binary(std::vector<std::uint8_t>(p, p + view.len));
          PyBuffer_Release(&view);
          return j;
        }
        Fail(true, "a str or bytes", o);
      default:
        break;
    }
    return Json(nullptr);
  }

  // A JSON value for a Value (ancient::Value): what JSON holds.
  Json PlainValue(py::handle o, int depth) {
    if (TooDeep(depth)) Fail(false, "an object nested less deeply", o);
    if (o.is_none()) return Json(nullptr);
    if (PyBool_Check(o.ptr())) return Json(o.ptr() == Py_True);
    if (PyLong_Check(o.ptr())) {
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(o.ptr(), &overflow);
      if (overflow != 0) Fail(false, "an int that fits i64 (a value)", o);
      return Json(static_cast<std::int64_t>(v));
    }
    if (PyFloat_Check(o.ptr())) {
      const double d = PyFloat_AsDouble(o.ptr());
      if (!std::isfinite(d)) Fail(false, "a finite float (a value)", o);
      return Json(d);
    }
    if (PyUnicode_Check(o.ptr())) return Json(o.cast<std::string>());
    if (PyDict_Check(o.ptr())) {
      Json j = Json::object();
      for (auto [k, v] : py::reinterpret_borrow<py::dict>(o)) {
        if (!PyUnicode_Check(k.ptr())) Fail(true, "str keys (a value)", k);
        const std::string key = k.cast<std::string>();
        Step s(this, k, "");
        j[key] = PlainValue(v, depth + 1);
      }
      return j;
    }
    if (PyList_Check(o.ptr()) || PyTuple_Check(o.ptr())) {
      Json j = Json::array();
      std::size_t i = 0;
      for (py::handle v : o) {
        Step s(this, static_cast<std::uint64_t>(i++));
        j.push_back(PlainValue(v, depth + 1));
      }
      return j;
    }
    Fail(true, "None, bool, int, float, str, list or dict (a value)", o);
  }

  // A buffer whose elements are laid out as `elem` is: its bytes, or
  // nullopt (then the object is iterated instead).
  std::optional<Json> Block(const Node& e, py::handle o) {
    if (IsText(o) && !PyBytes_Check(o.ptr()) && !PyByteArray_Check(o.ptr())) {
      return std::nullopt;
    }
    if (!PyObject_CheckBuffer(o.ptr())) return std::nullopt;
    if (!(e.trivial || e.op == Op::kBool)) return std::nullopt;
    Py_buffer view;
    if (PyObject_GetBuffer(o.ptr(), &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) !=
        0) {
      PyErr_Clear();
      return std::nullopt;  // not contiguous: element by element
    }
    const std::string fmt = view.format ? view.format : "B";
    if (view.itemsize != static_cast<Py_ssize_t>(e.size) ||
        !FormatMatches(e, fmt)) {
      PyBuffer_Release(&view);
      return std::nullopt;
    }
    // The buffer is held until the graph is built, and copied in once
    // (the document names it by index).
    held_.push_back(view);
    blocks_.emplace_back(static_cast<const char*>(view.buf),
                         static_cast<std::size_t>(view.len));
    const std::uint64_t index = blocks_.size() - 1;
    std::vector<std::uint8_t> ref(8);
    std::memcpy(ref.data(), &index, 8);
    return Json::binary(std::move(ref), ancient::JsonGraph::kBlockRef);
  }

 public:
  ~DocumentBuilder() {
    for (Py_buffer& v : held_) PyBuffer_Release(&v);
  }
  DocumentBuilder(const DocumentBuilder&) = delete;
  DocumentBuilder& operator=(const DocumentBuilder&) = delete;
  // The buffers the document's block references name.
  const std::vector<std::string_view>& blocks() const { return blocks_; }

 private:
  // Whether a buffer's struct-module format stands for `e`'s numbers
  // (native or little-endian, standard sizes); structs ("T{...}") are
  // matched by the caller's dtype and taken by size.
  static bool FormatMatches(const Node& e, std::string f) {
    if (!f.empty() && (f[0] == '<' || f[0] == '@' || f[0] == '=')) {
      f = f.substr(1);
    }
    if (f.size() > 2 && f.substr(0, 2) == "T{") return e.op == Op::kStruct;
    if (f.size() != 1) return false;
    const char c = f[0];
    switch (e.op) {
      case Op::kBool:
        return c == '?';
      case Op::kChar:
        return c == 'c' || c == 'b' || c == 'B';
      case Op::kSigned:
        return std::string_view("bhilq").find(c) != std::string_view::npos;
      case Op::kUnsigned:
        return std::string_view("BHILQ").find(c) != std::string_view::npos;
      case Op::kFloat:
        return c == 'f' || c == 'd';
      default:
        return false;
    }
  }

  // A struct's field values from `o`, in order: a tuple of them, a dict
  // (no other keys), an object with them as attributes, or a mapping (a
  // numpy record).
  std::vector<py::object> Fields(const Node& n, py::handle o) {
    std::vector<py::object> values(n.names.size());
    if (PyTuple_Check(o.ptr()) &&
        PyTuple_GET_SIZE(o.ptr()) == static_cast<Py_ssize_t>(n.names.size())) {
      for (std::size_t k = 0; k < n.names.size(); ++k) {
        values[k] = py::reinterpret_borrow<py::object>(
            PyTuple_GET_ITEM(o.ptr(), static_cast<Py_ssize_t>(k)));
      }
      return values;
    }
    const bool is_dict = PyDict_Check(o.ptr());
    if (is_dict) {
      for (auto [k, v] : py::reinterpret_borrow<py::dict>(o)) {
        const bool known = PyUnicode_Check(k.ptr()) &&
                           std::find(n.names.begin(), n.names.end(),
                                     k.cast<std::string>()) != n.names.end();
        if (!known) {
          Fail(true,
               absl::StrCat("only the fields of ", n.expression, " (no field ",
                            py::repr(k).cast<std::string>(), ")"),
               o);
        }
      }
    } else if (IsText(o) || PyList_Check(o.ptr()) || PyTuple_Check(o.ptr()) ||
               PyLong_Check(o.ptr()) || PyFloat_Check(o.ptr()) || o.is_none()) {
      Fail(true,
           absl::StrCat("a ", n.expression,
                        " (a dict, dataclass, tuple of the fields in "
                        "order or object with its fields)"),
           o);
    }
    for (std::size_t k = 0; k < n.names.size(); ++k) {
      const std::string& name = n.names[k];
      py::object& v = values[k];
      if (is_dict) {
        PyObject* x = PyDict_GetItemString(o.ptr(), name.c_str());
        if (x != nullptr) v = py::reinterpret_borrow<py::object>(x);
      } else {
        PyObject* x = PyObject_GetAttrString(o.ptr(), name.c_str());
        if (x != nullptr) {
          v = py::reinterpret_steal<py::object>(x);
        } else {
          PyErr_Clear();
          if (PyMapping_Check(o.ptr())) {  // a numpy record, a Mapping
            x = PyObject_GetItem(o.ptr(), py::str(name).ptr());
            if (x == nullptr) {
              PyErr_Clear();
            } else {
              v = py::reinterpret_steal<py::object>(x);
            }
          }
        }
      }
      if (!v) {
        Fail(true,
             absl::StrCat("a ", n.expression, " with a field '", name, "'"), o);
      }
    }
    return values;
  }

  // Whether a struct holds only numbers (and structs of them): written
  // straight into bytes, as a block, when a vector holds it.
  static bool IsNumber(const Node& n) {
    return n.op == Op::kFloat || n.op == Op::kSigned || n.op == Op::kUnsigned;
  }
  bool PlainStruct(const Node& n) const {
    if (n.op != Op::kStruct) return false;
    for (int a : n.args) {
      if (!IsNumber(n_[a]) && !PlainStruct(n_[a])) return false;
    }
    return true;
  }

  void StructInto(const Node& n, py::handle o, std::uint8_t* dst) {
    const std::vector<py::object> values = Fields(n, o);
    for (std::size_t k = 0; k < n.args.size(); ++k) {
      const Node& f = n_[n.args[k]];
      Step s(this, &n.names[k]);
      if (f.op == Op::kStruct) {
        StructInto(f, values[k], dst + n.offsets[k]);
      } else {
        NumberInto(f, values[k], dst + n.offsets[k]);
      }
    }
  }

  // A number of node `e` from `o`, checked, written to `dst` (e.size bytes,
  // little-endian).
  void NumberInto(const Node& e, py::handle o, std::uint8_t* dst) {
    if (e.op == Op::kFloat) {
      if (IsText(o) || o.is_none() || PyBool_Check(o.ptr())) {
        Fail(true, absl::StrCat("a float (", e.expression, ")"), o);
      }
      const double d = PyFloat_AsDouble(o.ptr());
      if (d == -1.0 && PyErr_Occurred() != nullptr) {
        PyErr_Clear();
        Fail(true, absl::StrCat("a float (", e.expression, ")"), o);
      }
      if (e.size == 4) {
        if (std::isfinite(d) &&
            std::fabs(d) > std::numeric_limits<float>::max()) {
          Fail(false, "a float that fits f32", o);
        }
        const float f = static_cast<float>(d);
        std::memcpy(dst, &f, 4);
      } else {
        std::memcpy(dst, &d, 8);
      }
      return;
    }
    const Json j = Scalar(e, o);  // bool, signed, unsigned: checked
    if (e.op == Op::kBool) {
      *dst = j.get<bool>() ? 1 : 0;
    } else if (j.is_number_unsigned()) {
      const std::uint64_t u = j.get<std::uint64_t>();
      std::memcpy(dst, &u, e.size);
    } else {
      const std::int64_t v = j.get<std::int64_t>();
      std::memcpy(dst, &v, e.size);
    }
  }

  Json Elements(int elem, py::handle o, int depth, bool block_ok) {
    const Node& e = n_[elem];
    if (block_ok) {
      if (std::optional<Json> b = Block(e, o)) return *std::move(b);
      // A list or tuple of numbers, or of structs of numbers (dataclasses,
      // tuples, dicts): their bytes as C++ lays them out (padding zeroed),
      // 8 per f64 instead of a document value per element.
      if ((PyList_Check(o.ptr()) || PyTuple_Check(o.ptr())) &&
          (IsNumber(e) || e.op == Op::kBool || PlainStruct(e))) {
        const Py_ssize_t len = PySequence_Fast_GET_SIZE(o.ptr());
        std::vector<std::uint8_t> bytes(static_cast<std::size_t>(len) * e.size);
        Py_ssize_t i = 0;
        // (A list may shrink while a __float__ or a getter runs: re-read.)
        for (; i < len && i < PySequence_Fast_GET_SIZE(o.ptr()); ++i) {
          py::handle x(PySequence_Fast_GET_ITEM(o.ptr(), i));
          Step s(this, static_cast<std::uint64_t>(i));
          if (e.op == Op::kStruct) {
            StructInto(e, x, bytes.data() + i * e.size);
          } else {
            NumberInto(e, x, bytes.data() + i * e.size);
          }
        }
        bytes.resize(static_cast<std::size_t>(i) * e.size);
        return Json::binary(std::move(bytes));
      }
    }
    if (IsText(o) || PyDict_Check(o.ptr())) {
      Fail(true, absl::StrCat("a sequence of ", e.expression), o);
    }
    PyObject* it = PyObject_GetIter(o.ptr());
    if (it == nullptr) {
      PyErr_Clear();
      Fail(true, absl::StrCat("a sequence of ", e.expression), o);
    }
    py::object iter = py::reinterpret_steal<py::object>(it);
    Json j = Json::array();
    std::size_t i = 0;
    while (PyObject* x = PyIter_Next(it)) {
      py::object item = py::reinterpret_steal<py::object>(x);
      Step s(this, static_cast<std::uint64_t>(i++));
      j.push_back(Convert(elem, item, depth + 1));
    }
    if (PyErr_Occurred() != nullptr) throw py::error_already_set();
    return j;
  }

  Json Convert(int node, py::handle o, int depth) {
    if (TooDeep(depth)) {
      Fail(false,
           absl::StrCat("an object nested less deeply (", depth,
                        " levels reached the end of the thread's stack)"),
           o);
    }
    const Node& n = n_[node];
    switch (n.op) {
      case Op::kBool:
      case Op::kChar:
      case Op::kSigned:
      case Op::kUnsigned:
      case Op::kFloat:
      case Op::kNone:
      case Op::kString:
        return Scalar(n, o);
      case Op::kValue:
        return PlainValue(o, depth);
      case Op::kVector:
        return Elements(n.args[0], o, depth, /*block_ok=*/true);
      case Op::kSet:
      case Op::kHashSet:
        return Elements(n.args[0], o, depth, /*block_ok=*/false);
      case Op::kMap:
      case Op::kHashMap: {
        // A mapping, or (for keys Python cannot hash: dicts for struct
        // keys) a sequence of (key, value) pairs.
        const bool mapping =
            PyDict_Check(o.ptr()) ||
            py::isinstance(
                o, py::module_::import("collections.abc").attr("Mapping"));
        if (!mapping && (IsText(o) || !PySequence_Check(o.ptr()))) {
          Fail(true,
               absl::StrCat("a mapping or a list of (key, value) pairs (",
                            n.expression, ")"),
               o);
        }
        const Node& entry = n_[n.args[0]];
        Json j = Json::array();
        py::object items =
            mapping ? o.attr("items")() : py::reinterpret_borrow<py::object>(o);
        std::size_t i = 0;
        for (py::handle kv : items) {
          if (IsText(kv) || !PySequence_Check(kv.ptr()) ||
              PySequence_Size(kv.ptr()) != 2) {
            PyErr_Clear();
            Step s(this, static_cast<std::uint64_t>(i));
            Fail(true, "a (key, value) pair", kv);
          }
          ++i;
          py::sequence t = py::reinterpret_borrow<py::sequence>(kv);
          py::object k = t[0], v = t[1];
          Json key;
          {
            Step s(this, k, " (key)");
            key = Convert(entry.args[0], k, depth + 1);
          }
          Step s(this, k, "");
          j.push_back(Json::array(
              {std::move(key), Convert(entry.args[1], v, depth + 1)}));
        }
        return j;
      }
      case Op::kPair:
      case Op::kTuple: {
        if (IsText(o) || !PySequence_Check(o.ptr()) ||
            PySequence_Size(o.ptr()) !=
                static_cast<Py_ssize_t>(n.args.size())) {
          PyErr_Clear();
          Fail(true,
               absl::StrCat("a tuple of ", n.args.size(), " (", n.expression,
                            ")"),
               o);
        }
        Json j = Json::array();
        py::sequence seq = py::reinterpret_borrow<py::sequence>(o);
        for (std::size_t k = 0; k < n.args.size(); ++k) {
          Step s(this, static_cast<std::uint64_t>(k));
          j.push_back(Convert(n.args[k], seq[k], depth + 1));
        }
        return j;
      }
      case Op::kStruct: {
        Json j = Json::object();
        const std::vector<py::object> values = Fields(n, o);
        for (std::size_t k = 0; k < n.names.size(); ++k) {
          Step s(this, &n.names[k]);
          j[n.names[k]] = Convert(n.args[k], values[k], depth + 1);
        }
        return j;
      }
      case Op::kOptional: {
        if (o.is_none()) return Json(nullptr);
        Json v = Convert(n.args[0], o, depth + 1);
        if (n_[n.args[0]].maybe_null) return Json::array({std::move(v)});
        return v;
      }
      case Op::kVariant: {
        // The first alternative the object converts to.
        const std::vector<PathStep> saved = path_;
        for (std::size_t k = 0; k < n.args.size(); ++k) {
          try {
            Json v = Convert(n.args[k], o, depth + 1);
            return Json{{"index", k}, {"value", std::move(v)}};
          } catch (const py::type_error&) {
            path_ = saved;
          } catch (const py::value_error&) {
            path_ = saved;
          }
        }
        Fail(true, absl::StrCat("one of ", n.expression), o);
      }
      case Op::kPtr: {
        if (o.is_none()) return Json(nullptr);
        const int e = n.args[0];
        if (o.ptr() == root_.ptr() && n_.Same(e, 0)) {
          return Json{{"$ref", 0}};
        }
        auto [it, fresh] = ids_.try_emplace(o.ptr(), Id{0, e});
        if (!fresh) {
          if (!n_.Same(it->second.node, e)) {
            Fail(true,
                 absl::StrCat("an object reached only as ", n_[e].expression,
                              " (it is also a ", n_[it->second.node].expression,
                              ")"),
                 o);
          }
          return Json{{"$ref", it->second.id}};
        }
        it->second.id = static_cast<std::int64_t>(ids_.size());
        keep_.push_back(py::reinterpret_borrow<py::object>(o));
        const std::int64_t id = it->second.id;
        return Json{{"$id", id}, {"$value", Convert(e, o, depth + 1)}};
      }
    }
    return Json(nullptr);
  }

  struct Id {
    std::int64_t id;
    int node;
  };
  const Nodes& n_;
  py::handle root_;
  std::uintptr_t stack_limit_ = 0;
  std::vector<PathStep> path_;
  std::vector<Py_buffer> held_;  // buffers named by blocks_
  std::vector<std::string_view> blocks_;
  std::unordered_map<PyObject*, Id> ids_;  // objects reached through ptr
  std::vector<py::object> keep_;           // their ids stay theirs
};

}  // namespace

ancient::JsonGraph BuildFromPython(const ancient::Schema& schema,
                                   py::handle obj, const std::string& key) {
  Nodes nodes;
  if (absl::Status s = Nodes::Compile(schema, &nodes); !s.ok()) {
    throw py::value_error(absl::StrCat("key '", key, "': ", s.message()));
  }
  Json doc;
  DocumentBuilder builder(nodes);
  try {
    doc = builder.Build(obj);
  } catch (py::type_error& e) {
    throw py::type_error(absl::StrCat("key '", key, "': ", e.what()));
  } catch (py::value_error& e) {
    throw py::value_error(absl::StrCat("key '", key, "': ", e.what()));
  }
  absl::StatusOr<ancient::JsonGraph> g =
      ancient::JsonGraph::BuildFromDocument(schema, doc, builder.blocks());
  if (!g.ok()) {
    // What the document builder leaves to the graph builder: duplicate
    // keys, unsorted keys of no known order.
    throw py::value_error(
        absl::StrCat("key '", key, "': ", g.status().message()));
  }
  return *std::move(g);
}

}  // namespace ancient_python
