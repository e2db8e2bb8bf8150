// Moved: Schema is ancient/schema/schema.h (the schema layer). This header
// forwards to it, so that code written before the move still compiles.

#ifndef ANCIENT_SCHEMA_H_
#define ANCIENT_SCHEMA_H_

#include "ancient/schema/schema.h"  // IWYU pragma: export

#endif  // ANCIENT_SCHEMA_H_
