#include "store/core.h"

#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <xxhash.h>

#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "ancient/varint.h"

namespace ancient::store_internal {

std::atomic<std::uint64_t> fork_generation{0};

namespace {

constexpr std::size_t kLmdbMapSize = std::size_t{1} << 36;  // 64 GiB
constexpr unsigned kMaxReaders = 1022;
constexpr std::uint64_t kMinGrowth = std::uint64_t{1} << 20;

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

// True when the filesystem holding `dir` has less than 1 MiB available.
bool DiskNearlyFull(const std::string& dir) {
  struct statvfs st;
  if (statvfs(dir.c_str(), &st) != 0) return false;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize < (1u << 20);
}

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

// The space record, DataLoss if missing or malformed.
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

}  // namespace

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
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        Cat(dir, " is not a directory, so not a store"));
  }
  const std::string data_file = dir + "/data.mdb";
  if ((opts.read_only || !opts.create_if_missing) &&
      access(data_file.c_str(), F_OK) != 0) {
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

  MDB_txn* raw = nullptr;
  rc = mdb_txn_begin(env_, nullptr, ro ? MDB_RDONLY : 0, &raw);
  if (rc != MDB_SUCCESS)
    return LmdbError(rc, "starting transaction in " + dir_);
  Txn txn(raw);
  const unsigned dbflags = ro ? 0 : MDB_CREATE;
  for (auto [name, dbi] : {std::pair{"meta", &meta_},
                           {"roots", &roots_},
                           {"free", &free_},
                           {"pending", &pending_},
                           {"types", &types_}}) {
    if (dbi == &types_) {
      // Added later: a store made before it has none, which read-only
      // opens accept (a read-write open adds it).
      rc = mdb_dbi_open(txn.get(), name, dbflags, dbi);
      if (rc == MDB_NOTFOUND && ro) continue;
      if (rc != MDB_SUCCESS) {
        return LmdbError(rc, Cat("opening table '", name, "' in ", dir_));
      }
      has_types_ = true;
      continue;
    }
    rc = mdb_dbi_open(txn.get(), name, dbflags, dbi);
    if (rc == MDB_NOTFOUND) {
      return absl::FailedPreconditionError(
          Cat(dir_, " is not an ancient store (its LMDB has no '", name,
              "' table)"));
    }
    if (rc != MDB_SUCCESS) {
      return LmdbError(rc, Cat("opening table '", name, "' in ", dir_));
    }
  }

  MDB_val k = ToVal("meta"), v;
  rc = mdb_get(txn.get(), meta_, &k, &v);
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
    absl::StatusOr<SpaceRecord> sp = ReadSpace(txn.get(), meta_, dir_);
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
    // Bytes past the recorded end were never committed: what a writer that
    // crashed while growing the arena left, or something appended. We hold
    // the write lock, so no writer is using them: give them back.
    absl::StatusOr<std::uint64_t> size = arena_->FileSize();
    if (!size.ok()) return size.status();
    if (*size > space.arena_size) {
      s = arena_->Truncate(space.arena_size);
      if (!s.ok()) return s;
    }
  }

  if (created) {
    k = ToVal("meta");
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

// ---------------------------------------------------------------- ReadTxn

absl::StatusOr<std::shared_ptr<ReadTxn>> ReadTxn::Begin(
    std::shared_ptr<Core> core) {
  if (absl::Status s = core->CheckProcess(); !s.ok()) return s;
  MDB_txn* raw = nullptr;
  int rc = mdb_txn_begin(core->env(), nullptr, MDB_RDONLY, &raw);
  if (rc == MDB_READERS_FULL) {
    // Slots held by dead processes are reclaimed, then try once more.
    int dead = 0;
    mdb_reader_check(core->env(), &dead);
    rc = mdb_txn_begin(core->env(), nullptr, MDB_RDONLY, &raw);
  }
  if (rc != MDB_SUCCESS) {
    return LmdbError(rc, "starting a read snapshot of " + core->dir());
  }
  AnnotateTxnBegin(core.get());
  return std::shared_ptr<ReadTxn>(new ReadTxn(std::move(core), Txn(raw)));
}

absl::StatusOr<std::string> ReadTxn::TypeDescriptionOf(
    std::uint64_t type_id) const {
  if (absl::Status s = core_->CheckProcess(); !s.ok()) return s;
  if (!core_->has_types()) {
    return absl::NotFoundError(
        Cat("store ", core_->dir(), " records no type descriptions"));
  }
  const std::string k = BigEndian64(type_id);
  MDB_val kv = ToVal(k), v;
  const int rc = mdb_get(txn(), core_->types_db(), &kv, &v);
  if (rc == MDB_NOTFOUND) {
    return absl::NotFoundError(absl::StrFormat(
        "store %s has no description of type id %#x", core_->dir(), type_id));
  }
  if (rc != MDB_SUCCESS) return LmdbError(rc, "reading a type description");
  const std::string_view d = FromVal(v);
  if (XXH3_64bits(d.data(), d.size()) != type_id) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: the description of type id %#x is damaged (it does not "
        "hash to its id)",
        core_->dir(), type_id));
  }
  return std::string(d);
}

