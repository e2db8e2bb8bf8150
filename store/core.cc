// Core: opening a store (the LMDB environment, its tables, the meta and
// space records, the arena), the per-process registry of open stores, fork
// detection, and reading the records every transaction needs.

#include "store/core.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "store/group_access.h"

namespace ancient::store_internal {

std::atomic<std::uint64_t> fork_generation{0};

namespace {

constexpr std::size_t kLmdbMapSize = std::size_t{1} << 36;  // 64 GiB
constexpr unsigned kMaxReaders = 1022;

// Stores open in this process, by the directory's device and inode, so that
// opening one twice shares one LMDB environment (LMDB forbids two: closing
// one would drop the other's locks).
using RegistryMap =
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::weak_ptr<Core>>;
std::mutex* registry_mu = new std::mutex;
RegistryMap* registry = new RegistryMap;

// A forked child starts afresh: another thread of the parent may have held
// the registry's lock, or been changing the map, at the fork, so the child
// gets a new lock and an empty map (the parent's are left unused: a small
// leak, once per fork), and counts the fork, which disowns every Core it
// inherited. (Taking the lock around fork() instead would deadlock against a
// thread opening a store while the forking thread holds LMDB's write lock.)
void ForkedChild() {
  fork_generation.fetch_add(1, std::memory_order_relaxed);
  registry_mu = new std::mutex;
  registry = new RegistryMap;
}
void WatchForks() {
  static const int registered = pthread_atfork(nullptr, nullptr, ForkedChild);
  (void)registered;
}

}  // namespace

// The root record at `key` (and its type name), NotFound if absent.
absl::StatusOr<RootRecord> ReadRoot(const Core& core, MDB_txn* txn,
                                    std::string_view key,
                                    std::string_view* name) {
  MDB_val k = ToVal(key), v;
  const int rc = mdb_get(txn, core.roots_db(), &k, &v);
  if (rc == MDB_NOTFOUND) {
    return absl::NotFoundError(
        Cat("store ", core.dir(), ": no key '", key, "'"));
  }
  if (rc != MDB_SUCCESS) return LmdbError(rc, Cat("reading key '", key, "'"));
  std::optional<RootRecord> r = DecodeRoot(FromVal(v), name);
  if (!r) {
    return absl::DataLossError(Cat(
        "store ", core.dir(), ": malformed root record for key '", key, "'"));
  }
  return *r;
}

absl::Status RootRecordError(const Core& core, std::string_view key,
                             const RootRecord& r,
                             std::optional<std::uint64_t> high_water) {
  if (BadExtent(r, high_water)) {
    const std::uint64_t end = r.offset + r.extent_size;
    return absl::DataLossError(absl::StrFormat(
        "store %s: key '%s' has a bad extent: bytes [%d, %d), graph %d, "
        "relocations %d%s",
        core.dir(), key, r.offset, end, r.graph_size, r.reloc_size,
        high_water ? absl::StrFormat(", high-water mark %d", *high_water)
                   : ""));
  }
  return absl::DataLossError(absl::StrFormat(
      "store %s: key '%s' was written for base address %#x, but the store "
      "is mapped at %#x",
      core.dir(), key, r.base_address, core.base()));
}

// The space record, DataLoss if missing or malformed.
absl::StatusOr<std::optional<std::string>> ReadMeta(MDB_txn* txn,
                                                    MDB_dbi meta_db,
                                                    std::string_view key,
                                                    const std::string& dir) {
  MDB_val k = ToVal(key), v;
  const int rc = mdb_get(txn, meta_db, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, Cat("reading record '", key, "' of ", dir));
  }
  return std::string(FromVal(v));
}

absl::StatusOr<SpaceRecord> ReadSpace(MDB_txn* txn, MDB_dbi meta_db,
                                      const std::string& dir) {
  MDB_val k = ToVal("space"), v;
  std::optional<SpaceRecord> sp;
  if (mdb_get(txn, meta_db, &k, &v) == MDB_SUCCESS) {
    sp = ReadRecord<SpaceRecord>(FromVal(v));
  }
  if (!sp) return absl::DataLossError(Cat("store ", dir, ": bad space record"));
  return *sp;
}

