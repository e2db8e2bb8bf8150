// Frozen layouts: the read-only, in-place form that heap types take inside a
// marked block. Every type here is plain data whose pointers point into the
// same block; none owns memory, none is ever constructed by user code. They
// are produced by ancient::Mark and by ancient::Store and read through
// `const&` only.
//
// All lookups are safe to call from any number of threads at once.

#ifndef ANCIENT_FROZEN_H_
#define ANCIENT_FROZEN_H_

#include <algorithm>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "ancient/hash.h"

namespace ancient {
namespace internal {
struct FrozenAccess;  // The marker's back door for writing frozen fields.
}  // namespace internal

// A string: `size()` bytes at `data()`, followed by a NUL byte, so `c_str()`
// is valid too. Compares with std::string_view (and so with std::string and
// C strings) byte-wise, as std::string does.
class String {
 public:
  const char* data() const { return data_; }
  const char* c_str() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data_, size_}; }
  operator std::string_view() const { return view(); }  // NOLINT: by design
  std::string str() const { return std::string(view()); }
  const char* begin() const { return data_; }
  const char* end() const { return data_ + size_; }
  char operator[](std::size_t i) const { return data_[i]; }

  friend bool operator==(const String& a, const String& b) {
    return a.view() == b.view();
  }
  friend std::strong_ordering operator<=>(const String& a, const String& b) {
    return a.view() <=> b.view();
  }
  friend bool operator==(const String& a, std::string_view b) {
    return a.view() == b;
  }
  friend std::strong_ordering operator<=>(const String& a, std::string_view b) {
    return a.view() <=> b;
  }

 private:
  friend struct internal::FrozenAccess;
  const char* data_;
  std::uint64_t size_;
};

// A contiguous array of `size()` elements.
template <class T>
class Vector {
 public:
  using value_type = T;
  using const_iterator = const T*;
  using iterator = const T*;

  const T* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  const T& front() const { return data_[0]; }
  const T& back() const { return data_[size_ - 1]; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  std::span<const T> span() const { return {data_, size_}; }

 private:
  friend struct internal::FrozenAccess;
  const T* data_;
  std::uint64_t size_;
};

// std::pair's frozen form. An aggregate, so structured bindings work.
template <class A, class B>
struct Pair {
  A first;
  B second;

  friend bool operator==(const Pair&, const Pair&) = default;
};

// std::tuple's frozen form: the elements in declaration order, laid out as a
// C struct would lay them out. Read with ancient::get<I>(t) or t.get<I>().
template <class... Ts>
struct Tuple;

template <>
struct Tuple<> {};

template <class T, class... Rest>
struct Tuple<T, Rest...> {
  T head;
  [[no_unique_address]] Tuple<Rest...> tail;

  template <std::size_t I>
  const auto& get() const {
    if constexpr (I == 0) {
      return head;
    } else {
      return tail.template get<I - 1>();
    }
  }
};

template <std::size_t I, class... Ts>
const auto& get(const Tuple<Ts...>& t) {
  return t.template get<I>();
}

// A pointer into the same block, or null. Shared objects are shared: two
// frozen pointers to one heap object hold the same address.
template <class T>
class Ptr {
 public:
  const T* get() const { return p_; }
  const T& operator*() const { return *p_; }
  const T* operator->() const { return p_; }
  explicit operator bool() const { return p_ != nullptr; }
  friend bool operator==(const Ptr& a, const Ptr& b) { return a.p_ == b.p_; }

 private:
  friend struct internal::FrozenAccess;
  const T* p_;
};

// std::optional's frozen form.
template <class T>
class Optional {
 public:
  bool has_value() const { return has_ != 0; }
  explicit operator bool() const { return has_value(); }
  const T& value() const { return *reinterpret_cast<const T*>(storage_); }
  const T& operator*() const { return value(); }
  const T* operator->() const { return &value(); }
  template <class U>
  T value_or(U&& other) const {
    return has_value() ? value() : static_cast<T>(std::forward<U>(other));
  }

 private:
  friend struct internal::FrozenAccess;
  alignas(T) unsigned char storage_[sizeof(T)];
  std::uint8_t has_;
};

// std::variant's frozen form: index() and the alternative it names.
template <class... Ts>
class Variant {
 public:
  static constexpr std::size_t kSize = sizeof...(Ts);
  template <std::size_t I>
  using Alternative = std::tuple_element_t<I, std::tuple<Ts...>>;

  std::size_t index() const { return index_; }

  template <std::size_t I>
  const Alternative<I>* get_if() const {
    return index_ == I ? reinterpret_cast<const Alternative<I>*>(storage_)
                       : nullptr;
  }
  template <class T>
  const T* get_if() const {
    return get_if<IndexOf<T>()>();
  }
  template <class T>
  bool holds_alternative() const {
    return index_ == IndexOf<T>();
  }

  // Calls f with the held alternative and returns what it returns.
  template <class F>
  decltype(auto) visit(F&& f) const {
    return VisitFrom<0>(std::forward<F>(f));
  }

 private:
  friend struct internal::FrozenAccess;

  template <class T>
  static constexpr std::size_t IndexOf() {
    constexpr bool kMatches[] = {std::is_same_v<T, Ts>...};
    std::size_t i = 0;
    while (i < kSize && !kMatches[i]) ++i;
    return i;
  }
  template <std::size_t I, class F>
  decltype(auto) VisitFrom(F&& f) const {
    if constexpr (I + 1 == kSize) {
      return f(*reinterpret_cast<const Alternative<I>*>(storage_));
    } else {
      if (index_ == I) {
        return f(*reinterpret_cast<const Alternative<I>*>(storage_));
      }
      return VisitFrom<I + 1>(std::forward<F>(f));
    }
  }

