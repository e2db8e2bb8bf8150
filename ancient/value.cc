#include "ancient/value.h"

#include <utility>
#include <vector>

namespace ancient {

std::string_view ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kNull:
      return "null";
    case ValueType::kBool:
      return "bool";
    case ValueType::kInt:
      return "int";
    case ValueType::kDouble:
      return "double";
    case ValueType::kString:
      return "string";
    case ValueType::kArray:
      return "array";
    case ValueType::kObject:
      return "object";
  }
  return "unknown";
}

namespace {

// Copies the scalar part of `v` into `out`; containers become empty ones
// whose elements the caller fills in.
void ThawShallow(const FrozenValue& v, Value* out) {
  switch (v.type()) {
    case ValueType::kNull:
      *out = Value();
      break;
    case ValueType::kBool:
      *out = Value(v.as_bool());
      break;
    case ValueType::kInt:
      *out = Value(v.as_int());
      break;
    case ValueType::kDouble:
      *out = Value(v.as_double());
      break;
    case ValueType::kString:
      *out = Value(v.as_string().view());
      break;
    case ValueType::kArray:
      *out = Value(Value::Array(v.as_array().size()));
      break;
    case ValueType::kObject:
      *out = Value(Value::Object());
      break;
  }
}

}  // namespace

Value Thaw(const FrozenValue& v) {
  Value root;
  // Work list of (frozen source, heap destination). Destinations stay valid:
  // arrays are sized before their elements are queued, and std::map nodes
  // never move.
  std::vector<std::pair<const FrozenValue*, Value*>> work = {{&v, &root}};
  while (!work.empty()) {
    auto [src, dst] = work.back();
    work.pop_back();
    ThawShallow(*src, dst);
    if (src->is_array()) {
      Value::Array& a = dst->as_array();
      for (std::size_t i = 0; i < a.size(); ++i) {
        work.emplace_back(&src->as_array()[i], &a[i]);
      }
    } else if (src->is_object()) {
      Value::Object& o = dst->as_object();
      for (const auto& [key, value] : src->as_object()) {
        Value* slot = &o.emplace(key.str(), Value()).first->second;
        work.emplace_back(&value, slot);
      }
    }
  }
  return root;
}

}  // namespace ancient
