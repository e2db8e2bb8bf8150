// The CPython extension `ancient._ancient` (python/ancient/__init__.py
// re-exports it): stores opened from Python, roots read as views in place
// (views.h), writes from JSON text (the package turns Python objects into
// it), and the store's errors as exceptions.

#include <pybind11/eval.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "ancient/schema/schema_graph.h"
#include "python/src/put.h"
#include "python/src/views.h"
#include "replica/replica.h"
#include "store/store.h"

namespace ancient_python {
namespace {

// The package's exception classes (made in PYBIND11_MODULE).
// dict: canonical code name -> class. Never destroyed: the interpreter may
// be finalized before static destructors run.
py::dict* g_errors = nullptr;

[[noreturn]] void Raise(const absl::Status& s) {
  const char* name = "Error";
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
      name = "NotFound";
      break;
    case absl::StatusCode::kDataLoss:
      name = "DataLoss";
      break;
    case absl::StatusCode::kFailedPrecondition:
      name = "FailedPrecondition";
      break;
    case absl::StatusCode::kInvalidArgument:
      name = "InvalidArgument";
      break;
    case absl::StatusCode::kResourceExhausted:
      name = "ResourceExhausted";
      break;
    case absl::StatusCode::kPermissionDenied:
      name = "PermissionDenied";
      break;
    default:
      break;
  }
  PyErr_SetString((*g_errors)[name].ptr(), std::string(s.message()).c_str());
  throw py::error_already_set();
}

template <class T>
T Check(absl::StatusOr<T> v) {
  if (!v.ok()) Raise(v.status());
  return *std::move(v);
}

// The compiled schema of a type id, and the check of a root's graph: once
// each per store per process.
std::shared_ptr<const Nodes> TypeOf(StoreState& st,
                                    const ancient::Snapshot& snap,
                                    const std::string& key,
                                    const ancient::Snapshot::RawRoot& raw) {
  std::shared_ptr<const Nodes> nodes;
  {
    std::lock_guard<std::mutex> lock(st.mu);
    auto it = st.types.find(raw.type_id);
    if (it != st.types.end()) nodes = it->second;
    if (nodes && st.verified.count({raw.graph.address, raw.graph.size,
                                    raw.checksum, raw.type_id})) {
      return nodes;
    }
  }
  absl::StatusOr<std::string> d = snap.TypeDescriptionOf(raw.type_id);
  if (!d.ok()) {
    if (d.status().code() == absl::StatusCode::kNotFound) {
      Raise(absl::FailedPreconditionError(
          "key '" + key +
          "': its type was not recorded (shared before stores recorded "
          "types); Python reads roots through their recorded type"));
    }
    Raise(d.status());
  }
  absl::StatusOr<ancient::Schema> schema = ancient::Schema::Parse(*d);
  if (!schema.ok()) {
    Raise(absl::DataLossError("key '" + key +
                              "': " + std::string(schema.status().message())));
  }
  if (!nodes) {
    auto n = std::make_shared<Nodes>();
    if (absl::Status s = Nodes::Compile(*schema, n.get()); !s.ok()) Raise(s);
    nodes = n;
  }
  absl::Status s = ancient::VerifyGraph(*schema, raw.graph);
  if (!s.ok()) {
    Raise(
        absl::DataLossError("key '" + key + "': " + std::string(s.message())));
  }
  std::lock_guard<std::mutex> lock(st.mu);
  st.types.emplace(raw.type_id, nodes);
  st.verified.insert(
      {raw.graph.address, raw.graph.size, raw.checksum, raw.type_id});
  return nodes;
}

// The schema a put names: a full description ("ancient/1;...").
ancient::Schema PutSchema(const std::string& key,
                          const std::string& description) {
  absl::StatusOr<ancient::Schema> schema = ancient::Schema::Parse(description);
  if (!schema.ok()) {
    Raise(absl::InvalidArgumentError(
        "key '" + key + "': " + std::string(schema.status().message())));
  }
  return *std::move(schema);
}

// Shares `obj` at `key` in batch `b`, built from the Python object.
void PutObject(ancient::WriteBatch& b, const std::string& key, py::handle obj,
               const std::string& description) {
  const ancient::Schema schema = PutSchema(key, description);
  const ancient::JsonGraph g = BuildFromPython(schema, obj, key);
  Check(b.ShareFlat(key, description, g));
}

// For a description of vector<struct of numbers>: the struct as numpy
// lays out a record (names, formats, offsets, itemsize); else None.
py::object RecordLayout(const std::string& description) {
  ancient::Schema schema = PutSchema("", description);
  Nodes nodes;
  if (absl::Status s = Nodes::Compile(schema, &nodes); !s.ok()) Raise(s);
  if (nodes[0].op != Op::kVector) return py::none();
  const Node& e = nodes[nodes[0].args[0]];
  if (e.op != Op::kStruct) return py::none();
  py::list names, formats, offsets;
  for (std::size_t i = 0; i < e.args.size(); ++i) {
    const Node& f = nodes[e.args[i]];
    std::string fmt;
    switch (f.op) {
      case Op::kBool:
        fmt = "?";
        break;
      case Op::kSigned:
        fmt = "<i" + std::to_string(f.size);
        break;
      case Op::kUnsigned:
        fmt = "<u" + std::to_string(f.size);
        break;
      case Op::kFloat:
        fmt = "<f" + std::to_string(f.size);
        break;
      default:
        return py::none();
    }
    names.append(e.names[i]);
    formats.append(fmt);
    offsets.append(e.offsets[i]);
  }
  return py::make_tuple(names, formats, offsets, e.size);
}

// A read snapshot shared with the views made from it.
class PySnapshot {
 public:
  PySnapshot(std::shared_ptr<StoreState> st,
             std::shared_ptr<const ancient::Snapshot> snap)
      : st_(std::move(st)), snap_(std::move(snap)) {}

