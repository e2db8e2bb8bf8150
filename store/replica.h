// Moved: the replica layer is replica/replica.h (target //replica). This
// header forwards to it, so that code written before the move still
// compiles; //store still links the replica layer in.

#ifndef ANCIENT_STORE_REPLICA_H_
#define ANCIENT_STORE_REPLICA_H_

#include "replica/replica.h"  // IWYU pragma: export

#endif  // ANCIENT_STORE_REPLICA_H_
