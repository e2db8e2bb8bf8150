// ancient::Value: a dynamic, JSON-like value (null, bool, int64, double,
// string, array, object with string keys), for data without a C++ type.
// Its frozen layout is FrozenValue.

#ifndef ANCIENT_VALUE_H_
#define ANCIENT_VALUE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "ancient/frozen.h"
#include "ancient/layout.h"

namespace ancient {

enum class ValueType { kNull, kBool, kInt, kDouble, kString, kArray, kObject };

// "null", "bool", "int", "double", "string", "array" or "object".
std::string_view ValueTypeName(ValueType type);

namespace internal {
// The type predicates that Value and FrozenValue share.
template <class Derived>
class ValueKind {
 public:
  bool is_null() const { return type() == ValueType::kNull; }
  bool is_bool() const { return type() == ValueType::kBool; }
  bool is_int() const { return type() == ValueType::kInt; }
  bool is_double() const { return type() == ValueType::kDouble; }
  bool is_string() const { return type() == ValueType::kString; }
  bool is_array() const { return type() == ValueType::kArray; }
  bool is_object() const { return type() == ValueType::kObject; }

 private:
  ValueType type() const { return static_cast<const Derived&>(*this).type(); }
};
}  // namespace internal

class Value : public internal::ValueKind<Value> {
 public:
  using Array = std::vector<Value>;
  // Keys sorted; lookups take std::string_view.
  using Object = std::map<std::string, Value, std::less<>>;
  using Rep = std::variant<std::monostate, bool, std::int64_t, double,
                           std::string, Array, Object>;

  Value() = default;
  Value(std::nullptr_t) {}    // NOLINT
  Value(bool b) : rep_(b) {}  // NOLINT
  template <class I>
  requires(std::is_integral_v<I> && !std::is_same_v<I, bool>) Value(I i)
      : rep_(static_cast<std::int64_t>(i)) {}          // NOLINT
  Value(double d) : rep_(d) {}                         // NOLINT
  Value(std::string s) : rep_(std::move(s)) {}         // NOLINT
  Value(std::string_view s) : rep_(std::string(s)) {}  // NOLINT
  Value(const char* s) : rep_(std::string(s)) {}       // NOLINT
  Value(Array a) : rep_(std::move(a)) {}               // NOLINT
  Value(Object o) : rep_(std::move(o)) {}              // NOLINT
  // A std::map with the default comparator converts too.
  Value(const std::map<std::string, Value>& o)  // NOLINT
      : rep_(Object(o.begin(), o.end())) {}

  ValueType type() const { return static_cast<ValueType>(rep_.index()); }

  // Each accessor requires the matching type (check with is_*() first).
  bool as_bool() const { return std::get<bool>(rep_); }
  std::int64_t as_int() const { return std::get<std::int64_t>(rep_); }
  double as_double() const { return std::get<double>(rep_); }
  const std::string& as_string() const { return std::get<std::string>(rep_); }
  const Array& as_array() const { return std::get<Array>(rep_); }
  Array& as_array() { return std::get<Array>(rep_); }
  const Object& as_object() const { return std::get<Object>(rep_); }
  Object& as_object() { return std::get<Object>(rep_); }

  const Rep& rep() const { return rep_; }

  friend bool operator==(const Value& a, const Value& b) {
    return a.rep_ == b.rep_;
  }

 private:
  Rep rep_;
};

// The frozen form of Value.
class FrozenValue : public internal::ValueKind<FrozenValue> {
 public:
  using Array = Vector<FrozenValue>;
  using Object = Map<String, FrozenValue>;
  using Rep = Variant<std::monostate, bool, std::int64_t, double, String, Array,
                      Object>;

  ValueType type() const { return static_cast<ValueType>(rep_.index()); }

  // Each accessor requires the matching type (check with is_*() first).
  bool as_bool() const { return *rep_.get_if<bool>(); }
  std::int64_t as_int() const { return *rep_.get_if<std::int64_t>(); }
  double as_double() const { return *rep_.get_if<double>(); }
  const String& as_string() const { return *rep_.get_if<String>(); }
  const Array& as_array() const { return *rep_.get_if<Array>(); }
  const Object& as_object() const { return *rep_.get_if<Object>(); }

  // The member `key` of an object, or nullptr (also when not an object).
  const FrozenValue* find(std::string_view key) const {
    const Object* o = rep_.get_if<Object>();
    return o == nullptr ? nullptr : o->get(key);
  }
  // Element i of an array, or nullptr (also when not an array).
  const FrozenValue* at(std::size_t i) const {
    const Array* a = rep_.get_if<Array>();
    return (a == nullptr || i >= a->size()) ? nullptr : &(*a)[i];
  }

  const Rep& rep() const { return rep_; }

 private:
  Rep rep_;
};

// Copies a frozen value back into the heap. Iterative: any depth is fine.
Value Thaw(const FrozenValue& v);

template <>
struct Layout<Value> {
  using type = FrozenValue;
  static void Mark(internal::MarkContext& c, const Value& src,
                   std::uint64_t off) {
    Layout<Value::Rep>::Mark(c, src.rep(), off);
  }
  static void Describe(internal::Describer& d) { d.Append("value"); }
};

}  // namespace ancient

#endif  // ANCIENT_VALUE_H_
