// Layout<T>: how heap type T is frozen. Each specialisation gives
//   using type = ...;                        // Frozen<T>
//   static void Mark(internal::MarkContext&, const T&, std::uint64_t off);
//   static void Describe(internal::Describer&);
// Mark writes the inline part of a T at `off` (while writing) and reserves
// and queues its out-of-line parts (in both passes, identically).
//
// Users extend it for their own types with ANCIENT_STRUCT (ancient/struct.h).

#ifndef ANCIENT_LAYOUT_H_
#define ANCIENT_LAYOUT_H_

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/container/node_hash_set.h"
#include "ancient/frozen.h"
#include "ancient/layout_machinery.h"

namespace ancient {

// bool, integers, floating point, enums: themselves.
template <class T>
struct Layout<T,
              std::enable_if_t<std::is_arithmetic_v<T> || std::is_enum_v<T>>> {
  using type = T;
  static void Mark(internal::MarkContext& c, const T& src, std::uint64_t off) {
    if (c.writing()) c.Store(off, src);
  }
  static void Describe(internal::Describer& d) {
    if constexpr (std::is_same_v<T, bool>) {
      d.Append("bool");
    } else if constexpr (std::is_same_v<T, char>) {
      d.Append("char");
    } else if constexpr (std::is_enum_v<T>) {
      d.Append("enum");
      d.AppendNumber(sizeof(T) * 8);
    } else {
      d.Append(std::is_floating_point_v<T> ? "f"
               : std::is_signed_v<T>       ? "i"
                                           : "u");
      d.AppendNumber(sizeof(T) * 8);
    }
  }
};

template <>
struct Layout<std::monostate> {
  using type = std::monostate;
  static void Mark(internal::MarkContext&, const std::monostate&,
                   std::uint64_t) {}
  static void Describe(internal::Describer& d) { d.Append("none"); }
};

// std::string and std::string_view: String.
template <class T>
struct Layout<T, std::enable_if_t<std::is_same_v<T, std::string> ||
                                  std::is_same_v<T, std::string_view>>> {
  using type = String;
  static void Mark(internal::MarkContext& c, const T& src, std::uint64_t off,
                   bool record = true) {
    const std::size_t n = src.size();
    const std::uint64_t data = c.Alloc(n + 1, 1);
    if (c.writing() && n != 0) std::memcpy(c.bytes(data), src.data(), n);
    internal::FrozenAccess::SetString(c, off, data, n, record);
  }
  static void Describe(internal::Describer& d) { d.Append("string"); }
};

template <class T, class A>
struct Layout<std::vector<T, A>>
    : internal::SequenceLayout<std::vector<T, A>, T> {};

template <class T, std::size_t N>
struct Layout<std::array<T, N>>
    : internal::SequenceLayout<std::array<T, N>, T> {};

template <class K, class V, class C, class A>
struct Layout<std::map<K, V, C, A>>
    : internal::SortedLayout<std::map<K, V, C, A>, std::pair<const K, V>,
                             Map<Frozen<K>, Frozen<V>>, internal::kMapName> {};

template <class K, class V, class C, class A>
struct Layout<absl::btree_map<K, V, C, A>>
    : internal::SortedLayout<absl::btree_map<K, V, C, A>, std::pair<const K, V>,
                             Map<Frozen<K>, Frozen<V>>, internal::kMapName> {};

template <class K, class C, class A>
struct Layout<std::set<K, C, A>>
    : internal::SortedLayout<std::set<K, C, A>, K, Set<Frozen<K>>,
                             internal::kSetName> {};

template <class K, class C, class A>
struct Layout<absl::btree_set<K, C, A>>
    : internal::SortedLayout<absl::btree_set<K, C, A>, K, Set<Frozen<K>>,
                             internal::kSetName> {};

template <class K, class V, class H, class E, class A>
struct Layout<std::unordered_map<K, V, H, E, A>>
    : internal::HashedLayout<
          std::unordered_map<K, V, H, E, A>, std::pair<const K, V>,
          HashMap<Frozen<K>, Frozen<V>>, internal::kHashMapName> {};

template <class K, class V, class H, class E, class A>
struct Layout<absl::flat_hash_map<K, V, H, E, A>>
    : internal::HashedLayout<
          absl::flat_hash_map<K, V, H, E, A>, std::pair<const K, V>,
          HashMap<Frozen<K>, Frozen<V>>, internal::kHashMapName> {};

template <class K, class V, class H, class E, class A>
struct Layout<absl::node_hash_map<K, V, H, E, A>>
    : internal::HashedLayout<
          absl::node_hash_map<K, V, H, E, A>, std::pair<const K, V>,
          HashMap<Frozen<K>, Frozen<V>>, internal::kHashMapName> {};

template <class K, class H, class E, class A>
struct Layout<std::unordered_set<K, H, E, A>>
    : internal::HashedLayout<std::unordered_set<K, H, E, A>, K,
                             HashSet<Frozen<K>>, internal::kHashSetName> {};

template <class K, class H, class E, class A>
struct Layout<absl::flat_hash_set<K, H, E, A>>
    : internal::HashedLayout<absl::flat_hash_set<K, H, E, A>, K,
                             HashSet<Frozen<K>>, internal::kHashSetName> {};

template <class K, class H, class E, class A>
struct Layout<absl::node_hash_set<K, H, E, A>>
    : internal::HashedLayout<absl::node_hash_set<K, H, E, A>, K,
                             HashSet<Frozen<K>>, internal::kHashSetName> {};

// std::pair (also the entries of maps, whose key is const).
template <class A, class B>
struct Layout<std::pair<A, B>> {
  using type = Pair<Frozen<A>, Frozen<B>>;
  static void Mark(internal::MarkContext& c, const std::pair<A, B>& src,
                   std::uint64_t off) {
    Layout<std::remove_const_t<A>>::Mark(c, src.first,
                                         off + offsetof(type, first));
    Layout<B>::Mark(c, src.second, off + offsetof(type, second));
  }
  static void Describe(internal::Describer& d) {
    d.Append("pair<");
    internal::DescribeList<std::remove_const_t<A>, B>(d);
    d.Append(">");
  }
};

template <class... Ts>
struct Layout<std::tuple<Ts...>> {
  using type = Tuple<Frozen<Ts>...>;
  static void Mark(internal::MarkContext& c, const std::tuple<Ts...>& src,
                   std::uint64_t off) {
    MarkFrom<0>(c, src, off, 0);
  }
  static void Describe(internal::Describer& d) {
    d.Append("tuple<");
    internal::DescribeList<Ts...>(d);
    d.Append(">");
  }

