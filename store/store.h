// ancient::Store: object graphs shared by many processes through a file
// mapped at a fixed address, read in place with no deserialisation.
//
// A store is a directory holding an LMDB environment (data.mdb, lock.mdb)
// and an arena file (arena). It records, for every type shared, the full
// layout description its TypeId hashes (Snapshot::TypeDescription; parse it
// with ancient::Schema), so that roots can be named, checked (Verify), read
// as JSON (Snapshot::GetJson) and written from JSON (ShareJson) without
// their C++ type: the types table (LMDB, TypeId -> description) and the
// description grammar are in ARCHITECTURE.md.
// Share() marks a heap value straight into the arena and commits its
// root (key -> where the graph lives, its size, TypeId and checksum) in one
// LMDB transaction. Get() and Read() find roots in an LMDB read transaction and
// return the graph in place.
//
//   auto store = ancient::Store::Open("/var/lib/words");
//   if (!store.ok()) return store.status();
//   absl::Status s = (*store)->Share("words", words).status();
//   ...                                   // in any other process:
//   auto root = (*store)->Get<std::vector<std::string>>("words");
//   if (root.ok()) use((*root)->size(), (**root)[0].view());
//
// Concurrency: one writer at a time across all processes (LMDB's write
// lock; other writers wait). Any number of readers in any number of threads
// and processes, never blocked, each seeing a consistent snapshot. A Store
// object may be used from many threads at once.
//
// Address space. Graphs hold absolute pointers for the store's base address,
// picked at random when the store is created (1 GiB-aligned, spread over the
// usable user address space, clear of the heap, the executable, the kernel's
// mmap area and AddressSanitizer's shadow). A process reserves only what the
// arena needs there (twice its size, at least 1 GiB; never max_size) and
// extends the reservation in place when a root lies past it. Whenever the
// base, or the range needed to extend, is taken in a process (another store,
// a big heap, a library), Open still succeeds and the store is *relocated*
// in that process: the arena is mapped privately elsewhere and each graph is
// relocated from its relocation record (checksum checked first) the first
// time it is read, once per graph per process. Reads stay in place and
// correct; the cost is the relocation time (one pass over the graph) and
// private memory for the pages holding pointers. Stats() says whether and
// how much. Writers never need the base: they write through their own view.
//
// fork(): LMDB forbids using an environment in any process but the one that
// opened it. A child may open any store itself, in either mode; nothing of
// the parent's is reused. A Store, Snapshot or WriteBatch inherited from the
// parent returns FailedPrecondition (naming the opening process) from every
// call in the child, and may be destroyed there safely (its LMDB handles are
// left untouched, so the parent's reader slots and write lock survive). A
// Root inherited by the child still points at mapped bytes, but only the
// parent's snapshot protects them: read through it only while the parent
// is known to hold that Root, and prefer opening the store in the child.
//
// Errors (absl::Status codes), never a crash:
//   NotFound            no such key; no store at the directory (read_only or
//                       !create_if_missing)
//   FailedPrecondition  root of another type (both named); format version,
//                       pointer width or byte order differ; the store was
//                       opened read-only; a WriteBatch is already open on
//                       this thread; used in a child after fork()
//   InvalidArgument     empty key, or longer than LMDB's key limit (511)
//   ResourceExhausted   disk full; max_size reached; LMDB map or reader
//                       table full
//   DataLoss            damage found (truncated arena, bad record, checksum
//                       or pointer outside its graph)
//   PermissionDenied    the files cannot be opened as asked

#ifndef ANCIENT_STORE_STORE_H_
#define ANCIENT_STORE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ancient/ancient.h"
#include "ancient/schema/schema_graph.h"
#include "store/graph_ref.h"
#include "store/options.h"

namespace ancient {

// One frozen graph and what keeps it readable (an LMDB read snapshot, and
// the mapping). Valid for as long as it lives, even after the Store object
// is destroyed and after the key is overwritten or deleted. While it lives,
// the space of the graph it holds is not reused: do not keep Roots forever.
template <class T>
class Root {
 public:
  const Frozen<T>* get() const { return p_; }
  const Frozen<T>& operator*() const { return *p_; }
  const Frozen<T>* operator->() const { return p_; }