  // The root at `key` as a view; nullopt when absent.
  std::optional<py::object> Root(const std::string& key) const {
    const ancient::Snapshot& s = Live();
    absl::StatusOr<ancient::Snapshot::RawRoot> raw = s.GetRaw(key);
    if (!raw.ok()) {
      if (raw.status().code() == absl::StatusCode::kNotFound) {
        return std::nullopt;
      }
      Raise(raw.status());
    }
    auto g = std::make_shared<Graph>(Graph{
        st_, snap_, TypeOf(*st_, s, key, *raw),
        View(raw->graph.bytes, raw->graph.size, raw->graph.address), key});
    return Wrap(Ref{g, 0, 0});
  }
  py::object GetItem(const std::string& key) const {
    std::optional<py::object> r = Root(key);
    if (!r) throw py::key_error(key);
    return *r;
  }
  std::vector<std::string> Keys(const std::string& prefix) const {
    return Check(Live().Keys(prefix));
  }
  std::string Schema(const std::string& key) const {
    ancient::Schema s = Check(ancient::Schema::Parse(Description(key)));
    return s.ToString();
  }
  std::string Description(const std::string& key) const {
    return Check(Live().TypeDescription(key));
  }
  void Close() { snap_.reset(); }
  std::uint64_t version() const { return snap_ ? snap_->version() : 0; }

 private:
  const ancient::Snapshot& Live() const {
    if (st_->closed) throw py::value_error("ancient: the store was closed");
    if (!snap_) throw py::value_error("ancient: the snapshot was closed");
    return *snap_;
  }
  std::shared_ptr<StoreState> st_;
  std::shared_ptr<const ancient::Snapshot> snap_;
};

// A store, or a Replica (its current version at each read).
class PyStore {
 public:
  // A store (or with `replica`, a Replica's local directory).
  static std::unique_ptr<PyStore> Open(const std::string& path, bool readonly,
                                       bool create, bool strings_as_bytes,
                                       bool replica) {
    auto p = std::make_unique<PyStore>();
    if (replica) {
      p->replica_ = Check(ancient::Replica::Open(path));
    } else {
      ancient::StoreOptions o;
      o.read_only = readonly;
      o.create_if_missing = create && !readonly;
      p->store_ = Check(ancient::Store::Open(path, o));
    }
    p->st_->strings_as_bytes = strings_as_bytes;
    return p;
  }

