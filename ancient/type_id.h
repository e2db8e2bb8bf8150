// TypeId<T>(): a 64-bit fingerprint of Frozen<T>'s layout, and TypeName<T>(),
// a short readable name for it.
//
// The fingerprint hashes (XXH3) a description of the layout: the format
// version, pointer width and byte order, and for each type its kind, sizes,
// element types and, for structs, their name and each field's name, offset and
// type, in order. It is the same in every process and build on a platform, and
// differs whenever any of these differ. The store records it with every root
// and refuses to read a root as another type.

#ifndef ANCIENT_TYPE_ID_H_
#define ANCIENT_TYPE_ID_H_

#include <xxhash.h>

#include <bit>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ancient/layout.h"
#include "ancient/struct.h"

namespace ancient {

// The version of the frozen formats; part of every TypeId.
inline constexpr std::uint32_t kFormatVersion = 1;

// "ancient/1;le;p64": the format version, byte order and pointer width
// this build writes. Every full description starts with it and ';'.
inline std::string NativePlatform() {
  return "ancient/" + std::to_string(kFormatVersion) +
         (std::endian::native == std::endian::little ? ";le;p" : ";be;p") +
         std::to_string(sizeof(void*) * 8);
}

// The TypeId of a full layout description: TypeId<T>() is
// TypeIdOf(TypeDescription<T>()); a store checks recorded descriptions
// against their ids with it.
inline std::uint64_t TypeIdOf(std::string_view description) {
  return static_cast<std::uint64_t>(
      XXH3_64bits(description.data(), description.size()));
}

// The full layout description that TypeId<T>() hashes.
template <class T>
std::string TypeDescription() {
  internal::Describer d(internal::Describer::Mode::kFull);
  d.Append(NativePlatform());
  d.Append(";");
  internal::Describe<T>(d);
  return d.str();
}

// TypeDescription<T>(), computed once.
template <class T>
const std::string& CachedTypeDescription() {
  static const std::string* s = new std::string(TypeDescription<T>());
  return *s;
}

template <class T>
std::uint64_t TypeId() {
  static const std::uint64_t id = TypeIdOf(CachedTypeDescription<T>());
  return id;
}

// The pointee types (kTypeTag) that a raw pointer or shared_ptr somewhere
// in T's graph can point to. A unique_ptr to any other type owns an object
// that nothing else in the graph reaches, so marking skips looking it up.
template <class T>
const std::vector<const void*>& SharedPointees() {
  static const std::vector<const void*>* tags = [] {
    internal::Describer d(internal::Describer::Mode::kFull);
    internal::Describe<T>(d);
    return new std::vector<const void*>(d.shareable());
  }();
  return *tags;
}

// A readable name such as "vector<string>" or "map<string,i64>"; structs
// appear by the name given to ANCIENT_STRUCT.
template <class T>
const std::string& TypeName() {
  static const std::string* name = [] {
    internal::Describer d(internal::Describer::Mode::kName);
    internal::Describe<T>(d);
    return new std::string(d.str());
  }();
  return *name;
}

}  // namespace ancient

#endif  // ANCIENT_TYPE_ID_H_