 private:
  friend class Store;
  Root(std::shared_ptr<const store_internal::ReadTxn> txn, const void* p)
      : txn_(std::move(txn)), p_(static_cast<const Frozen<T>*>(p)) {}
  std::shared_ptr<const store_internal::ReadTxn> txn_;
  const Frozen<T>* p_;
};

// A consistent, read-only view of all roots as of its creation. Pointers it
// returns stay valid while it lives. Use one Snapshot from one thread at a
// time (make one per thread; they are cheap).
class Snapshot {
 public:
  // The graph at `key`, read as T. NotFound, FailedPrecondition (type),
  // DataLoss (damaged record), InvalidArgument (bad key).
  template <class T>
  absl::StatusOr<const Frozen<T>*> Get(std::string_view key) const {
    absl::StatusOr<GraphBytes> g = Find(key, store_internal::TypeOf<T>());
    if (!g.ok()) return g.status();
    return reinterpret_cast<const Frozen<T>*>(g->bytes);
  }

  // As Get, then checks the whole graph against T with VerifyGraph
  // (ancient/check.h) before returning it: for files you did not write.
  // Linear in the graph's size. Errors: Get's, and DataLoss naming the
  // first problem found.
  template <class T>
  absl::StatusOr<const Frozen<T>*> GetVerified(std::string_view key) const {
    absl::StatusOr<GraphBytes> g = Find(key, store_internal::TypeOf<T>());
    if (!g.ok()) return g.status();
    absl::Status s = VerifyGraph<T>(g->bytes, g->size);
    if (!s.ok()) {
      return absl::DataLossError("key '" + std::string(key) +
                                 "': " + std::string(s.message()));
    }
    return reinterpret_cast<const Frozen<T>*>(g->bytes);
  }

  // Keys starting with `prefix`, in byte order (empty: none).
  // Errors: DataLoss (a malformed root record, naming its key);
  //   FailedPrecondition (used in a child after fork()); LMDB's, mapped as
  //   at the top of this file.
  absl::StatusOr<std::vector<std::string>> Keys(
      std::string_view prefix = "") const;
  // The roots whose keys start with `prefix`, with their types and sizes.
  // Errors: as Keys.
  absl::StatusOr<std::vector<RootInfo>> List(
      std::string_view prefix = "") const;
  // One root's description; NotFound if absent.
  absl::StatusOr<RootInfo> Info(std::string_view key) const;
  // The full layout description of the type `key` was shared as (what
  // TypeId hashes; see ancient::Schema to read it), as recorded in the
  // store's types table when it was shared. NotFound: no such key, or a
  // root shared before stores recorded types; DataLoss: the recorded
  // description does not hash to the root's TypeId.
  absl::StatusOr<std::string> TypeDescription(std::string_view key) const;

  // The graph at `key` whatever its type, for readers without its C++ type
  // (the Python module): its bytes where this process reads them, its
  // TypeId and checksum. Only its extent is checked: check its contents
  // (VerifyGraph by schema, with TypeDescriptionOf(type_id)) before
  // following a pointer in it. Valid while this Snapshot lives.
  // Errors: as Get's, but no FailedPrecondition for the type.
  struct RawRoot {
    GraphBytes graph;
    std::uint64_t type_id;
    std::uint64_t checksum;
  };
  absl::StatusOr<RawRoot> GetRaw(std::string_view key) const;
  // The layout description recorded for `type_id`. Errors: NotFound (none
  //   recorded), DataLoss (it does not hash to the id).
  absl::StatusOr<std::string> TypeDescriptionOf(std::uint64_t type_id) const;
  // The version this snapshot reads: LMDB's id of the last transaction
  // committed when it began (Store::version() compares with it).
  std::uint64_t version() const;

  // The root at `key` (or the part `options.path` names) as JSON, read
  // through the layout description the store recorded for it: no C++ type
  // needed. The form is documented in ancient/schema/schema_graph.h. The whole
  // graph is checked first (VerifyGraph by schema), so damaged stores give
  // errors, never crashes. Written to `out` in pieces of about 64 KiB.
  // Errors: NotFound (no such key; no description recorded: a root shared
  //   before stores recorded types; a path step that names nothing);
  //   DataLoss (damaged graph or description, naming the key);
  //   InvalidArgument (bad key or path step); FailedPrecondition (type).
  absl::Status WriteJson(std::string_view key, const JsonOptions& options,
                         absl::FunctionRef<void(std::string_view)> out) const;
  // The same, into a string.
  absl::StatusOr<std::string> GetJson(std::string_view key,
                                      const JsonOptions& options = {}) const;

  // Internal, for the replica layer: the read transaction (store/access.h
  // makes the key; users cannot).
  const store_internal::ReadTxn& txn(store_internal::InternalKey) const;

