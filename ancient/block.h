// Type-free operations on marked blocks.
//
// A block is the bytes of one frozen graph: its root at offset 0, every
// pointer in it an absolute address into the same block. Its relocation
// record lists where those pointers are, so a block can be verified, moved
// and compacted without knowing its C++ type.
//
// Relocation record format: for each pointer slot in increasing order, the
// distance from the previous slot (from offset 0 for the first) divided by 8,
// as an unsigned LEB128 varint. Slots are 8-byte aligned; null pointers are
// not listed.

#ifndef ANCIENT_BLOCK_H_
#define ANCIENT_BLOCK_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "ancient/internal/mark_context.h"

namespace ancient {

// Encodes `slots` (byte offsets of pointer slots, 8-aligned, in any order;
// sorted in place) as a relocation record.
std::string EncodeRelocations(std::vector<std::uint64_t>& slots);

namespace internal {

// Memory for a block marked in one pass. Small blocks live in a heap buffer
// (kHeapBytes), cleared a little at a time as the marker reaches it; past
// that, an anonymous private mapping (asking for huge pages if
// `huge_pages`: see MarkOptions::huge_pages), in a reservation of address space
// that it grows into in place (fresh pages read as zeros). The block moves when
// it leaves the heap buffer, and only past the reservation (MarkContext then
// moves the pointers written so far).
class GrowableBlock {
 public:
  static constexpr std::uint64_t kHeapBytes = std::uint64_t{1} << 20;

  explicit GrowableBlock(bool huge_pages = false);
  ~GrowableBlock();
  GrowableBlock(const GrowableBlock&) = delete;
  GrowableBlock& operator=(const GrowableBlock&) = delete;

  char* base() const { return base_; }
  bool in_heap() const { return mapped_ == 0; }
  // The bytes ready for writing (zero-filled): what MarkContext may use.
  std::uint64_t capacity() const { return ready_; }

  // Where MarkContext starts writing.
  MarkContext::Room room() const { return {base_, base_, ready_}; }
  // MarkContext::GrowFn: at least `need` bytes ready (the block may move);
  // false when the memory cannot be had.
  static bool Grow(void* self, std::uint64_t need, MarkContext::Room* room);

  // Hands the block over (a mapping is trimmed to `size` bytes, in whole
  // pages): free it with FreeBlock(base, *mapped); *mapped is 0 for a heap
  // buffer.
  void* Release(std::uint64_t size, std::size_t* mapped);

 private:
  char* base_ = nullptr;
  std::uint64_t ready_ = 0;   // zero-filled bytes
  std::uint64_t mapped_ = 0;  // the mapping's length; 0: the heap buffer
  // The address space reserved for the mapping to grow into in place (0:
  // none, the mapping grows with mremap and may move).
  std::uint64_t reserved_ = 0;
  bool huge_pages_ = false;
};

// Frees a block that GrowableBlock::Release handed over.
void FreeBlock(void* base, std::size_t mapped);

}  // namespace internal

// Reads a relocation record slot by slot.
class RelocationReader {
 public:
  explicit RelocationReader(std::string_view record) : rest_(record) {}
  // Sets *slot to the next slot's offset and returns true, or returns false
  // at the end of the record or on damage (then status() says which).
  bool Next(std::uint64_t* slot);
  const absl::Status& status() const { return status_; }

 private:
  std::string_view rest_;
  std::uint64_t last_ = 0;
  bool first_ = true;
  absl::Status status_;
};

// Checks, without following any pointer, that every slot named by `relocs`
// lies inside the `size` bytes at `base` and holds an address inside them.
// Returns DataLoss naming the first bad slot, its value and the block's
// range; OK otherwise. `base` must be readable for `size` bytes.
absl::Status VerifyBlock(const void* base, std::uint64_t size,
                         std::string_view relocs);
// As above, for a block copied from where its pointers were written for
// (`written_for`): each value must lie in [written_for, written_for + size).
absl::Status VerifyBlock(const void* base, std::uint64_t size,
                         std::string_view relocs, std::uintptr_t written_for);

// Rewrites every pointer of a block that was written for address `old_base`
// (and has since been copied to `base`) so that it is valid at `base`.
// Checks each slot and value as VerifyBlock does, before changing anything;
// returns DataLoss and leaves the block untouched on damage.
absl::Status RelocateBlock(void* base, std::uint64_t size,
                           std::string_view relocs, std::uintptr_t old_base);

// As above, for a block that sits at `base` but will be read at `new_base`
// (the same memory mapped at two addresses).
absl::Status RelocateBlock(void* base, std::uint64_t size,
                           std::string_view relocs, std::uintptr_t old_base,
                           std::uintptr_t new_base);

// Relocates a block while it is copied a chunk at a time (so that a copy
// of any size is made in cache-sized pieces): Apply adds `delta` to the
// pointer slots that lie in each chunk. Check the record first
// (VerifyBlock on the source): this trusts it.
class ChunkRelocator {
 public:
  ChunkRelocator(std::string_view relocs, std::uintptr_t delta)
      : reader_(relocs), delta_(delta) {
    more_ = reader_.Next(&slot_);
  }
  // `chunk` holds bytes [pos, pos + n) of the block; chunks come in order,
  // each starting at a multiple of 8 (slots are 8-aligned, so none spans
  // two chunks).
  void Apply(char* chunk, std::uint64_t pos, std::uint64_t n) {
    for (; more_ && slot_ < pos + n; more_ = reader_.Next(&slot_)) {
      std::uintptr_t v;
      std::memcpy(&v, chunk + (slot_ - pos), sizeof v);
      v += delta_;
      std::memcpy(chunk + (slot_ - pos), &v, sizeof v);
    }
  }

 private:
  RelocationReader reader_;
  const std::uintptr_t delta_;
  std::uint64_t slot_ = 0;
  bool more_ = false;
};

}  // namespace ancient

#endif  // ANCIENT_BLOCK_H_
