#include "ancient/json.h"

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <vector>

namespace ancient {
namespace {

using nlohmann::json;

// Builds a Value from nlohmann's SAX events, with an explicit stack.
class Builder {
 public:
  Value& root() { return root_; }
  std::string error;

  bool null() { return Put(Value()); }
  bool boolean(bool b) { return Put(Value(b)); }
  bool number_integer(std::int64_t i) { return Put(Value(i)); }
  bool number_unsigned(std::uint64_t u) {
    if (u >
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return Put(Value(static_cast<double>(u)));
    }
    return Put(Value(static_cast<std::int64_t>(u)));
  }
  bool number_float(double d, const std::string&) { return Put(Value(d)); }
  bool string(std::string& s) { return Put(Value(std::move(s))); }
  bool binary(json::binary_t&) { return false; }
  bool start_object(std::size_t) {
    Value* v = Slot();
    *v = Value(Value::Object());
    stack_.push_back(v);
    return true;
  }
  bool key(std::string& k) {
    key_ = std::move(k);
    return true;
  }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) {
    Value* v = Slot();
    *v = Value(Value::Array());
    stack_.push_back(v);
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) {
    error = ex.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
    if (const auto p = error.find("] "); p != std::string::npos) {
      error = error.substr(p + 2);
    }
    return false;
  }

 private:
  // Where the next value goes: the root, the end of the open array, or the
  // open object's member named by the last key.
  Value* Slot() {
    if (stack_.empty()) return &root_;
    Value* top = stack_.back();
    if (top->is_array()) {
      top->as_array().emplace_back();
      return &top->as_array().back();
    }
    Value& member = top->as_object()[key_];
    member = Value();
    return &member;
  }
  bool Put(Value v) {
    *Slot() = std::move(v);
    return true;
  }

  Value root_;
  std::vector<Value*> stack_;
  std::string key_;
};

template <class V>
json ToNlohmann(const V& v) {
  switch (v.type()) {
    case ValueType::kNull:
      return nullptr;
    case ValueType::kBool:
      return v.as_bool();
    case ValueType::kInt:
      return v.as_int();
    case ValueType::kDouble:
      return v.as_double();
    case ValueType::kString:
      return std::string(std::string_view(v.as_string()));
    case ValueType::kArray: {
      json a = json::array();
      for (const auto& e : v.as_array()) a.push_back(ToNlohmann(e));
      return a;
    }
    case ValueType::kObject: {
      json o = json::object();
      for (const auto& [k, e] : v.as_object()) {
        o[std::string(std::string_view(k))] = ToNlohmann(e);
      }
      return o;
    }
  }
  return nullptr;
}

template <class V>
std::string Dump(const V& v, bool pretty) {
  return ToNlohmann(v).dump(pretty ? 2 : -1, ' ', false,
                            json::error_handler_t::replace);
}

}  // namespace

absl::StatusOr<Value> ParseJson(std::string_view text) {
  Builder b;
  bool ok = false;
  try {
    ok = json::sax_parse(text.begin(), text.end(), &b);
  } catch (const std::exception& e) {
    b.error = e.what();
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        "malformed JSON: " +
        (b.error.empty() ? std::string("unknown error") : b.error));
  }
  return std::move(b.root());
}

std::string ToJson(const Value& v, bool pretty) { return Dump(v, pretty); }
std::string ToJson(const FrozenValue& v, bool pretty) {
  return Dump(v, pretty);
}

}  // namespace ancient