 private:
  // `sub` is the frozen Tuple holding elements I.. at `off`.
  template <std::size_t I, class Sub = type>
  static void MarkFrom(internal::MarkContext& c, const std::tuple<Ts...>& src,
                       std::uint64_t off, int) {
    if constexpr (I < sizeof...(Ts)) {
      using E = std::tuple_element_t<I, std::tuple<Ts...>>;
      Layout<E>::Mark(c, std::get<I>(src), off + offsetof(Sub, head));
      MarkFrom<I + 1, decltype(Sub::tail)>(c, src, off + offsetof(Sub, tail),
                                           0);
    }
  }
};

template <class T>
struct Layout<std::optional<T>> {
  using type = Optional<Frozen<T>>;
  static void Mark(internal::MarkContext& c, const std::optional<T>& src,
                   std::uint64_t off) {
    if (!src.has_value()) return;
    Layout<T>::Mark(c, *src,
                    off + internal::FrozenAccess::OptionalValueOffset<type>());
    internal::FrozenAccess::SetOptionalHas<type>(c, off);
  }
  static void Describe(internal::Describer& d) {
    d.Append("optional<");
    internal::Describe<T>(d);
    d.Append(">");
  }
};

template <class... Ts>
struct Layout<std::variant<Ts...>> {
  using type = Variant<Frozen<Ts>...>;
  static void Mark(internal::MarkContext& c, const std::variant<Ts...>& src,
                   std::uint64_t off) {
    const std::uint64_t at =
        off + internal::FrozenAccess::VariantValueOffset<type>();
    std::visit(
        [&](const auto& alt) {
          Layout<std::decay_t<decltype(alt)>>::Mark(c, alt, at);
        },
        src);
    internal::FrozenAccess::SetVariantIndex<type>(
        c, off, static_cast<std::uint32_t>(src.index()));
  }
  static void Describe(internal::Describer& d) {
    d.Append("variant<");
    internal::DescribeList<Ts...>(d);
    d.Append(">");
  }
};

// Pointers: unique_ptr, shared_ptr and raw pointers become Ptr. Objects
// reached twice are copied once; cycles are preserved.
template <class T, class D>
struct Layout<std::unique_ptr<T, D>> : internal::PointerLayout<T> {
  static void Mark(internal::MarkContext& c, const std::unique_ptr<T, D>& src,
                   std::uint64_t off) {
    internal::PointerLayout<T>::Mark(c, src.get(), off, /*owned=*/true);
  }
  static void Describe(internal::Describer& d) {
    internal::PointerLayout<T>::DescribeOwned(d);
  }
};

template <class T>
struct Layout<std::shared_ptr<T>> : internal::PointerLayout<T> {
  static void Mark(internal::MarkContext& c, const std::shared_ptr<T>& src,
                   std::uint64_t off) {
    internal::PointerLayout<T>::Mark(c, src.get(), off);
  }
};

template <class T>
struct Layout<T*> : internal::PointerLayout<std::remove_cv_t<T>> {
  static void Mark(internal::MarkContext& c, const T* p, std::uint64_t off) {
    internal::PointerLayout<std::remove_cv_t<T>>::Mark(c, p, off);
  }
};

}  // namespace ancient

#endif  // ANCIENT_LAYOUT_H_
