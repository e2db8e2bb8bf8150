// Internal to schema_graph: the typed check by schema, which also counts
// how many pointers reach each object (the JSON writer's sharing table).

#ifndef ANCIENT_SCHEMA_CHECK_H_
#define ANCIENT_SCHEMA_CHECK_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ancient/schema/nodes.h"
#include "ancient/value.h"

namespace ancient::schema_internal {

static_assert(sizeof(void*) != 8 || (sizeof(FrozenValue) == 24 &&
                                     sizeof(Pair<String, FrozenValue>) == 40));

// An object reached through pointers: its offset and its node.
using ObjectKey = std::pair<std::uint64_t, int>;

// How many pointers reach each object of a graph under check: none, one, or
// two and more (all that the JSON writer asks), by the object's offset and
// node. A hash map while the objects are few; dense once a table of 2 bytes
// for each place an object can start (every `grain` bytes, the least
// alignment of any pointee, at least 4) would cost at most 4x the map: a
// lookup is then one access into memory a quarter the graph's size (grain
// 8), not a hash table's two. An object of a second node at an offset
// already taken stays in the map.
class RefCounts {
 public:
  RefCounts(const Nodes& nodes, const View& view);

  // One more pointer reaches the object of `node` at `off` (an offset
  // Range gave for that node's alignment, or 0): true the first time.
  bool Reach(std::uint64_t off, int node) {
    if (!dense_.empty() && node < kMaxNode) {
      std::uint16_t& e = dense_[Index(off)];
      const auto mine = static_cast<std::uint16_t>(node + 1);
      if (e == 0) {
        e = mine;
        return true;
      }
      if ((e & ~kMany) == mine) {
        e |= kMany;
        return false;
      }
    }
    auto [it, fresh] = map_.try_emplace(ObjectKey{off, node}, 1);
    if (!fresh && it->second < 2) ++it->second;
    if (fresh && dense_.empty() && map_.size() >= dense_from_) GoDense();
    return fresh;
  }

  // 0, 1 or 2 (two or more).
  std::uint32_t Count(std::uint64_t off, int node) const {
    if (!dense_.empty() && node < kMaxNode) {
      const std::uint16_t e = dense_[Index(off)];
      if ((e & ~kMany) == node + 1) return (e & kMany) != 0 ? 2 : 1;
    }
    auto it = map_.find(ObjectKey{off, node});
    return it == map_.end() ? 0 : it->second;
  }

 private:
  static constexpr std::uint16_t kMany = 0x8000;
  static constexpr int kMaxNode = kMany - 1;

  std::size_t Index(std::uint64_t off) const {
    return (address_ + off) / grain_ - address_ / grain_;
  }
  void GoDense();

  std::uint64_t grain_ = 0;  // 0: never dense
  std::uintptr_t address_ = 0;
  std::size_t slots_ = 0;
  std::size_t dense_from_ = ~std::size_t{0};  // map entries that switch
  std::vector<std::uint16_t> dense_;          // node + 1, kMany; 0: none
  absl::flat_hash_map<ObjectKey, std::uint32_t> map_;
};

// The typed check, breadth-first; counts how many pointers reach each
// object (the root counts as reached once).
class Checker {
 public:
  Checker(const Nodes& nodes, const View& view)
      : n_(nodes), v_(view), unclaimed_(view.size()), refs_(nodes, view) {}

  absl::Status Run() {
    if (std::string why; !v_.CheckRoot(n_[0].size, &why)) {
      return absl::DataLossError(why);
    }
    refs_.Reach(0, 0);
    Claim(0, n_[0].size);
    Check(0, 0);
    for (std::size_t i = 0; i < tasks_.size() && status_.ok(); ++i) {
      const Task t = tasks_[i];
      const std::uint64_t stride = n_[t.node].size;
      for (std::uint64_t k = 0; k < t.n && status_.ok(); ++k) {
        Check(t.node, t.off + k * stride);
      }
    }
    return status_;
  }

  // How many pointers reach each object (after Run).
  const RefCounts& refs() const { return refs_; }

 private:
  struct Task {
    int node;
    std::uint64_t off, n;
  };

  void Fail(std::uint64_t off, std::string_view what) {
    if (status_.ok()) {
      status_ = absl::DataLossError(
          absl::StrCat(schema_internal::Av(what), " (in a ",
                       n_[current_].expression, " at graph offset ", off, ")"));
    }
  }

  // As CheckContext::Claim (check.h), which this must match so that both
  // checks agree: `bytes` at graph offset `at` taken by one object reached
  // (the root, an array, a pointee the first time); false, and the failure
  // recorded against `off`, past the graph's size.
  bool Claim(std::uint64_t at, std::uint64_t bytes, std::uint64_t off = 0) {
    if (bytes <= unclaimed_) {
      unclaimed_ -= bytes;
      return true;
    }
    Fail(off, absl::StrFormat("an array or object is reached twice: with "
                              "the %d bytes at graph offset %d, the objects "
                              "reached take more than the graph's %d bytes",
                              bytes, at, v_.size()));
    return false;
  }

