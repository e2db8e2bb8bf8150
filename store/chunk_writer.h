// Internal: the one loop that writes a copy of a graph, for every writer
// of one (a store's PutCopy and parallel Share, store/write_txn.cc; a
// publish's objects, replica/publish.cc; a follow places roots through
// PutCopy): copied a chunk at a time into one buffer (in cache), pointers
// moved by a ChunkRelocator, then handed on to be hashed and written, with
// write-back started as it goes.

#ifndef ANCIENT_STORE_CHUNK_WRITER_H_
#define ANCIENT_STORE_CHUNK_WRITER_H_

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "ancient/block.h"

namespace ancient::store_internal {

// Bytes copied and relocated at a time (a multiple of 8, so that no pointer
// slot spans two chunks).
inline constexpr std::uint64_t kCopyChunk = 1 << 20;
// Bytes written between two starts of write-back (a multiple of
// kCopyChunk): the disk works while the next chunks are made, and the sync
// before a commit or rename waits for less.
inline constexpr std::uint64_t kWriteBackSpan = 8 << 20;

// Receives bytes [pos, pos + n) of the copy, relocated.
using ChunkSink = absl::FunctionRef<absl::Status(
    std::uint64_t pos, const char* p, std::uint64_t n)>;
// Starts write-back of bytes [pos, pos + n) of the copy, just written.
using WriteBackFn = absl::FunctionRef<void(std::uint64_t pos, std::uint64_t n)>;

// Copies `len` bytes from `src` through `buf` (resized to a chunk) a chunk
// at a time, relocates each by `relocator` (positions counted from `src`;
// check the relocation record first, it is trusted) and hands it to
// `write`; after every kWriteBackSpan bytes written, calls `write_back`
// for them. Returns the first error `write` returns (nothing more is
// written then).
absl::Status WriteChunks(const char* src, std::uint64_t len,
                         ChunkRelocator& relocator, std::string& buf,
                         ChunkSink write, WriteBackFn write_back);

}  // namespace ancient::store_internal

#endif  // ANCIENT_STORE_CHUNK_WRITER_H_
