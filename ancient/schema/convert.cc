// ConvertGraph and CheckConvertible (schema_graph.h): a graph of one
// version of a type rewritten in another's layout, by the Planner's plans
// (convert_plan.h). Inline parts are converted as they are met (recursion
// bounded by the type's nesting); out-of-line ones (arrays, pointees) are
// queued, so nothing recurses on the data.
//
// The source is checked as it is read, in the same pass: every pointer,
// string, array and bucket table it follows is bounds-checked, and every
// bool, optional flag, variant index and Value type it converts is checked
// for its values (what the typed check, check.h, checks), so damage is
// DataLoss and the output is sound by construction. Parts the target does
// not keep (a dropped field, a hash table's old buckets when they are
// rebuilt) are not read, so not checked.

#include <algorithm>
#include <cstring>
#include <deque>
#include <numeric>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "ancient/hash.h"
#include "ancient/schema/convert_plan.h"
#include "ancient/schema/schema_graph.h"

namespace ancient {
namespace schema_internal {

namespace {
// One scalar of a converted key: keys compare and hash as tuples of them.
using KeyPart = std::variant<std::int64_t, std::uint64_t, double, std::string>;
using Key = std::vector<KeyPart>;

bool IsEnum(const Node& n) { return n.expression.rfind("enum", 0) == 0; }
}  // namespace

class Converter {
 public:
  Converter(Planner& planner, const View& graph, FlatGraph* out)
      : pl_(planner), to_(planner.to()), g_(out) {
    views_.push_back(graph);
    unclaimed_ = graph.size();
    for (int side = 1; side < pl_.sides(); ++side) {
      const StructDefault& d = pl_.default_of(side);
      views_.emplace_back(d.bytes, d.size,
                          reinterpret_cast<std::uintptr_t>(d.bytes));
    }
  }

  absl::Status Run(const Plan& root) {
    if (std::string why; !views_[0].CheckRoot(From(root).size, &why)) {
      return absl::DataLossError(why);
    }
    g_->Reserve(views_[0].size() + views_[0].size() / 4);
    g_->Alloc(to_[0].size, 64);
    Claim(root, 0, From(root).size);
    root_t_ = root.t;
    Put(root, 0, 0);
    // Last in, first out, each task's own in the order it queued them: the
    // source is read in the order Mark laid it out (depth first for trees,
    // which Mark walks so), not a level at a time across the whole graph.
    while (!tasks_.empty() && error_.ok()) {
      const Task t = tasks_.back();
      tasks_.pop_back();
      const std::size_t queued = tasks_.size();
      RunTask(t);
      std::reverse(tasks_.begin() + queued, tasks_.end());
      if (t.order >= 0) orders_[t.order] = {};
    }
    return error_;
  }

 private:
  // Elements (or one pointee, or a Value's array or object) to convert.
  struct Task {
    const Plan* plan;
    std::uint64_t from, to, count;
    std::int32_t order = -1;  // orders_[order]: target index per element
    bool value = false;       // a Value's array or object (node plan->t)
    bool object = false;
  };

  const Node& From(const Plan& p) const { return pl_.nodes(p.side)[p.f]; }