absl::StatusOr<GraphRef> ReadTxn::Find(std::string_view key,
                                       const TypeRef& type) const {
  const std::uint64_t type_id = type.id;
  // The fast path: one mdb_get and a few comparisons, no Status built.
  if (!core_->InOpeningProcess()) return core_->ForkedError();
  RootRecord r;
  bool found = false;
  if (!key.empty() && key.size() <= core_->max_key_size()) {
    MDB_val k = ToVal(key), v;
    if (mdb_get(txn(), core_->roots_db(), &k, &v) == MDB_SUCCESS &&
        v.mv_size >= sizeof(RootRecord)) {
      std::memcpy(&r, v.mv_data, sizeof r);
      found = r.type_id == type_id;
    }
  }
  if (!found) {
    // Say why: a bad key, no such key, a bad record, or another type.
    absl::Status s = core_->CheckKey(key);
    if (!s.ok()) return s;
    std::string_view name;
    absl::StatusOr<RootRecord> rec = ReadRoot(*core_, txn(), key, &name);
    if (!rec.ok()) return rec.status();
    // Where the two types differ, when the store recorded its type.
    std::string diff;
    absl::StatusOr<std::string> stored = TypeDescriptionOf(rec->type_id);
    if (stored.ok()) {
      absl::StatusOr<Schema> a = Schema::Parse(*stored);
      absl::StatusOr<Schema> b = Schema::Parse(type.description);
      if (a.ok() && b.ok()) {
        diff =
            "; " + Schema::FirstDifference(*a, *b, "the store", "this program");
      }
    }
    return absl::FailedPreconditionError(absl::StrFormat(
        "store %s: key '%s' holds %s (type id %#x), not %s (type id %#x)%s",
        core_->dir(), key, name, rec->type_id, type.name, type_id, diff));
  }
  return Locate(key, r);
}

absl::StatusOr<GraphRef> ReadTxn::FindUntyped(std::string_view key,
                                              RootRecord* record) const {
  if (absl::Status s = core_->CheckProcess(); !s.ok()) return s;
  if (absl::Status s = core_->CheckKey(key); !s.ok()) return s;
  std::string_view name;
  absl::StatusOr<RootRecord> r = ReadRoot(*core_, txn(), key, &name);
  if (!r.ok()) return r.status();
  *record = *r;
  return Locate(key, *r);
}

