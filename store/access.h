// Internal: what the replica layer (replica/) reaches of a Store and a
// Snapshot: the open store's core and a snapshot's read transaction. Only
// code that includes this header can make the key that Store::core() and
// Snapshot::txn() ask for; the //store:internal target that exports it is
// visible to the store and replica packages alone.

#ifndef ANCIENT_STORE_ACCESS_H_
#define ANCIENT_STORE_ACCESS_H_

#include <memory>

#include "store/core.h"
#include "store/read_txn.h"
#include "store/store.h"

namespace ancient::store_internal {

// The key to a Store's internals. Users see only its declaration
// (store/graph_ref.h), so they cannot make one.
class InternalKey {
 public:
  explicit InternalKey() = default;
};

// The core of an open store: its environment, tables and arena.
inline const std::shared_ptr<Core>& CoreOf(const Store& store) {
  return store.core(InternalKey());
}

// The read transaction a Snapshot holds.
inline const ReadTxn& TxnOf(const Snapshot& snapshot) {
  return snapshot.txn(InternalKey());
}

}  // namespace ancient::store_internal

#endif  // ANCIENT_STORE_ACCESS_H_
