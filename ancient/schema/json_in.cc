// JsonGraph: a frozen graph built from JSON by a schema (the form that
// WriteGraphJson writes; see schema_graph.h): the builder's walk, scalars,
// structs, sequences and pointers.

#include <cmath>
#include <limits>

#include "ancient/internal/fatal.h"
#include "ancient/schema/json_builder.h"

namespace ancient {

absl::Status JsonGraphBuilder::Build(const Json& doc) {
  g_->Alloc(n_[0].size, 64);
  ids_[0] = Id{0, 0, true};
  const Where root{nullptr, {}, 0, -1};
  if (absl::Status s = Put(0, doc, 0, root); !s.ok()) return s;
  for (std::size_t i = 0; i < tasks_.size(); ++i) {
    const Task t = std::move(tasks_[i]);
    const Where at{nullptr, {}, 0, static_cast<std::int64_t>(i)};
    absl::Status s =
        t.value_array
            ? ValueArray(t.node, *t.json, t.off, at)
            : (t.value_object ? ValueObject(t.node, *t.json, t.off, at)
                              : Put(t.node, *t.json, t.off, at));
    if (!s.ok()) return s;
    tasks_[i].json = nullptr;
  }
  for (const auto& [id, e] : ids_) {
    if (!e.defined) {
      return absl::InvalidArgumentError(
          absl::StrFormat("{\"$ref\": %d} names no {\"$id\": %d}", id, id));
    }
  }
  return absl::OkStatus();
}

absl::Status JsonGraphBuilder::Put(int node, const Json& j, std::uint64_t off,
                                   const Where& w) {
  const Node& n = n_[node];
  switch (n.op) {
    case Op::kBool:
    case Op::kChar:
    case Op::kSigned:
    case Op::kUnsigned:
    case Op::kFloat:
    case Op::kNone:
    case Op::kString:
      return PutScalar(n, j, off, w);
    case Op::kValue:
      return PutValue(node, j, off, w);
    case Op::kVector: {
      if (j.is_binary()) return PutBlock(n.args[0], j, off, w);
      if (!j.is_array()) return Bad(w, "an array", j);
      return PutArray(n.args[0], j, off, w);
    }
    case Op::kPair:
    case Op::kTuple: {
      if (!j.is_array() || j.size() != n.args.size()) {
        return Bad(w, absl::StrFormat("an array of %d", n.args.size()), j);
      }
      for (std::size_t k = 0; k < n.args.size(); ++k) {
        const Where at{&w, {}, k};
        if (absl::Status s = Put(n.args[k], j[k], off + n.offsets[k], at);
            !s.ok()) {
          return s;
        }
      }
      return absl::OkStatus();
    }
    case Op::kStruct:
      return PutStruct(n, j, off, w);
    case Op::kOptional:
      return PutOptional(n, j, off, w);
    case Op::kVariant:
      return PutVariant(n, j, off, w);
    case Op::kPtr:
      return PutPtr(n.args[0], j, off, w);
    case Op::kSet:
    case Op::kMap:
    case Op::kHashSet:
    case Op::kHashMap:
      return PutKeyed(node, j, off, w);
  }
  return absl::OkStatus();
}

absl::Status JsonGraphBuilder::PutScalar(const Node& n, const Json& j,
                                         std::uint64_t off, const Where& w) {
  switch (n.op) {
    case Op::kBool:
      if (!j.is_boolean()) return Bad(w, "true or false", j);
      g_->Store<std::uint8_t>(off, j.get<bool>() ? 1 : 0);
      return absl::OkStatus();
    case Op::kChar: {
      std::optional<std::int64_t> c = SignedOf(j);
      if (j.is_string() && j.get_ref<const std::string&>().size() == 1) {
        c = static_cast<unsigned char>(j.get_ref<const std::string&>()[0]);
      }
      if (!c || *c < -128 || *c > 255) {
        return Bad(w, "a one-byte string or a number for a char", j);
      }
      g_->Store(off, static_cast<char>(*c));
      return absl::OkStatus();
    }
    case Op::kSigned: {
      const std::optional<std::int64_t> v = SignedOf(j);
      const int bits = static_cast<int>(8 * n.size);
      if (!v || (bits < 64 && (*v < -(std::int64_t{1} << (bits - 1)) ||
                               *v >= (std::int64_t{1} << (bits - 1))))) {
        return Bad(w, absl::StrFormat("an integer that fits %s", n.expression),
                   j);
      }
      std::memcpy(g_->data() + off, &*v, n.size);  // little-endian
      return absl::OkStatus();
    }
    case Op::kUnsigned: {
      const int bits = static_cast<int>(8 * n.size);
      if (!j.is_number_unsigned() ||
          (bits < 64 && j.get<std::uint64_t>() >> bits != 0)) {
        return Bad(w, absl::StrFormat("an integer that fits %s", n.expression),
                   j);
      }
      const std::uint64_t v = j.get<std::uint64_t>();
      std::memcpy(g_->data() + off, &v, n.size);
      return absl::OkStatus();
    }
    case Op::kFloat: {
      double d;
      if (j.is_number()) {
        d = j.get<double>();
      } else if (j == "NaN") {
        d = std::numeric_limits<double>::quiet_NaN();
      } else if (j == "Infinity" || j == "-Infinity") {
        d = j == "Infinity" ? HUGE_VAL : -HUGE_VAL;
      } else {
        return Bad(w, "a number, \"NaN\", \"Infinity\" or \"-Infinity\"", j);
      }
      if (n.size == 4) {
        if (std::isfinite(d) &&
            std::fabs(d) > std::numeric_limits<float>::max()) {
          return Bad(w, "a number that fits f32", j);
        }
        g_->Store(off, static_cast<float>(d));
      } else {
        g_->Store(off, d);
      }
      return absl::OkStatus();
    }
    case Op::kNone:
      if (!j.is_null()) return Bad(w, "null", j);
      return absl::OkStatus();
    case Op::kString: {
      const std::optional<std::string> s = StringOf(j);
      if (!s) return Bad(w, "a string or {\"$base64\": ...}", j);
      g_->PutBytes(off, *s);
      return absl::OkStatus();
    }
    default:
      break;
  }
  return absl::OkStatus();
}

absl::Status JsonGraphBuilder::PutStruct(const Node& n, const Json& j,
                                         std::uint64_t off, const Where& w) {
  if (!j.is_object()) return Bad(w, "an object (" + n.expression + ")", j);
  std::size_t found = 0;
  for (std::size_t k = 0; k < n.args.size(); ++k) {
    const auto it = j.find(n.names[k]);
    const Where at{&w, n.names[k], 0};
    if (it == j.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(Path(at), ": missing (a field of ", n.expression, ")"));
    }
    ++found;
    if (absl::Status s = Put(n.args[k], *it, off + n.offsets[k], at); !s.ok()) {
      return s;
    }
  }
  if (found != j.size()) {
    for (const auto& [k, v] : j.items()) {
      if (std::find(n.names.begin(), n.names.end(), k) == n.names.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            Path(w), ": ", n.expression, " has no field '", k, "'"));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status JsonGraphBuilder::PutOptional(const Node& n, const Json& j,
                                           std::uint64_t off, const Where& w) {
  if (j.is_null()) return absl::OkStatus();
  const int e = n.args[0];
  const Json* inner = &j;
  if (n_[e].maybe_null) {
    if (!j.is_array() || j.size() != 1) {
      return Bad(w, "null or [value] (an optional of a nullable type)", j);
    }
    inner = &j[0];
  }
  if (absl::Status s = Put(e, *inner, off, w); !s.ok()) return s;
  g_->Store<std::uint8_t>(off + n_[e].size, 1);
  return absl::OkStatus();
}

absl::Status JsonGraphBuilder::PutVariant(const Node& n, const Json& j,
                                          std::uint64_t off, const Where& w) {
  const auto index = j.is_object() ? j.find("index") : j.end();
  const auto value = j.is_object() ? j.find("value") : j.end();
  if (index == j.end() || value == j.end() || !index->is_number_unsigned() ||
      index->get<std::uint64_t>() >= n.args.size()) {
    return Bad(w,
               absl::StrFormat("{\"index\": 0..%d, \"value\": ...}",
                               n.args.size() - 1),
               j);
  }
  const auto i = index->get<std::uint32_t>();
  const Where at{&w, "value", 0};
  if (absl::Status s = Put(n.args[i], *value, off, at); !s.ok()) return s;
  g_->Store<std::uint32_t>(off + n.offsets[0], i);
  return absl::OkStatus();
}

absl::Status JsonGraphBuilder::PutBlock(int elem, const Json& j,
                                        std::uint64_t off, const Where& w) {
  // The elements' bytes as they lie in memory (a numpy array's buffer):
  // only for elements that hold no pointer and whose every bit pattern is
  // valid (bools checked).
  const Node& e = n_[elem];
  const auto& bin = j.get_binary();
  std::string_view b(reinterpret_cast<const char*>(bin.data()), bin.size());
  if (bin.has_subtype() && bin.subtype() == JsonGraph::kBlockRef) {
    std::uint64_t index = ~std::uint64_t{0};
    if (bin.size() == 8) std::memcpy(&index, bin.data(), 8);
    if (index >= blocks_.size()) {
      return Bad(w, "a reference to one of the caller's blocks", j);
    }
    b = blocks_[index];
  }
  if (!(e.trivial || e.op == Op::kBool) || b.size() % e.size != 0) {
    return Bad(w,
               absl::StrFormat("an array (a block of bytes stands only for "
                               "numbers, %d bytes each)",
                               e.size),
               j);
  }
  if (e.op == Op::kBool) {
    for (std::size_t k = 0; k < b.size(); ++k) {
      if (static_cast<std::uint8_t>(b[k]) > 1) {
        const Where at{&w, {}, k};
        return Bad(at, "true or false (a byte 0 or 1)",
                   Json(static_cast<std::uint8_t>(b[k])));
      }
    }
  }
  const std::uint64_t count = b.size() / e.size;
  const std::uint64_t data = g_->Alloc(b.size(), e.align);
  if (count != 0) {
    g_->StorePointer(off, data);
    std::memcpy(g_->data() + data, b.data(), b.size());
  }
  g_->Store<std::uint64_t>(off + 8, count);
  return absl::OkStatus();
}

absl::Status JsonGraphBuilder::PutArray(int elem, const Json& j,
                                        std::uint64_t off, const Where& w) {
  const Node& e = n_[elem];
  const std::uint64_t data = g_->Alloc(j.size() * e.size, e.align);
  if (!j.empty()) g_->StorePointer(off, data);
  g_->Store<std::uint64_t>(off + 8, j.size());
  for (std::size_t k = 0; k < j.size(); ++k) {
    const Where at{&w, {}, k};
    if (absl::Status s = Put(elem, j[k], data + k * e.size, at); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status JsonGraphBuilder::PutPtr(int e, const Json& j, std::uint64_t off,
                                      const Where& w) {
  if (j.is_null()) return absl::OkStatus();
  const Json* content = &j;
  std::optional<std::int64_t> def;
  if (j.is_object() && j.contains("$ref")) {
    const std::optional<std::int64_t> id = SignedOf(j["$ref"]);
    if (j.size() != 1 || !id) return Bad(w, "{\"$ref\": N}", j);
    auto [it, fresh] = ids_.try_emplace(*id, Id{0, e, false});
    if (fresh) it->second.off = g_->Alloc(n_[e].size, n_[e].align);
    if (!n_.Same(it->second.node, e)) {
      return Bad(w, "a $ref to a " + n_[e].expression, j);
    }
    g_->StorePointer(off, it->second.off);
    return absl::OkStatus();
  }
  if (j.is_object() && j.contains("$id")) {
    def = SignedOf(j["$id"]);
    if (j.size() != 2 || !def || *def <= 0 || !j.contains("$value")) {
      return Bad(w, "{\"$id\": N > 0, \"$value\": ...}", j);
    }
    content = &j["$value"];
  } else if (j.is_object() && j.contains("$value")) {
    if (j.size() != 1) return Bad(w, "{\"$value\": ...}", j);
    content = &j["$value"];
  }
  std::uint64_t target;
  if (def) {
    auto [it, fresh] = ids_.try_emplace(*def, Id{0, e, false});
    if (fresh) it->second.off = g_->Alloc(n_[e].size, n_[e].align);
    if (it->second.defined) {
      return Bad(w, absl::StrFormat("\"$id\" %d once only", *def), j);
    }
    if (!n_.Same(it->second.node, e)) {
      return Bad(w, "an object of the type its $refs point to", j);
    }
    it->second.defined = true;
    target = it->second.off;
  } else {
    target = g_->Alloc(n_[e].size, n_[e].align);
  }
  g_->StorePointer(off, target);
  tasks_.push_back(Queue(e, content, target, w));
  return absl::OkStatus();
}

absl::StatusOr<std::string> ParseJsonBytes(std::string_view json) {
  const Json j = Json::parse(json.begin(), json.end(), nullptr, false);
  std::optional<std::string> bytes =
      j.is_discarded() ? std::nullopt : StringOf(j);
  if (!bytes) {
    return absl::InvalidArgumentError(
        "expected a JSON string or {\"$base64\": ...}");
  }
  return *std::move(bytes);
}

FlatGraph::FlatGraph() = default;
FlatGraph::FlatGraph(FlatGraph&&) noexcept = default;
FlatGraph& FlatGraph::operator=(FlatGraph&&) noexcept = default;
FlatGraph::~FlatGraph() = default;

absl::StatusOr<JsonGraph> JsonGraph::Build(const Schema& schema,
                                           std::string_view json,
                                           std::string_view member) {
  Json doc;
  try {
    doc = Json::parse(json.begin(), json.end());
  } catch (const Json::exception& e) {
    std::string what = e.what();
    if (const auto p = what.find("] "); p != std::string::npos) {
      what = what.substr(p + 2);
    }
    return absl::InvalidArgumentError("bad JSON: " + what);
  }
  const Json* value = &doc;
  if (!member.empty()) {
    const auto it = doc.is_object() ? doc.find(std::string(member)) : doc.end();
    if (it == doc.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad JSON: no member \"", schema_internal::Av(member), "\""));
    }
    value = &*it;
  }
  return BuildFromDocument(schema, *value);
}

absl::StatusOr<JsonGraph> JsonGraph::BuildFromDocument(
    const Schema& schema, const Json& doc,
    absl::Span<const std::string_view> blocks) {
  Nodes nodes;
  if (absl::Status s = Nodes::Compile(schema, &nodes); !s.ok()) return s;
  JsonGraph g;
  JsonGraphBuilder builder(nodes, &g, blocks);
  if (absl::Status s = builder.Build(doc); !s.ok()) return s;
  return g;
}

void FlatGraph::Reserve(std::uint64_t bytes) {
  if (bytes <= capacity_) return;
  const std::uint64_t cap = (bytes + 63) / 64 * 64;
  char* p = static_cast<char*>(std::aligned_alloc(64, cap));
  if (p == nullptr) {
    internal::Fatal("ancient: no memory for a graph being built");
  }
  if (size_ != 0) std::memcpy(p, data(), size_);
  data_.reset(p);
  capacity_ = cap;
}

namespace {
// Adds `base` to every pointer slot of d.
void Relocate(const std::vector<std::uint64_t>& slots, char* d,
              std::uint64_t base) {
  for (const std::uint64_t slot : slots) {
    std::uint64_t v;
    std::memcpy(&v, d + slot, sizeof v);
    v += base;
    std::memcpy(d + slot, &v, sizeof v);
  }
}
}  // namespace

std::string FlatGraph::Write(void* dest, const void* address, bool) const {
  if (size_ != 0) std::memcpy(dest, data(), size_);
  Relocate(slots_, static_cast<char*>(dest),
           reinterpret_cast<std::uint64_t>(address ? address : dest));
  std::vector<std::uint64_t> slots = slots_;
  return EncodeRelocations(slots);
}

void FlatGraph::Place(void* dest) const {
  if (size_ != 0) std::memcpy(dest, data(), size_);
  Relocate(slots_, static_cast<char*>(dest),
           reinterpret_cast<std::uint64_t>(dest));
}

std::unique_ptr<char, void (*)(void*)> FlatGraph::PlaceWhereBuilt() && {
  Reserve(64);  // an empty graph too gets memory of its own
  Relocate(slots_, data(), reinterpret_cast<std::uint64_t>(data()));
  std::unique_ptr<char, void (*)(void*)> out(data_.release(), std::free);
  size_ = capacity_ = 0;
  slots_.clear();
  return out;
}

}  // namespace ancient
