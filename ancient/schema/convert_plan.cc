// Planner: decides, from two schemas alone, how each type of one becomes
// the matching type of the other (see ConvertGraph in schema_graph.h).

#include "ancient/schema/convert_plan.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ancient::schema_internal {

namespace {

bool IsEnum(const Node& n) { return n.expression.rfind("enum", 0) == 0; }
bool IsInteger(const Node& n) {
  return n.op == Op::kSigned || n.op == Op::kUnsigned;
}
bool IsScalar(const Node& n) {
  switch (n.op) {
    case Op::kBool:
    case Op::kChar:
    case Op::kSigned:
    case Op::kUnsigned:
    case Op::kFloat:
    case Op::kNone:
    case Op::kString:
    case Op::kValue:
      return true;
    default:
      return false;
  }
}

absl::Status Refused(const std::string& path, const Node& a, const Node& b,
                     std::string_view why) {
  return absl::FailedPreconditionError(absl::StrFormat(
      "`%s`: %s cannot be read as %s (%s)", path.empty() ? "(the root)" : path,
      a.expression, b.expression, Av(why)));
}

}  // namespace

std::string Sub(const std::string& path, const std::string& step) {
  if (step[0] != '.') return path + step;
  return path.empty() ? step.substr(1) : path + step;
}

Planner::Planner(const Nodes& from, const Nodes& to,
                 const std::vector<const StructDefault*>& defaults)
    : from_(from), to_(to) {
  for (const StructDefault* d : defaults) {
    absl::StatusOr<Schema> s = Schema::Parse(d->description);
    auto n = std::make_unique<Nodes>();
    if (!s.ok() || !Nodes::Compile(*s, n.get()).ok() ||
        (*n)[0].op != Op::kStruct) {
      continue;  // Made by this program: never, but zeros are the answer.
    }
    dflt_nodes_.push_back(std::move(n));
    dflts_.push_back(d);
  }
}

absl::StatusOr<const Plan*> Planner::Root() { return Make(0, 0, 0, ""); }

void Planner::Forget(std::size_t mark) {
  while (made_.size() > mark) {
    plans_.erase(made_.back());
    made_.pop_back();
  }
}

absl::StatusOr<const Plan*> Planner::Make(int side, int f, int t,
                                          const std::string& path) {
  const auto key = std::make_tuple(side, f, t);
  if (auto it = plans_.find(key); it != plans_.end()) return it->second.get();
  auto owned = std::make_unique<Plan>();
  Plan* p = owned.get();
  p->side = side;
  p->f = f;
  p->t = t;
  p->path = path;
  plans_.emplace(key, std::move(owned));  // Met again inside: in progress.
  made_.push_back(key);
  absl::Status s = Fill(*p);
  if (!s.ok()) return s;  // The caller forgets what was made (Forget).
  return p;
}

bool Planner::Identical(int side, int f, int t) {
  const auto key = std::make_tuple(side, f, t);
  if (auto it = identical_.find(key); it != identical_.end()) return it->second;
  // Coinductive, as Nodes::Same: a pair met again is assumed identical.
  const Nodes& fn = nodes(side);
  std::set<std::pair<int, int>> assumed;
  std::vector<std::pair<int, int>> todo = {{f, t}};
  bool same = true;
  while (!todo.empty() && same) {
    auto [x, y] = todo.back();
    todo.pop_back();
    if (!assumed.insert({x, y}).second) continue;
    const Node& p = fn[x];
    const Node& q = to_[y];
    if (p.op != q.op || p.size != q.size || p.align != q.align ||
        p.offsets != q.offsets || p.names != q.names ||
        p.args.size() != q.args.size() ||
        (p.op != Op::kStruct && IsScalar(p) && p.expression != q.expression)) {
      same = false;
      break;
    }
    for (std::size_t i = 0; i < p.args.size(); ++i) {
      todo.emplace_back(p.args[i], q.args[i]);
    }
  }
  identical_[key] = same;
  return same;
}

