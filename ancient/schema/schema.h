// ancient::Schema: a frozen type's layout, parsed from its description
// (TypeDescription<T>(), what TypeId hashes and what a store records for
// every root), so that a program can name a root's type without its C++
// definition, print it, and say where two types differ.
//
//   auto d = snapshot.TypeDescription("trie");       // from the store
//   auto s = ancient::Schema::Parse(*d);
//   if (s.ok()) std::cout << s->ToString();
//   // struct Node { bool word; map<char, ptr<Node>> next; }
//
// Descriptions come from files: Parse treats them as untrusted. Anything
// malformed, nested deeper than kMaxDepth or longer than kMaxLength is
// DataLoss, never a crash or unbounded recursion.

#ifndef ANCIENT_SCHEMA_SCHEMA_H_
#define ANCIENT_SCHEMA_SCHEMA_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace ancient {

// One type in a schema.
struct SchemaType {
  enum class Kind {
    kPrimitive,  // name: bool, char, i8..i64, u8..u64, f32, f64, enumN,
                 // none (std::monostate), string, value (ancient::Value)
    kContainer,  // name: vector, map, set, hash_map, hash_set, pair, tuple,
                 // optional, variant, ptr; args: the element types
    kStruct,     // name: as given to ANCIENT_STRUCT; size; fields
    kStructRef,  // a struct inside itself (a recursive type): name only
  };
  struct Field {
    std::string name;
    std::uint64_t offset = 0;
    SchemaType* type = nullptr;  // owned by the Schema
  };
  Kind kind = Kind::kPrimitive;
  std::string name;
  std::vector<SchemaType*> args;       // owned by the Schema
  std::vector<Field> fields;           // structs, in order
  int ref_depth = 0;                   // kStructRef: how many structs outward
  const SchemaType* target = nullptr;  // kStructRef: the struct it names

  // The frozen layout on the platform the description names (as recorded
  // for structs; computed by C++'s rules for the rest, and checked against
  // the compiler's in the tests):
  std::uint64_t size = 0;   // sizeof the frozen type
  std::uint64_t align = 1;  // alignof the frozen type
  // pair, tuple: each element's offset; variant: {the index's offset}.
  std::vector<std::uint64_t> offsets;

  // The type itself, or the struct a kStructRef names.
  const SchemaType& resolved() const { return target ? *target : *this; }

  // The type as written in C++-like notation, structs by name:
  // "map<char, ptr<Node>>".
  std::string Expression() const;
};

class Schema {
 public:
  static constexpr int kMaxDepth = 200;
  static constexpr std::size_t kMaxLength = std::size_t{1} << 20;

  // Parses a full description ("ancient/1;le;p64;..."), resolves struct
  // back references and computes every type's frozen size and alignment.
  // Errors: DataLoss naming the problem and its position, or the struct
  // whose recorded layout is impossible (a field past its end or
  // misaligned, fields that overlap, a struct inside itself by value).
  static absl::StatusOr<Schema> Parse(std::string_view description);

  // Parses a type as ToString() prints it (what `ancientctl schema` shows
  // and a person writes): the root's expression, then each struct it names,
  // whitespace free:
  //   "map<string, vector<i32>>"
  //   "vector<Point>  struct Point { f64 x; f64 y; }"
  //   "struct Node { bool word; map<char, ptr<Node>> next; }"  (the root is
  //   the first struct when no expression comes first)
  // Structs are laid out as C++ lays out their frozen form (each field at
  // the next offset aligned for it), for this build's platform; a struct may
  // name itself inside out-of-line containers (vector, map, ptr, ...).
  // Errors: InvalidArgument naming the position and what was expected (an
  //   unknown type or container, a struct named but not defined or defined
  //   twice, a field named twice, a struct inside itself by value, a
  //   wrong number of type arguments, text after the type).
  static absl::StatusOr<Schema> ParseReadable(std::string_view text);

  // The full description Parse reads ("ancient/1;le;p64;..."): what a
  // store records, and what TypeDescription<T>() gives for the C++ type of
  // the same layout.
  std::string Description() const;

  Schema(Schema&&) = default;
  Schema& operator=(Schema&&) = default;

  // "ancient/1;le;p64": format version, byte order, pointer width.
  const std::string& platform() const { return platform_; }
  // The platform this build writes (kFormatVersion, byte order, pointer
  // width). Graphs can be walked (schema_graph.h) only on it.
  static std::string NativePlatform();
  // The name TypeName<T>() gives the type: "map<char,ptr<Node>>", "Node".
  std::string TypeName() const;
  const SchemaType& root() const { return *root_; }

  // The type, readably: the root's expression, then each struct it uses,
  // one per line: "struct Node { bool word; map<char, ptr<Node>> next; }".
  std::string ToString() const;

  // Where `a` and `b` first differ, as "`path` is X in a, Y in b" with
  // `a_name` and `b_name` for a and b ("" when they are the same type).
  // The path names fields and container parts: "next{value}->word".
  static std::string FirstDifference(const Schema& a, const Schema& b,
                                     std::string_view a_name,
                                     std::string_view b_name);

 private:
  Schema() = default;
  // Lays out a schema built by ParseReadable (schema.cc).
  static absl::Status LayOutReadable(Schema* schema);
  std::string platform_;
  std::vector<std::unique_ptr<SchemaType>> types_;  // owns every node
  SchemaType* root_ = nullptr;
  friend class SchemaParser;
};

}  // namespace ancient

#endif  // ANCIENT_SCHEMA_SCHEMA_H_