  // store[key]: the root as a view. The views of the latest version are
  // kept by key (a view is immutable and holds what it reads), so asking
  // again costs a version check and a dict lookup until the next commit.
  py::object Lookup(py::handle key) {
    std::optional<py::object> r = Find(key);
    if (!r) throw py::key_error(key.cast<std::string>());
    return *std::move(r);
  }
  // The same, nullopt when there is no root at `key` (get, `in`).
  std::optional<py::object> Find(py::handle key) {
    const std::uint64_t v =
        store_ != nullptr && !st_->closed ? store_->version() : 0;
    if (v != 0 && v == cache_version_) {
      PyObject* hit = PyDict_GetItemWithError(cache_.ptr(), key.ptr());
      if (hit != nullptr) return py::reinterpret_borrow<py::object>(hit);
      if (PyErr_Occurred() != nullptr) throw py::error_already_set();
    }
    if (!PyUnicode_Check(key.ptr()) && !PyBytes_Check(key.ptr())) {
      throw py::type_error(
          std::string("ancient: a key is a str or bytes, not ") +
          Py_TYPE(key.ptr())->tp_name);
    }
    const std::string k = key.cast<std::string>();
    PySnapshot snap = Snapshot();
    std::optional<py::object> view = snap.Root(k);
    if (view && v != 0 && snap.version() == v) {
      if (cache_version_ != v || PyDict_Size(cache_.ptr()) >= kCacheRoots) {
        PyDict_Clear(cache_.ptr());
        cache_version_ = v;
      }
      if (PyDict_SetItem(cache_.ptr(), key.ptr(), view->ptr()) != 0) {
        throw py::error_already_set();
      }
    }
    return view;
  }

  // A snapshot of the latest version. Reads through the store reuse one
  // while no commit has happened since (one LMDB reader slot, not one per
  // view held); snapshot() always starts its own.
  PySnapshot Snapshot(bool fresh = false) const {
    Live();
    if (!fresh && store_ != nullptr) {
      const std::uint64_t v = store_->version();
      std::lock_guard<std::mutex> lock(latest_mu_);
      if (latest_ != nullptr && v != 0 && latest_->version() == v) {
        return PySnapshot(st_, latest_);
      }
    }
    ancient::Snapshot s = Check(replica_ ? replica_->Read() : store_->Read());
    auto shared = std::make_shared<const ancient::Snapshot>(std::move(s));
    if (!fresh && store_ != nullptr) {
      std::lock_guard<std::mutex> lock(latest_mu_);
      latest_ = shared;
    }
    return PySnapshot(st_, std::move(shared));
  }
  ancient::Store& Writable() {
    Live();
    if (!store_) throw py::type_error("ancient.Replica is read-only");
    return *store_;
  }
  py::dict Stats() const {
    Live();
    ancient::StoreStats s =
        Check(replica_ ? replica_->Stats() : store_->Stats());
    py::dict d;
    d["roots"] = s.roots;
    d["bytes_live"] = s.bytes_live;
    d["bytes_free"] = s.bytes_free;
    d["bytes_pending"] = s.bytes_pending;
    d["bytes_never_used"] = s.bytes_never_used;
    d["arena_size"] = s.arena_size;
    d["base_address"] = s.base_address;
    d["readers"] = s.readers;
    d["relocated"] = s.relocated;
    d["graphs_relocated"] = s.graphs_relocated;
    d["bytes_relocated"] = s.bytes_relocated;
    d["graphs_converted"] = s.graphs_converted;
    return d;
  }
  std::uint64_t Version() const { return replica_ ? replica_->version() : 0; }
  void Close() {
    st_->closed = true;
    PyDict_Clear(cache_.ptr());
    cache_version_ = 0;
    {
      std::lock_guard<std::mutex> lock(latest_mu_);
      latest_.reset();
    }
    store_.reset();
    replica_.reset();
  }
  bool closed() const { return st_->closed; }

