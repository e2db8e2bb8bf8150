// Internal: a root of a store made into a repository object, for every
// kind of repository (a directory, replica/publish.cc; object storage,
// replica/s3_publish.cc): checked where it lies (its checksum, its pointers
// by its relocation record, its contents by its recorded type), then copied
// a chunk at a time with its pointers written for kObjectBase, so that the
// same graph gives the same bytes, and so the same name, from any store.

#ifndef ANCIENT_REPLICA_OBJECTS_H_
#define ANCIENT_REPLICA_OBJECTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "replica/manifest.h"
#include "replica/replica.h"
#include "replica/util.h"
#include "store/chunk_writer.h"
#include "store/core.h"
#include "store/read_txn.h"

namespace ancient::replica_internal {

class ObjectMaker {
 public:
  explicit ObjectMaker(const store_internal::Core& core) : core_(core) {}

  // Hands the object of root `key` (record r, type description
  // `description`, read by `txn`) to `write` a chunk at a time, in order,
  // and `write_back` after each 8 MiB; returns its name (the hex XXH3-128
  // of all its bytes). With `check` false the root is taken as checked
  // already (a second pass over it). Errors: DataLoss naming the store and
  // root (a checksum, pointer or typed check failed), and `write`'s.
  absl::StatusOr<std::string> Make(const store_internal::ReadTxn& txn,
                                   std::string_view key,
                                   const store_internal::RootRecord& r,
                                   const std::string& description, bool check,
                                   store_internal::ChunkSink write,
                                   store_internal::WriteBackFn write_back);

 private:
  const store_internal::Core& core_;
  std::string buf_;  // the chunk being made
  ObjectChecker checker_;
};

// Where a publisher read a root: a hash of its record, the same for the
// same bytes at the same place of the same store.
std::uint64_t SourceOf(const store_internal::RootRecord& r);

// Whether `a` and `b` hold the same roots (keys, types and objects).
bool SameRoots(const Manifest& a, const Manifest& b);

// Writes an object not in the repository (WriteFn: root key, record r,
// type description; adds the bytes written to *written; returns the
// object's name), or tells whether one that `previous` named still is
// (StillThereFn).
using WriteFn = absl::FunctionRef<absl::StatusOr<std::string>(
    const store_internal::ReadTxn& txn, std::string_view key,
    const store_internal::RootRecord& r, const std::string& description,
    std::uint64_t* written)>;
using StillThereFn = absl::FunctionRef<bool(const ObjectRoot& previous)>;

// The manifest of `store`'s roots as of now (one read snapshot) into *m
// (its version not set): a root whose record is the one `previous` lists
// (the same source) keeps its object if still_there says so; others are
// written by `write`. Sets result->bytes, bytes_written, roots_written.
// Errors: DataLoss (a damaged root, naming it), and `write`'s.
absl::Status CollectRoots(const Store& store,
                          const std::optional<Manifest>& previous,
                          StillThereFn still_there, WriteFn write, Manifest* m,
                          PublishResult* result,
                          const ProgressFn& progress = nullptr);

}  // namespace ancient::replica_internal

#endif  // ANCIENT_REPLICA_OBJECTS_H_