absl::StatusOr<GraphRef> ReadTxn::Locate(std::string_view key,
                                         const RootRecord& r) const {
  // Structure only; Verify checks contents (checksum, every pointer).
  const std::uint64_t end = r.offset + r.extent_size;
  if (end < r.offset || r.graph_size == 0 || r.offset % kExtentAlign != 0 ||
      r.graph_size > r.extent_size ||
      r.reloc_size > r.extent_size - r.graph_size) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: key '%s' has a bad extent: bytes [%d, %d), graph %d, "
        "relocations %d",
        core_->dir(), key, r.offset, end, r.graph_size, r.reloc_size));
  }
  if (r.base_address != core_->base()) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: key '%s' was written for base address %#x, but the store "
        "is mapped at %#x",
        core_->dir(), key, r.base_address, core_->base()));
  }
  if (const char* p = core_->arena().InPlace(r.offset, end)) {
    return GraphRef{p, r.graph_size};
  }
  absl::StatusOr<const char*> p = core_->arena().Resolve(r);
  if (!p.ok()) {
    return absl::Status(
        p.status().code(),
        absl::StrFormat("store %s: key '%s': %s", core_->dir(), key,
                        std::string(p.status().message())));
  }
  return GraphRef{*p, r.graph_size};
}

absl::StatusOr<RootInfo> ReadTxn::Info(std::string_view key) const {
  absl::Status s = core_->CheckProcess();
  if (!s.ok()) return s;
  s = core_->CheckKey(key);
  if (!s.ok()) return s;
  std::string_view name;
  absl::StatusOr<RootRecord> r = ReadRoot(*core_, txn(), key, &name);
  if (!r.ok()) return r.status();
  return RootInfo{std::string(key), std::string(name), r->type_id, r->offset,
                  r->graph_size};
}

absl::StatusOr<SpaceRecord> ReadTxn::Space() const {
  if (absl::Status s = core_->CheckProcess(); !s.ok()) return s;
  return ReadSpace(txn(), core_->meta_db(), core_->dir());
}

// --------------------------------------------------------------- WriteTxn

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
  // Another process may have grown the arena.
  absl::Status s = core_->arena().MapForWrite(space_.arena_size);
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

absl::Status WriteTxn::Reclaim() {
  Cursor cursor;
  int rc = cursor.Open(txn_.get(), core_->pending_db());
  if (rc != MDB_SUCCESS) return LmdbError(rc, "opening pending cursor");
  MDB_val k, v;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> reclaimed;
  rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST);
  if (rc == MDB_NOTFOUND) return absl::OkStatus();  // Nothing waits.
  // The reader table is scanned only when something waits for readers.
  const std::uint64_t oldest = core_->OldestReader(nullptr);
  while (rc == MDB_SUCCESS) {
    if (k.mv_size != 16 || v.mv_size != 8) {
      return absl::DataLossError("store " + core_->dir() +
                                 ": malformed pending-free record");
    }
    const std::string_view key = FromVal(k);
    const std::uint64_t freed_by = ReadBigEndian64(key);
    // Readers whose snapshot predates `freed_by` may still see the extent.
    if (freed_by > oldest) break;
    reclaimed.emplace_back(ReadBigEndian64(key.substr(8)),
                           ReadBigEndian64(FromVal(v)));
    rc = mdb_cursor_del(cursor.get(), 0);
    if (rc != MDB_SUCCESS) return LmdbError(rc, "reclaiming freed space");
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
    return LmdbError(rc, "reading pending frees");
  }
  for (auto [off, len] : reclaimed) {
    absl::Status s = AddFree(off, len);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status WriteTxn::AddFree(std::uint64_t off, std::uint64_t len) {
  if (len == 0) return absl::OkStatus();
  // Find the free neighbours first; change nothing until both are known.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> next, prev;
  {
    Cursor cursor;
    int rc = cursor.Open(txn_.get(), core_->free_db());
    if (rc != MDB_SUCCESS) return LmdbError(rc, "opening free cursor");
    const std::string key = BigEndian64(off);
    MDB_val k = ToVal(key), v;
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS) {
      next.emplace(ReadBigEndian64(FromVal(k)), ReadBigEndian64(FromVal(v)));
      rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_PREV);
    } else if (rc == MDB_NOTFOUND) {
      rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST);
    }
    if (rc == MDB_SUCCESS) {
      prev.emplace(ReadBigEndian64(FromVal(k)), ReadBigEndian64(FromVal(v)));
    } else if (rc != MDB_NOTFOUND) {
      return LmdbError(rc, "reading free space");
    }
  }
  if ((next && next->first < off + len) ||
      (prev && prev->first + prev->second > off) ||
      off + len > space_.high_water) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: freeing [%d, %d), which is already free or past the "
        "high-water mark %d",
        core_->dir(), off, off + len, space_.high_water));
  }
  auto erase = [&](std::uint64_t at) {
    const std::string key = BigEndian64(at);
    MDB_val k = ToVal(key);
    return LmdbError(mdb_del(txn_.get(), core_->free_db(), &k, nullptr),
                     "merging free space");
  };
  if (next && next->first == off + len) {
    absl::Status s = erase(next->first);
    if (!s.ok()) return s;
    len += next->second;
  }
  if (prev && prev->first + prev->second == off) {
    absl::Status s = erase(prev->first);
    if (!s.ok()) return s;
    off = prev->first;
    len += prev->second;
  }
  if (off + len == space_.high_water) {
    // Back to never-used space, but perhaps written: not known zero.
    zero_from_ = std::max(zero_from_, space_.high_water);
    space_.high_water = off;
    return absl::OkStatus();
  }
  const std::string key = BigEndian64(off), val = BigEndian64(len);
  MDB_val k = ToVal(key), v = ToVal(val);
  return LmdbError(mdb_put(txn_.get(), core_->free_db(), &k, &v, 0),
                   "recording free space");
}