 private:
  void Live() const {
    if (st_->closed) throw py::value_error("ancient: the store was closed");
  }
  static constexpr Py_ssize_t kCacheRoots = 4096;
  std::shared_ptr<StoreState> st_ = std::make_shared<StoreState>();
  py::dict cache_;  // key -> view of version cache_version_ (GIL held)
  std::uint64_t cache_version_ = 0;
  mutable std::mutex latest_mu_;
  mutable std::shared_ptr<const ancient::Snapshot> latest_;
  std::unique_ptr<ancient::Store> store_;
  std::unique_ptr<ancient::Replica> replica_;
};

// A write batch: changes committed together by commit(), or none.
class PyBatch {
 public:
  explicit PyBatch(ancient::WriteBatch b) : b_(std::move(b)) {}
  void PutObj(const std::string& key, py::handle obj,
              const std::string& description) {
    PutObject(Live(), key, obj, description);
  }
  void Delete(const std::string& key) {
    absl::Status s = Live().Delete(key);
    if (s.code() == absl::StatusCode::kNotFound) throw py::key_error(key);
    if (!s.ok()) Raise(s);
  }
  void Commit() {
    absl::Status s = Live().Commit();
    b_.reset();
    if (!s.ok()) Raise(s);
  }
  void Abort() { b_.reset(); }

