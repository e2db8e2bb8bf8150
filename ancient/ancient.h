// ancient: copy an object graph out of the heap into one contiguous block of
// plain data, and read it in place at full memory speed.
//
//   std::map<std::string, std::vector<int>> m = ...;
//   ancient::Ancient<decltype(m)> a = ancient::Mark(m);
//   // frozen is an ancient::Map<ancient::String, ancient::Vector<int>>:
//   const auto& frozen = a.Follow();
//   if (const auto* v = frozen.get("key")) use((*v)[0]);
//   a.Delete();  // or let `a` go out of scope
//
// This header brings the whole graph layer: Mark and Ancient<T> (mark.h),
// the frozen containers (frozen.h), layouts for std and Abseil types
// (layout.h), ANCIENT_STRUCT for user structs (struct.h), TypeId
// (type_id.h), Value (value.h), the type-free block operations (block.h),
// the typed check VerifyGraph (check.h), struct defaults for reading other
// versions of a type (defaults.h), and Schema, a type's layout read from
// its description (schema/schema.h, the schema layer's base).

#ifndef ANCIENT_ANCIENT_H_
#define ANCIENT_ANCIENT_H_

#include "ancient/block.h"          // IWYU pragma: export
#include "ancient/check.h"          // IWYU pragma: export
#include "ancient/defaults.h"       // IWYU pragma: export
#include "ancient/frozen.h"         // IWYU pragma: export
#include "ancient/layout.h"         // IWYU pragma: export
#include "ancient/mark.h"           // IWYU pragma: export
#include "ancient/schema/schema.h"  // IWYU pragma: export
#include "ancient/struct.h"         // IWYU pragma: export
#include "ancient/type_id.h"        // IWYU pragma: export
#include "ancient/value.h"          // IWYU pragma: export

#endif  // ANCIENT_ANCIENT_H_
