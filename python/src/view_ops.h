// Internal to the module: what the views' files (wrap.cc, lookup.cc,
// iterators.cc, buffer.cc, classes.cc) call of each other.

#ifndef ANCIENT_PYTHON_SRC_VIEW_OPS_H_
#define ANCIENT_PYTHON_SRC_VIEW_OPS_H_

#include <cstdint>
#include <optional>

#include "python/src/views.h"

namespace ancient_python {

// lookup.cc
// Element i (after slicing) of a sequence.
py::object Item(const SequenceView& s, std::uint64_t i);
// A Python index (negative from the end) checked against `count`:
// IndexError outside it.
std::uint64_t Index(std::uint64_t count, std::int64_t i);
// The offset of the entry whose key is `key`, or nullopt.
std::optional<std::uint64_t> Find(const MappingView& m, py::handle key);
// The value of the entry at offset `at`.
py::object EntryValue(const MappingView& m, std::uint64_t at);
// The key of entry i.
py::object EntryKey(const MappingView& m, std::uint64_t i);

// iterators.cc
struct SequenceIter {
  SequenceView s;
  std::uint64_t i;
};
struct MappingIter {
  MappingView m;
  std::uint64_t i;
  int mode;  // 0 keys, 1 values, 2 items
};
// An iterator over a sequence's elements.
py::object IterateSequence(const SequenceView& s);
// Registers the iterator classes in `m`.
void DefineIterators(py::module_& m);

// buffer.cc
// Gives the Sequence type its buffer protocol (numbers only, read-only).
void InstallBufferProtocol(PyTypeObject* type);

}  // namespace ancient_python

#endif  // ANCIENT_PYTHON_SRC_VIEW_OPS_H_
