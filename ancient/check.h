// VerifyGraph<T>: a full, typed check of a frozen graph before it is trusted.
//
// The relocation record lets VerifyBlock check that every pointer lands in
// the block, without the type. VerifyGraph knows the type, so it also checks
// what the pointers are for: every string's bytes (and its NUL), every
// array's elements, map and set entries, hash buckets, pointees, optional
// flags and variant indexes lie inside the block, aligned, with sizes that
// fit. A graph that passes can be read through its frozen type without
// reading outside the block. It runs in time linear in the graph, without
// recursion on the data.

#ifndef ANCIENT_CHECK_H_
#define ANCIENT_CHECK_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "ancient/frozen.h"
#include "ancient/layout.h"
#include "ancient/struct.h"
#include "ancient/value.h"

namespace ancient {
namespace internal {

class CheckContext {
 public:
  using TaskFn = void (*)(CheckContext& c, const void* obj, std::uint64_t n);

  CheckContext(const char* base, std::uint64_t size)
      : base_(base), size_(size), unclaimed_(size) {}

  // True when `n` objects of type E at `p` lie inside the block, aligned;
  // otherwise records the failure, naming `what`.
  template <class E>
  bool Range(const E* p, std::uint64_t n, const char* what) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    const auto lo = reinterpret_cast<std::uintptr_t>(base_);
    if (a < lo || a - lo > size_ || a % alignof(E) != 0 ||
        n > (size_ - (a - lo)) / sizeof(E)) {
      Fail(
          absl::StrFormat("%s at %#x (%d x %d bytes) is outside the block "
                          "[%#x, %#x) or misaligned",
                          what, a, n, sizeof(E), lo, lo + size_));
      return false;
    }
    return true;
  }

  void Fail(std::string message) {
    if (status_.ok()) status_ = absl::DataLossError(std::move(message));
  }
  bool ok() const { return status_.ok(); }

  // True the first time an object of the type `tag` stands for is seen at p.
  bool FirstVisit(const void* p, const void* tag) {
    return visited_.insert(std::pair(p, tag)).second;
  }

  // Counts `bytes` at p as taken by one object reached: the root, an array,
  // or a pointee the first time. Mark never lays two objects over each
  // other, so in a sound block they add up to at most its size; more means
  // an array is reached twice (an array holding itself would be walked for
  // ever): records the failure and returns false. This bounds every walk
  // of a checked block by its size.
  bool Claim(const void* p, std::uint64_t bytes) {
    if (bytes <= unclaimed_) {
      unclaimed_ -= bytes;
      return true;
    }
    Fail(absl::StrFormat(
        "an array or object is reached twice: with the %d bytes at %#x, the "
        "objects reached take more than the block's %d bytes",
        bytes, reinterpret_cast<std::uintptr_t>(p), size_));
    return false;
  }

  void Defer(TaskFn fn, const void* obj, std::uint64_t n) {
    tasks_.push_back(Task{fn, obj, n});
  }

  absl::Status Run() {
    for (std::size_t i = 0; i < tasks_.size() && status_.ok(); ++i) {
      tasks_[i].fn(*this, tasks_[i].obj, tasks_[i].n);
    }
    return status_;
  }

