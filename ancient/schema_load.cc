// JsonGraph: a frozen graph built from JSON by a schema (the form that
// WriteGraphJson writes; see schema_graph.h).

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <numeric>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ancient/block.h"
#include "ancient/hash.h"
#include "ancient/schema_graph.h"
#include "ancient/schema_nodes.h"

namespace ancient {

// Not ordered_json: its objects are vectors of pair<const string, json>,
// which copy (recursively, on the C++ stack) whenever they grow. Member
// order matters nowhere (fields go by name, maps are sorted, hash maps are
// written sorted by key; see WriteGraphJson).
using Json = nlohmann::json;
using schema_internal::Node;
using schema_internal::Nodes;
using schema_internal::Op;

namespace {

// Where a JSON value is, for messages: a chain of steps on the C++ stack,
// from the value a queued task started at (`task`, -1 for the document).
struct Where {
  const Where* parent;
  std::string_view key;  // a member name, or empty for an index
  std::uint64_t index;
  std::int64_t task = -1;  // at the chain's start
  const Where& start() const { return parent ? parent->start() : *this; }
  // The steps from the chain's start: ".next[3]".
  std::string steps() const {
    if (parent == nullptr) return "";
    const std::string s = parent->steps();
    return key.empty() ? absl::StrCat(s, "[", index, "]")
                       : absl::StrCat(s, ".", schema_internal::Av(key));
  }
};

// One scalar of a sort key: keys compare as tuples of these.
using Scalar = std::variant<std::int64_t, std::uint64_t, double, std::string>;

// A map's or set's entry: its key (a JSON value, or an object member name)
// and its value (null for sets).
struct Entry {
  const Json* key;
  const std::string* name;
  const Json* value;
};

std::optional<std::string> StringOf(const Json& j) {
  if (j.is_string()) return j.get_ref<const std::string&>();
  if (j.is_object() && j.size() == 1 && j.contains("$base64")) {
    const Json& b = j["$base64"];
    std::string out;
    if (b.is_string() &&
        absl::Base64Unescape(b.get_ref<const std::string&>(), &out)) {
      return out;
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> SignedOf(const Json& j) {
  if (j.is_number_unsigned()) {
    const auto u = j.get<std::uint64_t>();
    if (u >
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return static_cast<std::int64_t>(u);
  }
  if (j.is_number_integer()) return j.get<std::int64_t>();
  return std::nullopt;
}

}  // namespace

class JsonGraphBuilder {
 public:
  JsonGraphBuilder(const Nodes& nodes, JsonGraph* g) : n_(nodes), g_(g) {}

  absl::Status Build(const Json& doc) {
    Alloc(n_[0].size, 64);
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

 private:
  struct Task {
    int node = 0;
    const Json* json = nullptr;
    std::uint64_t off = 0;
    std::int64_t parent = -1;  // the task that queued it
    std::string steps;         // from where that task started
    bool value_array = false, value_object = false;
  };
  struct Id {
    std::uint64_t off;
    int node;
    bool defined;
  };

  // The full path of w: "$" and the steps of every task down to it. Only
  // errors pay for it.
  std::string Path(const Where& w) const {
    std::string out = w.steps();
    for (std::int64_t t = w.start().task; t >= 0; t = tasks_[t].parent) {
      out = tasks_[t].steps + out;
    }
    return "$" + out;
  }
  Task Queue(int node, const Json* j, std::uint64_t off, const Where& w) const {
    Task t;
    t.node = node;
    t.json = j;
    t.off = off;
    t.parent = w.start().task;
    t.steps = w.steps();
    return t;
  }

  absl::Status Bad(const Where& w, std::string_view what, const Json& j) const {
    std::string shown =
        j.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
    if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
    return absl::InvalidArgumentError(absl::StrCat(
        Path(w), ": expected ", schema_internal::Av(what), ", found ", shown));
  }

  std::uint64_t Alloc(std::uint64_t size, std::uint64_t align) {
    std::string& b = g_->bytes_;
    const std::uint64_t off = (b.size() + align - 1) / align * align;
    b.resize(off + size);
    return off;
  }
  template <class V>
  void Store(std::uint64_t off, const V& v) {
    std::memcpy(g_->bytes_.data() + off, &v, sizeof v);
  }
  void StorePointer(std::uint64_t slot, std::uint64_t target) {
    Store(slot, target);
    g_->slots_.push_back(slot);
  }
  void PutBytes(std::uint64_t off, std::string_view s) {
    const std::uint64_t data = Alloc(s.size() + 1, 1);
    if (!s.empty()) std::memcpy(g_->bytes_.data() + data, s.data(), s.size());
    StorePointer(off, data);
    Store<std::uint64_t>(off + 8, s.size());
  }

  absl::Status Put(int node, const Json& j, std::uint64_t off, const Where& w) {
    const Node& n = n_[node];
    switch (n.op) {
      case Op::kBool:
        if (!j.is_boolean()) return Bad(w, "true or false", j);
        Store<std::uint8_t>(off, j.get<bool>() ? 1 : 0);
        return absl::OkStatus();
      case Op::kChar: {
        std::optional<std::int64_t> c = SignedOf(j);
        if (j.is_string() && j.get_ref<const std::string&>().size() == 1) {
          c = static_cast<unsigned char>(j.get_ref<const std::string&>()[0]);
        }
        if (!c || *c < -128 || *c > 255) {
          return Bad(w, "a one-byte string or a number for a char", j);
        }
        Store(off, static_cast<char>(*c));
        return absl::OkStatus();
      }
      case Op::kSigned: {
        const std::optional<std::int64_t> v = SignedOf(j);
        const int bits = static_cast<int>(8 * n.size);
        if (!v || (bits < 64 && (*v < -(std::int64_t{1} << (bits - 1)) ||
                                 *v >= (std::int64_t{1} << (bits - 1))))) {
          return Bad(
              w, absl::StrFormat("an integer that fits %s", n.expression), j);
        }
        std::memcpy(g_->bytes_.data() + off, &*v, n.size);  // little-endian
        return absl::OkStatus();
      }
      case Op::kUnsigned: {
        const int bits = static_cast<int>(8 * n.size);
        if (!j.is_number_unsigned() ||
            (bits < 64 && j.get<std::uint64_t>() >> bits != 0)) {
          return Bad(
              w, absl::StrFormat("an integer that fits %s", n.expression), j);
        }
        const std::uint64_t v = j.get<std::uint64_t>();
        std::memcpy(g_->bytes_.data() + off, &v, n.size);
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
          Store(off, static_cast<float>(d));
        } else {
          Store(off, d);
        }
        return absl::OkStatus();
      }
      case Op::kNone:
        if (!j.is_null()) return Bad(w, "null", j);
        return absl::OkStatus();
      case Op::kString: {
        const std::optional<std::string> s = StringOf(j);
        if (!s) return Bad(w, "a string or {\"$base64\": ...}", j);
        PutBytes(off, *s);
        return absl::OkStatus();
      }
      case Op::kValue:
        return PutValue(node, j, off, w);
      case Op::kVector: {
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
      case Op::kStruct: {
        if (!j.is_object())
          return Bad(w, "an object (" + n.expression + ")", j);
        std::size_t found = 0;
        for (std::size_t k = 0; k < n.args.size(); ++k) {
          const auto it = j.find(n.names[k]);
          const Where at{&w, n.names[k], 0};
          if (it == j.end()) {
            return absl::InvalidArgumentError(absl::StrCat(
                Path(at), ": missing (a field of ", n.expression, ")"));
          }
          ++found;
          if (absl::Status s = Put(n.args[k], *it, off + n.offsets[k], at);
              !s.ok()) {
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
      case Op::kOptional: {
        if (j.is_null()) return absl::OkStatus();
        const int e = n.args[0];
        const Json* inner = &j;
        if (n_[e].maybe_null) {
          if (!j.is_array() || j.size() != 1) {
            return Bad(w, "null or [value] (an optional of a nullable type)",
                       j);
          }
          inner = &j[0];
        }
        if (absl::Status s = Put(e, *inner, off, w); !s.ok()) return s;
        Store<std::uint8_t>(off + n_[e].size, 1);
        return absl::OkStatus();
      }
      case Op::kVariant: {
        const auto index = j.is_object() ? j.find("index") : j.end();
        const auto value = j.is_object() ? j.find("value") : j.end();
        if (index == j.end() || value == j.end() ||
            !index->is_number_unsigned() ||
            index->get<std::uint64_t>() >= n.args.size()) {
          return Bad(w,
                     absl::StrFormat("{\"index\": 0..%d, \"value\": ...}",
                                     n.args.size() - 1),
                     j);
        }
        const auto i = index->get<std::uint32_t>();
        const Where at{&w, "value", 0};
        if (absl::Status s = Put(n.args[i], *value, off, at); !s.ok()) return s;
        Store<std::uint32_t>(off + n.offsets[0], i);
        return absl::OkStatus();
      }
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

  absl::Status PutArray(int elem, const Json& j, std::uint64_t off,
                        const Where& w) {
    const Node& e = n_[elem];
    const std::uint64_t data = Alloc(j.size() * e.size, e.align);
    if (!j.empty()) StorePointer(off, data);
    Store<std::uint64_t>(off + 8, j.size());
    for (std::size_t k = 0; k < j.size(); ++k) {
      const Where at{&w, {}, k};
      if (absl::Status s = Put(elem, j[k], data + k * e.size, at); !s.ok()) {
        return s;
      }
    }
    return absl::OkStatus();
  }

  absl::Status PutPtr(int e, const Json& j, std::uint64_t off, const Where& w) {
    if (j.is_null()) return absl::OkStatus();
    const Json* content = &j;
    std::optional<std::int64_t> def;
    if (j.is_object() && j.contains("$ref")) {
      const std::optional<std::int64_t> id = SignedOf(j["$ref"]);
      if (j.size() != 1 || !id) return Bad(w, "{\"$ref\": N}", j);
      auto [it, fresh] = ids_.try_emplace(*id, Id{0, e, false});
      if (fresh) it->second.off = Alloc(n_[e].size, n_[e].align);
      if (!n_.Same(it->second.node, e)) {
        return Bad(w, "a $ref to a " + n_[e].expression, j);
      }
      StorePointer(off, it->second.off);
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
      if (fresh) it->second.off = Alloc(n_[e].size, n_[e].align);
      if (it->second.defined) {
        return Bad(w, absl::StrFormat("\"$id\" %d once only", *def), j);
      }
      if (!n_.Same(it->second.node, e)) {
        return Bad(w, "an object of the type its $refs point to", j);
      }
      it->second.defined = true;
      target = it->second.off;
    } else {
      target = Alloc(n_[e].size, n_[e].align);
    }
    StorePointer(off, target);
    tasks_.push_back(Queue(e, content, target, w));
    return absl::OkStatus();
  }

  // ---- value

  // A Value (node `value`: a variant of the JSON kinds, kValueIndexAt).
  absl::Status PutValue(int value, const Json& j, std::uint64_t off,
                        const Where& w) {
    std::uint32_t type;
    switch (j.type()) {
      case Json::value_t::null:
        type = 0;
        break;
      case Json::value_t::boolean:
        type = 1;
        Store<std::uint8_t>(off, j.get<bool>());
        break;
      case Json::value_t::number_integer:
      case Json::value_t::number_unsigned:
        if (const auto v = SignedOf(j)) {
          type = 2;
          Store(off, *v);
        } else {
          type = 3;
          Store(off, j.get<double>());
        }
        break;
      case Json::value_t::number_float:
        type = 3;
        Store(off, j.get<double>());
        break;
      case Json::value_t::string:
        type = 4;
        PutBytes(off, j.get_ref<const std::string&>());
        break;
      case Json::value_t::array:
      case Json::value_t::object:
        type = j.is_array() ? 5 : 6;
        if (!j.empty()) {
          Task t = Queue(value, &j, off, w);
          (j.is_array() ? t.value_array : t.value_object) = true;
          tasks_.push_back(std::move(t));
        }
        break;
      default:
        return Bad(w, "a JSON value", j);
    }
    Store<std::uint32_t>(off + schema_internal::kValueIndexAt, type);
    return absl::OkStatus();
  }

  absl::Status ValueArray(int value, const Json& j, std::uint64_t off,
                          const Where& w) {
    const Node& e = n_[value];
    const std::uint64_t data = Alloc(j.size() * e.size, e.align);
    StorePointer(off, data);
    Store<std::uint64_t>(off + 8, j.size());
    for (std::size_t k = 0; k < j.size(); ++k) {
      const Where at{&w, {}, k};
      absl::Status s = PutValue(value, j[k], data + k * e.size, at);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Members in key order, as FrozenValue::Object keeps them: the order the
  // parsed object (a std::map of std::string) iterates in.
  absl::Status ValueObject(int value, const Json& j, std::uint64_t off,
                           const Where& w) {
    const Node& e = n_[n_[value].args[1]];  // the entry: pair<string, value>
    const std::uint64_t data = Alloc(j.size() * e.size, e.align);
    StorePointer(off, data);
    Store<std::uint64_t>(off + 8, j.size());
    std::uint64_t at = data;
    for (const auto& [k, v] : j.items()) {
      PutBytes(at, k);
      const Where kw{&w, k, 0};
      absl::Status s = PutValue(value, v, at + e.offsets[1], kw);
      if (!s.ok()) return s;
      at += e.size;
    }
    return absl::OkStatus();
  }

  // ---- maps and sets

  // The key as a tuple of scalars, for ordering; false when its order is
  // not known here (or it is malformed: Put then says how).
  bool SortKey(int node, const Json* j, const std::string* name,
               std::vector<Scalar>* out) const {
    const Node& n = n_[node];
    switch (n.op) {
      case Op::kString: {
        if (name != nullptr) {
          out->emplace_back(*name);
          return true;
        }
        std::optional<std::string> s = StringOf(*j);
        if (!s) return false;
        out->emplace_back(std::move(*s));
        return true;
      }
      case Op::kChar: {
        const std::string* s =
            name != nullptr
                ? name
                : (j->is_string() ? &j->get_ref<const std::string&>()
                                  : nullptr);
        std::optional<std::int64_t> c =
            s == nullptr ? SignedOf(*j) : std::optional<std::int64_t>();
        if (s != nullptr && s->size() == 1) c = (*s)[0];
        if (!c) return false;
        out->emplace_back(
            static_cast<std::int64_t>(static_cast<signed char>(*c)));
        return true;
      }
      case Op::kBool:
        if (name != nullptr || !j->is_boolean()) return false;
        out->emplace_back(std::int64_t{j->get<bool>()});
        return true;
      case Op::kSigned:
        if (name != nullptr || !SignedOf(*j)) return false;
        out->emplace_back(*SignedOf(*j));
        return true;
      case Op::kUnsigned:
        if (name != nullptr || !j->is_number_unsigned()) return false;
        out->emplace_back(j->get<std::uint64_t>());
        return true;
      case Op::kFloat:
        if (name != nullptr || !j->is_number()) return false;
        out->emplace_back(j->get<double>());
        return true;
      case Op::kPair:
      case Op::kTuple:
        if (name != nullptr || !j->is_array() || j->size() != n.args.size()) {
          return false;
        }
        for (std::size_t k = 0; k < n.args.size(); ++k) {
          if (!SortKey(n.args[k], &(*j)[k], nullptr, out)) return false;
        }
        return true;
      default:
        return false;
    }
  }

  // StableHash of the key, as the heap key hashes (hash.h); nullopt when
  // the key's type cannot key a hash container.
  std::optional<std::uint64_t> HashKey(int node, const Json* j,
                                       const std::string* name) const {
    const Node& n = n_[node];
    std::vector<Scalar> k;
    switch (n.op) {
      case Op::kString:
      case Op::kChar:
      case Op::kBool:
      case Op::kSigned:
      case Op::kUnsigned:
      case Op::kFloat: {
        if (!SortKey(node, j, name, &k)) return std::nullopt;
        if (const auto* s = std::get_if<std::string>(&k[0])) {
          return StableHash(std::string_view(*s));
        }
        if (const auto* i = std::get_if<std::int64_t>(&k[0])) {
          return internal::Mix64(static_cast<std::uint64_t>(*i));
        }
        if (const auto* u = std::get_if<std::uint64_t>(&k[0])) {
          return internal::Mix64(*u);
        }
        return StableHash(std::get<double>(k[0]));
      }
      case Op::kPair:
      case Op::kTuple: {
        if (!j->is_array() || j->size() != n.args.size()) return std::nullopt;
        std::uint64_t acc = internal::kHashSeed;
        for (std::size_t i = 0; i < n.args.size(); ++i) {
          const auto h = HashKey(n.args[i], &(*j)[i], nullptr);
          if (!h) return std::nullopt;
          acc = internal::Combine(acc, *h);
        }
        return acc;
      }
      default:
        return std::nullopt;
    }
  }

  absl::Status PutKeyed(int node, const Json& j, std::uint64_t off,
                        const Where& w) {
    const Node& n = n_[node];
    const bool is_map = n.op == Op::kMap || n.op == Op::kHashMap;
    const bool hashed = n.op == Op::kHashSet || n.op == Op::kHashMap;
    const int elem = n.args[0];  // the entry pair, or the set's key
    const int key = is_map ? n.args[1] : elem;
    std::vector<Entry> entries;
    entries.reserve(j.size());
    if (is_map && j.is_object() &&
        (n_[key].op == Op::kString || n_[key].op == Op::kChar)) {
      for (const auto& [k, v] : j.items()) entries.push_back({nullptr, &k, &v});
    } else if (j.is_array()) {
      for (std::size_t i = 0; i < j.size(); ++i) {
        const Json& e = j[i];
        if (!is_map) {
          entries.push_back({&e, nullptr, nullptr});
        } else if (e.is_array() && e.size() == 2) {
          entries.push_back({&e[0], nullptr, &e[1]});
        } else {
          return Bad(Where{&w, {}, i}, "a [key, value] pair", e);
        }
      }
    } else {
      return Bad(
          w,
          is_map ? "an object or an array of [key, value] pairs" : "an array",
          j);
    }
    // Sorted by key where the order is known (and checked for duplicates).
    std::vector<std::vector<Scalar>> keys(entries.size());
    bool ordered = true;
    for (std::size_t i = 0; i < entries.size() && ordered; ++i) {
      ordered = SortKey(key, entries[i].key, entries[i].name, &keys[i]);
    }
    std::vector<std::size_t> order(entries.size());
    std::iota(order.begin(), order.end(), 0);
    if (ordered) {
      std::vector<std::size_t> sorted = order;
      std::stable_sort(sorted.begin(), sorted.end(),
                       [&](auto a, auto b) { return keys[a] < keys[b]; });
      for (std::size_t i = 1; i < sorted.size(); ++i) {
        if (keys[sorted[i - 1]] == keys[sorted[i]]) {
          return absl::InvalidArgumentError(absl::StrCat(
              Path(Where{&w, {}, sorted[i]}), ": a key given twice"));
        }
      }
      if (!hashed) order = std::move(sorted);
    }
    const Node& e = n_[elem];
    const std::uint64_t count = entries.size();
    const std::uint64_t data = Alloc(count * e.size, e.align);
    // Where each entry goes: its index, or for hash containers its slot.
    std::vector<std::uint64_t> slot(count);
    if (!hashed) {
      for (std::uint64_t i = 0; i < count; ++i) slot[order[i]] = i;
      if (count != 0) StorePointer(off, data);
      Store<std::uint64_t>(off + 8, count);
    } else {
      std::uint64_t buckets = 1;
      while (buckets < count) buckets <<= 1;
      const std::uint64_t starts = Alloc((buckets + 1) * 8, 8);
      std::vector<std::uint64_t> bucket(count), fill(buckets + 1, 0);
      for (std::uint64_t i = 0; i < count; ++i) {
        const auto h = HashKey(key, entries[i].key, entries[i].name);
        if (!h) {
          return absl::InvalidArgumentError(absl::StrCat(Path(Where{&w, {}, i}),
                                                         ": not a key of type ",
                                                         n_[key].expression));
        }
        bucket[i] = *h & (buckets - 1);
        ++fill[bucket[i] + 1];
      }
      for (std::uint64_t b = 0; b < buckets; ++b) fill[b + 1] += fill[b];
      for (std::uint64_t b = 0; b <= buckets; ++b) {
        Store(starts + 8 * b, fill[b]);
      }
      for (std::uint64_t i = 0; i < count; ++i) slot[i] = fill[bucket[i]]++;
      if (count != 0) StorePointer(off, data);
      StorePointer(off + 8, starts);
      Store<std::uint64_t>(off + 16, count);
      Store<std::uint64_t>(off + 24, buckets - 1);
    }
    for (std::uint64_t i = 0; i < count; ++i) {
      const std::uint64_t at = data + slot[i] * e.size;
      const Entry& en = entries[i];
      const Where ew = en.name ? Where{&w, *en.name, 0} : Where{&w, {}, i};
      absl::Status s;
      if (en.name != nullptr) {  // an object member: its name is the key
        if (n_[key].op == Op::kChar) {
          if (en.name->size() != 1) return Bad(ew, "a one-byte key", *en.value);
          Store(at, (*en.name)[0]);
        } else {
          PutBytes(at, *en.name);
        }
      } else {
        s = Put(key, *en.key, at, ew);
      }
      if (s.ok() && is_map)
        s = Put(n.args[2], *en.value, at + e.offsets[1], ew);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  const Nodes& n_;
  JsonGraph* g_;
  std::vector<Task> tasks_;
  absl::flat_hash_map<std::int64_t, Id> ids_;
};

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

JsonGraph::JsonGraph(JsonGraph&&) noexcept = default;
JsonGraph& JsonGraph::operator=(JsonGraph&&) noexcept = default;
JsonGraph::~JsonGraph() = default;

absl::StatusOr<JsonGraph> JsonGraph::Build(const Schema& schema,
                                           std::string_view json,
                                           std::string_view member) {
  Nodes nodes;
  if (absl::Status s = Nodes::Compile(schema, &nodes); !s.ok()) return s;
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
  JsonGraph g;
  JsonGraphBuilder builder(nodes, &g);
  if (absl::Status s = builder.Build(*value); !s.ok()) return s;
  return g;
}

std::string JsonGraph::Write(void* dest, const void* address, bool) const {
  char* d = static_cast<char*>(dest);
  std::memcpy(d, bytes_.data(), bytes_.size());
  const auto base = reinterpret_cast<std::uint64_t>(address ? address : dest);
  for (const std::uint64_t slot : slots_) {
    std::uint64_t v;
    std::memcpy(&v, d + slot, sizeof v);
    v += base;
    std::memcpy(d + slot, &v, sizeof v);
  }
  std::vector<std::uint64_t> slots = slots_;
  return EncodeRelocations(slots);
}

}  // namespace ancient
