// StableHash: the hash of frozen hash containers' keys. Unlike std::hash and
// absl::Hash it is fixed: the same value in every process, build and run,
// because a HashMap written by one program is probed by another.
//
// A frozen key and the heap key it came from hash alike (String and
// std::string, Pair and std::pair, ...), and so does any query type that
// compares equal (std::string_view, const char*, an int64_t for an int key).

#ifndef ANCIENT_HASH_H_
#define ANCIENT_HASH_H_

#include <xxhash.h>

#include <bit>
#include <cstdint>
#include <string_view>
#include <tuple>
#include <type_traits>

namespace ancient {
namespace internal {

inline constexpr std::uint64_t kHashSeed = 0x9e3779b97f4a7c15ULL;

// MurmurHash3's 64-bit finaliser: a bijective mix of all input bits.
inline std::uint64_t Mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

inline std::uint64_t Combine(std::uint64_t acc, std::uint64_t h) {
  return Mix64(acc ^ (h + kHashSeed + (acc << 6) + (acc >> 2)));
}

template <class T>
concept PairLike = requires(const T& p) {
  p.first;
  p.second;
};

template <class T>
concept FrozenTupleLike = requires(const T& t) {
  t.head;
  t.tail;
};

template <class T>
concept StringLike = std::is_convertible_v<const T&, std::string_view>;

}  // namespace internal

template <class T>
requires(std::is_integral_v<T> || std::is_enum_v<T>) std::uint64_t
    StableHash(T v) {
  using U =
      typename std::conditional_t<std::is_enum_v<T>, std::underlying_type<T>,
                                  std::type_identity<T>>::type;
  if constexpr (std::is_signed_v<U>) {
    return internal::Mix64(static_cast<std::uint64_t>(
        static_cast<std::int64_t>(static_cast<U>(v))));
  } else {
    return internal::Mix64(static_cast<std::uint64_t>(static_cast<U>(v)));
  }
}

template <class T>
requires std::is_floating_point_v<T> std::uint64_t StableHash(T v) {
  double d = static_cast<double>(v);
  if (d == 0) d = 0;  // -0.0 == 0.0, so they must hash alike.
  return internal::Mix64(std::bit_cast<std::uint64_t>(d));
}

template <class T>
requires internal::StringLike<T> std::uint64_t StableHash(const T& s) {
  const std::string_view v = s;
  return XXH3_64bits(v.data(), v.size());
}

template <class P>
requires internal::PairLike<P> std::uint64_t StableHash(const P& p) {
  return internal::Combine(
      internal::Combine(internal::kHashSeed, StableHash(p.first)),
      StableHash(p.second));
}

namespace internal {
template <class T>
std::uint64_t HashFrozenTuple(std::uint64_t acc, const T& t) {
  if constexpr (FrozenTupleLike<T>) {
    return HashFrozenTuple(Combine(acc, StableHash(t.head)), t.tail);
  } else {
    return acc;
  }
}
}  // namespace internal

template <class... Ts>
std::uint64_t StableHash(const std::tuple<Ts...>& t) {
  std::uint64_t acc = internal::kHashSeed;
  std::apply(
      [&](const auto&... e) {
        ((acc = internal::Combine(acc, StableHash(e))), ...);
      },
      t);
  return acc;
}

template <class T>
requires internal::FrozenTupleLike<T> std::uint64_t StableHash(const T& t) {
  return internal::HashFrozenTuple(internal::kHashSeed, t);
}

}  // namespace ancient

#endif  // ANCIENT_HASH_H_
