// WriteTxn: a write transaction's records: roots, types, the commit, and
// the raw placement CopyTo uses. Allocation is in write_txn_space.cc, one-pass
// Share in write_txn_share.cc.

#include "store/write_txn.h"

#include <sys/statvfs.h>
#include <xxhash.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_format.h"
#include "ancient/block.h"
#include "ancient/internal/varint.h"
#include "store/chunk_writer.h"

namespace ancient::store_internal {

namespace {

// True when the filesystem holding `dir` has less than 1 MiB available.
bool DiskNearlyFull(const std::string& dir) {
  struct statvfs st;
  if (statvfs(dir.c_str(), &st) != 0) return false;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize < (1u << 20);
}

}  // namespace

absl::StatusOr<std::unique_ptr<WriteTxn>> WriteTxn::Begin(
    std::shared_ptr<Core> core) {
  if (absl::Status s = core->CheckProcess(); !s.ok()) return s;
  if (core->options().read_only) {
    return absl::FailedPreconditionError(
        Cat("store ", core->dir(), " was opened read-only"));
  }
  if (core->writer_thread().load() == std::this_thread::get_id()) {
    return absl::FailedPreconditionError(Cat(
        "store ", core->dir(),
        ": a WriteBatch is already open on this thread; commit or destroy it "
        "first"));
  }
  std::unique_lock<std::mutex> lock(core->write_mutex());
  std::unique_ptr<WriteTxn> w(new WriteTxn(core, std::move(lock)));
  absl::Status s = w->Init();
  if (!s.ok()) return s;
  return w;
}

absl::Status WriteTxn::Init() {
  core_->writer_thread().store(std::this_thread::get_id());
  MDB_txn* raw = nullptr;
  int rc = mdb_txn_begin(core_->env(), nullptr, 0, &raw);
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, "starting a write transaction in " + core_->dir());
  }
  txn_ = Txn(raw);
  AnnotateTxnBegin(core_.get());
  txn_id_ = mdb_txn_id(raw);
  absl::StatusOr<SpaceRecord> sp =
      ReadSpace(txn_.get(), core_->meta_db(), core_->dir());
  if (!sp.ok()) return sp.status();
  space_ = *sp;
  // A writer that died while growing the arena (a follower killed mid-
  // apply) left bytes past the committed end; the write lock is ours.
  absl::Status s = core_->TrimArena(space_.arena_size);
  if (!s.ok()) return s;
  // Another process may have grown the arena.
  s = core_->arena().MapForWrite(space_.arena_size);
  if (!s.ok()) return s;
  return Reclaim();
}

WriteTxn::~WriteTxn() {
  AnnotateTxnEnd(core_.get());
  // In a forked child the write lock is the parent's: leave it alone.
  if (core_->InOpeningProcess())
    txn_.Abort();
  else
    txn_.Leak();
  core_->writer_thread().store(std::thread::id());
}

absl::Status WriteTxn::PutRoot(std::string_view key, const RootRecord& r,
                               std::string_view type_name) {
  absl::StatusOr<RootRecord> old = ReadRoot(*core_, txn_.get(), key, nullptr);
  if (old.ok()) {
    absl::Status s = Release(old->offset, old->extent_size);
    if (!s.ok()) return s;
  } else if (!absl::IsNotFound(old.status())) {
    return old.status();
  }
  const std::string value = EncodeRoot(r, type_name);
  MDB_val k = ToVal(key), v = ToVal(value);
  return LmdbError(mdb_put(txn_.get(), core_->roots_db(), &k, &v, 0),
                   Cat("writing key '", key, "'"));
}

absl::Status WriteTxn::PutType(std::uint64_t type_id,
                               std::string_view description) {
  if (!core_->has_types()) return absl::OkStatus();
  const std::string k = BigEndian64(type_id);
  MDB_val kv = ToVal(k), v = ToVal(description);
  int rc = mdb_put(txn_.get(), core_->types_db(), &kv, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) {
    // LMDB set `v` to the recorded description. The id is its hash, so a
    // different one is damage (found by the fuzzer in a record no root
    // used, which Verify does not read): write the sound one over it, so
    // that the new root's recorded type is right.
    if (FromVal(v) == description) return absl::OkStatus();
    v = ToVal(description);
    rc = mdb_put(txn_.get(), core_->types_db(), &kv, &v, 0);
  }
  return LmdbError(rc, "recording a type description");
}