absl::Status WriteTxn::EnsureArena(std::uint64_t end) {
  if (end <= space_.arena_size) return core_->arena().MapForWrite(end);
  const std::uint64_t reserve = core_->options().max_size;
  if (end > reserve) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "store %s: arena would need %d bytes, more than max_size (%d)",
        core_->dir(), end, reserve));
  }
  // Grow by half again (at least 1 MiB) to make growth rare.
  std::uint64_t size =
      std::max({end, space_.arena_size + space_.arena_size / 2, kMinGrowth});
  size = std::min(AlignUp(size, 4096), reserve);
  // What the file holds past the recorded size (a writer that crashed while
  // growing) is not known zero; what fallocate adds is.
  absl::StatusOr<std::uint64_t> had = core_->arena().FileSize();
  if (!had.ok()) return had.status();
  absl::Status s = core_->arena().Grow(size);
  if (!s.ok() && size > end) {
    size = AlignUp(end, 4096) > reserve ? end : AlignUp(end, 4096);
    s = core_->arena().Grow(size);  // Retry with just what is needed.
  }
  if (!s.ok()) return s;
  zero_from_ = std::min(zero_from_, std::max(space_.arena_size, *had));
  space_.arena_size = size;
  return absl::OkStatus();
}

absl::Status WriteTxn::ReadFree(const MDB_val& k, const MDB_val& v,
                                std::uint64_t* off_out,
                                std::uint64_t* len_out) const {
  if (k.mv_size != 8 || v.mv_size != 8) {
    return absl::DataLossError(
        Cat("store ", core_->dir(), ": malformed free-space record"));
  }
  const std::uint64_t off = ReadBigEndian64(FromVal(k));
  const std::uint64_t len = ReadBigEndian64(FromVal(v));
  *off_out = off;
  *len_out = len;
  if (off % kExtentAlign != 0 || off > space_.high_water ||
      len > space_.high_water - off) {
    // Never write where a damaged record points.
    return absl::DataLossError(absl::StrFormat(
        "store %s: damaged free-space record (offset %d, length %d; "
        "high-water mark %d)",
        core_->dir(), off, len, space_.high_water));
  }
  return absl::OkStatus();
}