 private:
  friend class Store;
  explicit Snapshot(std::shared_ptr<store_internal::ReadTxn> txn)
      : txn_(std::move(txn)) {}
  absl::StatusOr<GraphBytes> Find(std::string_view key,
                                  const store_internal::TypeRef& type) const;
  std::shared_ptr<store_internal::ReadTxn> txn_;
};

// Several changes committed atomically. Holds the store's write lock until
// committed or destroyed (destroyed uncommitted = aborted, nothing written).
// Use it from the thread that made it.
class WriteBatch {
 public:
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;
  ~WriteBatch();

  // Shares `value` at `key`, visible to others once committed. Errors as
  // Store::Share.
  template <class T>
  absl::StatusOr<ShareInfo> Share(std::string_view key, const T& value) {
    const store_internal::TypeRef& type = store_internal::TypeOf<T>();
    return internal::WriteGraph(
        value,
        [&](auto& writer) {
          // Measured first: two passes, into an extent of the exact size.
          absl::StatusOr<ShareInfo> info =
              ShareGraph(key, type, writer.size(), writer.pointer_count(),
                         [&](void* dest, const void* address, bool zeroed) {
                           return writer.Write(dest, address, zeroed);
                         });
          if (info.ok()) info->scratch_bytes = writer.scratch_bytes();
          return info;
        },
        [&](auto mark) {
          // One pass, straight into the arena as the graph grows.
          return ShareMarked(key, type, mark);
        });
  }
  // Shares at `key` the graph that `json` describes (the form WriteJson
  // writes) with the type `description` (a layout description, as
  // TypeDescription returns): what `ancientctl load` does. The root gets
  // the TypeId the description hashes to, so a program whose type has that
  // description reads it with Get<T>. Builds the whole graph in memory
  // first: bad input writes nothing.
  // With `member`, `json` is an object and the graph is built from that
  // member (a dump line's "value": the line is parsed once).
  // Errors: InvalidArgument (a description that does not parse; JSON that
  //   does not fit it, naming where); FailedPrecondition (a description for
  //   another format version, byte order or pointer width); Share's.
  absl::StatusOr<ShareInfo> ShareJson(std::string_view key,
                                      std::string_view description,
                                      std::string_view json,
                                      std::string_view member = "");
  // Shares at `key` a graph already built in memory by `description`'s
  // schema (JsonGraph::BuildFromDocument, ConvertGraph): what the Python
  // module's puts do. The root gets the TypeId `description` hashes to.
  // `graph` must have been built from that very description.
  // Errors: InvalidArgument (a description that does not parse); Share's.
  absl::StatusOr<ShareInfo> ShareFlat(std::string_view key,
                                      std::string_view description,
                                      const FlatGraph& graph);
  // Rewrites the root at `key` in T's layout, converted by the rules Get<T>
  // reads it by (ConvertGraph, ancient/schema/schema_graph.h), so that readers
  // built with T read it in place again, with no conversion. Readers that
  // hold the old version keep it until they let go; readers still built
  // with the old type then read the new one converted (if it converts back).
  // A root already of T's type is left as it is (its place is returned).
  // Errors: NotFound (no such key; no description recorded for it);
  //   FailedPrecondition (the types do not convert, naming the first path
  //   and why; a value that cannot convert); DataLoss (damaged root);
  //   Share's.
  template <class T>
  absl::StatusOr<ShareInfo> Migrate(std::string_view key) {
    return MigrateTo(key, store_internal::TypeOf<T>());
  }
  // The same to the type `description` names (as TypeDescription returns
  // it; what `ancientctl migrate` does): fields the stored type lacks are
  // zeros (0, "", empty), as no C++ type is there to give defaults.
  // Errors: Migrate's; InvalidArgument (a description that does not parse).
  absl::StatusOr<ShareInfo> Migrate(std::string_view key,
                                    std::string_view description);
  // Deletes `key`; NotFound if absent (the batch stays usable).
  absl::Status Delete(std::string_view key);
  // Commits every change, or none. The batch is finished either way.
  absl::Status Commit();