absl::StatusOr<std::shared_ptr<Core>> Core::Open(const std::string& dir,
                                                 const StoreOptions& opts) {
  if (opts.max_size == 0) {
    return absl::InvalidArgumentError("StoreOptions.max_size must be > 0");
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return LmdbError(errno, Cat("store directory ", dir));
    }
    if (opts.read_only || !opts.create_if_missing) {
      return absl::NotFoundError(Cat("no store at ", dir));
    }
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return LmdbError(errno, Cat("creating store directory ", dir));
    }
    if (stat(dir.c_str(), &st) != 0) {
      return LmdbError(errno, Cat("store directory ", dir));
    }
  }
  if (!opts.read_only) {
    // Before any file is made: the directory's set-group-ID bit gives the
    // group every file created in it (a new store's modes are set after
    // the open, by Store::Open); an existing store is given to it whole.
    absl::Status s = EnsureGroup(dir, opts.group);
    if (!s.ok()) return s;
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        Cat(dir, " is not a directory, so not a store"));
  }
  const std::string data_file = dir + "/data.mdb";
  if ((opts.read_only || !opts.create_if_missing) &&
      access(data_file.c_str(), F_OK) != 0) {
    if (errno == EACCES) {
      return absl::PermissionDeniedError(
          Cat(data_file,
              ": permission denied (the store's directory admits "
              "its owner",
              (st.st_mode & S_IRGRP) ? " and its group" : "", " only)"));
    }
    return absl::NotFoundError(Cat("no store at ", dir, " (no data.mdb)"));
  }

  WatchForks();
  // A core that fails to open is destroyed after the lock is released (its
  // destructor takes the lock too).
  std::shared_ptr<Core> failed;
  std::lock_guard<std::mutex> lock(*registry_mu);
  const auto id = std::make_pair(static_cast<std::uint64_t>(st.st_dev),
                                 static_cast<std::uint64_t>(st.st_ino));
  if (auto it = registry->find(id); it != registry->end()) {
    std::shared_ptr<Core> open = it->second.lock();
    if (open != nullptr && open->InOpeningProcess()) {
      // A read-only open shares a read-write environment (the Store handle
      // refuses writes); the reverse cannot: see Store::Open.
      if (open->options_.read_only && !opts.read_only) {
        return absl::FailedPreconditionError(Cat(
            "store ", dir,
            " is already open read-only in this process, and LMDB allows one "
            "environment per file per process: close every read-only handle "
            "(and Root, Snapshot) first, or open it read-write first"));
      }
      return open;
    }
  }
  std::shared_ptr<Core> core(new Core(dir, opts));
  absl::Status s = core->Init();
  if (!s.ok()) {
    failed = std::move(core);
    return s;
  }
  core->registry_key_[0] = id.first;
  core->registry_key_[1] = id.second;
  (*registry)[id] = core;
  return core;
}

Core::Core(std::string dir, const StoreOptions& options)
    : dir_(std::move(dir)),
      options_(options),
      fork_generation_(fork_generation.load(std::memory_order_relaxed)),
      pid_(getpid()) {}

absl::Status Core::ForkedError() const {
  return absl::FailedPreconditionError(absl::StrFormat(
      "store %s was opened by process %d; this is process %d, forked from it "
      "since. LMDB forbids using an environment across fork(): open the "
      "store again in this process",
      dir_, pid_, getpid()));
}

Core::~Core() {
  arena_.reset();
  // In a forked child, closing would clear the parent's reader slots in the
  // shared lock file: the environment is left as it is (a small leak).
  if (env_ != nullptr && InOpeningProcess()) mdb_env_close(env_);
  std::lock_guard<std::mutex> lock(*registry_mu);
  auto it = registry->find({registry_key_[0], registry_key_[1]});
  if (it != registry->end() && it->second.expired()) registry->erase(it);
}

absl::Status Core::Init() {
  absl::Status s = OpenEnvironment();
  if (!s.ok()) return s;
  MDB_txn* raw = nullptr;
  const int rc =
      mdb_txn_begin(env_, nullptr, options_.read_only ? MDB_RDONLY : 0, &raw);
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, "starting transaction in " + dir_);
  }
  Txn txn(raw);
  s = OpenTables(txn.get());
  if (!s.ok()) return s;
  MetaRecord meta{};
  SpaceRecord space{};
  bool created = false;
  s = ReadOrMakeMeta(txn.get(), &meta, &space, &created);
  if (!s.ok()) return s;
  s = OpenArena(meta, space, created);
  if (!s.ok()) return s;
  return CommitInit(txn, meta, space, created);
}

