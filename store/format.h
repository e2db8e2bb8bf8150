// Internal: the records that the store keeps in LMDB.
//
// Tables (LMDB named databases) in data.mdb:
//   "meta"    "meta"  -> MetaRecord   written once, at creation
//             "space" -> SpaceRecord  the arena's size and high-water mark
//   "roots"   key     -> RootRecord + type name
//   "free"    BE64(offset) -> BE64(length)            reusable now
//   "pending" BE64(txnid) BE64(offset) -> BE64(length)
//             freed by write transaction txnid; reusable once no reader's
//             snapshot is older than txnid
// Records are fixed-size native-endian structs; MetaRecord says which byte
// order and pointer width wrote them, and Open refuses any other.

#ifndef ANCIENT_STORE_FORMAT_H_
#define ANCIENT_STORE_FORMAT_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace ancient::store_internal {

inline constexpr char kMagic[8] = {'A', 'N', 'C', 'I', 'E', 'N', 'T', '\0'};
inline constexpr std::uint32_t kStoreFormatVersion = 1;
inline constexpr std::uint32_t kEndianMarker = 0x01020304;
// Extents start at multiples of this (a cache line; >= kBlockAlignment).
inline constexpr std::uint64_t kExtentAlign = 64;

struct MetaRecord {
  char magic[8];
  std::uint32_t format_version;
  std::uint32_t pointer_bits;
  std::uint32_t endian_marker;
  std::uint32_t reserved;
  std::uint64_t base_address;
};

struct SpaceRecord {
  std::uint64_t arena_size;  // bytes of the arena file the store accounts for
  std::uint64_t high_water;  // bytes [0, high_water) were ever allocated
};

struct RootRecord {
  std::uint64_t offset;       // the extent's start in the arena
  std::uint64_t extent_size;  // allocated bytes
  std::uint64_t graph_size;   // the graph, at offset
  std::uint64_t reloc_size;   // its relocation record, right after it
  std::uint64_t type_id;
  std::uint64_t checksum;      // XXH3-64 of graph and relocation record
  std::uint64_t base_address;  // the address the graph's pointers are for
};

static_assert(std::is_trivially_copyable_v<MetaRecord>);
static_assert(sizeof(MetaRecord) == 32);
static_assert(sizeof(SpaceRecord) == 16);
static_assert(sizeof(RootRecord) == 56);

template <class R>
std::string_view AsBytes(const R& r) {
  return {reinterpret_cast<const char*>(&r), sizeof(R)};
}

// Reads a fixed record; nullopt when `bytes` has the wrong length.
template <class R>
std::optional<R> ReadRecord(std::string_view bytes) {
  if (bytes.size() != sizeof(R)) return std::nullopt;
  R r;
  std::memcpy(&r, bytes.data(), sizeof(R));
  return r;
}

// A root's value: the RootRecord followed by the type name.
inline std::string EncodeRoot(const RootRecord& r, std::string_view name) {
  std::string s(AsBytes(r));
  s.append(name);
  return s;
}
inline std::optional<RootRecord> DecodeRoot(std::string_view bytes,
                                            std::string_view* name) {
  if (bytes.size() < sizeof(RootRecord)) return std::nullopt;
  RootRecord r;
  std::memcpy(&r, bytes.data(), sizeof r);
  if (name != nullptr) *name = bytes.substr(sizeof r);
  return r;
}

inline std::uint64_t AlignUp(std::uint64_t v, std::uint64_t a) {
  return (v + a - 1) / a * a;
}

}  // namespace ancient::store_internal

#endif  // ANCIENT_STORE_FORMAT_H_
