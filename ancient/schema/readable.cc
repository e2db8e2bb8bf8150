// Schema::ParseReadable and Schema::Description: types as people write
// them ("vector<Point> struct Point { f64 x; f64 y; }"), and the full
// description a store records.

#include <cctype>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ancient/schema/schema.h"

namespace ancient {

namespace {

// A type expression as written: a name, and type arguments after '<'.
struct Expr {
  std::string name;
  std::vector<Expr> args;
  bool has_args = false;
  std::size_t pos = 0;  // where it starts, for messages
};

struct StructDef {
  std::string name;
  std::vector<std::pair<Expr, std::string>> fields;  // (type, name)
};

// A tokenizer and recursive-descent parser over the readable form.
class Reader {
 public:
  explicit Reader(std::string_view text) : s_(text) {}

  absl::Status Read(std::optional<Expr>* root, std::vector<StructDef>* defs) {
    Skip();
    if (!AtWord("struct")) {
      Expr e;
      if (absl::Status st = Type(0, &e); !st.ok()) return st;
      *root = std::move(e);
    }
    Skip();
    while (pos_ < s_.size()) {
      if (!AtWord("struct")) return Error("'struct NAME { ... }' expected");
      pos_ += 6;
      StructDef d;
      d.name = Name();
      if (d.name.empty()) return Error("a struct name was expected");
      if (!Eat('{')) return Error("'{' expected");
      std::set<std::string> seen;
      while (!Eat('}')) {
        if (pos_ >= s_.size()) return Error("'}' expected");
        Expr e;
        if (absl::Status st = Type(0, &e); !st.ok()) return st;
        std::string field = Name();
        if (field.empty()) return Error("a field name was expected");
        if (!seen.insert(field).second) {
          return Error(absl::StrCat("field '", field, "' named twice"));
        }
        if (!Eat(';')) return Error("';' expected after a field");
        d.fields.emplace_back(std::move(e), std::move(field));
      }
      Eat(';');  // "struct X { ... };" as C++ writes it
      defs->push_back(std::move(d));
      Skip();
    }
    return absl::OkStatus();
  }

  absl::Status Error(std::string_view what) const {
    return ErrorAt(pos_, what);
  }
  absl::Status ErrorAt(std::size_t pos, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrFormat("bad type at byte %d: %s (near '%s')", pos, what,
                        s_.substr(pos > 10 ? pos - 10 : 0, 30)));
  }