  alignas(Ts...) unsigned char storage_[std::max({sizeof(Ts)...})];
  std::uint32_t index_;
};

template <std::size_t I, class... Ts>
const auto* get_if(const Variant<Ts...>* v) {
  return v->template get_if<I>();
}
template <class T, class... Ts>
const T* get_if(const Variant<Ts...>* v) {
  return v->template get_if<T>();
}
template <class F, class... Ts>
decltype(auto) visit(F&& f, const Variant<Ts...>& v) {
  return v.visit(std::forward<F>(f));
}

namespace internal {

// Orders a frozen key against a query key (a frozen key, or anything it
// compares with, such as std::string_view for String).
struct KeyLess {
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return a < b;
  }
};

// Returns the first of the `n` sorted elements at `data` whose key (as given
// by `key_of`) is not less than `q`.
template <class E, class Q, class KeyOf>
const E* LowerBound(const E* data, std::size_t n, const Q& q, KeyOf key_of) {
  return std::partition_point(
      data, data + n, [&](const E& e) { return KeyLess()(key_of(e), q); });
}

struct FirstOf {
  template <class E>
  const auto& operator()(const E& e) const {
    return e.first;
  }
};
struct Itself {
  template <class E>
  const E& operator()(const E& e) const {
    return e;
  }
};

// The storage common to the sorted containers.
template <class E, class KeyOf>
class SortedArray {
 public:
  using value_type = E;
  using const_iterator = const E*;
  using iterator = const E*;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const E* begin() const { return data_; }
  const E* end() const { return data_ + size_; }
  const E& operator[](std::size_t i) const { return data_[i]; }

  // The first element whose key is not less than q (end() when none).
  template <class Q>
  const E* lower_bound(const Q& q) const {
    return LowerBound(data_, size_, q, KeyOf());
  }
  // The first element whose key is greater than q (end() when none).
  template <class Q>
  const E* upper_bound(const Q& q) const {
    return std::partition_point(data_, data_ + size_, [&](const E& e) {
      return !KeyLess()(q, KeyOf()(e));
    });
  }
  // The element whose key equals q, or end().
  template <class Q>
  const E* find(const Q& q) const {
    const E* it = lower_bound(q);
    return (it != end() && !KeyLess()(q, KeyOf()(*it))) ? it : end();
  }
  template <class Q>
  bool contains(const Q& q) const {
    return find(q) != end();
  }
  template <class Q>
  std::size_t count(const Q& q) const {
    return contains(q) ? 1 : 0;
  }

 private:
  friend struct internal::FrozenAccess;
  const E* data_;
  std::uint64_t size_;
};

// The storage common to the hashed containers: the entries grouped by
// bucket; bucket b holds entries [starts[b], starts[b + 1]). The bucket
// count is a power of two; the hash is ancient::StableHash, the same in
// every process and build.
template <class E, class KeyOf>
class HashedArray {
 public:
  using value_type = E;
  using const_iterator = const E*;
  using iterator = const E*;

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::size_t bucket_count() const { return mask_ + 1; }
  const E* begin() const { return data_; }
  const E* end() const { return data_ + size_; }

  // The element whose key equals q, or end(). O(1) expected.
  template <class Q>
  const E* find(const Q& q) const {
    return find(q, StableHash(q));
  }
  // The same, for a caller that has StableHash(q) already (`hash`).
  template <class Q>
  const E* find(const Q& q, std::uint64_t hash) const {
    const std::uint64_t b = hash & mask_;
    for (std::uint64_t i = starts_[b], e = starts_[b + 1]; i < e; ++i) {
      if (KeyOf()(data_[i]) == q) return data_ + i;
    }
    return end();
  }
  template <class Q>
  bool contains(const Q& q) const {
    return find(q) != end();
  }
  template <class Q>
  std::size_t count(const Q& q) const {
    return contains(q) ? 1 : 0;
  }

 private:
  friend struct internal::FrozenAccess;
  const E* data_;
  const std::uint64_t* starts_;
  std::uint64_t size_;
  std::uint64_t mask_;
};

// The mapped value for key q in a map-like container, or nullptr.
template <class C, class Q>
auto ValueFor(const C& c, const Q& q) -> decltype(&c.begin()->second) {
  const auto* it = c.find(q);
  return it == c.end() ? nullptr : &it->second;
}

}  // namespace internal

// std::map's frozen form: entries sorted by key; `for (auto& [k, v] : m)`.
template <class K, class V>
class Map : public internal::SortedArray<Pair<K, V>, internal::FirstOf> {
 public:
  // The value for key q, or nullptr.
  template <class Q>
  const V* get(const Q& q) const {
    return internal::ValueFor(*this, q);
  }
};

// std::set's frozen form: keys in sorted order.
template <class K>
class Set : public internal::SortedArray<K, internal::Itself> {};

// std::unordered_map's frozen form: O(1) find; iteration in bucket order.
template <class K, class V>
class HashMap : public internal::HashedArray<Pair<K, V>, internal::FirstOf> {
 public:
  // The value for key q, or nullptr.
  template <class Q>
  const V* get(const Q& q) const {
    return internal::ValueFor(*this, q);
  }
};

// std::unordered_set's frozen form.
template <class K>
class HashSet : public internal::HashedArray<K, internal::Itself> {};

}  // namespace ancient

#endif  // ANCIENT_FROZEN_H_