absl::Status Core::OpenEnvironment() {
  const bool ro = options_.read_only;
  int rc = mdb_env_create(&env_);
  if (rc != MDB_SUCCESS) return LmdbError(rc, "mdb_env_create");
  mdb_env_set_maxdbs(env_, 8);
  mdb_env_set_mapsize(env_, kLmdbMapSize);
  mdb_env_set_maxreaders(env_, kMaxReaders);
  unsigned flags = MDB_NOTLS;
  if (ro) flags |= MDB_RDONLY;
  if (options_.durability == Durability::kNoSync) {
    flags |= MDB_NOSYNC | MDB_NOMETASYNC;
  }
  max_key_size_ = static_cast<std::size_t>(mdb_env_get_maxkeysize(env_));
  rc = mdb_env_open(env_, dir_.c_str(), flags, 0600);
  if (rc != MDB_SUCCESS) {
    mdb_env_close(env_);
    env_ = nullptr;
    return LmdbError(rc, Cat("opening LMDB environment in ", dir_));
  }
  return absl::OkStatus();
}

absl::Status Core::OpenTables(MDB_txn* txn) {
  const bool ro = options_.read_only;
  int rc;
  const unsigned dbflags = ro ? 0 : MDB_CREATE;
  for (auto [name, dbi] : {std::pair{"meta", &meta_},
                           {"roots", &roots_},
                           {"free", &free_},
                           {"pending", &pending_},
                           {"types", &types_}}) {
    if (dbi == &types_) {
      // Added later: a store made before it has none, which read-only
      // opens accept (a read-write open adds it).
      rc = mdb_dbi_open(txn, name, dbflags, dbi);
      if (rc == MDB_NOTFOUND && ro) continue;
      if (rc != MDB_SUCCESS) {
        return LmdbError(rc, Cat("opening table '", name, "' in ", dir_));
      }
      has_types_ = true;
      continue;
    }
    rc = mdb_dbi_open(txn, name, dbflags, dbi);
    if (rc == MDB_NOTFOUND) {
      return absl::FailedPreconditionError(
          Cat(dir_, " is not an ancient store (its LMDB has no '", name,
              "' table)"));
    }
    if (rc != MDB_SUCCESS) {
      return LmdbError(rc, Cat("opening table '", name, "' in ", dir_));
    }
  }
  return absl::OkStatus();
}

absl::Status Core::ReadOrMakeMeta(MDB_txn* txn, MetaRecord* meta_out,
                                  SpaceRecord* space_out, bool* created_out) {
  const bool ro = options_.read_only;
  MDB_val k = ToVal("meta"), v;
  const int rc = mdb_get(txn, meta_, &k, &v);
  MetaRecord meta{};
  SpaceRecord space{};
  bool created = false;
  if (rc == MDB_NOTFOUND) {
    if (ro) {
      return absl::FailedPreconditionError(
          Cat(dir_, " is not an initialised ancient store"));
    }
    std::uintptr_t base = options_.base_address;
    if (base == 0) {
      absl::StatusOr<std::uintptr_t> picked = Arena::PickBase();
      if (!picked.ok()) return picked.status();
      base = *picked;
    }
    std::memcpy(meta.magic, kMagic, sizeof kMagic);
    meta.format_version = kStoreFormatVersion;
    meta.pointer_bits = sizeof(void*) * 8;
    meta.endian_marker = kEndianMarker;
    meta.base_address = base;
    created = true;
  } else if (rc != MDB_SUCCESS) {
    return LmdbError(rc, "reading meta record of " + dir_);
  } else {
    std::optional<MetaRecord> m = ReadRecord<MetaRecord>(FromVal(v));
    if (!m || std::memcmp(m->magic, kMagic, sizeof kMagic) != 0) {
      return absl::FailedPreconditionError(
          Cat(dir_, " is not an ancient store (bad meta record)"));
    }
    meta = *m;
    if (meta.endian_marker != kEndianMarker) {
      return absl::FailedPreconditionError(
          Cat("store ", dir_, " was written with the other byte order"));
    }
    if (meta.pointer_bits != sizeof(void*) * 8) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "store %s was written with %d-bit pointers; this build has %d", dir_,
          meta.pointer_bits, sizeof(void*) * 8));
    }
    if (meta.format_version != kStoreFormatVersion) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "store %s has format version %d; this build reads version %d", dir_,
          meta.format_version, kStoreFormatVersion));
    }
    absl::StatusOr<SpaceRecord> sp = ReadSpace(txn, meta_, dir_);
    if (!sp.ok()) return sp.status();
    if (sp->high_water > sp->arena_size) {
      return absl::DataLossError(
          Cat("store ", dir_,
              ": bad space record (high-water mark past the "
              "arena's end)"));
    }
    space = *sp;
  }
  if (options_.base_address != 0 &&
      options_.base_address != meta.base_address) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "store %s lives at base address %#x, not the %#x asked for", dir_,
        meta.base_address, options_.base_address));
  }
  *meta_out = meta;
  *space_out = space;
  *created_out = created;
  return absl::OkStatus();
}