 private:
  void Skip() {
    while (pos_ < s_.size() &&
           std::isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
  }
  bool Eat(char c) {
    Skip();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  static bool IsNameChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  }
  bool AtWord(std::string_view w) {
    Skip();
    return s_.substr(pos_, w.size()) == w &&
           (pos_ + w.size() == s_.size() || !IsNameChar(s_[pos_ + w.size()]));
  }
  std::string Name() {
    Skip();
    const std::size_t start = pos_;
    while (pos_ < s_.size() && IsNameChar(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }
  absl::Status Type(int depth, Expr* e) {
    if (depth > Schema::kMaxDepth) return Error("nested too deeply");
    Skip();
    e->pos = pos_;
    e->name = Name();
    if (e->name.empty()) return Error("a type was expected");
    if (Eat('<')) {
      e->has_args = true;
      do {
        Expr a;
        if (absl::Status st = Type(depth + 1, &a); !st.ok()) return st;
        e->args.push_back(std::move(a));
      } while (Eat(','));
      if (!Eat('>')) return Error("'>' or ',' expected");
    }
    return absl::OkStatus();
  }

  std::string_view s_;
  std::size_t pos_ = 0;
};

bool IsPrimitive(std::string_view n) {
  static const std::set<std::string_view> kNames = {
      "bool",  "char",  "i8",     "i16",    "i32",   "i64",  "u8",
      "u16",   "u32",   "u64",    "f32",    "f64",   "none", "string",
      "value", "enum8", "enum16", "enum32", "enum64"};
  return kNames.count(n) != 0;
}

int ContainerArgs(std::string_view n) {  // -1: one or more; -2: unknown
  static const std::map<std::string_view, int> kArgs = {
      {"vector", 1},   {"map", 2},  {"set", 1},    {"hash_map", 2},
      {"hash_set", 1}, {"pair", 2}, {"tuple", -1}, {"optional", 1},
      {"variant", -1}, {"ptr", 1}};
  auto it = kArgs.find(n);
  return it == kArgs.end() ? -2 : it->second;
}

void AppendDescription(const SchemaType& t, std::string* out) {
  out->append(t.name);
  switch (t.kind) {
    case SchemaType::Kind::kPrimitive:
      return;
    case SchemaType::Kind::kContainer:
      out->push_back('<');
      for (std::size_t i = 0; i < t.args.size(); ++i) {
        if (i > 0) out->push_back(',');
        AppendDescription(*t.args[i], out);
      }
      out->push_back('>');
      return;
    case SchemaType::Kind::kStruct:
      absl::StrAppend(out, "{", t.size);
      for (const SchemaType::Field& f : t.fields) {
        absl::StrAppend(out, ";", f.name, "@", f.offset, ":");
        AppendDescription(*f.type, out);
      }
      out->push_back('}');
      return;
    case SchemaType::Kind::kStructRef:
      absl::StrAppend(out, "^", t.ref_depth);
      return;
  }
}

}  // namespace

std::string Schema::Description() const {
  std::string out = platform_ + ";";
  AppendDescription(*root_, &out);
  return out;
}

absl::StatusOr<Schema> Schema::ParseReadable(std::string_view text) {
  if (text.size() > kMaxLength) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a type of %d bytes is longer than the %d allowed",
                        text.size(), kMaxLength));
  }
  Reader reader(text);
  std::optional<Expr> root;
  std::vector<StructDef> defs;
  if (absl::Status s = reader.Read(&root, &defs); !s.ok()) return s;
  std::map<std::string, const StructDef*> by_name;
  for (const StructDef& d : defs) {
    if (IsPrimitive(d.name) || ContainerArgs(d.name) != -2) {
      return absl::InvalidArgumentError(
          absl::StrCat("a struct cannot be named '", d.name, "'"));
    }
    if (!by_name.emplace(d.name, &d).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("struct ", d.name, " is defined twice"));
    }
  }
  if (!root) {
    if (defs.empty()) return reader.ErrorAt(0, "a type was expected");
    root = Expr{defs.front().name, {}, false, 0};
  }

  Schema schema;
  schema.platform_ = NativePlatform();
  // Every struct is written out in full where it is named, except inside
  // itself: there it is a back reference (Name^depth). `chain` holds the
  // structs being written, outermost first.
  std::vector<std::string> chain;
  std::size_t made = 0;
  std::function<absl::StatusOr<SchemaType*>(const Expr&)> build =
      [&](const Expr& e) -> absl::StatusOr<SchemaType*> {
    if (++made > (std::size_t{1} << 16)) {
      return absl::InvalidArgumentError(
          "the type is too large written out (structs named too often)");
    }
    schema.types_.push_back(std::make_unique<SchemaType>());
    SchemaType* t = schema.types_.back().get();
    t->name = e.name;
    if (e.has_args) {
      const int want = ContainerArgs(e.name);
      if (want == -2) {
        return reader.ErrorAt(e.pos,
                              absl::StrCat("unknown container '", e.name, "'"));
      }
      if (want >= 0 && static_cast<int>(e.args.size()) != want) {
        return reader.ErrorAt(
            e.pos, absl::StrFormat("%s takes %d type argument%s", e.name, want,
                                   want == 1 ? "" : "s"));
      }
      t->kind = SchemaType::Kind::kContainer;
      for (const Expr& a : e.args) {
        absl::StatusOr<SchemaType*> at = build(a);
        if (!at.ok()) return at.status();
        t->args.push_back(*at);
      }
      return t;
    }
    if (IsPrimitive(e.name)) return t;  // kPrimitive
    if (ContainerArgs(e.name) != -2) {
      return reader.ErrorAt(
          e.pos, absl::StrCat("'", e.name, "' needs type arguments"));
    }
    auto def = by_name.find(e.name);
    if (def == by_name.end()) {
      return reader.ErrorAt(
          e.pos, absl::StrCat("unknown type '", e.name,
                              "' (a struct must be defined: struct ", e.name,
                              " { TYPE FIELD; ... })"));
    }
    for (std::size_t i = chain.size(); i-- > 0;) {
      if (chain[i] == e.name) {
        t->kind = SchemaType::Kind::kStructRef;
        t->ref_depth = static_cast<int>(chain.size() - i);
        return t;
      }
    }
    if (def->second->fields.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("struct ", e.name, " has no fields"));
    }
    if (chain.size() >= static_cast<std::size_t>(kMaxDepth)) {
      return reader.ErrorAt(e.pos, "structs nested too deeply");
    }
    t->kind = SchemaType::Kind::kStruct;
    chain.push_back(e.name);
    for (const auto& [fe, fname] : def->second->fields) {
      absl::StatusOr<SchemaType*> ft = build(fe);
      if (!ft.ok()) return ft.status();
      t->fields.push_back(SchemaType::Field{fname, 0, *ft});
    }
    chain.pop_back();
    return t;
  };
  absl::StatusOr<SchemaType*> r = build(*root);
  if (!r.ok()) return r.status();
  schema.root_ = *r;
  // Resolve back references as Parse does, then lay out.
  std::vector<SchemaType*> structs;
  std::function<void(SchemaType*)> link = [&](SchemaType* t) {
    if (t->kind == SchemaType::Kind::kStructRef) {
      t->target = structs[structs.size() - t->ref_depth];
      return;
    }
    if (t->kind == SchemaType::Kind::kStruct) structs.push_back(t);
    for (SchemaType* a : t->args) link(a);
    for (SchemaType::Field& f : t->fields) link(f.type);
    if (t->kind == SchemaType::Kind::kStruct) structs.pop_back();
  };
  link(schema.root_);
  if (absl::Status s = LayOutReadable(&schema); !s.ok()) {
    return absl::InvalidArgumentError(s.message());
  }
  // The description must read back as the same schema: parse it again
  // (what a store will do), so a type accepted here is one stores accept.
  absl::StatusOr<Schema> again = Parse(schema.Description());
  if (!again.ok()) return absl::InvalidArgumentError(again.status().message());
  return again;
}

}  // namespace ancient