  void Fail(const Plan& p, const std::string& what) {
    if (!error_.ok()) return;
    error_ = absl::FailedPreconditionError(absl::StrFormat(
        "`%s`: %s", p.path.empty() ? "(the root)" : p.path, what));
  }
  // The source is damaged at `off` (of side p.side) where plan p reads it.
  void Damaged(const Plan& p, std::uint64_t off, const std::string& what) {
    if (!error_.ok()) return;
    error_ = absl::DataLossError(absl::StrFormat(
        "%s (in a %s at `%s`, graph offset %d)", what, From(p).expression,
        p.path.empty() ? "(the root)" : p.path, off));
  }
  // The checked reads: false (and the error set) when the source is
  // damaged there.
  bool BoolAt(const Plan& p, const View& v, std::uint64_t s) {
    const auto b = v.Load<std::uint8_t>(s);
    if (b <= 1) return true;
    Damaged(p, s, absl::StrFormat("bool holds %d", b));
    return false;
  }
  // The result of one of View's checked reads (`ok`, with `why` when not)
  // of the object at s: false, and the error set, when it is damaged.
  bool Checked(const Plan& p, std::uint64_t s, bool ok,
               const std::string& why) {
    if (ok) return true;
    Damaged(p, s, why);
    return false;
  }
  // Counts `bytes` of the source at `from` (side 0) as taken by one object
  // reached: the root, an array, a pointee the first time. As the check's
  // Claim (check.h): past the graph's size an array is reached twice (one
  // holding itself would be converted for ever), so the source is damaged.
  bool Claim(const Plan& p, std::uint64_t from, std::uint64_t bytes,
             std::uint64_t s = 0) {
    if (p.side != 0 || bytes <= unclaimed_) {
      if (p.side == 0) unclaimed_ -= bytes;
      return true;
    }
    Damaged(p, s,
            absl::StrFormat("an array or object is reached twice: with the %d "
                            "bytes at graph offset %d, the objects reached "
                            "take more than the graph's %d bytes",
                            bytes, from, views_[0].size()));
    return false;
  }
  // The bytes of the String at s.
  bool StringAt(const Plan& p, const View& v, std::uint64_t s,
                std::string_view* out) {
    std::string why;
    const bool ok = v.CheckString(s, out, &why);
    return Checked(p, s, ok, why);
  }
  // The offset of `n` elements of node `elem` at pointer value ptr.
  bool RangeAt(const Plan& p, const View& v, std::uint64_t s, const Node& elem,
               std::uint64_t ptr, std::uint64_t n, const char* what,
               std::uint64_t* off) {
    if (v.Range(ptr, n, elem.size, elem.align, off)) return true;
    Damaged(p, s,
            absl::StrFormat("%s at %#x (%d x %d bytes) are outside the graph "
                            "or misaligned",
                            what, ptr, n, elem.size));
    return false;
  }

  void Put(const Plan& p, std::uint64_t s, std::uint64_t t);
  void Number(const Node& a, const Node& b, const View& v, std::uint64_t s,
              std::uint64_t t);
  // A vector (plan p) at s.
  void Array(const Plan& p, const View& v, std::uint64_t s, std::uint64_t t);
  void Keyed(const Plan& p, const View& v, std::uint64_t s, std::uint64_t t);
  void Pointer(const Plan& p, const View& v, std::uint64_t s, std::uint64_t t);
  void Value(const Plan& p, const View& v, std::uint64_t s, std::uint64_t t);
  void Zero(int node, std::uint64_t t);
  void RunTask(const Task& task);
  // The target offset + 1 of the object at `from` (side 0 or a default's)
  // as plan `e` converts it, or 0 when not converted yet (the root's target
  // is offset 0); Remember records it.
  std::uint64_t Seen(const Plan& e, std::uint64_t from) const;
  void Remember(const Plan& e, std::uint64_t from, std::uint64_t to);
  // The converted key of a set's element or a map's entry at s.
  bool KeyOf(const Plan& key, const View& v, std::uint64_t s, Key* out);
  // The bucket starts of the hash container at s, checked to be ordered and
  // to cover the entries (View::CheckBuckets).
  bool Buckets(const Plan& p, const View& v, std::uint64_t s,
               std::uint64_t* starts) {
    std::string why;
    const bool ok = v.CheckBuckets(s, starts, &why);
    return Checked(p, s, ok, why);
  }
  std::uint64_t HashOf(int node, const Key& k, std::size_t* i) const;
  // The integer bits of a converted number (integer targets).
  static std::uint64_t Bits(const Node& a, const Node& b, const View& v,
                            std::uint64_t s);
  static double Real(const Node& a, const View& v, std::uint64_t s);