 private:
  struct Task {
    TaskFn fn;
    const void* obj;
    std::uint64_t n;
  };
  const char* base_;
  std::uint64_t size_;
  std::uint64_t unclaimed_;  // of size_, by Claim
  absl::Status status_;
  std::vector<Task> tasks_;
  absl::flat_hash_set<std::pair<const void*, const void*>> visited_;
};

// Check<F>::Run(c, f): checks frozen object f (already known to lie inside
// the block) and queues the checks of what it points to.
template <class F, class = void>
struct Check;

// Types with nothing to check: every bit pattern is valid.
template <class F>
inline constexpr bool kTrivialCheck =
    (std::is_arithmetic_v<F> && !std::is_same_v<F, bool>) ||
    std::is_enum_v<F> || std::is_same_v<F, std::monostate>;

template <class F>
struct Check<F, std::enable_if_t<kTrivialCheck<F>>> {
  static void Run(CheckContext&, const F&) {}
};

template <>
struct Check<bool> {
  static void Run(CheckContext& c, const bool& b) {
    unsigned char byte;
    std::memcpy(&byte, &b, 1);
    if (byte > 1) c.Fail(absl::StrFormat("bool holds %d", byte));
  }
};

template <class E>
void CheckElements(CheckContext& c, const void* p, std::uint64_t n) {
  const E* e = static_cast<const E*>(p);
  for (std::uint64_t i = 0; i < n && c.ok(); ++i) Check<E>::Run(c, e[i]);
}

// An array of n elements at p: in the block, then each element.
template <class E>
void CheckArray(CheckContext& c, const E* p, std::uint64_t n,
                const char* what) {
  if (n == 0) return;
  if (!c.Range(p, n, what) || !c.Claim(p, n * sizeof(E))) return;
  if constexpr (!kTrivialCheck<E>) c.Defer(&CheckElements<E>, p, n);
}

template <>
struct Check<String> {
  static void Run(CheckContext& c, const String& s) {
    if (!c.Range(s.data(), s.size() + 1, "string bytes")) return;
    if (s.data()[s.size()] != '\0') c.Fail("string without its NUL");
  }
};

template <class E>
struct Check<Vector<E>> {
  static void Run(CheckContext& c, const Vector<E>& v) {
    CheckArray(c, v.data(), v.size(), "vector elements");
  }
};

template <class K, class V>
struct Check<Map<K, V>> {
  static void Run(CheckContext& c, const Map<K, V>& m) {
    CheckArray(c, m.begin(), m.size(), "map entries");
  }
};

template <class K>
struct Check<Set<K>> {
  static void Run(CheckContext& c, const Set<K>& s) {
    CheckArray(c, s.begin(), s.size(), "set entries");
  }
};

template <class F>
void CheckHashed(CheckContext& c, const F& f, const char* what) {
  const std::uint64_t mask = FrozenAccess::HashedMask(f);
  if (mask == ~std::uint64_t{0} || ((mask + 1) & mask) != 0) {
    c.Fail(absl::StrFormat("%s: bucket count %d is not a power of two", what,
                           mask + 1));
    return;
  }
  const std::uint64_t* starts = FrozenAccess::HashedStarts(f);
  if (!c.Range(starts, mask + 2, "hash buckets")) return;
  std::uint64_t prev = 0;
  for (std::uint64_t b = 0; b <= mask + 1; ++b) {
    if (starts[b] < prev || starts[b] > f.size()) {
      c.Fail(
          absl::StrFormat("%s: bucket %d starts at %d, out of order or "
                          "past the %d entries",
                          what, b, starts[b], f.size()));
      return;
    }
    prev = starts[b];
  }
  if (starts[0] != 0 || starts[mask + 1] != f.size()) {
    c.Fail(absl::StrFormat("%s: buckets do not cover the %d entries", what,
                           f.size()));
    return;
  }
  CheckArray(c, f.begin(), f.size(), what);
}

template <class K, class V>
struct Check<HashMap<K, V>> {
  static void Run(CheckContext& c, const HashMap<K, V>& m) {
    CheckHashed(c, m, "hash map entries");
  }
};

template <class K>
struct Check<HashSet<K>> {
  static void Run(CheckContext& c, const HashSet<K>& s) {
    CheckHashed(c, s, "hash set entries");
  }
};

template <class A, class B>
struct Check<Pair<A, B>> {
  static void Run(CheckContext& c, const Pair<A, B>& p) {
    Check<A>::Run(c, p.first);
    Check<B>::Run(c, p.second);
  }
};

template <>
struct Check<Tuple<>> {
  static void Run(CheckContext&, const Tuple<>&) {}
};

template <class T, class... Rest>
struct Check<Tuple<T, Rest...>> {
  static void Run(CheckContext& c, const Tuple<T, Rest...>& t) {
    Check<T>::Run(c, t.head);
    Check<Tuple<Rest...>>::Run(c, t.tail);
  }
};

template <class E>
struct Check<Optional<E>> {
  static void Run(CheckContext& c, const Optional<E>& o) {
    const std::uint8_t flag = FrozenAccess::OptionalFlag(o);
    if (flag > 1) {
      c.Fail(absl::StrFormat("optional flag holds %d", flag));
    } else if (flag == 1) {
      Check<E>::Run(c, *o);
    }
  }
};

template <class... Ts>
struct Check<Variant<Ts...>> {
  static void Run(CheckContext& c, const Variant<Ts...>& v) {
    if (v.index() >= sizeof...(Ts)) {
      c.Fail(absl::StrFormat("variant index %d of %d alternatives", v.index(),
                             sizeof...(Ts)));
      return;
    }
    v.visit([&](const auto& alt) {
      Check<std::decay_t<decltype(alt)>>::Run(c, alt);
    });
  }
};

template <class E>
void CheckPointee(CheckContext& c, const void* p, std::uint64_t) {
  Check<E>::Run(c, *static_cast<const E*>(p));
}

template <class E>
struct Check<Ptr<E>> {
  static void Run(CheckContext& c, const Ptr<E>& p) {
    if (!p) return;
    if (!c.Range(p.get(), 1, "pointee")) return;
    if (c.FirstVisit(p.get(), &kTypeTag<E>) && c.Claim(p.get(), sizeof(E)))
      c.Defer(&CheckPointee<E>, p.get(), 1);
  }
};

template <class T>
struct Check<Struct<T>> {
  static void Run(CheckContext& c, const Struct<T>& s) {
    std::apply([&](const auto&... field) { (Field(c, s, field), ...); },
               StructInfo<T>::Fields());
  }

 private:
  static void Field(CheckContext&, const Struct<T>&, NoField) {}
  template <class M, class FM>
  static void Field(CheckContext& c, const Struct<T>& s,
                    const internal::Field<T, M, FM>& f) {
    Check<FM>::Run(c, s.*(f.frozen));
  }
};

template <>
struct Check<FrozenValue> {
  static void Run(CheckContext& c, const FrozenValue& v) {
    Check<FrozenValue::Rep>::Run(c, v.rep());
  }
};

}  // namespace internal

// Checks the frozen graph of type T whose root is at `base`, in a block of
// `size` bytes starting there: every pointer and array lies inside it,
// aligned; bools, optional flags and variant indexes hold valid values;
// strings end in their NUL; hash buckets are in order; and the objects
// reached (the root, each array, each pointee once) take at most `size`
// bytes in all, so an array reached twice (one made to hold itself) is
// damage, not an endless walk. Time and memory are linear in `size`
// whatever the bytes hold. Returns DataLoss naming the first problem.
// `base` must be readable for `size` bytes.
template <class T>
absl::Status VerifyGraph(const void* base, std::uint64_t size) {
  using F = Frozen<T>;
  const char* b = static_cast<const char*>(base);
  internal::CheckContext c(b, size);
  const F* root = reinterpret_cast<const F*>(b);
  if (!c.Range(root, 1, "root")) return c.Run();
  // A pointer back to the root reaches it a second time, not a new object.
  c.FirstVisit(root, &internal::kTypeTag<F>);
  c.Claim(root, sizeof(F));
  internal::Check<F>::Run(c, *root);
  return c.Run();
}

}  // namespace ancient

#endif  // ANCIENT_CHECK_H_
