// Store::Verify: every check of a store's files that needs no C++ type:
// the space record against the arena file, each root (structure, checksum,
// pointers, and contents by the type the store recorded), and the tiling of
// [0, high-water mark) by roots and free extents.

#include <xxhash.h>

#include <algorithm>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "ancient/block.h"
#include "ancient/schema/schema_graph.h"
#include "store/read_txn.h"
#include "store/store.h"

namespace ancient {

using store_internal::Cat;
using store_internal::Core;
using store_internal::ReadTxn;
using store_internal::RootRecord;
using store_internal::SpaceRecord;

namespace {

// An extent of the arena: offset, length and what holds it.
using Extent = std::tuple<std::uint64_t, std::uint64_t, std::string>;

// The space record is consistent and the arena file holds exactly what it
// records (a zero tail is what a crashed growth leaves, and harmless).
absl::Status VerifySpace(const Core& core, const SpaceRecord& space) {
  const std::string& dir = core.dir();
  if (space.high_water > space.arena_size) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: high-water mark %d is past the arena's %d bytes", dir,
        space.high_water, space.arena_size));
  }
  absl::Status s = core.arena().CheckLength(space.arena_size);
  if (!s.ok()) return s;
  absl::StatusOr<bool> tail_zero = core.arena().TailIsZero(space.arena_size);
  if (!tail_zero.ok()) return tail_zero.status();
  if (!*tail_zero) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: the arena file holds data past its recorded end (%d "
        "bytes): appended by another program, or left by a writer that "
        "crashed while growing the arena (then harmless: the next read-write "
        "open removes it)",
        dir, space.arena_size));
  }
  return absl::OkStatus();
}

// Checks roots one by one; reads, checks and parses each recorded type once.
class RootVerifier {
 public:
  RootVerifier(const Core& core, const ReadTxn& txn, std::uint64_t high_water)
      : core_(core), txn_(txn), high_water_(high_water) {}

  // Structure, checksum, pointers, then contents by the recorded type.
  absl::Status Verify(std::string_view key, const RootRecord& r) {
    const std::string& dir = core_.dir();
    absl::Status s = CheckRootRecord(core_, key, r, high_water_);
    if (!s.ok()) return s;
    const std::string what = Cat("root '", key, "'");
    // The bytes as on disk, wherever this process can read them.
    absl::StatusOr<const char*> graph =
        core_.arena().RawBytes(r.offset, r.graph_size + r.reloc_size, &buf_);
    if (!graph.ok()) return graph.status();
    if (XXH3_64bits(*graph, r.graph_size + r.reloc_size) != r.checksum) {
      return absl::DataLossError(absl::StrFormat(
          "store %s: %s at offset %d fails its checksum", dir, what, r.offset));
    }
    const std::uintptr_t address = core_.base() + r.offset;
    s = VerifyBlock(*graph, r.graph_size,
                    std::string_view(*graph + r.graph_size, r.reloc_size),
                    address);
    if (!s.ok()) {
      return absl::DataLossError(
          Cat("store ", dir, ": ", what, ": ", s.message()));
    }
    absl::StatusOr<const Schema*> schema = SchemaOf(r.type_id, what);
    if (!schema.ok()) return schema.status();
    if (*schema != nullptr) {  // None for roots from before types.
      s = VerifyGraph(**schema, {*graph, r.graph_size, address});
      if (!s.ok()) {
        return absl::DataLossError(
            Cat("store ", dir, ": ", what, ": ", s.message()));
      }
    }
    return absl::OkStatus();
  }

 private:
  // The recorded type of `type_id`, parsed; nullptr when none is recorded.
  absl::StatusOr<const Schema*> SchemaOf(std::uint64_t type_id,
                                         const std::string& what) {
    auto known = schemas_.find(type_id);
    if (known == schemas_.end()) {
      absl::StatusOr<std::string> type = txn_.TypeDescriptionOf(type_id);
      if (!type.ok() && !absl::IsNotFound(type.status())) {
        return absl::Status(type.status().code(),
                            Cat(what, ": ", type.status().message()));
      }
      std::optional<Schema> schema;
      if (type.ok()) {
        absl::StatusOr<Schema> parsed = Schema::Parse(*type);
        if (!parsed.ok()) {
          return absl::DataLossError(Cat("store ", core_.dir(), ": ", what,
                                         ": ", parsed.status().message()));
        }
        schema.emplace(*std::move(parsed));
      }
      known = schemas_.emplace(type_id, std::move(schema)).first;
    }
    return known->second ? &*known->second : nullptr;
  }

  const Core& core_;
  const ReadTxn& txn_;
  const std::uint64_t high_water_;
  absl::flat_hash_map<std::uint64_t, std::optional<Schema>> schemas_;
  std::string buf_;
};

// The extents, sorted, tile [0, high_water) exactly: no overlap, no gap.
absl::Status VerifyTiling(const std::string& dir, std::vector<Extent> extents,
                          std::uint64_t high_water) {
  std::sort(extents.begin(), extents.end());
  std::uint64_t at = 0;
  for (const auto& [off, len, what] : extents) {
    if (off < at) {
      return absl::DataLossError(absl::StrFormat(
          "store %s: %s overlaps the extent before it (which ends at %d)", dir,
          what, at));
    }
    if (off > at) {
      return absl::DataLossError(absl::StrFormat(
          "store %s: bytes [%d, %d) are neither live nor free: space lost", dir,
          at, off));
    }
    if (len == 0 || len > high_water - off) {
      return absl::DataLossError(absl::StrFormat(
          "store %s: %s (%d bytes) runs past the high-water mark %d", dir, what,
          len, high_water));
    }
    at = off + len;
  }
  if (at != high_water) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: bytes [%d, %d) are neither live nor free: space lost", dir,
        at, high_water));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Store::Verify() const {
  absl::StatusOr<std::shared_ptr<ReadTxn>> txn = ReadTxn::Begin(core_);
  if (!txn.ok()) return txn.status();
  const ReadTxn& t = **txn;
  absl::StatusOr<SpaceRecord> space = t.Space();
  if (!space.ok()) return space.status();
  absl::Status s = VerifySpace(*core_, *space);
  if (!s.ok()) return s;

  std::vector<Extent> extents;
  RootVerifier roots(*core_, t, space->high_water);
  s = t.ForEachRoot("",
                    [&](std::string_view key, const RootRecord& r,
                        std::string_view) -> absl::Status {
                      absl::Status v = roots.Verify(key, r);
                      if (v.ok())
                        extents.emplace_back(r.offset, r.extent_size,
                                             Cat("root '", key, "'"));
                      return v;
                    });
  if (!s.ok()) return s;
  s = store_internal::ForEachFreeExtent(
      t, [&](std::uint64_t off, std::uint64_t len, bool pending) {
        extents.emplace_back(off, len,
                             absl::StrFormat("%s extent at %d",
                                             pending ? "freed" : "free", off));
      });
  if (!s.ok()) return s;
  return VerifyTiling(core_->dir(), std::move(extents), space->high_water);
}

}  // namespace ancient
