// Reading a root shared as another version of the type asked for: Find's
// slow path (ReadTxn::FindOther) converts the graph into the asked type's
// layout (ConvertGraph, ancient/schema/schema_graph.h) once per graph and type
// in this process (Core's converted graphs), or says why it cannot.

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <tuple>

#include "absl/strings/str_format.h"
#include "store/read_txn.h"
#include "store/store.h"
#include "store/strings.h"
#include "store/write_txn.h"

namespace ancient::store_internal {

std::shared_ptr<const ConvertedGraph> Core::FindConverted(
    const RootRecord& r, std::uint64_t type_id) const {
  std::lock_guard<std::mutex> lock(convert_mu_);
  auto it = converted_.find({r.offset, type_id});
  if (it == converted_.end() || it->second->checksum != r.checksum ||
      it->second->graph_size != r.graph_size) {
    return nullptr;
  }
  return it->second;
}

std::shared_ptr<const ConvertedGraph> Core::KeepConverted(
    std::shared_ptr<const ConvertedGraph> g) {
  std::lock_guard<std::mutex> lock(convert_mu_);
  auto& slot = converted_[{g->offset, g->type_id}];
  if (slot != nullptr && slot->checksum == g->checksum &&
      slot->graph_size == g->graph_size) {
    return slot;  // Another thread converted it first.
  }
  ++graphs_converted_;
  bytes_converted_ += g->size;
  slot = std::move(g);  // Whoever holds the old one keeps it alive.
  return slot;
}

std::pair<std::uint64_t, std::uint64_t> Core::converted() const {
  std::lock_guard<std::mutex> lock(convert_mu_);
  return {graphs_converted_, bytes_converted_};
}

absl::StatusOr<GraphBytes> ReadTxn::FindOther(std::string_view key,
                                              const TypeRef& type) const {
  // Say why: a bad key, no such key, a bad record, or another type.
  absl::Status s = core_->CheckKey(key);
  if (!s.ok()) return s;
  std::string_view name;
  absl::StatusOr<RootRecord> rec = ReadRoot(*core_, txn(), key, &name);
  if (!rec.ok()) return rec.status();
  const std::string other = absl::StrFormat(
      "store %s: key '%s' holds %s (type id %#x), not %s (type id %#x)",
      core_->dir(), key, name, rec->type_id, type.name, type.id);
  // Where the two types differ, when the store recorded its type.
  absl::StatusOr<std::string> stored = TypeDescriptionOf(rec->type_id);
  if (!stored.ok()) return absl::FailedPreconditionError(other);
  absl::StatusOr<Schema> from = Schema::Parse(*stored);
  absl::StatusOr<Schema> to = Schema::Parse(type.description);
  if (!from.ok() || !to.ok()) return absl::FailedPreconditionError(other);
  const std::string diff =
      Schema::FirstDifference(*from, *to, "the store", "this program");
  if (!convert_) {
    return absl::FailedPreconditionError(
        Cat(other, "; ", diff, " (conversion is off: convert_types)"));
  }
  std::shared_ptr<const ConvertedGraph> done =
      core_->FindConverted(*rec, type.id);
  if (done == nullptr) {
    absl::StatusOr<GraphBytes> src = Locate(key, *rec);
    if (!src.ok()) return src.status();
    static const std::vector<const StructDefault*> kNone;
    absl::StatusOr<FlatGraph> flat =
        ConvertGraph(*from, *src, *to, type.defaults ? type.defaults() : kNone);
    if (!flat.ok()) {
      if (flat.status().code() == absl::StatusCode::kDataLoss) {
        return absl::DataLossError(absl::StrFormat("store %s: key '%s': %s",
                                                   core_->dir(), key,
                                                   flat.status().message()));
      }
      return absl::FailedPreconditionError(
          Cat(other, "; ", diff, "; it cannot be read as this program's type: ",
              flat.status().message()));
    }
    auto g = std::make_shared<ConvertedGraph>();
    g->offset = rec->offset;
    g->checksum = rec->checksum;
    g->graph_size = rec->graph_size;
    g->type_id = type.id;
    g->size = flat->size();
    g->bytes = std::move(*flat).PlaceWhereBuilt();  // read where converted
    done = core_->KeepConverted(std::move(g));
  }
  {
    std::lock_guard<std::mutex> lock(held_mu_);
    if (std::find(held_.begin(), held_.end(), done) == held_.end()) {
      held_.push_back(done);
    }
  }
  return GraphBytes{done->bytes.get(), done->size,
                    reinterpret_cast<std::uintptr_t>(done->bytes.get())};
}

}  // namespace ancient::store_internal