int Planner::DefaultSide(int t) {
  if (auto it = default_side_.find(t); it != default_side_.end()) {
    return it->second;
  }
  int side = 0;
  for (int k = 1; k < sides() && side == 0; ++k) {
    if (nodes(k)[0].expression == to_[t].expression && Identical(k, 0, t)) {
      side = k;
    }
  }
  default_side_[t] = side;
  return side;
}

bool Planner::KeyKnown(int t) const {
  const Node& n = to_[t];
  switch (n.op) {
    case Op::kBool:
    case Op::kChar:
    case Op::kSigned:
    case Op::kUnsigned:
    case Op::kFloat:
    case Op::kString:
      return true;
    case Op::kPair:
    case Op::kTuple:
      for (int a : n.args) {
        if (!KeyKnown(a)) return false;
      }
      return true;
    default:
      return false;
  }
}

absl::Status Planner::Scalar(const Node& a, const Node& b,
                             const std::string& path) {
  if (a.op == b.op && a.expression == b.expression) return absl::OkStatus();
  const bool numbers = (IsInteger(a) || a.op == Op::kFloat) &&
                       (IsInteger(b) || b.op == Op::kFloat);
  if (!numbers) return Refused(path, a, b, "no conversion between them");
  bool ok = false;
  if (b.op == Op::kFloat) {
    ok = b.size == 8 && ((IsInteger(a) && !IsEnum(a)) || a.op == Op::kFloat);
  } else if (a.op == Op::kFloat) {
    ok = false;
  } else if (IsEnum(a) || IsEnum(b)) {
    ok = b.size >= a.size;  // Bits kept, extended by the target's sign.
  } else if (b.op == Op::kSigned) {
    ok = a.op == Op::kSigned ? b.size >= a.size : b.size > a.size;
  } else {
    ok = a.op == Op::kUnsigned && b.size >= a.size;
  }
  if (ok) return absl::OkStatus();
  return Refused(path, a, b,
                 a.op == Op::kFloat && b.op != Op::kFloat
                     ? "a floating-point number cannot become an integer"
                     : "narrowing: values could be lost");
}

absl::Status Planner::Fill(Plan& p) {
  const Node& a = nodes(p.side)[p.f];
  const Node& b = to_[p.t];
  p.identical = Identical(p.side, p.f, p.t);
  p.copy = p.identical && a.trivial;
  if (b.op == Op::kOptional && a.op != Op::kOptional) {
    p.wrap = true;
    absl::StatusOr<const Plan*> k = Make(p.side, p.f, b.args[0], p.path);
    if (!k.ok()) return k.status();
    p.kids = {*k};
    return absl::OkStatus();
  }
  if (IsScalar(a) && IsScalar(b)) return Scalar(a, b, p.path);
  const auto tuple_like = [](const Node& n) {
    return n.op == Op::kPair || n.op == Op::kTuple;
  };
  if (a.op != b.op && !(tuple_like(a) && tuple_like(b))) {
    return Refused(p.path, a, b, "different kinds of value");
  }
  if (a.args.size() != b.args.size() && b.op != Op::kStruct &&
      b.op != Op::kVariant) {
    return Refused(p.path, a, b, "a different number of parts");
  }
  auto add = [&](int side, int f, int t, const std::string& step) {
    absl::StatusOr<const Plan*> k = Make(side, f, t, Sub(p.path, step));
    if (!k.ok()) return k.status();
    p.kids.push_back(*k);
    return absl::OkStatus();
  };
  switch (b.op) {
    case Op::kVector:
      return add(p.side, a.args[0], b.args[0], "[]");
    case Op::kOptional:
      return add(p.side, a.args[0], b.args[0], "?");
    case Op::kPtr:
      return add(p.side, a.args[0], b.args[0], "->");
    case Op::kPair:
    case Op::kTuple:
      for (std::size_t k = 0; k < b.args.size(); ++k) {
        absl::Status s =
            add(p.side, a.args[k], b.args[k], absl::StrFormat("<%d>", k));
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    case Op::kSet:
    case Op::kHashSet:
    case Op::kMap:
    case Op::kHashMap:
      return Keyed(p, a, b);
    case Op::kVariant:
      return Variant(p, a, b);
    case Op::kStruct:
      return Struct(p, a, b);
    default:
      return Refused(p.path, a, b, "different kinds of value");
  }
}

absl::Status Planner::Keyed(Plan& p, const Node& a, const Node& b) {
  const bool is_map = b.op == Op::kMap || b.op == Op::kHashMap;
  const Plan* key;
  if (!is_map) {
    absl::StatusOr<const Plan*> k =
        Make(p.side, a.args[0], b.args[0], Sub(p.path, "[]"));
    if (!k.ok()) return k.status();
    p.kids = {*k};
    key = *k;
  } else {
    // The entry pair's plan, made here so that its parts are named as a
    // map's: {key} and {value}.
    auto entry = std::make_tuple(p.side, a.args[0], b.args[0]);
    auto it = plans_.find(entry);
    if (it == plans_.end()) {
      auto e = std::make_unique<Plan>();
      e->side = p.side;
      e->f = a.args[0];
      e->t = b.args[0];
      e->path = p.path;
      e->identical = Identical(p.side, e->f, e->t);
      e->copy = e->identical && nodes(p.side)[e->f].trivial;
      for (int k : {1, 2}) {
        absl::StatusOr<const Plan*> part =
            Make(p.side, a.args[k], b.args[k],
                 Sub(p.path, k == 1 ? "{key}" : "{value}"));
        if (!part.ok()) return part.status();
        e->kids.push_back(*part);
      }
      it = plans_.emplace(entry, std::move(e)).first;
      made_.push_back(entry);
    }
    p.kids = {it->second.get(), it->second->kids[0], it->second->kids[1]};
    key = p.kids[1];
  }
  p.rekey = !key->identical;
  if (p.rekey && !KeyKnown(key->t)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "`%s`: the keys change type (%s to %s), and the order of %s is not "
        "known without its C++ type",
        Sub(p.path, is_map ? "{key}" : "[]"), nodes(p.side)[key->f].expression,
        to_[key->t].expression, to_[key->t].expression));
  }
  return absl::OkStatus();
}