 private:
  ancient::WriteBatch& Live() {
    if (!b_) throw py::value_error("ancient: the batch is finished");
    return *b_;
  }
  std::optional<ancient::WriteBatch> b_;
};

// mp_subscript of _Store (and of the Python classes made from it).
PyObject* StoreSubscript(PyObject* self, PyObject* key) {
  try {
    auto* inst = reinterpret_cast<py::detail::instance*>(self);
    PyStore* s = inst->get_value_and_holder().value_ptr<PyStore>();
    if (s == nullptr) {
      PyErr_SetString(PyExc_ValueError, "ancient: the store is not open");
      return nullptr;
    }
    return s->Lookup(key).release().ptr();
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (py::builtin_exception& e) {
    e.set_error();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

}  // namespace
}  // namespace ancient_python

PYBIND11_MODULE(_ancient, m) {
  using namespace ancient_python;
  m.doc() = "ancient: pointer-rich data shared by processes, read in place";
  py::dict ns;
  ns["__builtins__"] = py::module_::import("builtins");
  py::exec(R"(
class Error(Exception):
    """An error of the store; the message names the file, key or path."""
class NotFound(Error, KeyError):
    """No such store, key or part."""
    def __str__(self):
        return Exception.__str__(self)
class DataLoss(Error):
    """Damage found in the store's files."""
class FailedPrecondition(Error):
    """The store cannot do this now (read-only, another type, ...)."""
class InvalidArgument(Error, ValueError):
    """A bad key, type description or value."""
class ResourceExhausted(Error):
    """Disk full, max_size reached, reader table full."""
class PermissionDenied(Error, PermissionError):
    """The files cannot be opened as asked."""
)",
           ns);
  g_errors = new py::dict();
  for (const char* name :
       {"Error", "NotFound", "DataLoss", "FailedPrecondition",
        "InvalidArgument", "ResourceExhausted", "PermissionDenied"}) {
    (*g_errors)[name] = ns[name];
    m.attr(name) = ns[name];
  }

  DefineViews(m);

  py::class_<PySnapshot>(m, "Snapshot")
      .def("__getitem__", &PySnapshot::GetItem)
      .def(
          "get",
          [](const PySnapshot& s, const std::string& key, py::object dflt) {
            std::optional<py::object> r = s.Root(key);
            return r ? *r : dflt;
          },
          py::arg("key"), py::arg("default") = py::none())
      .def("__contains__",
           [](const PySnapshot& s, const std::string& key) {
             return s.Root(key).has_value();
           })
      .def("keys", &PySnapshot::Keys, py::arg("prefix") = "")
      .def("schema", &PySnapshot::Schema)
      .def("type_description", &PySnapshot::Description)
      .def("close", &PySnapshot::Close)
      .def("__enter__", [](py::handle self) { return self; })
      .def("__exit__", [](PySnapshot& s, py::args) { s.Close(); });

  py::class_<PyBatch>(m, "_Batch")
      .def("_put_obj", &PyBatch::PutObj)
      .def("delete", &PyBatch::Delete)
      .def("commit", &PyBatch::Commit)
      .def("abort", &PyBatch::Abort);

  py::class_<PyStore> store_class(m, "_Store");
  store_class.def(py::init(&PyStore::Open))
      .def("snapshot", [](const PyStore& s) { return s.Snapshot(true); })
      .def(
          "get",
          [](PyStore& s, py::handle key, py::object dflt) {
            std::optional<py::object> r = s.Find(key);
            return r ? *r : dflt;
          },
          py::arg("key"), py::arg("default") = py::none())
      .def("__contains__",
           [](PyStore& s, py::handle key) { return s.Find(key).has_value(); })
      .def(
          "keys",
          [](const PyStore& s, const std::string& prefix) {
            return s.Snapshot().Keys(prefix);
          },
          py::arg("prefix") = "")
      .def("schema",
           [](const PyStore& s, const std::string& key) {
             return s.Snapshot().Schema(key);
           })
      .def("type_description",
           [](const PyStore& s, const std::string& key) {
             return s.Snapshot().Description(key);
           })
      .def("stats", &PyStore::Stats)
      .def("close", &PyStore::Close)
      .def_property_readonly("closed", &PyStore::closed)
      .def_property_readonly("version", &PyStore::Version)
      .def("_batch",
           [](PyStore& s) { return PyBatch(Check(s.Writable().Write())); })
      .def("_put",
           [](PyStore& s, const std::string& key, const std::string& json,
              const std::string& description) {
             Check(s.Writable().ShareJson(key, description, json));
           })
      .def("_put_obj",
           [](PyStore& s, const std::string& key, py::handle obj,
              const std::string& description) {
             ancient::WriteBatch b = Check(s.Writable().Write());
             PutObject(b, key, obj, description);
             if (absl::Status st = b.Commit(); !st.ok()) Raise(st);
           })
      .def("delete", [](PyStore& s, const std::string& key) {
        absl::Status st = s.Writable().Delete(key);
        if (st.code() == absl::StatusCode::kNotFound) {
          throw py::key_error(key);
        }
        if (!st.ok()) Raise(st);
      });

  // store[key] as a CPython slot: no pybind11 dispatch, no Python frame.
  // The package's Store and Replica classes (Python subclasses, whose
  // slots Python derives from __getitem__) are given it after they are
  // made; a user's subclass goes through __getitem__.
  // (Not a Python function: CPython 3.11 would call that in place of the
  // slot.)
  store_class.def("__getitem__", [](py::handle self, py::handle key) {
    PyObject* r = StoreSubscript(self.ptr(), key.ptr());
    if (r == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::object>(r);
  });
  reinterpret_cast<PyTypeObject*>(store_class.ptr())
      ->tp_as_mapping->mp_subscript = StoreSubscript;
  PyType_Modified(reinterpret_cast<PyTypeObject*>(store_class.ptr()));
  m.def("_fast_subscript", [store_class](py::handle cls) {
    if (!PyType_Check(cls.ptr()) ||
        !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(cls.ptr()),
                          reinterpret_cast<PyTypeObject*>(store_class.ptr()))) {
      throw py::type_error("_fast_subscript: not a subclass of _Store");
    }
    auto* t = reinterpret_cast<PyTypeObject*>(cls.ptr());
    t->tp_as_mapping->mp_subscript = StoreSubscript;
    PyType_Modified(t);
  });

  m.def("_to_python", &ToPython);
  m.def("_record_layout", &RecordLayout);
  m.def("_describe", [](const std::string& text) {
    return Check(ancient::Schema::ParseReadable(text)).Description();
  });
  m.def("_readable", [](const std::string& description) {
    return Check(ancient::Schema::Parse(description)).ToString();
  });
}
