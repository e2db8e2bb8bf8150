// The JSON writer, by schema (the JSON form is documented in
// schema_graph.h). The typed check is in check.h, path steps in path.cc,
// the JSON reader in json_in.cc.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ancient/schema/check.h"
#include "ancient/schema/nodes.h"
#include "ancient/schema/schema_graph.h"
#include "ancient/value.h"

namespace ancient {
namespace {

using schema_internal::Checker;
using schema_internal::kValueIndexAt;
using schema_internal::Node;
using schema_internal::Nodes;
using schema_internal::ObjectKey;
using schema_internal::Op;
using schema_internal::RefCounts;
using schema_internal::Step;
using schema_internal::View;
// ------------------------------------------------------------ JSON out

void AppendDouble(double d, std::string* out) {
  if (std::isnan(d)) {
    out->append("\"NaN\"");
    return;
  }
  if (std::isinf(d)) {
    out->append(d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, d);
  const std::string_view s(buf, r.ptr - buf);
  out->append(s);
  if (s.find_first_of(".e") == std::string_view::npos) out->append(".0");
}

// A JSON string of bytes known to be valid UTF-8.
void AppendQuoted(std::string_view s, std::string* out) {
  out->push_back('"');
  std::size_t run = 0;  // start of the bytes not yet copied
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.substr(run, i - run));
    run = i + 1;
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\r':
        out->append("\\r");
        break;
      default:
        absl::StrAppendFormat(out, "\\u%04x", c);
    }
  }
  out->append(s.substr(run));
  out->push_back('"');
}

// Any bytes: a JSON string when valid UTF-8, else {"$base64": "..."}.
void AppendBytes(std::string_view s, std::string* out) {
  if (schema_internal::ValidUtf8(s)) return AppendQuoted(s, out);
  out->append("{\"$base64\":\"");
  out->append(absl::Base64Escape(absl::string_view(s.data(), s.size())));
  out->append("\"}");
}