  void Check(int i, std::uint64_t off) {
    const Node& n = n_[i];
    current_ = i;
    switch (n.op) {
      case Op::kBool:
        Bool(off);
        return;
      case Op::kChar:
      case Op::kSigned:
      case Op::kUnsigned:
      case Op::kFloat:
      case Op::kNone:
        return;
      case Op::kString:
        String(off);
        return;
      case Op::kValue:
        switch (const auto index =
                    v_.Load<std::uint32_t>(off + kValueIndexAt)) {
          case 0:
          case 2:
          case 3:
            return;
          case 1:
            return Bool(off);
          case 4:
            return String(off);
          case 5:
            return Array(i, off, "value array");
          case 6:
            return Array(n.args[1], off, "value object");
          default:
            return Fail(off, absl::StrFormat("value type %d", index));
        }
      case Op::kVector:
      case Op::kSet:
      case Op::kMap:
        Array(n.args[0], off,
              n.op == Op::kVector ? "vector elements"
              : n.op == Op::kSet  ? "set entries"
                                  : "map entries");
        return;
      case Op::kHashSet:
      case Op::kHashMap:
        Hashed(n.args[0], off);
        return;
      case Op::kPair:
      case Op::kTuple:
      case Op::kStruct:
        for (std::size_t k = 0; k < n.args.size(); ++k) {
          if (!n_[n.args[k]].trivial) Check(n.args[k], off + n.offsets[k]);
          current_ = i;
        }
        return;
      case Op::kOptional: {
        const auto flag = v_.Load<std::uint8_t>(off + n_[n.args[0]].size);
        if (flag > 1)
          return Fail(off, absl::StrFormat("optional flag %d", flag));
        if (flag == 1) Check(n.args[0], off);
        return;
      }
      case Op::kVariant: {
        const auto index = v_.Load<std::uint32_t>(off + n.offsets[0]);
        if (index >= n.args.size()) {
          return Fail(
              off, absl::StrFormat("variant index %d of %d alternatives", index,
                                   n.args.size()));
        }
        Check(n.args[index], off);
        return;
      }
      case Op::kPtr: {
        const auto p = v_.Load<std::uint64_t>(off);
        if (p == 0) return;
        const Node& e = n_[n.args[0]];
        std::uint64_t t;
        if (!v_.Range(p, 1, e.size, e.align, &t)) {
          return Fail(off,
                      absl::StrFormat("pointee at %#x is outside the graph "
                                      "or misaligned",
                                      p));
        }
        if (refs_.Reach(t, n.args[0]) && Claim(t, e.size, off)) {
          tasks_.push_back({n.args[0], t, 1});
        }
        return;
      }
    }
  }

  void Bool(std::uint64_t off) {
    const auto b = v_.Load<std::uint8_t>(off);
    if (b > 1) Fail(off, absl::StrFormat("bool holds %d", b));
  }

  void String(std::uint64_t off) {
    std::string_view bytes;
    if (std::string why; !v_.CheckString(off, &bytes, &why)) Fail(off, why);
  }

  void Array(int elem, std::uint64_t off, const char* what) {
    const auto p = v_.Load<std::uint64_t>(off);
    const auto size = v_.Load<std::uint64_t>(off + 8);
    Elements(elem, p, size, off, what);
  }

  void Elements(int elem, std::uint64_t p, std::uint64_t size,
                std::uint64_t off, const char* what) {
    if (size == 0) return;
    const Node& e = n_[elem];
    std::uint64_t t;
    if (!v_.Range(p, size, e.size, e.align, &t)) {
      return Fail(off, absl::StrFormat("%s at %#x (%d x %d bytes) are outside "
                                       "the graph or misaligned",
                                       what, p, size, e.size));
    }
    if (!Claim(t, size * e.size, off)) return;
    if (!e.trivial) tasks_.push_back({elem, t, size});
  }

  void Hashed(int elem, std::uint64_t off) {
    std::uint64_t starts;
    if (std::string why; !v_.CheckBuckets(off, &starts, &why)) {
      return Fail(off, why);
    }
    Elements(elem, v_.Load<std::uint64_t>(off),
             v_.Load<std::uint64_t>(off + 16), off, "hash entries");
  }

  const Nodes& n_;
  const View& v_;
  absl::Status status_;
  std::uint64_t unclaimed_;  // of the graph's bytes, by Claim
  int current_ = 0;
  std::vector<Task> tasks_;
  RefCounts refs_;
};

}  // namespace ancient::schema_internal

#endif  // ANCIENT_SCHEMA_CHECK_H_
