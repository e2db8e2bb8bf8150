// A root made into a repository object; see objects.h.

#include "replica/objects.h"

#include <xxhash.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_format.h"
#include "ancient/block.h"
#include "replica/manifest.h"
#include "store/strings.h"

namespace ancient::replica_internal {

using store_internal::Cat;
using store_internal::RootRecord;

absl::StatusOr<std::string> ObjectMaker::Make(
    const store_internal::ReadTxn& txn, std::string_view key,
    const RootRecord& r, const std::string& description, bool check,
    store_internal::ChunkSink write, store_internal::WriteBackFn write_back) {
  const std::uint64_t len = r.graph_size + r.reloc_size;
  const std::string what = Cat("store ", core_.dir(), ": root '", key, "'");
  // Where this process reads it: in place (mapping more of the arena if
  // need be), or relocated (checked against its checksum then).
  RootRecord found;
  absl::StatusOr<GraphBytes> graph = txn.FindUntyped(key, &found);
  if (!graph.ok()) return graph.status();
  const char* const src = graph->bytes;
  const std::uintptr_t address = graph->address;
  const std::string_view relocs(src + r.graph_size, r.reloc_size);
  if (check) {
    if (address == core_.base() + r.offset &&
        XXH3_64bits(src, len) != r.checksum) {
      return absl::DataLossError(Cat(what, " fails its checksum"));
    }
    // Checked where it is: pointers by the relocation record, then
    // contents by the recorded type.
    absl::Status s = VerifyBlock(src, r.graph_size, relocs, address);
    if (!s.ok()) return absl::DataLossError(Cat(what, ": ", s.message()));
    s = checker_.Check(r.type_id, description, {src, r.graph_size, address},
                       what);
    if (!s.ok()) return s;
  }
  // Copied a chunk at a time (in cache): pointers rewritten for
  // kObjectBase, hashed, handed on. Memory: one chunk, whatever the size.
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) return absl::ResourceExhaustedError("XXH3");
  XXH3_128bits_reset(state);
  ChunkRelocator relocator(relocs, kObjectBase - address);
  absl::Status s = store_internal::WriteChunks(
      src, len, relocator, buf_,
      [&](std::uint64_t pos, const char* p, std::uint64_t n) {
        XXH3_128bits_update(state, p, n);
        return write(pos, p, n);
      },
      write_back);
  const XXH128_hash_t h = XXH3_128bits_digest(state);
  XXH3_freeState(state);
  if (!s.ok()) return s;
  return absl::StrFormat("%016x%016x", h.high64, h.low64);
}

std::uint64_t SourceOf(const RootRecord& r) {
  const std::uint64_t f[] = {r.base_address, r.offset,  r.graph_size,
                             r.reloc_size,   r.type_id, r.checksum};
  return XXH3_64bits(f, sizeof f);
}

bool SameRoots(const Manifest& a, const Manifest& b) {
  auto same = [](const ObjectRoot& x, const ObjectRoot& y) {
    return x.key == y.key && x.object == y.object && x.type_id == y.type_id &&
           x.type_name == y.type_name;
  };
  return a.format == 2 && b.format == 2 &&
         std::equal(a.objects.begin(), a.objects.end(), b.objects.begin(),
                    b.objects.end(), same);
}

absl::Status CollectRoots(const Store& store,
                          const std::optional<Manifest>& previous,
                          StillThereFn still_there, WriteFn write, Manifest* m,
                          PublishResult* result, const ProgressFn& progress) {
  // The objects of the roots the last version had where this store still
  // has them: found by where they were read, not read again.
  absl::flat_hash_map<std::uint64_t, const ObjectRoot*> known;
  if (previous) {
    for (const ObjectRoot& r : previous->objects) known[r.source] = &r;
  }
  const std::shared_ptr<store_internal::Core>& core =
      store_internal::CoreOf(store);
  absl::StatusOr<std::shared_ptr<store_internal::ReadTxn>> txn =
      store_internal::ReadTxn::Begin(core);
  if (!txn.ok()) return txn.status();
  absl::StatusOr<store_internal::SpaceRecord> space = (*txn)->Space();
  if (!space.ok()) return space.status();
  absl::Status s = core->arena().CheckLength(space->high_water);
  if (!s.ok()) return s;
  std::uint64_t total = 0;  // for progress: the roots' bytes, by record
  if (progress) {
    s = (*txn)->ForEachRoot(
        "", [&](std::string_view, const RootRecord& r, std::string_view) {
          total += r.graph_size + r.reloc_size;
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
  }
  return (*txn)->ForEachRoot(
      "",
      [&](std::string_view key, const RootRecord& r,
          std::string_view name) -> absl::Status {
        absl::Status s =
            store_internal::CheckRootRecord(*core, key, r, space->high_water);
        if (!s.ok()) return s;
        absl::StatusOr<ObjectRoot> entry = EntryFor(**txn, key, r, name, m);
        if (!entry.ok()) return entry.status();
        ObjectRoot& o = *entry;
        o.source = SourceOf(r);
        auto k = known.find(o.source);
        if (k != known.end() && k->second->type_id == r.type_id &&
            k->second->object_size() == o.object_size() &&
            still_there(*k->second)) {
          o.object = k->second->object;
        } else {
          absl::StatusOr<std::string> obj =
              write(**txn, key, r, m->types[r.type_id], &result->bytes_written);
          if (!obj.ok()) return obj.status();
          o.object = *std::move(obj);
          ++result->roots_written;
        }
        result->bytes += o.object_size();
        m->objects.push_back(std::move(o));
        if (progress) progress(result->bytes, total);
        return absl::OkStatus();
      });
}

}  // namespace ancient::replica_internal
