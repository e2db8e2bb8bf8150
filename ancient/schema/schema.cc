#include "ancient/schema/schema.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <unordered_map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "ancient/type_id.h"

namespace ancient {

namespace {

constexpr const char* kPrimitives[] = {
    "bool",  "char",  "i8",     "i16",    "i32",   "i64",  "u8",
    "u16",   "u32",   "u64",    "f32",    "f64",   "none", "string",
    "value", "enum8", "enum16", "enum32", "enum64"};
// Containers and how many type arguments each takes (-1: one or more).
struct ContainerKind {
  const char* name;
  int args;
};
constexpr ContainerKind kContainers[] = {
    {"vector", 1},   {"map", 2},  {"set", 1},    {"hash_map", 2},
    {"hash_set", 1}, {"pair", 2}, {"tuple", -1}, {"optional", 1},
    {"variant", -1}, {"ptr", 1}};

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}

}  // namespace

// A recursive-descent parser over the description, with a depth bound.
class SchemaParser {
 public:
  SchemaParser(std::string_view text, Schema* out) : s_(text), out_(out) {}
  friend class Schema;  // LayOutReadable

  absl::Status Run() {
    // "ancient/N;le;pNN;" then one type.
    std::size_t semis = 0, i = 0;
    for (; i < s_.size() && semis < 3; ++i) {
      if (s_[i] == ';') ++semis;
    }
    if (semis < 3 || s_.substr(0, 8) != "ancient/") {
      return Error("a description starts with 'ancient/VERSION;ORDER;pBITS;'");
    }
    out_->platform_ = std::string(s_.substr(0, i - 1));
    pos_ = i;
    absl::StatusOr<SchemaType*> root = Type(0);
    if (!root.ok()) return root.status();
    if (pos_ != s_.size()) return Error("text after the type");
    out_->root_ = *root;
    return LayOut(*root);
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::DataLossError(
        absl::StrFormat("bad type description at byte %d: %s (near '%s')", pos_,
                        what, s_.substr(pos_ > 10 ? pos_ - 10 : 0, 30)));
  }

  SchemaType* New() {
    out_->types_.push_back(std::make_unique<SchemaType>());
    return out_->types_.back().get();
  }

