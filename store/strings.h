// Internal: Cat, joining strings and numbers for the store's messages.

#ifndef ANCIENT_STORE_STRINGS_H_
#define ANCIENT_STORE_STRINGS_H_

#include <string>
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace ancient::store_internal {

// Concatenates strings and numbers. (Debian's Abseil has its own
// string_view, which absl::StrCat takes instead of std::string_view.)
inline void AppendPiece(std::string& out, std::string_view s) { out.append(s); }
inline void AppendPiece(std::string& out, const std::string& s) {
  out.append(s);
}
inline void AppendPiece(std::string& out, const char* s) { out.append(s); }
inline void AppendPiece(std::string& out, absl::string_view s) {
  out.append(s.data(), s.size());
}
template <class N>
requires std::is_arithmetic_v<N>
void AppendPiece(std::string& out, N n) { out.append(std::to_string(n)); }
template <class... Args>
std::string Cat(const Args&... args) {
  std::string out;
  (AppendPiece(out, args), ...);
  return out;
}

}  // namespace ancient::store_internal

#endif  // ANCIENT_STORE_STRINGS_H_
