// JSON text <-> ancient::Value, through nlohmann-json (Debian's
// nlohmann-json3-dev). Target //ancient:json.

#ifndef ANCIENT_JSON_H_
#define ANCIENT_JSON_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "ancient/value.h"

namespace ancient {

// Parses one JSON document (RFC 8259). Integers that fit int64 stay
// integers; larger ones and numbers with a fraction or exponent become
// doubles. Duplicate object keys: the last wins. Builds the Value without
// recursion, so any nesting depth parses.
// Errors: InvalidArgument with the line and column of the first error.
absl::StatusOr<Value> ParseJson(std::string_view text);

// Writes `v` as JSON: compact, or indented by two spaces with `pretty`.
// Invalid UTF-8 in strings is replaced by U+FFFD. Recursive in the nesting
// depth of `v`.
std::string ToJson(const Value& v, bool pretty = false);
std::string ToJson(const FrozenValue& v, bool pretty = false);

}  // namespace ancient

#endif  // ANCIENT_JSON_H_
