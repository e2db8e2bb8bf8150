// Frozen graphs read and written without their C++ type, driven by a Schema
// (the layout description a store records for every root):
//
//   VerifyGraph(schema, g)        the full typed check VerifyGraph<T> does
//   WriteGraphJson(schema, g, …)  any root (or part of it) as JSON
//   JsonGraph::Build(schema, j)   the inverse: a frozen graph from that JSON
//   ConvertGraph(from, g, to)     g, of one version of a type, as another
//
// The JSON form (stable; `ancientctl dump` writes it, `load` reads it back):
//   bool, integers, enums   JSON true/false and numbers (enums: their bits
//                           as an unsigned number)
//   f32, f64                numbers, always with a '.' or an exponent;
//                           "NaN", "Infinity", "-Infinity" as strings
//   char                    a one-byte string below 0x80, else a number
//   none                    null
//   string                  a JSON string when the bytes are valid UTF-8
//                           (NUL as \u0000), else {"$base64": "..."}
//   vector, set, hash_set   arrays
//   map, hash_map           objects when the keys are strings or chars and
//                           all render as JSON strings, else arrays of
//                           [key, value]
//   pair, tuple             arrays
//   optional<T>             null or T; when T itself can be null (optional,
//                           ptr, none, value), null or [T]
//   variant                 {"index": I, "type": "T", "value": V}
//   struct                  an object with a member per field, in order
//   value                   its JSON (invalid UTF-8 becomes U+FFFD, NaN and
//                           infinities null: a Value holds what JSON can)
//   ptr<T>                  null, or T inline when nothing else points to
//                           the object; an object reached from several
//                           pointers, or in a cycle, is written once as
//                           {"$id": N, "$value": T} and then as
//                           {"$ref": N}; {"$ref": 0} is the object written
//                           at the top. T that would look like one of these
//                           (an object with a "$id", "$ref" or "$value"
//                           member, or another ptr) is written as
//                           {"$value": T}.
// Sorted containers are written in their order, hash maps written as
// objects sorted by key, other hash containers in their stored (bucket)
// order: a dump loaded back dumps alike.

#ifndef ANCIENT_SCHEMA_SCHEMA_GRAPH_H_
#define ANCIENT_SCHEMA_SCHEMA_GRAPH_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "ancient/schema/schema.h"

namespace ancient {

struct StructDefault;  // ancient/defaults.h
namespace schema_internal {
class Converter;
}  // namespace schema_internal

// A frozen graph as some memory holds it: `size` bytes at `bytes`, root
// first, whose pointers were written for `address` (== bytes when it is read
// where it was written or relocated; else, say, a copy of the file's bytes).
// Nothing in it is trusted.
struct GraphBytes {
  const char* bytes;
  std::uint64_t size;
  std::uintptr_t address;
};

// Checks the graph against `schema`: what VerifyGraph<T> (check.h) checks
// for the C++ type the schema describes. Runs in time and memory linear in
// the graph's size whatever its bytes hold (an array reached twice, as one
// made to hold itself, is DataLoss), without recursion on the data.
// Errors: DataLoss naming the first problem; FailedPrecondition when the
//   schema was written for another platform than this build's.
absl::Status VerifyGraph(const Schema& schema, const GraphBytes& graph);

struct JsonOptions {
  // Indent by two spaces, one member or element a line. Default: compact.
  bool pretty = false;
  // Where to start: dot-separated steps from the root: struct fields, map
  // keys (strings, single chars, numbers, true/false), vector indexes, pair
  // and tuple indexes; pointers, optionals and variants are stepped
  // through. "" is the root. Keys holding '.' cannot be named.
  std::string path;
};

// Writes the graph (or the part `options.path` names) as JSON, in the form
// above, to `out`, in pieces of about 64 KiB. Checks the whole graph with
// VerifyGraph first. Uses memory for the sharing table and a stack as deep
// as the data nests, never the C++ stack.
// Errors: VerifyGraph's; NotFound (a path step names no field, key or
//   element, or crosses a null pointer or empty optional); InvalidArgument
//   (a path step into something that has no parts, or a key that does not
//   parse as the map's key type).
absl::Status WriteGraphJson(const Schema& schema, const GraphBytes& graph,
                            const JsonOptions& options,
                            absl::FunctionRef<void(std::string_view)> out);
// The same, into a string.
absl::StatusOr<std::string> GraphToJson(const Schema& schema,
                                        const GraphBytes& graph,
                                        const JsonOptions& options = {});

// `bytes` as JSON in the form above: a JSON string when they are valid
// UTF-8, else {"$base64": "..."}. (What a dump writes for keys.)
std::string JsonBytes(std::string_view bytes);
// The inverse: the bytes that JSON text (a string or {"$base64": ...})
// stands for. Errors: InvalidArgument for anything else.
absl::StatusOr<std::string> ParseJsonBytes(std::string_view json);

// A frozen graph built in memory (by JsonGraph::Build or ConvertGraph),
// its pointers held as offsets until Write places it.
class FlatGraph {
 public:
  FlatGraph();
  FlatGraph(FlatGraph&&) noexcept;
  FlatGraph& operator=(FlatGraph&&) noexcept;
  ~FlatGraph();