absl::Status Planner::Variant(Plan& p, const Node& a, const Node& b) {
  p.map.assign(a.args.size(), -1);
  p.alts.assign(a.args.size(), nullptr);
  for (std::size_t i = 0; i < a.args.size(); ++i) {
    const std::string at = Sub(p.path, absl::StrFormat("<%d>", i));
    // The same type first, else the first alternative it converts to.
    for (int pass = 0; pass < 2 && p.map[i] < 0; ++pass) {
      for (std::size_t j = 0; j < b.args.size() && p.map[i] < 0; ++j) {
        if (pass == 0 && !Identical(p.side, a.args[i], b.args[j])) continue;
        const std::size_t mark = made_.size();
        absl::StatusOr<const Plan*> k = Make(p.side, a.args[i], b.args[j], at);
        if (!k.ok()) Forget(mark);  // Plans made meanwhile may point at it.
        if (k.ok()) {
          p.map[i] = static_cast<int>(j);
          p.alts[i] = *k;
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Planner::Struct(Plan& p, const Node& a, const Node& b) {
  p.map.assign(b.args.size(), -1);
  p.dflt_off.assign(b.args.size(), 0);
  const int dside = p.side == 0 ? DefaultSide(p.t) : 0;
  for (std::size_t i = 0; i < b.args.size(); ++i) {
    const std::string at = Sub(p.path, "." + b.names[i]);
    std::size_t j = 0;
    while (j < a.names.size() && a.names[j] != b.names[i]) ++j;
    absl::StatusOr<const Plan*> k = nullptr;
    if (j < a.names.size()) {
      p.map[i] = static_cast<int>(j);
      k = Make(p.side, a.args[j], b.args[i], at);
    } else if (dside != 0) {
      const Node& d = nodes(dside)[0];  // identical to b
      p.dflt_off[i] = d.offsets[i];
      k = Make(dside, d.args[i], b.args[i], at);
    }
    if (!k.ok()) return k.status();
    p.kids.push_back(*k);
  }
  return absl::OkStatus();
}

}  // namespace ancient::schema_internal
