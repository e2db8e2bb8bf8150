// libFuzzer target: ConvertGraph over random pairs of types and random
// graphs, some damaged.
//
// Each input picks a source type from a pool (structs of several releases,
// containers, variants, pointers with sharing, hash containers), builds a
// value of it from the input's bytes, marks it, and picks a target: another
// type of the pool, or the source's description with a few characters
// changed (most such descriptions do not parse; those that do are new
// types). Some inputs then flip bytes of the marked graph. Nothing may
// crash; a conversion that succeeds must give a graph that passes the
// target's typed check (VerifyGraph by schema); a damaged source must be
// DataLoss or converted soundly.
//
// Built and run by tools/fuzz (clang, -fsanitize=fuzzer,address,undefined).

#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "ancient/ancient.h"
#include "ancient/schema/schema_graph.h"

namespace fz {
enum class Kind : std::uint8_t { kA = 1, kB = 2 };
struct A {
  std::string name;
  std::int32_t n = 0;
  Kind kind = Kind::kA;
  std::vector<std::uint16_t> v;
};
struct B {
  std::vector<std::uint32_t> v;
  std::optional<std::string> name;
  std::int64_t n = 5;
  double x = 1.5;
};
struct Node {
  std::int32_t id = 0;
  std::vector<Node*> out;
};
}  // namespace fz
ANCIENT_STRUCT(fz::A, name, n, kind, v)
ANCIENT_STRUCT(fz::B, v, name, n, x)
ANCIENT_STRUCT(fz::Node, id, out)