  // The graph's size in bytes, and how many pointers it holds.
  std::uint64_t size() const { return size_; }
  std::uint64_t pointer_count() const { return slots_.size(); }

  // Writes the graph to `dest` (size() bytes, aligned to 64) with its
  // pointers for `address` (dest when null); returns the relocation record
  // (block.h). `zeroed` is accepted for GraphWriteFn's sake; every byte is
  // written anyway.
  std::string Write(void* dest, const void* address = nullptr,
                    bool zeroed = false) const;
  // The same, without making the relocation record: for a graph read
  // where it is placed.
  void Place(void* dest) const;
  // Makes the pointers absolute where the bytes already are and hands them
  // over: size() bytes (at least 64 allocated) aligned to 64, to free with
  // std::free. For a graph read where it was built, without Place's copy
  // into fresh memory. The FlatGraph is left empty.
  std::unique_ptr<char, void (*)(void*)> PlaceWhereBuilt() &&;

 private:
  friend class JsonGraphBuilder;
  friend class schema_internal::Converter;
  // For the builders: `size` zeroed bytes aligned to `align` at the end
  // (their offset); a value at `off`; a pointer slot at `slot` holding
  // offset `target`; a String at `off` holding `s` (with its NUL).
  std::uint64_t Alloc(std::uint64_t size, std::uint64_t align) {
    const std::uint64_t off = (size_ + align - 1) / align * align;
    if (off + size > capacity_) Reserve(std::max(off + size, 2 * capacity_));
    if (off + size > size_) std::memset(data() + size_, 0, off + size - size_);
    size_ = off + size;
    return off;
  }
  // Room for `bytes` in all without moving (the bytes move when they grow
  // past it: they hold offsets, not addresses).
  void Reserve(std::uint64_t bytes);
  char* data() const { return data_.get(); }
  template <class V>
  void Store(std::uint64_t off, const V& v) {
    std::memcpy(data() + off, &v, sizeof v);
  }
  void StorePointer(std::uint64_t slot, std::uint64_t target) {
    Store(slot, target);
    slots_.push_back(slot);
  }
  void PutBytes(std::uint64_t off, std::string_view s) {
    const std::uint64_t data = Alloc(s.size() + 1, 1);
    if (!s.empty()) std::memcpy(this->data() + data, s.data(), s.size());
    StorePointer(off, data);
    Store<std::uint64_t>(off + 8, s.size());
  }
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  // 64-aligned, `capacity_` bytes of which `size_` are the graph's;
  // pointers hold target offsets.
  std::unique_ptr<char, Free> data_;
  std::uint64_t size_ = 0, capacity_ = 0;
  std::vector<std::uint64_t> slots_;  // offsets of the pointer slots
};

// A frozen graph built from JSON (the form above) by a schema, for a store
// to copy in (WriteBatch::ShareJson) or for Write to place anywhere.
// Containers must be in the form above; sorted containers are sorted here
// when their keys have a known order (numbers, strings, chars, bools, and
// pairs and tuples of them) and must come sorted otherwise. Map and set
// keys must be distinct.
class JsonGraph : public FlatGraph {
 public:
  // Errors: InvalidArgument naming the JSON path and what was expected
  //   (bad JSON, a value that does not fit its type, a number out of range,
  //   a missing or unknown struct field, a duplicate key, a "$ref" to no
  //   "$id" or to an object of another type); FailedPrecondition when the
  //   schema was written for another platform.
  // With `member`, `json` is an object and the graph is built from that
  // member (a dump line's "value", parsed once with the line).
  static absl::StatusOr<JsonGraph> Build(const Schema& schema,
                                         std::string_view json,
                                         std::string_view member = "");
  // The same from a document already in memory (built by a program, not
  // parsed: the Python module's puts). Besides what JSON text can hold, a
  // document may hold binary values: as a string's bytes, or as a vector's
  // elements laid out as in memory (numbers, bools, structs of numbers: a
  // numpy array's buffer), copied in as one block.
  // A vector's binary value of subtype kBlockRef holds instead an index
  // (8 bytes, little-endian) into `blocks`: memory the caller keeps until
  // the call returns (a numpy array's buffer), copied in once. An index
  // past `blocks` is InvalidArgument.
  static constexpr std::uint8_t kBlockRef = 0xb1;
  static absl::StatusOr<JsonGraph> BuildFromDocument(
      const Schema& schema, const nlohmann::json& doc,
      absl::Span<const std::string_view> blocks = {});