 private:
  friend class Store;
  explicit WriteBatch(std::unique_ptr<store_internal::WriteTxn> txn);
  absl::StatusOr<ShareInfo> ShareGraph(std::string_view key,
                                       const store_internal::TypeRef& type,
                                       std::uint64_t size,
                                       std::uint64_t pointers,
                                       store_internal::GraphWriteFn write);
  absl::StatusOr<ShareInfo> ShareMarked(std::string_view key,
                                        const store_internal::TypeRef& type,
                                        store_internal::GraphMarkFn mark);
  absl::StatusOr<ShareInfo> MigrateTo(std::string_view key,
                                      const store_internal::TypeRef& type);
  std::unique_ptr<store_internal::WriteTxn> txn_;
};

class Store {
 public:
  // Opens the store in directory `dir`, creating it (mode 0700, files 0600)
  // if missing and allowed. Maps the arena at its recorded base address, or
  // relocates it where that is taken (never an error).
  // Opening one directory twice in a process shares one underlying
  // environment (LMDB forbids two), which gets the first open's durability
  // and max_size. A read-only open of a store open read-write here gives a
  // handle that refuses writes. The reverse is FailedPrecondition: the
  // shared environment was opened MDB_RDONLY with a read-only arena, and it
  // cannot be reopened read-write while the read-only handles (and their
  // Roots and Snapshots) live; open read-write first.
  // Errors: NotFound (no store and read_only or !create_if_missing);
  //   FailedPrecondition (`dir` is not a directory or not an ancient store;
  //   format version, pointer width or byte order differ; a base_address
  //   option that differs from the recorded one; open read-only here and
  //   asked read-write); DataLoss (arena missing or shorter than recorded,
  //   bad records); PermissionDenied; ResourceExhausted (no address space
  //   for even a relocated view); InvalidArgument (max_size 0).
  static absl::StatusOr<std::unique_ptr<Store>> Open(
      const std::string& dir, const StoreOptions& options = {});

  ~Store();  // Detaches. Roots and Snapshots still alive stay valid.
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Copies `value` (and everything it reaches) into the store at `key`, in
  // one atomic commit. An existing value at `key` stays readable until the
  // commit, and for readers that hold it, after. Waits for other writers
  // (in any process). `value` must not change during the call.
  // Errors: InvalidArgument (key empty or over 511 bytes);
  //   FailedPrecondition (read-only store; a WriteBatch open on this
  //   thread); ResourceExhausted (disk full, max_size reached, LMDB map
  //   full); DataLoss (damaged space records). On error nothing changes.
  // How: the graph is marked in one pass straight into the arena, starting
  // in the largest of the first 16 free extents, moved when it outgrows
  // that into the first free extent of twice the size it needs or to the
  // arena's end, where the file grows as it goes; vectors of numbers or
  // strings are measured first and written into a first-fit extent. A
  // graph big enough to share between threads (StoreOptions::mark_threads)
  // is marked by every thread straight into the arena: it cannot move then,
  // so it goes on from its free extent only when that holds the key's last
  // version with room to spare, else from the arena's end (one that
  // outgrows its extent all the same is marked again there). The writer's
  // heap memory beside the graph is reported in ShareInfo::scratch_bytes
  // (its queues, sharing table, slot bitmaps).
  template <class T>
  absl::StatusOr<ShareInfo> Share(std::string_view key, const T& value) {
    return InBatch([&](WriteBatch& b) { return b.Share(key, value); });
  }

  // WriteBatch::ShareJson in a batch of its own (same parameters, same
  // errors).
  absl::StatusOr<ShareInfo> ShareJson(std::string_view key,
                                      std::string_view description,
                                      std::string_view json,
                                      std::string_view member = "");

  // WriteBatch::Migrate in a batch of its own (same errors).
  template <class T>
  absl::StatusOr<ShareInfo> Migrate(std::string_view key) {
    return InBatch([&](WriteBatch& b) { return b.Migrate<T>(key); });
  }
  absl::StatusOr<ShareInfo> Migrate(std::string_view key,
                                    std::string_view description) {
    return InBatch([&](WriteBatch& b) { return b.Migrate(key, description); });
  }

  // Removes `key`. Its space is reused once no reader can see it.
  // Errors: NotFound (absent), InvalidArgument (bad key), FailedPrecondition
  //   (read-only store; a WriteBatch open on this thread), ResourceExhausted.
  absl::Status Delete(std::string_view key);

  // The graph at `key`, read as T, in place. The Root keeps it readable for
  // as long as it lives. Checks the root's type, extent and base address
  // (not its contents: that is Verify's job; but a graph relocated in this
  // process has had its checksum and relocation record checked).
  // Errors: NotFound (no such key), FailedPrecondition (shared as another
  //   type; both type names in the message), InvalidArgument (bad key),
  //   DataLoss (bad record or extent; when relocating, a bad checksum or
  //   relocation record), ResourceExhausted (reader table full).
  template <class T>
  absl::StatusOr<Root<T>> Get(std::string_view key) const {
    absl::StatusOr<Snapshot> snap = Read();
    if (!snap.ok()) return snap.status();
    absl::StatusOr<GraphBytes> g = snap->Find(key, store_internal::TypeOf<T>());
    if (!g.ok()) return g.status();
    return Root<T>(std::move(snap->txn_), g->bytes);
  }