  Planner& pl_;
  const Nodes& to_;
  FlatGraph* g_;
  std::vector<View> views_;  // per side
  std::uint64_t unclaimed_;  // of side 0's bytes, by Claim
  int root_t_ = -1;          // the root's target node, converted at 0
  std::deque<Task> tasks_;   // a stack (no copying as it grows)
  // Objects reached by pointers, converted once: (side, offset, target
  // node) -> target offset.
  struct SeenKey {
    int side, t;
    std::uint64_t off;
    bool operator==(const SeenKey&) const = default;
    template <class H>
    friend H AbslHashValue(H h, const SeenKey& s) {
      return H::combine(std::move(h), s.side, s.t, s.off);
    }
  };
  absl::flat_hash_map<SeenKey, std::uint64_t> seen_;
  // The common case, side 0, dense: (target node << 48) | (target + 1) per
  // source offset / 8 (pointees are 8-aligned in practice; others and
  // targets past 2^48 use seen_). Allocated at the first pointer.
  std::vector<std::uint64_t> dense_;
  std::vector<std::vector<std::uint64_t>> orders_;
  absl::Status error_;
};

std::uint64_t Converter::Bits(const Node& a, const Node& b, const View& v,
                              std::uint64_t s) {
  // Sign-extended when the source is signed, or an enum read as signed.
  const bool sign = a.op == Op::kSigned || (IsEnum(a) && b.op == Op::kSigned) ||
                    (a.op == Op::kChar && b.op == Op::kSigned);
  return sign ? static_cast<std::uint64_t>(v.Signed(s, a.size))
              : v.Unsigned(s, a.size);
}

double Converter::Real(const Node& a, const View& v, std::uint64_t s) {
  if (a.op == Op::kFloat) {
    return a.size == 4 ? v.Load<float>(s) : v.Load<double>(s);
  }
  return a.op == Op::kSigned ? static_cast<double>(v.Signed(s, a.size))
                             : static_cast<double>(v.Unsigned(s, a.size));
}

void Converter::Number(const Node& a, const Node& b, const View& v,
                       std::uint64_t s, std::uint64_t t) {
  if (b.op == Op::kFloat) {
    if (b.size == 4) {
      g_->Store(t, static_cast<float>(Real(a, v, s)));
    } else {
      g_->Store(t, Real(a, v, s));
    }
    return;
  }
  const std::uint64_t bits = Bits(a, b, v, s);
  std::memcpy(g_->data() + t, &bits, b.size);  // little-endian
}

void Converter::Put(const Plan& p, std::uint64_t s, std::uint64_t t) {
  const View& v = views_[p.side];
  const Node& b = to_[p.t];
  if (p.copy) {
    std::memcpy(g_->data() + t, v.at(s), b.size);
    return;
  }
  if (p.wrap) {
    Put(*p.kids[0], s, t);
    g_->Store<std::uint8_t>(t + to_[b.args[0]].size, 1);
    return;
  }
  const Node& a = From(p);
  switch (b.op) {
    case Op::kBool:
      if (!BoolAt(p, v, s)) return;
      [[fallthrough]];
    case Op::kChar:
    case Op::kNone:
      std::memcpy(g_->data() + t, v.at(s), b.size);
      return;
    case Op::kSigned:
    case Op::kUnsigned:
    case Op::kFloat:
      return Number(a, b, v, s, t);
    case Op::kString: {
      std::string_view bytes;
      if (StringAt(p, v, s, &bytes)) g_->PutBytes(t, bytes);
      return;
    }
    case Op::kValue:
      return Value(p, v, s, t);
    case Op::kVector:
      return Array(p, v, s, t);
    case Op::kSet:
    case Op::kMap:
    case Op::kHashSet:
    case Op::kHashMap:
      return Keyed(p, v, s, t);
    case Op::kPair:
    case Op::kTuple:
      for (std::size_t k = 0; k < b.args.size(); ++k) {
        Put(*p.kids[k], s + a.offsets[k], t + b.offsets[k]);
      }
      return;
    case Op::kStruct:
      for (std::size_t k = 0; k < b.args.size(); ++k) {
        if (p.map[k] >= 0) {
          Put(*p.kids[k], s + a.offsets[p.map[k]], t + b.offsets[k]);
        } else if (p.kids[k] != nullptr) {
          Put(*p.kids[k], p.dflt_off[k], t + b.offsets[k]);
        } else {
          Zero(b.args[k], t + b.offsets[k]);
        }
      }
      return;
    case Op::kOptional: {
      const auto flag =
          v.Load<std::uint8_t>(s + pl_.nodes(p.side)[a.args[0]].size);
      if (flag > 1) {
        return Damaged(p, s, absl::StrFormat("optional flag %d", flag));
      }
      if (flag == 1) {
        Put(*p.kids[0], s, t);
        g_->Store<std::uint8_t>(t + to_[b.args[0]].size, 1);
      }
      return;
    }
    case Op::kVariant: {
      const auto i = v.Load<std::uint32_t>(s + a.offsets[0]);
      if (i >= a.args.size()) {
        return Damaged(p, s,
                       absl::StrFormat("variant index %d of %d alternatives", i,
                                       a.args.size()));
      }
      if (p.map[i] < 0) {
        return Fail(
            p, absl::StrFormat("holds alternative %d (%s), which %s lacks", i,
                               pl_.nodes(p.side)[a.args[i]].expression,
                               b.expression));
      }
      Put(*p.alts[i], s, t);
      g_->Store<std::uint32_t>(t + b.offsets[0], p.map[i]);
      return;
    }
    case Op::kPtr:
      return Pointer(p, v, s, t);
  }
}

void Converter::Array(const Plan& p, const View& v, std::uint64_t s,
                      std::uint64_t t) {
  const Plan& elem = *p.kids[0];
  const Node& a = From(elem);
  const Node& b = to_[elem.t];
  const auto n = v.Load<std::uint64_t>(s + 8);
  if (n == 0) return;
  std::uint64_t from = 0;
  if (!RangeAt(p, v, s, a, v.Load<std::uint64_t>(s), n, "vector elements",
               &from) ||
      !Claim(p, from, n * a.size, s)) {
    return;
  }
  const std::uint64_t data = g_->Alloc(n * b.size, b.align);
  g_->Store<std::uint64_t>(t + 8, n);
  g_->StorePointer(t, data);
  if (elem.copy) {
    std::memcpy(g_->data() + data, v.at(from), n * b.size);
  } else {
    tasks_.push_back(Task{&elem, from, data, n});
  }
}

void Converter::Pointer(const Plan& p, const View& v, std::uint64_t s,
                        std::uint64_t t) {
  const auto ptr = v.Load<std::uint64_t>(s);
  if (ptr == 0) return;
  const Plan& e = *p.kids[0];
  const Node& a = From(e);
  const Node& b = to_[e.t];
  std::uint64_t from = 0;
  if (!v.Range(ptr, 1, a.size, a.align, &from)) {
    return Damaged(p, s,
                   absl::StrFormat("pointee at %#x is outside the graph or "
                                   "misaligned",
                                   ptr));
  }
  std::uint64_t target = Seen(e, from);
  if (target != 0) {
    --target;
  } else {
    if (!Claim(e, from, a.size, s)) return;
    target = g_->Alloc(b.size, b.align);
    Remember(e, from, target);
    tasks_.push_back(Task{&e, from, target, 1});
  }
  g_->StorePointer(t, target);
}

std::uint64_t Converter::Seen(const Plan& e, std::uint64_t from) const {
  // A pointer back to the root reaches the root, not a copy of it.
  if (e.side == 0 && from == 0 && e.t == root_t_) return 1;
  if (e.side == 0 && from % 8 == 0 && !dense_.empty()) {
    const std::uint64_t d = dense_[from / 8];
    if (d == 0) return 0;
    if (static_cast<int>(d >> 48) == e.t) return d & ((1ull << 48) - 1);
  }
  auto it = seen_.find(SeenKey{e.side, e.t, from});
  return it == seen_.end() ? 0 : it->second + 1;
}

void Converter::Remember(const Plan& e, std::uint64_t from, std::uint64_t to) {
  if (e.side == 0 && from % 8 == 0 && e.t < 0xffff && to < (1ull << 47)) {
    if (dense_.empty()) dense_.resize(views_[0].size() / 8 + 1);
    std::uint64_t& d = dense_[from / 8];
    if (d == 0) {
      d = (static_cast<std::uint64_t>(e.t) << 48) | (to + 1);
      return;
    }
  }
  seen_[SeenKey{e.side, e.t, from}] = to;
}

bool Converter::KeyOf(const Plan& key, const View& v, std::uint64_t s,
                      Key* out) {
  const Node& a = pl_.nodes(key.side)[key.f];
  const Node& b = to_[key.t];
  if (key.wrap) return KeyOf(*key.kids[0], v, s, out);
  switch (b.op) {
    case Op::kString: {
      std::string_view bytes;
      if (!StringAt(key, v, s, &bytes)) return false;
      out->emplace_back(std::string(bytes));
      return true;
    }
    case Op::kBool:
      if (!BoolAt(key, v, s)) return false;
      out->emplace_back(std::int64_t{v.Load<std::uint8_t>(s)});
      return true;
    case Op::kChar:
      out->emplace_back(std::int64_t{v.Load<signed char>(s)});
      return true;
    case Op::kSigned: {
      const std::uint64_t bits = Bits(a, b, v, s);
      const std::uint64_t sign = std::uint64_t{1} << (8 * b.size - 1);
      const std::uint64_t mask =
          b.size == 8 ? ~std::uint64_t{0} : (sign << 1) - 1;
      out->emplace_back(
          static_cast<std::int64_t>(((bits & mask) ^ sign) - sign));
      return true;
    }
    case Op::kUnsigned: {
      const std::uint64_t bits = Bits(a, b, v, s);
      out->emplace_back(
          b.size == 8 ? bits : bits & ((std::uint64_t{1} << (8 * b.size)) - 1));
      return true;
    }
    case Op::kFloat:
      out->emplace_back(
          b.size == 4 ? static_cast<double>(static_cast<float>(Real(a, v, s)))
                      : Real(a, v, s));
      return true;
    default:  // pair, tuple (KeyKnown)
      for (std::size_t k = 0; k < b.args.size(); ++k) {
        if (!KeyOf(*key.kids[k], v, s + a.offsets[k], out)) return false;
      }
      return true;
  }
}

std::uint64_t Converter::HashOf(int node, const Key& k, std::size_t* i) const {
  const Node& n = to_[node];
  if (n.op == Op::kPair || n.op == Op::kTuple) {
    std::uint64_t acc = internal::kHashSeed;
    for (int a : n.args) acc = internal::Combine(acc, HashOf(a, k, i));
    return acc;
  }
  const KeyPart& part = k[(*i)++];
  if (const auto* s = std::get_if<std::string>(&part)) {
    return StableHash(std::string_view(*s));
  }
  if (const auto* x = std::get_if<std::int64_t>(&part)) {
    return internal::Mix64(static_cast<std::uint64_t>(*x));
  }
  if (const auto* u = std::get_if<std::uint64_t>(&part)) {
    return internal::Mix64(*u);
  }
  return StableHash(std::get<double>(part));
}

void Converter::Keyed(const Plan& p, const View& v, std::uint64_t s,
                      std::uint64_t t) {
  const Node& b = to_[p.t];
  const bool hashed = b.op == Op::kHashSet || b.op == Op::kHashMap;
  const bool is_map = b.op == Op::kMap || b.op == Op::kHashMap;
  const Plan& elem = *p.kids[0];
  const Plan& key = is_map ? *p.kids[1] : elem;
  const Node& fe = From(elem);
  const Node& te = to_[elem.t];
  const auto n = v.Load<std::uint64_t>(s + (hashed ? 16 : 8));
  std::uint64_t from = 0;
  if (n != 0 && (!RangeAt(p, v, s, fe, v.Load<std::uint64_t>(s), n,
                          hashed ? "hash entries" : "sorted entries", &from) ||
                 !Claim(p, from, n * fe.size, s))) {
    return;
  }
  const std::uint64_t data = g_->Alloc(n * te.size, te.align);
  std::vector<std::uint64_t> order;  // target index per source element
  if (p.rekey) {
    std::vector<Key> keys(n);
    for (std::uint64_t i = 0; i < n; ++i) {
      if (!KeyOf(key, v, from + i * fe.size, &keys[i])) return;
    }
    std::vector<std::uint64_t> sorted(n);
    std::iota(sorted.begin(), sorted.end(), 0);
    std::stable_sort(sorted.begin(), sorted.end(),
                     [&](auto x, auto y) { return keys[x] < keys[y]; });
    for (std::uint64_t i = 1; i < n; ++i) {
      if (keys[sorted[i - 1]] == keys[sorted[i]]) {
        return Fail(key, absl::StrFormat(
                             "two keys (elements %d and %d) are equal once "
                             "read as %s",
                             sorted[i - 1], sorted[i], to_[key.t].expression));
      }
    }
    order.assign(n, 0);
    if (!hashed) {
      for (std::uint64_t i = 0; i < n; ++i) order[sorted[i]] = i;
    } else {
      std::uint64_t buckets = 1;
      while (buckets < n) buckets <<= 1;
      const std::uint64_t starts = g_->Alloc((buckets + 1) * 8, 8);
      std::vector<std::uint64_t> bucket(n), fill(buckets + 1, 0);
      for (std::uint64_t i = 0; i < n; ++i) {
        std::size_t at = 0;
        bucket[i] = HashOf(key.t, keys[i], &at) & (buckets - 1);
        ++fill[bucket[i] + 1];
      }
      for (std::uint64_t k = 0; k < buckets; ++k) fill[k + 1] += fill[k];
      for (std::uint64_t k = 0; k <= buckets; ++k) {
        g_->Store(starts + 8 * k, fill[k]);
      }
      for (std::uint64_t i = 0; i < n; ++i) order[i] = fill[bucket[i]]++;
      g_->StorePointer(t + 8, starts);
      g_->Store<std::uint64_t>(t + 24, buckets - 1);
    }
  } else if (hashed) {  // The same keys: the same buckets.
    const auto mask = v.Load<std::uint64_t>(s + 24);
    std::uint64_t sb = 0;
    if (!Buckets(p, v, s, &sb)) return;
    const std::uint64_t starts = g_->Alloc((mask + 2) * 8, 8);
    std::memcpy(g_->data() + starts, v.at(sb), (mask + 2) * 8);
    g_->StorePointer(t + 8, starts);
    g_->Store<std::uint64_t>(t + 24, mask);
  }
  g_->Store<std::uint64_t>(t + (hashed ? 16 : 8), n);
  if (n == 0) return;
  g_->StorePointer(t, data);
  if (elem.copy && order.empty()) {
    std::memcpy(g_->data() + data, v.at(from), n * te.size);
  } else {
    Task task{&elem, from, data, n};
    if (!order.empty()) {
      task.order = static_cast<std::int32_t>(orders_.size());
      orders_.push_back(std::move(order));
    }
    tasks_.push_back(task);
  }
}

void Converter::Value(const Plan& p, const View& v, std::uint64_t s,
                      std::uint64_t t) {
  const int value = p.t;
  const auto type = v.Load<std::uint32_t>(s + kValueIndexAt);
  if (type > 6) {
    return Damaged(p, s, absl::StrFormat("value type %d", type));
  }
  if (type == 1 && !BoolAt(p, v, s)) return;
  g_->Store<std::uint32_t>(t + kValueIndexAt, type);
  if (type >= 1 && type <= 3) {
    std::memcpy(g_->data() + t, v.at(s), 8);
  } else if (type == 4) {
    std::string_view bytes;
    if (StringAt(p, v, s, &bytes)) g_->PutBytes(t, bytes);
  } else if (type == 5 || type == 6) {
    const auto n = v.Load<std::uint64_t>(s + 8);
    if (n == 0) return;
    const Node& e = to_[type == 5 ? value : to_[value].args[1]];
    std::uint64_t from = 0;
    if (!RangeAt(p, v, s, e, v.Load<std::uint64_t>(s), n,
                 type == 5 ? "value array" : "value object", &from) ||
        !Claim(p, from, n * e.size, s)) {
      return;
    }
    const std::uint64_t data = g_->Alloc(n * e.size, e.align);
    g_->StorePointer(t, data);
    g_->Store<std::uint64_t>(t + 8, n);
    Task task{&p, from, data, n};
    task.value = true;
    task.object = type == 6;
    tasks_.push_back(std::move(task));
  }
}

void Converter::RunTask(const Task& task) {
  const Plan& p = *task.plan;
  if (task.value) {  // A Value's array or object
    const View& v = views_[p.side];
    const Node& e = to_[task.object ? to_[p.t].args[1] : p.t];
    for (std::uint64_t i = 0; i < task.count && error_.ok(); ++i) {
      const std::uint64_t s = task.from + i * e.size;
      const std::uint64_t t = task.to + i * e.size;
      if (task.object) {
        std::string_view key;
        if (!StringAt(p, v, s, &key)) return;
        g_->PutBytes(t, key);
        Value(p, v, s + e.offsets[1], t + e.offsets[1]);
      } else {
        Value(p, v, s, t);
      }
    }
    return;
  }
  const std::uint64_t fs = From(*task.plan).size;
  const std::uint64_t ts = to_[task.plan->t].size;
  if (task.order < 0) {
    for (std::uint64_t i = 0; i < task.count && error_.ok(); ++i) {
      Put(*task.plan, task.from + i * fs, task.to + i * ts);
    }
    return;
  }
  const std::vector<std::uint64_t>& order = orders_[task.order];
  for (std::uint64_t i = 0; i < task.count && error_.ok(); ++i) {
    Put(*task.plan, task.from + i * fs, task.to + order[i] * ts);
  }
}

void Converter::Zero(int node, std::uint64_t t) {
  const Node& n = to_[node];
  switch (n.op) {
    case Op::kString:
      return g_->PutBytes(t, "");
    case Op::kHashSet:
    case Op::kHashMap:  // One empty bucket.
      g_->StorePointer(t + 8, g_->Alloc(16, 8));
      return;
    case Op::kStruct:
    case Op::kPair:
    case Op::kTuple:
      for (std::size_t k = 0; k < n.args.size(); ++k) {
        Zero(n.args[k], t + n.offsets[k]);
      }
      return;
    case Op::kVariant:
      return Zero(n.args[0], t);
    default:  // All-zero bytes are its empty or zero value.
      return;
  }
}

}  // namespace schema_internal

namespace {
using schema_internal::Nodes;
using schema_internal::Planner;

absl::Status CompileBoth(const Schema& from, const Schema& to, Nodes* f,
                         Nodes* t) {
  absl::Status s = Nodes::Compile(from, f);
  if (s.ok()) s = Nodes::Compile(to, t);
  return s;
}
}  // namespace

absl::Status CheckConvertible(const Schema& from, const Schema& to) {
  Nodes f, t;
  if (absl::Status s = CompileBoth(from, to, &f, &t); !s.ok()) return s;
  Planner planner(f, t, {});
  return planner.Root().status();
}

absl::StatusOr<FlatGraph> ConvertGraph(
    const Schema& from, const GraphBytes& graph, const Schema& to,
    const std::vector<const StructDefault*>& defaults) {
  Nodes f, t;
  if (absl::Status s = CompileBoth(from, to, &f, &t); !s.ok()) return s;
  Planner planner(f, t, defaults);
  absl::StatusOr<const schema_internal::Plan*> root = planner.Root();
  if (!root.ok()) return root.status();
  FlatGraph out;
  schema_internal::Converter c(
      planner, schema_internal::View(graph.bytes, graph.size, graph.address),
      &out);
  if (absl::Status s = c.Run(**root); !s.ok()) return s;
  return out;
}

}  // namespace ancient
