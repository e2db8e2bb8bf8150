#include "ancient/schema/nodes.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_format.h"

namespace ancient::schema_internal {

absl::Status Nodes::Compile(const Schema& schema, Nodes* out) {
  if (schema.platform() != Schema::NativePlatform()) {
    return absl::FailedPreconditionError(
        absl::StrFormat("the type was described for %s; this build reads %s",
                        schema.platform(), Schema::NativePlatform()));
  }
  out->nodes_.clear();
  out->done_.clear();
  out->Add(schema.root());
  return absl::OkStatus();
}

int Nodes::Entry(int key, int value) {
  Node e{Op::kPair};
  const std::uint64_t va = nodes_[value].align;
  e.args = {key, value};
  e.offsets = {0, (nodes_[key].size + va - 1) / va * va};
  e.align = std::max(nodes_[key].align, va);
  e.size =
      (e.offsets[1] + nodes_[value].size + e.align - 1) / e.align * e.align;
  e.expression =
      "pair<" + nodes_[key].expression + ", " + nodes_[value].expression + ">";
  e.trivial = nodes_[key].trivial && nodes_[value].trivial;
  nodes_.push_back(std::move(e));
  return static_cast<int>(nodes_.size()) - 1;
}

int Nodes::Add(const SchemaType& t0) {
  const SchemaType& t = t0.resolved();
  const int i = static_cast<int>(nodes_.size());
  if (auto [it, fresh] = done_.try_emplace(&t, i); !fresh) return it->second;
  nodes_.push_back(Node{Op::kNone});
  Node n{Op::kNone};
  n.size = t.size;
  n.align = t.align;
  n.expression = t.Expression();
  n.offsets = t.offsets;
  const std::string& name = t.name;
  auto add_args = [&] {
    std::vector<int> args;
    for (const SchemaType* a : t.args) args.push_back(Add(*a));
    return args;
  };
  auto all_trivial = [&](const std::vector<int>& args) {
    return std::all_of(args.begin(), args.end(),
                       [&](int a) { return nodes_[a].trivial; });
  };
  if (t.kind == SchemaType::Kind::kStruct) {
    n.op = Op::kStruct;
    nodes_[i] = n;  // Its size, for entries of maps of it inside it.
    for (const SchemaType::Field& f : t.fields) {
      const int a = Add(*f.type);
      n.args.push_back(a);
      n.offsets.push_back(f.offset);
      n.names.push_back(f.name);
    }
    n.trivial = all_trivial(n.args);
  } else if (t.kind == SchemaType::Kind::kPrimitive) {
    n.trivial = true;
    if (name == "bool") {
      n.op = Op::kBool;
      n.trivial = false;
    } else if (name == "char") {
      n.op = Op::kChar;
    } else if (name[0] == 'i') {
      n.op = Op::kSigned;
    } else if (name[0] == 'u' || name[0] == 'e') {
      n.op = Op::kUnsigned;
    } else if (name[0] == 'f') {
      n.op = Op::kFloat;
    } else if (name == "none") {
      n.op = Op::kNone;
      n.maybe_null = true;
    } else if (name == "string") {
      n.op = Op::kString;
      n.trivial = false;
    } else {  // value
      n.op = Op::kValue;
      n.trivial = false;
      n.maybe_null = true;
      nodes_[i] = n;
      Node s{Op::kString, 16, 8};
      s.expression = "string";
      nodes_.push_back(s);
      const int si = static_cast<int>(nodes_.size()) - 1;
      n.args = {si, Entry(si, i)};
    }
  } else {  // containers
    nodes_[i] = n;
    n.args = add_args();
    if (name == "vector") {
      n.op = Op::kVector;
    } else if (name == "set") {
      n.op = Op::kSet;
    } else if (name == "hash_set") {
      n.op = Op::kHashSet;
    } else if (name == "map" || name == "hash_map") {
      n.op = name == "map" ? Op::kMap : Op::kHashMap;
      n.args = {Entry(n.args[0], n.args[1]), n.args[0], n.args[1]};
    } else if (name == "pair" || name == "tuple") {
      n.op = name == "pair" ? Op::kPair : Op::kTuple;
      n.trivial = all_trivial(n.args);
    } else if (name == "optional") {
      n.op = Op::kOptional;
      n.maybe_null = true;
    } else if (name == "variant") {
      n.op = Op::kVariant;
    } else {  // ptr
      n.op = Op::kPtr;
      n.maybe_null = true;
    }
  }
  nodes_[i] = std::move(n);
  return i;
}

bool Nodes::Same(int a, int b) const {
  // Coinductive: a pair met again while being compared is assumed equal.
  std::set<std::pair<int, int>> assumed;
  std::vector<std::pair<int, int>> todo = {{a, b}};
  while (!todo.empty()) {
    auto [x, y] = todo.back();
    todo.pop_back();
    if (x == y || !assumed.insert({x, y}).second) continue;
    const Node& p = nodes_[x];
    const Node& q = nodes_[y];
    if (p.op != q.op || p.size != q.size || p.align != q.align ||
        p.offsets != q.offsets || p.names != q.names ||
        p.args.size() != q.args.size() ||
        (p.op != Op::kStruct && p.expression != q.expression)) {
      return false;
    }
    for (std::size_t i = 0; i < p.args.size(); ++i) {
      todo.emplace_back(p.args[i], q.args[i]);
    }
  }
  return true;
}

bool ValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    unsigned lo = 0x80, hi = 0xbf;  // the second byte's range
    if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0) lo = 0xa0;  // overlong
      if (c == 0xed) hi = 0x9f;  // surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0) lo = 0x90;  // overlong
      if (c == 0xf4) hi = 0x8f;  // past U+10FFFF
    } else {
      return false;
    }
    if (end - p <= n || p[1] < lo || p[1] > hi) return false;
    for (int k = 2; k <= n; ++k) {
      if ((p[k] & 0xc0) != 0x80) return false;
    }
    p += n + 1;
  }
  return true;
}

bool View::CheckRoot(std::uint64_t size, std::string* why) const {
  if (size <= size_) return true;
  *why = absl::StrFormat(
      "the root (%d bytes) is larger than the graph's %d bytes", size, size_);
  return false;
}

std::string View::StringOutside(std::uint64_t p, std::uint64_t size) {
  return absl::StrFormat("string bytes at %#x (%d bytes) are outside the graph",
                         p, size);
}

bool View::CheckBuckets(std::uint64_t off, std::uint64_t* starts,
                        std::string* why) const {
  const auto n = Load<std::uint64_t>(off + 16);
  const auto mask = Load<std::uint64_t>(off + 24);
  if (mask == ~std::uint64_t{0} || ((mask + 1) & mask) != 0) {
    *why = absl::StrFormat("bucket count %d is not a power of two", mask + 1);
    return false;
  }
  if (!Range(Load<std::uint64_t>(off + 8), mask + 2, 8, 8, starts)) {
    *why = "hash buckets outside the graph or misaligned";
    return false;
  }
  std::uint64_t prev = 0;
  for (std::uint64_t b = 0; b <= mask + 1; ++b) {
    const auto at = Load<std::uint64_t>(*starts + 8 * b);
    if (at < prev || at > n || (b == 0 && at != 0) ||
        (b == mask + 1 && at != n)) {
      *why = absl::StrFormat(
          "bucket %d starts at %d: out of order or not covering the %d "
          "entries",
          b, at, n);
      return false;
    }
    prev = at;
  }
  return true;
}

}  // namespace ancient::schema_internal
