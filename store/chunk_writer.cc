#include "store/chunk_writer.h"

#include <algorithm>
#include <cstring>

namespace ancient::store_internal {

absl::Status WriteChunks(const char* src, std::uint64_t len,
                         ChunkRelocator& relocator, std::string& buf,
                         ChunkSink write, WriteBackFn write_back) {
  buf.resize(std::min(kCopyChunk, len));
  for (std::uint64_t pos = 0; pos < len; pos += kCopyChunk) {
    const std::uint64_t n = std::min(kCopyChunk, len - pos);
    char* p = buf.data();
    std::memcpy(p, src + pos, n);
    relocator.Apply(p, pos, n);
    absl::Status s = write(pos, p, n);
    if (!s.ok()) return s;
    if (((pos + n) & (kWriteBackSpan - 1)) == 0) {
      write_back(pos + n - kWriteBackSpan, kWriteBackSpan);
    }
  }
  return absl::OkStatus();
}

}  // namespace ancient::store_internal