  bool Eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  std::string_view Name() {
    const std::size_t start = pos_;
    while (pos_ < s_.size() && IsNameChar(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  bool Number(std::uint64_t* v) {
    const std::size_t start = pos_;
    while (pos_ < s_.size() &&
           std::isdigit(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
    return pos_ > start && pos_ - start <= 19 &&
           absl::SimpleAtoi(absl::string_view(s_.data() + start, pos_ - start),
                            v);
  }

  absl::StatusOr<SchemaType*> Type(int depth) {
    if (depth > Schema::kMaxDepth) return Error("nested too deeply");
    const std::string_view name = Name();
    if (name.empty()) return Error("a type name was expected");
    SchemaType* t = New();
    t->name = std::string(name);
    if (Eat('<')) {
      const ContainerKind* kind = nullptr;
      for (const ContainerKind& k : kContainers) {
        if (name == k.name) kind = &k;
      }
      if (kind == nullptr) return Error("unknown container kind");
      t->kind = SchemaType::Kind::kContainer;
      do {
        absl::StatusOr<SchemaType*> arg = Type(depth + 1);
        if (!arg.ok()) return arg.status();
        t->args.push_back(*arg);
      } while (Eat(','));
      if (!Eat('>')) return Error("'>' expected");
      if (kind->args >= 0 && static_cast<int>(t->args.size()) != kind->args) {
        return Error("wrong number of type arguments");
      }
      return t;
    }
    if (Eat('{')) {  // NAME{SIZE;field@OFFSET:TYPE;...}
      const std::size_t name_at = pos_ - 1 - name.size();
      t->kind = SchemaType::Kind::kStruct;
      if (!Number(&t->size)) return Error("struct size expected");
      structs_.push_back(t);
      std::set<std::string_view> seen;
      while (Eat(';')) {
        SchemaType::Field f;
        const std::string_view fname = Name();
        if (fname.empty() || !Eat('@') || !Number(&f.offset) || !Eat(':')) {
          return Error("field 'name@offset:type' expected");
        }
        if (!seen.insert(fname).second) return Error("field named twice");
        if (f.offset >= t->size) return Error("field offset past the struct");
        f.name = std::string(fname);
        absl::StatusOr<SchemaType*> ft = Type(depth + 1);
        if (!ft.ok()) return ft.status();
        f.type = *ft;
        t->fields.push_back(std::move(f));
      }
      if (!Eat('}')) return Error("'}' expected");
      structs_.pop_back();
      // A description spells a struct out again wherever a second field
      // holds it: the same text is the same struct, one SchemaType, so that
      // an object two such fields reach is one object to every reader.
      const std::string_view text = s_.substr(name_at, pos_ - name_at);
      auto [it, fresh] = defined_.try_emplace(t->name, text, t);
      if (!fresh && it->second.first == text) return it->second.second;
      return t;
    }
    if (Eat('^')) {  // A struct inside itself.
      std::uint64_t d;
      if (!Number(&d) || d == 0 || d > structs_.size()) {
        return Error("bad back reference");
      }
      t->kind = SchemaType::Kind::kStructRef;
      t->ref_depth = static_cast<int>(d);
      t->target = structs_[structs_.size() - d];
      if (t->target->name != t->name) {
        return Error("back reference to a struct of another name");
      }
      return t;
    }
    if (std::find(std::begin(kPrimitives), std::end(kPrimitives), name) ==
        std::end(kPrimitives)) {
      return Error("unknown type");
    }
    t->kind = SchemaType::Kind::kPrimitive;
    return t;
  }

  // Computes every type's frozen size and alignment, as C++ lays out the
  // frozen types (frozen.h) on the description's platform. Types inside
  // out-of-line containers (vector, map, set, hash_*, ptr) are laid out
  // after their container, so a struct may hold those of itself; a struct
  // inside itself by value is an error.
  absl::Status LayOut(SchemaType* root, bool assign_struct_layout = false) {
    assign_struct_layout_ = assign_struct_layout;
    const std::string& platform = out_->platform_;
    if (platform.size() > 4 && platform.substr(platform.size() - 4) == ";p32") {
      pointer_size_ = 4;
    } else if (platform.size() <= 4 ||
               platform.substr(platform.size() - 4) != ";p64") {
      return absl::DataLossError("bad type description: unknown platform '" +
                                 platform + "'");
    }
    std::vector<SchemaType*> later = {root};
    while (!later.empty()) {
      SchemaType* t = later.back();
      later.pop_back();
      if (absl::Status s = LayOutInline(t, &later); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  static absl::Status LayoutError(const SchemaType& t, std::string_view what) {
    return absl::DataLossError(
        absl::StrFormat("bad type description: struct %s: %s", t.name, what));
  }

  static std::uint64_t AlignUp(std::uint64_t n, std::uint64_t a) {
    return (n + a - 1) / a * a;
  }

  absl::Status LayOutInline(SchemaType* t, std::vector<SchemaType*>* later) {
    enum { kBusy = 1, kDone = 2 };
    int& state = state_[t];
    if (state == kDone) return absl::OkStatus();
    if (state == kBusy) return LayoutError(*t, "holds itself by value");
    state = kBusy;
    auto inline_arg = [&](SchemaType* a) -> absl::Status {
      return LayOutInline(a, later);
    };
    const std::string& n = t->name;
    switch (t->kind) {
      case SchemaType::Kind::kPrimitive:
        if (n == "string") {
          t->size = 2 * pointer_size_;
          t->align = pointer_size_;
        } else if (n == "value") {
          // FrozenValue: a variant of up to a 16-byte map and a u32 index.
          t->size = 2 * pointer_size_ + 8;
          t->align = 8;
        } else if (n == "bool" || n == "char" || n == "none") {
          t->size = t->align = 1;
        } else {  // i8..u64, f32, f64, enum8..enum64: the bits in the name
          std::uint64_t bits = 0;
          const std::size_t digits = n.find_first_of("0123456789");
          if (!absl::SimpleAtoi(absl::string_view(n).substr(digits), &bits)) {
            return absl::DataLossError("bad type description: " + n);
          }
          t->size = t->align = bits / 8;
        }
        break;
      case SchemaType::Kind::kContainer:
        if (n == "vector" || n == "map" || n == "set") {
          t->size = 2 * pointer_size_;
          t->align = pointer_size_;
          later->insert(later->end(), t->args.begin(), t->args.end());
        } else if (n == "hash_map" || n == "hash_set") {
          t->size = 2 * pointer_size_ + 16;
          t->align = 8;
          later->insert(later->end(), t->args.begin(), t->args.end());
        } else if (n == "ptr") {
          t->size = t->align = pointer_size_;
          later->push_back(t->args[0]);
        } else if (n == "pair") {
          for (SchemaType* a : t->args) {
            if (absl::Status s = inline_arg(a); !s.ok()) return s;
          }
          const SchemaType &a = *t->args[0], &b = *t->args[1];
          t->offsets = {0, AlignUp(a.size, b.align)};
          t->align = std::max(a.align, b.align);
          t->size = AlignUp(t->offsets[1] + b.size, t->align);
        } else if (n == "tuple") {
          // Tuple<T, Rest...> { T head; [[no_unique_address]] Tuple<Rest...>
          // tail; }: laid out from the last element outwards.
          for (SchemaType* a : t->args) {
            if (absl::Status s = inline_arg(a); !s.ok()) return s;
          }
          const std::size_t k = t->args.size();
          std::vector<std::uint64_t> tail_at(k, 0);  // the tail's offset
          std::uint64_t size = t->args[k - 1]->size;
          std::uint64_t align = t->args[k - 1]->align;
          for (std::size_t i = k - 1; i-- > 0;) {
            const SchemaType& h = *t->args[i];
            tail_at[i] = AlignUp(h.size, align);
            align = std::max(align, h.align);
            size = AlignUp(tail_at[i] + size, align);
          }
          t->offsets.assign(k, 0);
          for (std::size_t i = 1; i < k; ++i) {
            t->offsets[i] = t->offsets[i - 1] + tail_at[i - 1];
          }
          t->size = size;
          t->align = align;
        } else if (n == "optional") {
          if (absl::Status s = inline_arg(t->args[0]); !s.ok()) return s;
          t->align = t->args[0]->align;
          t->size = AlignUp(t->args[0]->size + 1, t->align);
        } else if (n == "variant") {
          std::uint64_t size = 1, align = 1;
          for (SchemaType* a : t->args) {
            if (absl::Status s = inline_arg(a); !s.ok()) return s;
            size = std::max(size, a->size);
            align = std::max(align, a->align);
          }
          t->offsets = {AlignUp(size, 4)};
          t->align = std::max<std::uint64_t>(align, 4);
          t->size = AlignUp(t->offsets[0] + 4, t->align);
        }
        break;
      case SchemaType::Kind::kStruct: {
        std::uint64_t end = 0;
        for (const SchemaType::Field& f : t->fields) {
          if (absl::Status s = inline_arg(f.type); !s.ok()) return s;
          const SchemaType& ft = *f.type;
          if (assign_struct_layout_) {  // a readable type: C++'s layout
            const_cast<SchemaType::Field&>(f).offset = AlignUp(end, ft.align);
            t->align = std::max(t->align, ft.align);
            t->size = AlignUp(f.offset + ft.size, t->align);
          }
          // Where C++ puts it: the next offset aligned for its type.
          if (f.offset != AlignUp(end, ft.align) ||
              ft.size > t->size - f.offset) {
            return LayoutError(
                *t,
                absl::StrFormat("field %s (%d bytes, aligned to %d) "
                                "cannot be at offset %d of %d",
                                f.name, ft.size, ft.align, f.offset, t->size));
          }
          end = f.offset + ft.size;
          t->align = std::max(t->align, ft.align);
        }
        if (t->fields.empty() || t->size != AlignUp(end, t->align)) {
          return LayoutError(*t, absl::StrFormat("size %d", t->size));
        }
        break;
      }
      case SchemaType::Kind::kStructRef: {
        SchemaType* target = const_cast<SchemaType*>(t->target);
        if (absl::Status s = inline_arg(target); !s.ok()) return s;
        t->size = target->size;
        t->align = target->align;
        break;
      }
    }
    state = kDone;  // (unordered_map references survive rehashing)
    return absl::OkStatus();
  }

  std::string_view s_;
  Schema* out_;
  std::size_t pos_ = 0;
  std::vector<SchemaType*> structs_;  // the structs being parsed, outermost
                                      // first
  std::uint64_t pointer_size_ = 8;
  bool assign_struct_layout_ = false;
  std::unordered_map<const SchemaType*, int> state_;
  // Each struct name's first complete definition: its text and type.
  std::unordered_map<std::string, std::pair<std::string_view, SchemaType*>>
      defined_;
};

absl::Status Schema::LayOutReadable(Schema* schema) {
  SchemaParser parser("", schema);
  return parser.LayOut(schema->root_, /*assign_struct_layout=*/true);
}

absl::StatusOr<Schema> Schema::Parse(std::string_view description) {
  if (description.size() > kMaxLength) {
    return absl::DataLossError(absl::StrFormat(
        "type description of %d bytes is longer than the %d allowed",
        description.size(), kMaxLength));
  }
  Schema schema;
  SchemaParser parser(description, &schema);
  absl::Status s = parser.Run();
  if (!s.ok()) return s;
  return schema;
}

std::string Schema::NativePlatform() { return ancient::NativePlatform(); }

namespace {
void AppendName(const SchemaType& t, std::string* out) {
  out->append(t.name);
  if (t.kind != SchemaType::Kind::kContainer) return;
  out->append("<");
  for (std::size_t i = 0; i < t.args.size(); ++i) {
    if (i != 0) out->append(",");
    AppendName(*t.args[i], out);
  }
  out->append(">");
}
}  // namespace

std::string Schema::TypeName() const {
  std::string out;
  AppendName(*root_, &out);
  return out;
}

std::string SchemaType::Expression() const {
  switch (kind) {
    case Kind::kPrimitive:
    case Kind::kStruct:
    case Kind::kStructRef:
      return name;
    case Kind::kContainer: {
      std::string out = name + "<";
      for (std::size_t i = 0; i < args.size(); ++i) {
        out += (i ? ", " : "") + args[i]->Expression();
      }
      return out + ">";
    }
  }
  return name;
}

std::string Schema::ToString() const {
  // The root's expression (unless it is a struct), then every struct
  // definition reached, in order of first appearance.
  std::string out;
  if (root_->kind != SchemaType::Kind::kStruct) {
    out = root_->Expression() + "\n";
  }
  std::set<std::string> printed;
  std::vector<const SchemaType*> order;
  // Depth-first, in order: a small explicit stack (depth is bounded).
  std::vector<const SchemaType*> todo = {root_};
  while (!todo.empty()) {
    const SchemaType* t = todo.back();
    todo.pop_back();
    if (t->kind == SchemaType::Kind::kStruct) {
      if (!printed.insert(t->name).second) continue;
      order.push_back(t);
      for (auto it = t->fields.rbegin(); it != t->fields.rend(); ++it) {
        todo.push_back(it->type);
      }
    } else {
      for (auto it = t->args.rbegin(); it != t->args.rend(); ++it) {
        todo.push_back(*it);
      }
    }
  }
  for (const SchemaType* t : order) {
    out += "struct " + t->name + " {";
    for (const auto& f : t->fields) {
      out += " " + f.type->Expression() + " " + f.name + ";";
    }
    out += " }\n";
  }
  return out;
}

namespace {

// How a path names part `i` of container `c`.
std::string PartName(const SchemaType& c, std::size_t i) {
  if (c.name == "ptr") return "->";
  if (c.name == "vector" || c.name == "set" || c.name == "hash_set") {
    return "[]";
  }
  if (c.name == "map" || c.name == "hash_map") {
    return i == 0 ? "{key}" : "{value}";
  }
  if (c.name == "optional") return "?";
  return absl::StrFormat("<%d>", i);
}

// Compares a and b below `path`; sets *where on the first difference.
bool Differ(const SchemaType& a, const SchemaType& b, const std::string& path,
            std::string* where) {
  if (a.kind != b.kind || a.name != b.name ||
      (a.kind == SchemaType::Kind::kContainer &&
       a.args.size() != b.args.size())) {
    *where = path;
    return true;
  }
  switch (a.kind) {
    case SchemaType::Kind::kPrimitive:
      return false;
    case SchemaType::Kind::kStructRef:
      if (a.ref_depth != b.ref_depth) {
        *where = path;
        return true;
      }
      return false;
    case SchemaType::Kind::kContainer: {
      for (std::size_t i = 0; i < a.args.size(); ++i) {
        if (Differ(*a.args[i], *b.args[i], path + PartName(a, i), where)) {
          return true;
        }
      }
      return false;
    }
    case SchemaType::Kind::kStruct: {
      const std::size_t n = std::min(a.fields.size(), b.fields.size());
      for (std::size_t i = 0; i < n; ++i) {
        const auto& fa = a.fields[i];
        const auto& fb = b.fields[i];
        const std::string sub = path.empty() ? fa.name : path + "." + fa.name;
        if (fa.name != fb.name || fa.offset != fb.offset) {
          *where = sub;
          return true;
        }
        if (Differ(*fa.type, *fb.type, sub, where)) return true;
      }
      if (a.fields.size() != b.fields.size() || a.size != b.size) {
        *where = path;
        return true;
      }
      return false;
    }
  }
  return false;
}

}  // namespace

std::string Schema::FirstDifference(const Schema& a, const Schema& b,
                                    std::string_view a_name,
                                    std::string_view b_name) {
  if (a.platform_ != b.platform_) {
    return absl::StrFormat("written for %s in %s, %s in %s", a.platform_,
                           a_name, b.platform_, b_name);
  }
  std::string where;
  if (!Differ(*a.root_, *b.root_, "", &where)) return "";
  // Walk again to the differing pair, describing each side there.
  struct Walk {
    static bool Find(const SchemaType& x, const SchemaType& y,
                     const std::string& path, const std::string& target,
                     const SchemaType** fx, const SchemaType** fy,
                     std::string* fieldx, std::string* fieldy) {
      if (path == target) {
        *fx = &x;
        *fy = &y;
        return true;
      }
      if (x.kind == SchemaType::Kind::kStruct &&
          y.kind == SchemaType::Kind::kStruct) {
        const std::size_t n = std::min(x.fields.size(), y.fields.size());
        for (std::size_t i = 0; i < n; ++i) {
          const std::string sub =
              path.empty() ? x.fields[i].name : path + "." + x.fields[i].name;
          if (sub == target && (x.fields[i].name != y.fields[i].name ||
                                x.fields[i].offset != y.fields[i].offset)) {
            *fieldx = absl::StrFormat("field %s at offset %d", x.fields[i].name,
                                      x.fields[i].offset);
            *fieldy = absl::StrFormat("field %s at offset %d", y.fields[i].name,
                                      y.fields[i].offset);
            return true;
          }
          if (target.compare(0, sub.size(), sub) == 0 &&
              Find(*x.fields[i].type, *y.fields[i].type, sub, target, fx, fy,
                   fieldx, fieldy)) {
            return true;
          }
        }
        return false;
      }
      if (x.kind == SchemaType::Kind::kContainer &&
          y.kind == SchemaType::Kind::kContainer &&
          x.args.size() == y.args.size()) {
        for (std::size_t i = 0; i < x.args.size(); ++i) {
          const std::string sub = path + PartName(x, i);
          if (target.compare(0, sub.size(), sub) == 0 &&
              Find(*x.args[i], *y.args[i], sub, target, fx, fy, fieldx,
                   fieldy)) {
            return true;
          }
        }
      }
      return false;
    }
  };
  const SchemaType *x = nullptr, *y = nullptr;
  std::string fieldx, fieldy;
  Walk::Find(*a.root_, *b.root_, "", where, &x, &y, &fieldx, &fieldy);
  auto describe = [](const SchemaType* t, const std::string& field) {
    if (!field.empty()) return field;
    if (t == nullptr) return std::string("?");
    if (t->kind == SchemaType::Kind::kStruct) {
      return absl::StrFormat("struct %s of %d bytes with %d fields", t->name,
                             t->size, t->fields.size());
    }
    return t->Expression();
  };
  return absl::StrFormat(
      "`%s` is %s in %s, %s in %s", where.empty() ? "(the root)" : where,
      describe(x, fieldx), a_name, describe(y, fieldy), b_name);
}

}  // namespace ancient