namespace {

using ancient::Schema;

// A value of one pool type, made from the input, as its marked graph and
// description.
struct Marked {
  std::string description;
  std::string bytes;  // a copy of the block
  std::uintptr_t address = 0;
};

template <class T>
Marked MarkIt(const T& value) {
  ancient::Ancient<T> a = ancient::Mark(value);
  Marked m;
  m.description = ancient::TypeDescription<T>();
  m.bytes.assign(static_cast<const char*>(a.data()), a.size_bytes());
  m.address = reinterpret_cast<std::uintptr_t>(a.data());
  return m;
}

fz::A MakeA(FuzzedDataProvider& in) {
  fz::A a;
  a.name = in.ConsumeRandomLengthString(12);
  a.n = in.ConsumeIntegral<std::int32_t>();
  a.kind = static_cast<fz::Kind>(in.ConsumeIntegral<std::uint8_t>());
  a.v.resize(in.ConsumeIntegralInRange(0, 4));
  for (auto& x : a.v) x = in.ConsumeIntegral<std::uint16_t>();
  return a;
}

fz::B MakeB(FuzzedDataProvider& in) {
  fz::B b;
  if (in.ConsumeBool()) b.name = in.ConsumeRandomLengthString(8);
  b.n = in.ConsumeIntegral<std::int64_t>();
  b.v.resize(in.ConsumeIntegralInRange(0, 3));
  for (auto& x : b.v) x = in.ConsumeIntegral<std::uint32_t>();
  return b;
}

constexpr int kPool = 12;

// Pool type `i` with a value from `in`, or its description alone (when
// `in` is null).
Marked Make(int i, FuzzedDataProvider* in) {
  FuzzedDataProvider empty(nullptr, 0);
  FuzzedDataProvider& d = in ? *in : empty;
  const int n = d.ConsumeIntegralInRange(0, 6);
  switch (i) {
    case 0:
      return MarkIt(MakeA(d));
    case 1:
      return MarkIt(MakeB(d));
    case 2: {
      std::map<std::string, fz::A> m;
      for (int k = 0; k < n; ++k) m[d.ConsumeRandomLengthString(4)] = MakeA(d);
      return MarkIt(m);
    }
    case 3: {
      std::map<std::string, fz::B> m;
      for (int k = 0; k < n; ++k) m[d.ConsumeRandomLengthString(4)] = MakeB(d);
      return MarkIt(m);
    }
    case 4: {
      std::unordered_map<std::int32_t, std::vector<fz::A>> m;
      for (int k = 0; k < n; ++k) {
        m[d.ConsumeIntegral<std::int32_t>()].push_back(MakeA(d));
      }
      return MarkIt(m);
    }
    case 5: {
      std::unordered_map<std::int64_t, std::vector<fz::B>> m;
      for (int k = 0; k < n; ++k) {
        m[d.ConsumeIntegral<std::int32_t>()].push_back(MakeB(d));
      }
      return MarkIt(m);
    }
    case 6: {
      std::vector<std::variant<std::int32_t, std::string, fz::A>> v;
      for (int k = 0; k < n; ++k) {
        switch (d.ConsumeIntegralInRange(0, 2)) {
          case 0:
            v.emplace_back(d.ConsumeIntegral<std::int32_t>());
            break;
          case 1:
            v.emplace_back(d.ConsumeRandomLengthString(5));
            break;
          default:
            v.emplace_back(MakeA(d));
        }
      }
      return MarkIt(v);
    }
    case 7: {
      std::vector<std::variant<double, std::string, fz::B, bool>> v;
      for (int k = 0; k < n; ++k)
        v.emplace_back(d.ConsumeFloatingPoint<double>());
      return MarkIt(v);
    }
    case 8:
    case 9: {  // a graph with sharing and cycles
      std::vector<std::unique_ptr<fz::Node>> nodes;
      for (int k = 0; k < n + 1; ++k) {
        nodes.push_back(std::make_unique<fz::Node>());
        nodes.back()->id = k;
      }
      for (auto& node : nodes) {
        const int links = d.ConsumeIntegralInRange(0, 3);
        for (int l = 0; l < links; ++l) {
          node->out.push_back(
              nodes[d.ConsumeIntegralInRange<std::size_t>(0, nodes.size() - 1)]
                  .get());
        }
      }
      std::vector<fz::Node*> roots = {nodes[0].get(), nodes.back().get()};
      return MarkIt(roots);
    }
    case 10: {
      std::set<std::pair<std::uint8_t, std::string>> s;
      for (int k = 0; k < n; ++k) {
        s.emplace(d.ConsumeIntegral<std::uint8_t>(),
                  d.ConsumeRandomLengthString(3));
      }
      return MarkIt(s);
    }
    default: {
      std::unordered_set<std::int16_t> s;
      for (int k = 0; k < n; ++k) s.insert(d.ConsumeIntegral<std::int16_t>());
      return MarkIt(s);
    }
  }
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "convert_fuzzer: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  FuzzedDataProvider in(data, size);
  const int from = in.ConsumeIntegralInRange(0, kPool - 1);
  const int to = in.ConsumeIntegralInRange(0, kPool - 1);
  const bool mutate_type = in.ConsumeBool();
  const int flips = in.ConsumeIntegralInRange(0, 2);
  Marked m = Make(from, &in);
  std::string target = Make(to, nullptr).description;
  if (mutate_type) {  // a few characters of the source's description
    target = m.description;
    for (int k = 0; k < 3 && !target.empty(); ++k) {
      const auto at =
          in.ConsumeIntegralInRange<std::size_t>(0, target.size() - 1);
      target[at] = in.ConsumeIntegralInRange<char>(32, 126);
    }
  }
  bool damaged = false;
  for (int k = 0; k < flips && !m.bytes.empty(); ++k) {
    const auto at =
        in.ConsumeIntegralInRange<std::size_t>(0, m.bytes.size() - 1);
    const auto x = in.ConsumeIntegralInRange<std::uint8_t>(1, 255);
    m.bytes[at] = static_cast<char>(m.bytes[at] ^ x);
    damaged = true;
  }
  absl::StatusOr<Schema> fs = Schema::Parse(m.description);
  Check(fs.ok(), "the source's own description does not parse");
  absl::StatusOr<Schema> ts = Schema::Parse(target);
  if (!ts.ok()) return 0;
  const ancient::GraphBytes g{m.bytes.data(), m.bytes.size(), m.address};
  absl::StatusOr<ancient::FlatGraph> out = ancient::ConvertGraph(*fs, g, *ts);
  if (!out.ok()) {
    const auto code = out.status().code();
    Check(code == absl::StatusCode::kFailedPrecondition ||
              (damaged && code == absl::StatusCode::kDataLoss),
          "an unexpected error code");
    Check(ancient::CheckConvertible(*fs, *ts).ok() ||
              code == absl::StatusCode::kFailedPrecondition,
          "refused types, yet not FailedPrecondition");
    return 0;
  }
  Check(ancient::CheckConvertible(*fs, *ts).ok(),
        "converted what CheckConvertible refuses");
  void* mem = std::aligned_alloc(64, (out->size() + 63) / 64 * 64 + 64);
  out->Place(mem);
  const absl::Status verified = ancient::VerifyGraph(
      *ts, ancient::GraphBytes{static_cast<const char*>(mem), out->size(),
                               reinterpret_cast<std::uintptr_t>(mem)});
  std::free(mem);
  Check(verified.ok(), "a converted graph fails its type's check");
  return 0;
}