namespace ancient {
namespace store_internal {

absl::StatusOr<std::optional<FlatGraph>> WriteTxn::Converted(
    std::string_view key, const TypeRef& type, ShareInfo* current) {
  if (absl::Status s = core_->CheckKey(key); !s.ok()) return s;
  std::string_view name;
  absl::StatusOr<RootRecord> r = ReadRoot(*core_, txn_.get(), key, &name);
  if (!r.ok()) return r.status();
  if (r->type_id == type.id) {
    *current = ShareInfo{r->offset, r->graph_size};
    return std::nullopt;
  }
  absl::Status s = CheckRootRecord(*core_, key, *r, space_.high_water);
  if (!s.ok()) return s;
  absl::StatusOr<std::string> stored =
      ReadTypeDescription(*core_, txn_.get(), r->type_id);
  if (!stored.ok()) {
    return absl::Status(stored.status().code(),
                        Cat("key '", key, "': ", stored.status().message()));
  }
  absl::StatusOr<Schema> from = Schema::Parse(*stored);
  if (!from.ok()) {
    return absl::DataLossError(Cat("store ", core_->dir(), ": key '", key,
                                   "': ", from.status().message()));
  }
  absl::StatusOr<Schema> to = Schema::Parse(type.description);
  if (!to.ok()) {
    return absl::InvalidArgumentError(
        Cat("key '", key, "': ", to.status().message()));
  }
  std::string buf;
  absl::StatusOr<const char*> bytes =
      core_->arena().RawBytes(r->offset, r->graph_size, &buf);
  if (!bytes.ok()) return bytes.status();
  static const std::vector<const StructDefault*> kNone;
  absl::StatusOr<FlatGraph> flat = ConvertGraph(
      *from, GraphBytes{*bytes, r->graph_size, core_->base() + r->offset}, *to,
      type.defaults ? type.defaults() : kNone);
  if (!flat.ok()) {
    return absl::Status(
        flat.status().code(),
        absl::StrFormat("store %s: key '%s' (%s) as %s: %s", core_->dir(), key,
                        name, type.name, flat.status().message()));
  }
  return std::optional<FlatGraph>(*std::move(flat));
}

}  // namespace store_internal

using store_internal::Cat;

absl::StatusOr<ShareInfo> WriteBatch::MigrateTo(
    std::string_view key, const store_internal::TypeRef& type) {
  if (txn_ == nullptr) {
    return absl::FailedPreconditionError("WriteBatch already finished");
  }
  ShareInfo current{};
  absl::StatusOr<std::optional<FlatGraph>> g =
      txn_->Converted(key, type, &current);
  if (!g.ok()) return g.status();
  if (!g->has_value()) return current;
  const FlatGraph& graph = **g;
  return ShareGraph(key, type, graph.size(), graph.pointer_count(),
                    [&](void* dest, const void* address, bool zeroed) {
                      return graph.Write(dest, address, zeroed);
                    });
}

absl::StatusOr<ShareInfo> WriteBatch::Migrate(std::string_view key,
                                              std::string_view description) {
  absl::StatusOr<Schema> schema = Schema::Parse(description);
  if (!schema.ok()) {
    return absl::InvalidArgumentError(
        Cat("key '", key, "': ", schema.status().message()));
  }
  const std::string desc(description);
  const std::string name = schema->TypeName();
  return MigrateTo(key, store_internal::TypeRef{TypeIdOf(desc), name, desc});
}

}  // namespace ancient