// Any bytes, invalid UTF-8 replaced by U+FFFD: what ToJson(Value) writes,
// through the same nlohmann error handler.
void AppendLossy(std::string_view s, std::string* out) {
  if (schema_internal::ValidUtf8(s)) return AppendQuoted(s, out);
  out->append(
      nlohmann::json(std::string(s))
          .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

bool IsWrapperKey(std::string_view k) {
  return k == "$id" || k == "$ref" || k == "$value";
}

class Printer {
 public:
  Printer(const Nodes& nodes, const View& view, const RefCounts& refs,
          bool pretty, absl::FunctionRef<void(std::string_view)> sink)
      : n_(nodes), v_(view), refs_(refs), pretty_(pretty), sink_(sink) {}

  void Print(int node, std::uint64_t off) {
    ids_[{off, node}] = 0;
    Emit(node, off);
    while (!stack_.empty()) {
      Frame& f = stack_.back();
      if (f.i == f.n) {
        const char close =
            f.mode == Mode::kArray || f.mode == Mode::kItems ? ']' : '}';
        const bool had = f.n != 0 || f.mode == Mode::kClose;
        if (f.order >= 0) orders_.pop_back();
        stack_.pop_back();
        if (had) NewLine();
        out_.push_back(close);
        continue;
      }
      const std::uint64_t i = f.i++;
      if (i != 0) out_.push_back(',');
      NewLine();
      const Node& fn = n_[f.node];
      switch (f.mode) {
        case Mode::kStruct:
          Key(fn.names[i]);
          Emit(fn.args[i], f.off + fn.offsets[i]);
          break;
        case Mode::kItems:
          Emit(fn.args[i], f.off + fn.offsets[i]);
          break;
        case Mode::kArray:
          Emit(f.node, f.off + i * fn.size);
          break;
        case Mode::kObject: {  // f.node: the entry pair
          const std::uint64_t e =
              f.off + (f.order < 0 ? i : orders_[f.order][i]) * fn.size;
          KeyAt(fn.args[0], e);
          Emit(fn.args[1], e + fn.offsets[1]);
          break;
        }
        case Mode::kClose:
          break;
      }
      if (out_.size() >= kFlushAt) Flush();
    }
    Flush();
  }

 private:
  enum class Mode { kStruct, kItems, kArray, kObject, kClose };
  struct Frame {
    Mode mode;
    int node;  // kArray: the element; kObject: the entry pair
    std::uint64_t off, i, n;
    int order = -1;  // kObject: the entries' order in orders_, or in place
  };
  static constexpr std::size_t kFlushAt = 64 << 10;

  void Flush() {
    sink_(out_);
    out_.clear();
  }
  void NewLine() {
    if (!pretty_) return;
    out_.push_back('\n');
    out_.append(2 * stack_.size(), ' ');
  }
  void Key(std::string_view k) {
    AppendQuoted(k, &out_);
    out_.append(pretty_ ? ": " : ":");
  }
  void KeyAt(int key, std::uint64_t off) {
    if (n_[key].op == Op::kChar) return Key(std::string_view(v_.at(off), 1));
    // Typed maps are objects only when their keys are valid UTF-8; a
    // Value's are made so.
    AppendLossy(Bytes(off), &out_);
    out_.append(pretty_ ? ": " : ":");
  }
  std::string_view Bytes(std::uint64_t off) const { return v_.Bytes(off); }
  // Opens a container of n parts; writes "[]" or "{}" when empty.
  void Open(Mode mode, int node, std::uint64_t off, std::uint64_t n) {
    const bool array = mode == Mode::kArray || mode == Mode::kItems;
    if (n == 0 && mode != Mode::kClose) {
      out_.append(array ? "[]" : "{}");
      return;
    }
    out_.push_back(array ? '[' : '{');
    stack_.push_back(Frame{mode, node, off, 0, n});
  }
  // Writes `{"name": ` members, then leaves the object open for a value.
  void Wrapper(std::initializer_list<std::pair<const char*, std::int64_t>> ids,
               const char* value_key) {
    out_.push_back('{');
    stack_.push_back(Frame{Mode::kClose, 0, 0, 0, 0});
    for (const auto& [k, id] : ids) {
      NewLine();
      Key(k);
      absl::StrAppend(&out_, id);
      out_.push_back(',');
    }
    NewLine();
    Key(value_key);
  }

  struct ArrayRef {
    std::uint64_t off = 0, n = 0;
  };
  // The array of a vector, set or map (hashed: of a hash container).
  ArrayRef Elements(int elem, std::uint64_t off, bool hashed) const {
    ArrayRef a;
    a.n = v_.Load<std::uint64_t>(off + (hashed ? 16 : 8));
    if (a.n != 0) {
      v_.Range(v_.Load<std::uint64_t>(off), a.n, n_[elem].size, n_[elem].align,
               &a.off);
    }
    return a;
  }

  // Whether a map's entries can be written as a JSON object; sets
  // *dollar when a key would read as a pointer wrapper's.
  bool ObjectForm(int entry, const ArrayRef& a, bool* dollar) const {
    const Node& e = n_[entry];
    const Node& k = n_[e.args[0]];
    *dollar = false;
    if (k.op != Op::kString && k.op != Op::kChar) return false;
    for (std::uint64_t i = 0; i < a.n; ++i) {
      const std::uint64_t at = a.off + i * e.size;
      if (k.op == Op::kChar) {
        if (static_cast<unsigned char>(*v_.at(at)) >= 0x80) return false;
        continue;
      }
      const std::string_view key = Bytes(at);
      if (!schema_internal::ValidUtf8(key)) return false;
      if (IsWrapperKey(key)) *dollar = true;
    }
    return true;
  }

  // Has the open object (a hash map's) list its entries sorted by key, so
  // that a dump reads back (through JSON objects, which do not keep their
  // members' order) to a map that dumps alike.
  void SortByKey(int entry, const ArrayRef& a) {
    const std::uint64_t size = n_[entry].size;
    const bool chars = n_[n_[entry].args[0]].op == Op::kChar;
    std::vector<std::uint64_t> order(a.n);
    for (std::uint64_t i = 0; i < a.n; ++i) order[i] = i;
    auto key = [&](std::uint64_t i) {
      const std::uint64_t at = a.off + i * size;
      return chars ? std::string_view(v_.at(at), 1) : Bytes(at);
    };
    std::sort(order.begin(), order.end(),
              [&](auto x, auto y) { return key(x) < key(y); });
    orders_.push_back(std::move(order));
    stack_.back().order = static_cast<int>(orders_.size()) - 1;
  }

  // Whether the JSON of the object at off could be taken for a wrapper.
  bool NeedsWrap(int node, std::uint64_t off) const {
    const Node& n = n_[node];
    bool dollar = false;
    switch (n.op) {
      case Op::kPtr:
        return true;
      case Op::kOptional:
        return v_.Load<std::uint8_t>(off + n_[n.args[0]].size) == 1 &&
               !n_[n.args[0]].maybe_null && NeedsWrap(n.args[0], off);
      case Op::kMap:
      case Op::kHashMap:
        return ObjectForm(n.args[0],
                          Elements(n.args[0], off, n.op == Op::kHashMap),
                          &dollar) &&
               dollar;
      case Op::kValue:
        return v_.Load<std::uint32_t>(off + kValueIndexAt) == 6 &&
               ObjectForm(n.args[1], Elements(n.args[1], off, false),
                          &dollar) &&
               dollar;
      default:
        return false;
    }
  }

  // A Value (node: a variant of the JSON kinds, kValueIndexAt).
  void EmitValue(int node, const Node& n, std::uint64_t off) {
    switch (v_.Load<std::uint32_t>(off + kValueIndexAt)) {
      case 0:
        out_.append("null");
        return;
      case 1:
        out_.append(v_.Load<std::uint8_t>(off) ? "true" : "false");
        return;
      case 2:
        return absl::StrAppend(&out_, v_.Load<std::int64_t>(off));
      case 3: {
        const double d = v_.Load<double>(off);
        if (std::isfinite(d)) return AppendDouble(d, &out_);
        out_.append("null");
        return;
      }
      case 4:
        return AppendLossy(Bytes(off), &out_);
      case 5: {
        const ArrayRef a = Elements(node, off, false);
        return Open(Mode::kArray, node, a.off, a.n);
      }
      default: {
        const ArrayRef a = Elements(n.args[1], off, false);
        return Open(Mode::kObject, n.args[1], a.off, a.n);
      }
    }
  }

  void Emit(int node, std::uint64_t off) {
    const Node& n = n_[node];
    switch (n.op) {
      case Op::kBool:
        out_.append(v_.Load<std::uint8_t>(off) ? "true" : "false");
        return;
      case Op::kChar: {
        const char c = *v_.at(off);
        if (static_cast<unsigned char>(c) < 0x80) {
          AppendQuoted(std::string_view(&c, 1), &out_);
        } else {
          absl::StrAppend(&out_, static_cast<int>(static_cast<signed char>(c)));
        }
        return;
      }
      case Op::kSigned:
        return absl::StrAppend(&out_, v_.Signed(off, n.size));
      case Op::kUnsigned:
        return absl::StrAppend(&out_, v_.Unsigned(off, n.size));
      case Op::kFloat:
        return AppendDouble(
            n.size == 4 ? v_.Load<float>(off) : v_.Load<double>(off), &out_);
      case Op::kNone:
        out_.append("null");
        return;
      case Op::kString:
        return AppendBytes(Bytes(off), &out_);
      case Op::kValue:
        return EmitValue(node, n, off);
      case Op::kVector:
      case Op::kSet:
      case Op::kHashSet: {
        const ArrayRef a = Elements(n.args[0], off, n.op == Op::kHashSet);
        return Open(Mode::kArray, n.args[0], a.off, a.n);
      }
      case Op::kMap:
      case Op::kHashMap: {
        const ArrayRef a = Elements(n.args[0], off, n.op == Op::kHashMap);
        bool dollar;
        if (!ObjectForm(n.args[0], a, &dollar)) {
          return Open(Mode::kArray, n.args[0], a.off, a.n);
        }
        Open(Mode::kObject, n.args[0], a.off, a.n);
        if (n.op == Op::kHashMap && a.n > 1) SortByKey(n.args[0], a);
        return;
      }
      case Op::kPair:
      case Op::kTuple:
        return Open(Mode::kItems, node, off, n.args.size());
      case Op::kStruct:
        return Open(Mode::kStruct, node, off, n.args.size());
      case Op::kOptional: {
        const int e = n.args[0];
        if (v_.Load<std::uint8_t>(off + n_[e].size) == 0) {
          out_.append("null");
        } else if (n_[e].maybe_null) {
          Open(Mode::kArray, e, off, 1);
        } else {
          Emit(e, off);
        }
        return;
      }
      case Op::kVariant: {
        const auto index = v_.Load<std::uint32_t>(off + n.offsets[0]);
        out_.push_back('{');
        stack_.push_back(Frame{Mode::kClose, 0, 0, 0, 0});
        NewLine();
        Key("index");
        absl::StrAppend(&out_, index, ",");
        NewLine();
        Key("type");
        AppendQuoted(n_[n.args[index]].expression, &out_);
        out_.push_back(',');
        NewLine();
        Key("value");
        return Emit(n.args[index], off);
      }
      case Op::kPtr: {
        const auto p = v_.Load<std::uint64_t>(off);
        if (p == 0) {
          out_.append("null");
          return;
        }
        const int e = n.args[0];
        std::uint64_t t = 0;
        v_.Range(p, 1, n_[e].size, n_[e].align, &t);
        const ObjectKey key{t, e};
        if (auto it = ids_.find(key); it != ids_.end()) {
          out_.append(pretty_ ? "{\"$ref\": " : "{\"$ref\":");
          absl::StrAppend(&out_, it->second, "}");
          return;
        }
        if (refs_.Count(t, e) >= 2) {
          const std::int64_t id = next_id_++;
          ids_[key] = id;
          Wrapper({{"$id", id}}, "$value");
        } else if (NeedsWrap(e, t)) {
          Wrapper({}, "$value");
        }
        return Emit(e, t);
      }
    }
  }

  const Nodes& n_;
  const View& v_;
  const RefCounts& refs_;
  const bool pretty_;
  absl::FunctionRef<void(std::string_view)> sink_;
  std::string out_;
  std::vector<Frame> stack_;
  std::vector<std::vector<std::uint64_t>> orders_;  // of the open kObjects
  absl::flat_hash_map<ObjectKey, std::int64_t> ids_;
  std::int64_t next_id_ = 1;
};

}  // namespace

std::string JsonBytes(std::string_view bytes) {
  std::string out;
  AppendBytes(bytes, &out);
  return out;
}

absl::Status WriteGraphJson(const Schema& schema, const GraphBytes& graph,
                            const JsonOptions& options,
                            absl::FunctionRef<void(std::string_view)> out) {
  Nodes nodes;
  if (absl::Status s = Nodes::Compile(schema, &nodes); !s.ok()) return s;
  const View view(graph.bytes, graph.size, graph.address);
  Checker checker(nodes, view);
  if (absl::Status s = checker.Run(); !s.ok()) return s;
  int node = 0;
  std::uint64_t off = 0;
  if (absl::Status s = Step(nodes, view, options.path, &node, &off); !s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("path '", options.path, "': ", s.message()));
  }
  Printer printer(nodes, view, checker.refs(), options.pretty, out);
  printer.Print(node, off);
  return absl::OkStatus();
}

absl::StatusOr<std::string> GraphToJson(const Schema& schema,
                                        const GraphBytes& graph,
                                        const JsonOptions& options) {
  std::string out;
  absl::Status s =
      WriteGraphJson(schema, graph, options,
                     [&](std::string_view piece) { out.append(piece); });
  if (!s.ok()) return s;
  return out;
}

}  // namespace ancient
