// Internal: the one entry point of marking, WriteGraph, which ancient::Mark
// (ancient.h) and WriteBatch::Share (store/store.h) both call, and the two
// ways it marks: MarkGraph, one pass into a MarkContext set up by the
// caller; GraphWriter, two passes, for vectors of numbers or strings.

#ifndef ANCIENT_GRAPH_WRITER_H_
#define ANCIENT_GRAPH_WRITER_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "ancient/internal/mark_context.h"
#include "ancient/layout.h"
#include "ancient/type_id.h"

namespace ancient::internal {

// A vector of numbers or strings: measuring it is one linear scan of the
// vector (no pointer chasing), cheaper than growing a block as one pass
// does; such values are marked in two passes into a block of exact size.
template <class T>
struct MeasuredCheaply : std::false_type {};
template <class E, class A>
struct MeasuredCheaply<std::vector<E, A>>
    : std::bool_constant<std::is_arithmetic_v<E> ||
                         std::is_same_v<E, std::string>> {};

// Marks a vector of numbers or strings in two passes: the constructor
// measures the graph (one traversal); Write then writes it to its final
// address (a second traversal, allocating in the same order). Only for such
// vectors: nothing in them is shared, so the second pass needs no record of
// the first's decisions.
template <class T>
class GraphWriter {
  static_assert(MeasuredCheaply<T>::value,
                "GraphWriter marks vectors of numbers or strings; use Mark");

 public:
  explicit GraphWriter(const T& value) : value_(value) {
    context_.set_shareable(&SharedPointees<T>());
    Layout<T>::Mark(context_, value_, RootOffset());
    context_.Drain();
    context_.FinishMeasuring();
  }

  // The block's exact size in bytes.
  std::uint64_t size() const { return context_.size(); }
  // How many pointers the block holds (what sizes its relocation record).
  std::uint64_t pointer_count() const { return context_.pointer_count(); }
  // Heap memory held beside the block (see MarkContext::scratch_bytes).
  std::size_t scratch_bytes() const { return context_.scratch_bytes(); }

  // Writes the graph to `dest`, which must hold size() bytes, be aligned to
  // kBlockAlignment and stay where it is: the graph's pointers are written
  // for this address. Returns the relocation record. The heap value must not
  // have changed since construction.
  // With `address`, the graph's pointers are written for that address
  // instead: for memory mapped twice, written through one mapping (`dest`)
  // and read through the other. With `zeroed`, `dest` is known to hold
  // zeros already (fresh file space) and is not cleared again.
  std::string Write(void* dest, const void* address = nullptr,
                    bool zeroed = false) {
    if (!zeroed) std::memset(dest, 0, size());
    context_.StartWriting(static_cast<char*>(dest),
                          static_cast<const char*>(address));
    Layout<T>::Mark(context_, value_, RootOffset());
    context_.Drain();
    return context_.EncodeRelocations();
  }

 private:
  std::uint64_t RootOffset() {
    return context_.Alloc(sizeof(Frozen<T>), alignof(Frozen<T>));
  }

  const T& value_;
  MarkContext context_;
};

// Marks the graph of `value` (its root at offset 0) into `c`, set up for
// one pass (MarkContext::StartOnePass).
template <class T>
void MarkGraph(MarkContext& c, const T& value) {
  c.set_shareable(&SharedPointees<T>());
  const std::uint64_t root = c.Alloc(sizeof(Frozen<T>), alignof(Frozen<T>));
  Layout<T>::Mark(c, value, root);
  c.Drain();
}

// Marks `value` the way that suits its type, into memory its caller places:
// a vector of numbers or strings (MeasuredCheaply) is measured first, then
// `measured(writer)` writes it (GraphWriter<T>: size(), pointer_count(),
// Write(dest, ...)) into a block of exactly writer.size() bytes; any other
// graph goes in one pass: `one_pass(mark)` sets up a MarkContext `c` and
// calls mark(c). Returns what the callback returns.
template <class T, class Measured, class OnePass>
auto WriteGraph(const T& value, Measured&& measured, OnePass&& one_pass) {
  if constexpr (MeasuredCheaply<T>::value) {
    GraphWriter<T> writer(value);
    return measured(writer);
  } else {
    return one_pass([&](MarkContext& c) { MarkGraph(c, value); });
  }
}

}  // namespace ancient::internal

#endif  // ANCIENT_GRAPH_WRITER_H_
