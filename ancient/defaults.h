// The defaults of struct types, for reading a graph written with an older
// (or newer) version of a type: a field the stored struct lacks gets the
// value a default-constructed struct of this program holds (its default
// member initializers). ConvertGraph (schema/schema_graph.h) takes them; the store
// passes StructDefaultsOf<T>() when a root must be read as T.

#ifndef ANCIENT_DEFAULTS_H_
#define ANCIENT_DEFAULTS_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "ancient/mark.h"

namespace ancient {

// A default-constructed struct, frozen: the struct at the root of `bytes`
// (pointers written for `bytes` itself), of the type `description` (its
// TypeDescription) names.
struct StructDefault {
  std::string name;  // as ANCIENT_STRUCT names it: "geo::City"
  std::string description;
  const char* bytes = nullptr;
  std::uint64_t size = 0;
};

namespace internal {

// Made once per struct type and kept until the process exits (a few bytes
// each); nullptr when T has no default constructor (its missing
// fields are then zero: 0, "", empty, null).
template <class T>
const StructDefault* DefaultOf() {
  if constexpr (!std::is_default_constructible_v<T>) {
    return nullptr;
  } else {
    static const Ancient<T> block = Mark(T{});
    static const StructDefault d{
        std::string(StructInfo<T>::kName), TypeDescription<T>(),
        static_cast<const char*>(block.data()), block.size_bytes()};
    return &d;
  }
}

}  // namespace internal

// The defaults of every struct type T's graph can hold, once each.
template <class T>
const std::vector<const StructDefault*>& StructDefaultsOf() {
  static const auto* const v = [] {
    internal::Describer d(internal::Describer::Mode::kFull);
    internal::Describe<T>(d);
    auto* out = new std::vector<const StructDefault*>;
    for (internal::StructDefaultFn fn : d.structs()) {
      const StructDefault* s = fn();
      if (s != nullptr &&
          std::find(out->begin(), out->end(), s) == out->end()) {
        out->push_back(s);
      }
    }
    return out;
  }();
  return *v;
}

}  // namespace ancient

#endif  // ANCIENT_DEFAULTS_H_