absl::Status Core::OpenArena(const MetaRecord& meta, const SpaceRecord& space,
                             bool created) {
  const bool ro = options_.read_only;
  absl::StatusOr<std::unique_ptr<Arena>> arena =
      Arena::Open(dir_ + "/arena", meta.base_address, space.arena_size, !ro,
                  /*create=*/created);
  if (!arena.ok()) {
    if (absl::IsNotFound(arena.status())) {
      return absl::DataLossError(Cat("store ", dir_,
                                     ": the arena file is missing (",
                                     arena.status().message(), ")"));
    }
    return arena.status();
  }
  arena_ = *std::move(arena);  // It checked the file holds the recorded size.
  absl::Status s;
  if (!ro && !created) {
    s = TrimArena(space.arena_size);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Core::TrimArena(std::uint64_t arena_size) {
  absl::StatusOr<std::uint64_t> size = arena_->FileSize();
  if (!size.ok()) return size.status();
  if (*size > arena_size) return arena_->Truncate(arena_size);
  return absl::OkStatus();
}

absl::Status Core::CommitInit(Txn& txn, const MetaRecord& meta,
                              const SpaceRecord& space, bool created) {
  int rc = MDB_SUCCESS;
  if (created) {
    MDB_val k = ToVal("meta");
    MDB_val mv = ToVal(AsBytes(meta));
    rc = mdb_put(txn.get(), meta_, &k, &mv, 0);
    if (rc == MDB_SUCCESS) {
      k = ToVal("space");
      mv = ToVal(AsBytes(space));
      rc = mdb_put(txn.get(), meta_, &k, &mv, 0);
    }
    if (rc != MDB_SUCCESS) return LmdbError(rc, "creating store " + dir_);
  }
  rc = txn.Commit();
  if (rc != MDB_SUCCESS) return LmdbError(rc, "opening store " + dir_);
  return absl::OkStatus();
}

absl::Status Core::CheckKey(std::string_view key) const {
  if (key.empty()) {
    return absl::InvalidArgumentError(
        Cat("store ", dir_, ": keys must not be empty"));
  }
  const std::size_t max = max_key_size_;
  if (key.size() > max) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "store %s: key of %d bytes (starting '%s') is longer than LMDB's "
        "limit of %d",
        dir_, key.size(), key.substr(0, 32), max));
  }
  return absl::OkStatus();
}

std::uint64_t Core::OldestReader(std::uint64_t* readers) const {
  int dead = 0;
  mdb_reader_check(env_, &dead);
  struct Scan {
    std::uint64_t oldest = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t count = 0;
  } scan;
  // mdb_reader_list prints one line per reader slot: "pid thread txnid",
  // txnid being "-" for a slot not in a transaction.
  mdb_reader_list(
      env_,
      [](const char* msg, void* ctx) -> int {
        auto* sc = static_cast<Scan*>(ctx);
        std::vector<absl::string_view> f =
            absl::StrSplit(msg, ' ', absl::SkipWhitespace());
        std::uint64_t txnid;
        if (f.size() >= 3 &&
            absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(f[2]),
                             &txnid)) {
          sc->oldest = std::min(sc->oldest, txnid);
          ++sc->count;
        }
        return 0;
      },
      &scan);
  if (readers != nullptr) *readers = scan.count;
  return scan.oldest;
}

}  // namespace ancient::store_internal
