// Internal to schema_graph: a Schema compiled into flat nodes that the
// graph walkers dispatch on without comparing names.

#ifndef ANCIENT_SCHEMA_NODES_H_
#define ANCIENT_SCHEMA_NODES_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "ancient/schema/schema.h"

namespace ancient::schema_internal {

enum class Op : std::uint8_t {
  kBool,
  kChar,
  kSigned,    // i8..i64
  kUnsigned,  // u8..u64, enum8..enum64
  kFloat,     // f32, f64
  kNone,
  kString,
  kValue,
  kVector,
  kSet,
  kMap,
  kHashSet,
  kHashMap,
  kPair,  // also a map's entries
  kTuple,
  kOptional,
  kVariant,
  kPtr,
  kStruct,
};

struct Node {
  Op op;
  std::uint64_t size = 0, align = 1;
  // vector, set, hash_set: {element}; map, hash_map: {entry pair, key,
  // value}; pair, tuple, variant: the elements; optional, ptr: {pointee};
  // struct: the fields; value: {string, entry pair<string, value>}.
  std::vector<int> args;
  // pair, tuple, struct: each arg's offset; variant: {index's offset}.
  std::vector<std::uint64_t> offsets;
  std::vector<std::string> names;  // struct: field names
  std::string expression;          // as Schema writes it: "map<char, ptr<N>>"
  bool trivial = false;     // every bit pattern valid, nothing out of line
  bool maybe_null = false;  // JSON null is one of its values
};

// FrozenValue: its Rep's storage at 0, the alternative's index after it.
inline constexpr std::uint64_t kValueIndexAt = 16;

// The compiled schema: node 0 is the root.
class Nodes {
 public:
  // FailedPrecondition when the schema is for another platform.
  static absl::Status Compile(const Schema& schema, Nodes* out);

  const Node& operator[](int i) const { return nodes_[i]; }
  int size() const { return static_cast<int>(nodes_.size()); }

  // Whether two nodes describe the same frozen type.
  bool Same(int a, int b) const;

 private:
  int Add(const SchemaType& t);
  int Entry(int key, int value);  // a pair node for map entries
  std::vector<Node> nodes_;
  absl::flat_hash_map<const SchemaType*, int> done_;
};

// Bytes of a graph whose pointers were written for another address.
class View {
 public:
  View(const char* bytes, std::uint64_t size, std::uintptr_t address)
      : b_(bytes), size_(size), address_(address) {}

  template <class V>
  V Load(std::uint64_t off) const {
    V v;
    std::memcpy(&v, b_ + off, sizeof v);
    return v;
  }
  const char* at(std::uint64_t off) const { return b_ + off; }

  // Of a checked graph (VerifyGraph passed): the integer of `size` bytes at
  // `off`, sign-extended or not; the bytes of the String at `off`.
  std::int64_t Signed(std::uint64_t off, std::uint64_t size) const {
    const std::uint64_t bits = Unsigned(off, size);
    const std::uint64_t sign = std::uint64_t{1} << (8 * size - 1);
    return static_cast<std::int64_t>((bits ^ sign) - sign);
  }
  std::uint64_t Unsigned(std::uint64_t off, std::uint64_t size) const {
    std::uint64_t bits = 0;
    std::memcpy(&bits, b_ + off, size);  // little-endian
    return bits;
  }
  std::string_view Bytes(std::uint64_t off) const {
    const auto size = Load<std::uint64_t>(off + 8);
    std::uint64_t t = 0;
    Range(Load<std::uint64_t>(off), size + 1, 1, 1, &t);
    return std::string_view(b_ + t, size);
  }
  std::uint64_t size() const { return size_; }
  // The address the graph's pointers take its first byte to be at.
  std::uintptr_t address() const { return address_; }

  // Checked reads, of a graph not yet checked (the typed check; the
  // conversion, which checks as it reads). Each returns false when the part
  // at `off` is damaged, with what is wrong in *why (the check's DataLoss
  // message, without the place: the caller names that).
  //
  // A root of `size` bytes fits in the graph.
  bool CheckRoot(std::uint64_t size, std::string* why) const;
  // The bytes of the String at `off`: inside the graph, NUL-terminated.
  bool CheckString(std::uint64_t off, std::string_view* bytes,
                   std::string* why) const {
    const auto p = Load<std::uint64_t>(off);
    const auto size = Load<std::uint64_t>(off + 8);
    std::uint64_t t = 0;
    if (size == ~std::uint64_t{0} || !Range(p, size + 1, 1, 1, &t)) {
      *why = StringOutside(p, size);
      return false;
    }
    if (b_[t + size] != '\0') {
      *why = "string without its NUL";
      return false;
    }
    *bytes = std::string_view(b_ + t, size);
    return true;
  }
  // The bucket starts of the hashed container at `off` (its entries' count
  // at off + 16, bucket mask at off + 24): a power of two of buckets, their
  // starts inside the graph, in order, covering every entry. *starts: the
  // offset of the first.
  bool CheckBuckets(std::uint64_t off, std::uint64_t* starts,
                    std::string* why) const;

  // The offset that pointer value p stands for, if `n` objects of `elem`
  // bytes aligned to `align` fit there; else false.
  bool Range(std::uint64_t p, std::uint64_t n, std::uint64_t elem,
             std::uint64_t align, std::uint64_t* off) const {
    if (p < address_ || p - address_ > size_ || p % align != 0) return false;
    *off = p - address_;
    return n <= (size_ - *off) / elem;
  }

 private:
  static std::string StringOutside(std::uint64_t p, std::uint64_t size);

  const char* b_;
  std::uint64_t size_;
  std::uintptr_t address_;
};

// Follows `path` (JsonOptions::path) from the object `*node` at `*off` of
// a checked graph; sets them to what it names. Errors: NotFound (no such
// part; a null pointer or empty optional on the way), InvalidArgument (a
// part of something without parts; a key that does not parse).
absl::Status Step(const Nodes& nodes, const View& v, std::string_view path,
                  int* node, std::uint64_t* off);

// Debian's Abseil has its own string_view.
inline absl::string_view Av(std::string_view s) { return {s.data(), s.size()}; }

// UTF-8 validity (RFC 3629: no overlongs, surrogates or code points past
// U+10FFFF).
bool ValidUtf8(std::string_view s);

}  // namespace ancient::schema_internal

#endif  // ANCIENT_SCHEMA_NODES_H_