 private:
  JsonGraph() = default;
};

// Reading a graph written with one version of a type (`from`) as another
// (`to`): schema resolution, as Avro and Protocol Buffers do it. The rules
// (README.md has the table):
//   struct fields match by name, in any order; a field `from` lacks gets
//     its default (below), a field `to` lacks is dropped; struct names do
//     not matter (a struct renamed or moved matches where it stands);
//   numbers widen without loss: an integer to a wider one of the same
//     signedness, unsigned to a wider signed, integers and f32 to f64,
//     enums to and from integers as wide or wider (bits read with the
//     integer's signedness); narrowing is refused;
//   X to optional<X'>; the parts of vectors, sets, maps, hash containers,
//     pairs, tuples, optionals and pointers by the same rules; sorted
//     containers stay sorted (re-sorted if a key's conversion reorders
//     them), hash containers are rebuilt for the new key's hash;
//   variant alternatives match by type (the same type first, else the
//     first that converts); a value holding an alternative `to` lacks is
//     an error at that value;
//   anything else (a string where a number was, a vector where a struct
//     was, a different container) is refused.
// Sharing and cycles are kept (each object converted once); nothing
// recurses on the data.
//
// Defaults: a struct field `from` lacks takes its value from the entry of
// `defaults` for that struct (StructDefaultsOf<T>(), ancient/defaults.h;
// matched by name and layout); a struct without one gets zeros (0, false,
// "", empty containers, null pointers and optionals, a variant's first
// alternative zeroed).

// Whether graphs of `from` can be read as `to`, decided on the types alone.
// Errors: FailedPrecondition naming the first path that cannot convert
//   (`population` is i64 in the store, i32 here: narrowing) and why;
//   FailedPrecondition when either schema is for another platform.
absl::Status CheckConvertible(const Schema& from, const Schema& to);

// `graph` (of type `from`) converted to `to`'s layout. The graph is checked
// as it is read, in the same pass: every part the conversion reads gets
// VerifyGraph's checks, so a damaged one is DataLoss, never a crash, and
// the result is sound. Damage only in parts `to` drops (a removed field)
// is not read, so not reported.
// Errors: CheckConvertible's; DataLoss (damaged graph); FailedPrecondition
//   naming the path of a value that cannot convert (a variant alternative
//   `to` lacks; two keys of a set or map equal once converted).
absl::StatusOr<FlatGraph> ConvertGraph(
    const Schema& from, const GraphBytes& graph, const Schema& to,
    const std::vector<const StructDefault*>& defaults = {});

}  // namespace ancient

#endif  // ANCIENT_SCHEMA_SCHEMA_GRAPH_H_