  // As Get, then checks the whole graph against T (see
  // Snapshot::GetVerified): for files you did not write.
  template <class T>
  absl::StatusOr<Root<T>> GetVerified(std::string_view key) const {
    absl::StatusOr<Snapshot> snap = Read();
    if (!snap.ok()) return snap.status();
    absl::StatusOr<const Frozen<T>*> p = snap->GetVerified<T>(key);
    if (!p.ok()) return p.status();
    return Root<T>(std::move(snap->txn_), *p);
  }

  // A consistent view of all roots, as of now. Never blocks on writers.
  // Errors: ResourceExhausted (LMDB's reader table is full even after
  //   clearing dead processes' slots).
  absl::StatusOr<Snapshot> Read() const;
  // Starts an atomic batch of changes; waits for the write lock, held until
  // the batch is committed or destroyed.
  // Errors: FailedPrecondition (read-only store; a batch already open on
  //   this thread, which would deadlock).
  absl::StatusOr<WriteBatch> Write();

  // Keys starting with `prefix`, in byte order, as of now. Errors: as
  // Snapshot::Keys; ResourceExhausted when LMDB's reader table is full.
  absl::StatusOr<std::vector<std::string>> Keys(
      std::string_view prefix = "") const;
  // Space accounting and readers; bytes_live + bytes_free +
  // bytes_never_used == arena_size. Clears dead processes' reader slots.
  // Errors: DataLoss (a malformed space, root or free-space record, naming
  //   the store); FailedPrecondition (used in a child after fork());
  //   ResourceExhausted (LMDB's reader table full).
  absl::StatusOr<StoreStats> Stats() const;

  // Checks the whole store: every root's graph lies inside its extent and
  // matches its checksum, every pointer in it (from its relocation record,
  // checked before it is followed) points inside the same graph, its
  // contents pass the typed check (VerifyGraph) driven by the type
  // description the store recorded for it (roots shared before stores
  // recorded types get all but this), extents do not overlap, and live +
  // free + never-used space = arena size. Returns DataLoss describing the
  // first damage found. Linear in the store's size.
  absl::Status Verify() const;

  // Writes a consistent copy of the store (as of the call) to `dest_dir`,
  // which must not hold data yet, while writers keep writing. The copy gets
  // its own base address (graphs are relocated). With `compact`, live
  // graphs are packed together and free space is dropped; without, offsets
  // and free space are kept.
  // Errors: FailedPrecondition (`dest_dir` holds data), InvalidArgument
  //   (the source itself), DataLoss (a damaged source root), and Open's.
  absl::Status CopyTo(const std::string& dest_dir, bool compact) const;

  // The version a Read() now would see: LMDB's id of the last committed
  // transaction, read without starting one (0 after fork(), in the child).
  // A Snapshot whose version() equals it sees what a new one would: a
  // reader may keep it instead of starting another (the Python module does).
  std::uint64_t version() const;

  const std::string& dir() const;
  // The address the store's graphs are written for (StoreStats says whether
  // they are read there in this process).
  std::uintptr_t base_address() const;

  // Internal, for the replica layer: the open store's core (store/access.h
  // makes the key; users cannot).
  const std::shared_ptr<store_internal::Core>& core(
      store_internal::InternalKey) const;

 private:
  Store(std::shared_ptr<store_internal::Core> core, bool read_only,
        bool convert_types);
  std::shared_ptr<store_internal::Core> core_;
  const bool read_only_;      // this handle, whatever the environment's mode
  const bool convert_types_;  // StoreOptions::convert_types
  // f(batch) in a batch of its own, committed when f succeeds.
  template <class F>
  absl::StatusOr<ShareInfo> InBatch(F f) {
    absl::StatusOr<WriteBatch> batch = Write();
    if (!batch.ok()) return batch.status();
    absl::StatusOr<ShareInfo> info = f(*batch);
    if (!info.ok()) return info.status();
    absl::Status s = batch->Commit();
    if (!s.ok()) return s;
    return info;
  }
};

}  // namespace ancient

#endif  // ANCIENT_STORE_STORE_H_