absl::StatusOr<ShareInfo> WriteTxn::Share(std::string_view key,
                                          const TypeRef& type,
                                          std::uint64_t size,
                                          std::uint64_t pointers,
                                          GraphWriteFn write) {
  absl::Status s = core_->CheckProcess();
  if (s.ok()) s = core_->CheckKey(key);
  if (!s.ok()) return s;
  // Room for the graph and the largest relocation record it can have.
  const std::uint64_t reloc_bound =
      pointers * static_cast<std::uint64_t>(internal::VarintLength(size / 8));
  const std::uint64_t reserve = AlignUp(size + reloc_bound, kExtentAlign);
  bool zeroed = false;
  absl::StatusOr<std::uint64_t> off = Allocate(reserve, &zeroed);
  if (!off.ok()) return off.status();
  Arena& arena = core_->arena();
  // Written through the writable view, with pointers for the base.
  char* dest = arena.write_base() + *off;
  const std::string relocs = write(dest, arena.base() + *off, zeroed);
  if (relocs.size() > reloc_bound) {  // Cannot happen: the bound is exact.
    return absl::InternalError("relocation record larger than its bound");
  }
  std::memcpy(dest + size, relocs.data(), relocs.size());
  const std::uint64_t extent = AlignUp(size + relocs.size(), kExtentAlign);
  if (extent < reserve) {
    s = AddFree(*off + extent, reserve - extent);
    if (!s.ok()) return s;
  }
  return Record(key, type, *off, size, relocs.size());
}

absl::StatusOr<ShareInfo> WriteTxn::Record(std::string_view key,
                                           const TypeRef& type,
                                           std::uint64_t off,
                                           std::uint64_t graph_size,
                                           std::uint64_t reloc_size,
                                           std::optional<std::uint64_t> sum) {
  Arena& arena = core_->arena();
  RootRecord r;
  r.offset = off;
  r.graph_size = graph_size;
  r.reloc_size = reloc_size;
  r.extent_size = AlignUp(graph_size + reloc_size, kExtentAlign);
  r.type_id = type.id;
  r.checksum =
      sum ? *sum
          : XXH3_64bits(arena.write_base() + off, graph_size + reloc_size);
  r.base_address = core_->base();
  absl::Status s;
  if (core_->options().durability == Durability::kSync) {
    s = arena.Sync(off, r.extent_size);  // Graph on disk before its root.
    if (!s.ok()) return s;
  }
  s = PutType(type.id, type.description);
  if (s.ok()) s = PutRoot(key, r, type.name);
  if (!s.ok()) return s;
  return ShareInfo{r.offset, r.graph_size};
}

absl::Status WriteTxn::Delete(std::string_view key) {
  absl::Status s = core_->CheckProcess();
  if (s.ok()) s = core_->CheckKey(key);
  if (!s.ok()) return s;
  absl::StatusOr<RootRecord> old = ReadRoot(*core_, txn_.get(), key, nullptr);
  if (!old.ok()) return old.status();
  s = Release(old->offset, old->extent_size);
  if (!s.ok()) return s;
  MDB_val k = ToVal(key);
  return LmdbError(mdb_del(txn_.get(), core_->roots_db(), &k, nullptr),
                   Cat("deleting key '", key, "'"));
}

absl::Status WriteTxn::Commit() {
  if (txn_.get() == nullptr) {
    return absl::FailedPreconditionError("WriteBatch already finished");
  }
  if (absl::Status s = core_->CheckProcess(); !s.ok()) return s;
  MDB_val k = ToVal("space"), v = ToVal(AsBytes(space_));
  int rc = mdb_put(txn_.get(), core_->meta_db(), &k, &v, 0);
  if (rc != MDB_SUCCESS) return LmdbError(rc, "recording arena space");
  AnnotateTxnEnd(core_.get());  // Before readers can see the commit.
  rc = txn_.Commit();
  if ((rc == EIO || rc == ENOSPC) && DiskNearlyFull(core_->dir())) {
    // LMDB reports a short write to a full disk as EIO.
    return absl::ResourceExhaustedError(
        Cat("committing to store ", core_->dir(),
            ": the disk is full (nothing was committed)"));
  }
  return LmdbError(rc, "committing to store " + core_->dir());
}