absl::Status WriteTxn::TakeFree(std::uint64_t min_len, std::size_t scan,
                                std::optional<Extent>* taken) {
  taken->reset();
  Cursor cursor;
  int rc = cursor.Open(txn_.get(), core_->free_db());
  if (rc != MDB_SUCCESS) return LmdbError(rc, "opening free cursor");
  MDB_val k, v;
  Extent best{0, 0};
  std::size_t seen = 0;
  for (rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
    std::uint64_t off, len;
    if (absl::Status s = ReadFree(k, v, &off, &len); !s.ok()) return s;
    if (len >= min_len && len > best.length) {
      best = Extent{off, len};
      if (min_len > 0) break;  // first fit
    }
    if (++seen == scan) break;
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
    return LmdbError(rc, "reading free space");
  }
  if (best.length == 0) return absl::OkStatus();
  const std::string key = BigEndian64(best.offset);
  MDB_val dk = ToVal(key);
  rc = mdb_del(txn_.get(), core_->free_db(), &dk, nullptr);
  if (rc != MDB_SUCCESS) return LmdbError(rc, "allocating free space");
  *taken = best;
  return absl::OkStatus();
}

absl::StatusOr<std::uint64_t> WriteTxn::Allocate(std::uint64_t len,
                                                 bool* zeroed) {
  if (zeroed != nullptr) *zeroed = false;
  // First fit among free extents; the rest of it stays free.
  std::optional<Extent> e;
  if (absl::Status s = TakeFree(len, 0, &e); !s.ok()) return s;
  if (e) {
    if (e->length > len) {
      const std::string rk = BigEndian64(e->offset + len),
                        rv = BigEndian64(e->length - len);
      MDB_val k2 = ToVal(rk), v2 = ToVal(rv);
      const int rc = mdb_put(txn_.get(), core_->free_db(), &k2, &v2, 0);
      if (rc != MDB_SUCCESS) return LmdbError(rc, "splitting free space");
    }
    fresh_.insert(e->offset);
    return e->offset;
  }
  const std::uint64_t off = space_.high_water;
  absl::Status s = EnsureArena(off + len);
  if (!s.ok()) return s;
  if (zeroed != nullptr) *zeroed = off >= zero_from_;
  space_.high_water = off + len;
  fresh_.insert(off);
  return off;
}

absl::Status WriteTxn::Release(std::uint64_t off, std::uint64_t len) {
  if (fresh_.erase(off) > 0) return AddFree(off, len);
  const std::string key = BigEndian64(txn_id_) + BigEndian64(off);
  const std::string val = BigEndian64(len);
  MDB_val k = ToVal(key), v = ToVal(val);
  return LmdbError(mdb_put(txn_.get(), core_->pending_db(), &k, &v, 0),
                   "recording freed space");
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
  const int rc =
      mdb_put(txn_.get(), core_->types_db(), &kv, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) return absl::OkStatus();
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
                                           std::uint64_t reloc_size) {
  Arena& arena = core_->arena();
  RootRecord r;
  r.offset = off;
  r.graph_size = graph_size;
  r.reloc_size = reloc_size;
  r.extent_size = AlignUp(graph_size + reloc_size, kExtentAlign);
  r.type_id = type.id;
  r.checksum = XXH3_64bits(arena.write_base() + off, graph_size + reloc_size);
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

absl::Status WriteTxn::PutCopy(std::string_view key, const RootRecord& src,
                               std::string_view type_name,
                               const char* src_bytes, std::uintptr_t old_base,
                               std::optional<std::uint64_t> offset) {
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
  char* dest = arena.write_base() + off;
  std::memcpy(dest, src_bytes, len);
  s = RelocateBlock(dest, src.graph_size,
                    std::string_view(dest + src.graph_size, src.reloc_size),
                    old_base,
                    reinterpret_cast<std::uintptr_t>(arena.base()) + off);
  if (!s.ok()) return s;
  RootRecord r = src;
  r.offset = off;
  r.base_address = core_->base();
  r.checksum = XXH3_64bits(dest, len);
  if (core_->options().durability == Durability::kSync) {
    s = arena.Sync(off, r.extent_size);
    if (!s.ok()) return s;
  }
  return PutRoot(key, r, type_name);
}

}  // namespace ancient::store_internal
