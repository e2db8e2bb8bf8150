// Internal: how the Store's templates (store/store.h) hand typed graphs to
// the untyped core (store/core.h) and back (a graph found comes back as
// GraphBytes, schema_graph.h). Not for users.

#ifndef ANCIENT_STORE_GRAPH_REF_H_
#define ANCIENT_STORE_GRAPH_REF_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "ancient/ancient.h"
#include "ancient/schema/schema_graph.h"

namespace ancient {
namespace store_internal {
// The program's type for a root: its TypeId, short name and full layout
// description (what the store records in its types table), and its
// structs' defaults (for reading roots of other versions of the type).
struct TypeRef {
  std::uint64_t id;
  const std::string& name;
  const std::string& description;
  const std::vector<const StructDefault*>& (*defaults)() = nullptr;
};
template <class T>
const TypeRef& TypeOf() {
  static const TypeRef ref{TypeId<T>(), TypeName<T>(),
                           CachedTypeDescription<T>(), &StructDefaultsOf<T>};
  return ref;
}
class Core;
class ReadTxn;
class WriteTxn;
// The key to Store::core() and Snapshot::txn(): store/access.h.
class InternalKey;
// Writes a graph at `dest` with its pointers for `address` (the same bytes,
// mapped elsewhere); `zeroed`: `dest` holds zeros already. Returns its
// relocation record.
using GraphWriteFn = absl::FunctionRef<std::string(
    void* dest, const void* address, bool zeroed)>;
// Marks a graph in one pass into a context that WriteTxn set up.
using GraphMarkFn = absl::FunctionRef<void(internal::MarkContext& c)>;
}  // namespace store_internal

}  // namespace ancient

#endif  // ANCIENT_STORE_GRAPH_REF_H_