absl::Status WriteTxn::SetSpace(std::uint64_t size, std::uint64_t hw) {
  absl::Status s = EnsureArena(size);
  if (!s.ok()) return s;
  space_.high_water = hw;
  return absl::OkStatus();
}

absl::StatusOr<std::uint64_t> WriteTxn::WriteRelocated(
    std::uint64_t off, const char* src, std::uint64_t len,
    std::string_view tail, ChunkRelocator& relocator) {
  Arena& arena = core_->arena();
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) return absl::ResourceExhaustedError("XXH3 state");
  XXH3_64bits_reset(state);
  const bool durable = core_->options().durability == Durability::kSync;
  std::string buf;
  absl::Status s = WriteChunks(
      src, len, relocator, buf,
      [&](std::uint64_t pos, const char* p, std::uint64_t n) {
        XXH3_64bits_update(state, p, n);
        return arena.WriteAt(off + pos, p, n);
      },
      [&](std::uint64_t pos, std::uint64_t n) {
        // Under kSync only: the Sync before the commit waits for less.
        if (durable) arena.StartWriteBack(off + pos, n);
      });
  if (s.ok() && !tail.empty()) {
    XXH3_64bits_update(state, tail.data(), tail.size());
    s = arena.WriteAt(off + len, tail.data(), tail.size());
  }
  const std::uint64_t sum = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  if (!s.ok()) return s;
  return sum;
}

absl::StatusOr<std::uint64_t> WriteTxn::PutCopy(
    std::string_view key, const RootRecord& src, std::string_view type_name,
    const char* src_bytes, std::uintptr_t old_base,
    std::optional<std::uint64_t> offset, bool sync) {
  const std::uint64_t len = src.graph_size + src.reloc_size;
  std::uint64_t off;
  if (offset) {
    off = *offset;
  } else {
    absl::StatusOr<std::uint64_t> a = Allocate(src.extent_size);
    if (!a.ok()) return a.status();
    off = *a;
  }
  Arena& arena = core_->arena();
  absl::Status s = arena.MapForWrite(off + src.extent_size);
  if (!s.ok()) return s;
  // Every slot and pointer checked first; then copied a chunk at a time
  // (in cache), pointers moved to this store's base, checksummed and
  // written with pwrite: no page faults on fresh file pages.
  const std::string_view relocs(src_bytes + src.graph_size, src.reloc_size);
  s = VerifyBlock(src_bytes, src.graph_size, relocs, old_base);
  if (!s.ok()) return s;
  const std::uintptr_t delta =
      reinterpret_cast<std::uintptr_t>(arena.base()) + off - old_base;
  ChunkRelocator relocator(relocs, delta);
  absl::StatusOr<std::uint64_t> sum =
      WriteRelocated(off, src_bytes, len, {}, relocator);
  if (!sum.ok()) return sum.status();
  RootRecord r = src;
  r.offset = off;
  r.base_address = core_->base();
  r.checksum = *sum;
  if (sync) {
    s = Sync(off, r.extent_size);
    if (!s.ok()) return s;
  }
  s = PutRoot(key, r, type_name);
  if (!s.ok()) return s;
  return off;
}

absl::Status WriteTxn::Sync(std::uint64_t off, std::uint64_t len) {
  if (core_->options().durability != Durability::kSync) {
    return absl::OkStatus();
  }
  return core_->arena().Sync(off, len);
}

}  // namespace ancient::store_internal

namespace ancient::store_internal {

absl::Status WriteTxn::PutMeta(std::string_view key, std::string_view value) {
  MDB_val k = ToVal(key), v = ToVal(value);
  return LmdbError(mdb_put(txn_.get(), core_->meta_db(), &k, &v, 0),
                   Cat("writing record '", key, "' of ", core_->dir()));
}

absl::Status WriteTxn::DeleteMeta(std::string_view key) {
  MDB_val k = ToVal(key);
  const int rc = mdb_del(txn_.get(), core_->meta_db(), &k, nullptr);
  if (rc == MDB_NOTFOUND) return absl::OkStatus();
  return LmdbError(rc, Cat("deleting record '", key, "' of ", core_->dir()));
}

absl::StatusOr<std::optional<std::string>> WriteTxn::GetMeta(
    std::string_view key) {
  return ReadMeta(txn_.get(), core_->meta_db(), key, core_->dir());
}

}  // namespace ancient::store_internal
