// Puts from Python objects (put.cc).

#ifndef ANCIENT_PYTHON_SRC_PUT_H_
#define ANCIENT_PYTHON_SRC_PUT_H_

#include <string>

#include "ancient/schema/schema_graph.h"
#include "python/src/views.h"

namespace ancient_python {

// The graph of `obj` by `schema`, built in memory. Raises TypeError (an
// object of the wrong kind) or ValueError (a value out of range, a
// duplicate key), naming `key` and the path in `obj`.
ancient::JsonGraph BuildFromPython(const ancient::Schema& schema,
                                   py::handle obj, const std::string& key);

}  // namespace ancient_python

#endif  // ANCIENT_PYTHON_SRC_PUT_H_
