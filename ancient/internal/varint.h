// Internal: the unsigned LEB128 varints of relocation records (block.h).

#ifndef ANCIENT_INTERNAL_VARINT_H_
#define ANCIENT_INTERNAL_VARINT_H_

#include <cstdint>

namespace ancient::internal {

// How many bytes `v` takes as a varint (1 to 10).
inline int VarintLength(std::uint64_t v) {
  int n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// Writes `v` as a varint at `out`; returns the byte after it.
inline char* PutVarint(char* out, std::uint64_t v) {
  for (; v >= 0x80; v >>= 7) *out++ = static_cast<char>((v & 0x7f) | 0x80);
  *out++ = static_cast<char>(v);
  return out;
}

}  // namespace ancient::internal

#endif  // ANCIENT_INTERNAL_VARINT_H_
