// The option and result types of ancient::Store (store/store.h), apart so
// that the store's internals can use them without the public API.

#ifndef ANCIENT_STORE_OPTIONS_H_
#define ANCIENT_STORE_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace ancient {

enum class Durability {
  kSync,    // Share returns once the graph and its root are on disk.
  kNoSync,  // Survives a crash of the process, not of the machine.
};

struct StoreOptions {
  // Create the directory and the store when missing (ignored if read_only).
  bool create_if_missing = true;
  // Open for reading only: the arena is mapped PROT_READ and this process
  // can never modify the store; Share, Delete and Write fail.
  bool read_only = false;
  // The address graphs are written for. 0: picked at creation (a free
  // range, random so that stores rarely collide). Always recorded in the
  // store; a non-zero value that differs from the recorded one is
  // FailedPrecondition. Where it is taken in a process, the store is
  // relocated there (see above), not refused.
  std::uintptr_t base_address = 0;
  // The largest the arena may grow to (a limit, checked by writers; no
  // address space is reserved for it).
  std::size_t max_size = std::size_t{1} << 40;
  // How durable each commit is.
  Durability durability = Durability::kSync;
  // Get and GetVerified of a root shared as another version of the type
  // asked for (fields added, dropped or reordered, numbers widened: see
  // ConvertGraph in ancient/schema_graph.h) return it converted into the
  // asked type's layout: a private copy, made once per graph and type in
  // this process. false: such reads are FailedPrecondition, as for types
  // that cannot convert, so that nothing is ever paid for a conversion.
  // (Per handle: two handles on one store may differ.)
  bool convert_types = true;
  // Threads a Share marks with (see ancient::MarkOptions::threads). Every
  // thread marks straight into the arena (the graph is written once, in its
  // place; the writer holds only its sharing table, queues and a bitmap of
  // the pointer slots besides). 0 (the default): automatic, as for Mark:
  // the cores this process may run on, started only for a graph of at
  // least 1 MiB whose objects cannot be reached twice (no raw or shared
  // pointers between them); others are marked by the calling thread alone.
  // A count above 0 is used as given (1: the calling thread alone). Vectors
  // of numbers or strings are marked on one thread.
  int mark_threads = 0;
  // Who besides the owner may read the store: a group name, or empty for
  // the owner alone (the default). With a group, the store's directory and
  // files are given to it (store/group_access.h): directory 2750, data
  // 0640, LMDB's reader table 0660; readers in the group open read-only,
  // accounts outside it get PermissionDenied. Applied at every read-write
  // open with a group, so an existing private store is opened up to the
  // group too. Errors: InvalidArgument (no such group), PermissionDenied
  // (this account may not give its files to that group).
  std::string group;
};

// Where a shared graph lives: its offset in the arena and its size.
struct ShareInfo {
  std::uint64_t offset;
  std::uint64_t size_bytes;
  // Heap memory the writer held beside the graph while writing it (its
  // task queue, sharing table and list of pointer slots): for measuring.
  std::uint64_t scratch_bytes = 0;
  // The threads that marked it (StoreOptions::mark_threads): 1 for graphs
  // too small to share between threads.
  int mark_threads = 1;
};

// A root as listed by Snapshot::List.
struct RootInfo {
  std::string key;
  std::string type_name;     // TypeName<T>() of the value shared
  std::uint64_t type_id;     // TypeId<T>()
  std::uint64_t offset;      // in the arena
  std::uint64_t size_bytes;  // the graph's size
};

struct StoreStats {
  std::uint64_t roots = 0;             // number of keys
  std::uint64_t bytes_live = 0;        // arena bytes held by roots
  std::uint64_t bytes_free = 0;        // freed, reusable now or once readers go
  std::uint64_t bytes_pending = 0;     //   of which still visible to readers
  std::uint64_t bytes_never_used = 0;  // arena bytes past the high-water mark
  std::uint64_t arena_size = 0;        // = live + free + never_used
  std::uint64_t arena_file_bytes = 0;  // the arena file's length
  std::uint64_t lmdb_file_bytes = 0;   // data.mdb's length
  std::uintptr_t base_address = 0;
  std::uint64_t max_size = 0;  // the limit on arena_size (options)
  std::uint64_t readers = 0;   // live read snapshots, all processes
  // This process only:
  bool relocated = false;  // the base range is taken here (wholly, or the
                           // part a root needed): graphs are relocated
  std::uint64_t graphs_relocated = 0;  // relocated so far (once each)
  std::uint64_t bytes_relocated = 0;   // private memory they hold (pages)
  std::uint64_t address_reserved = 0;  // address space of all its views
  // Roots read as another version of their type (StoreOptions::
  // convert_types), converted so far (once per graph and type), and the
  // bytes of private memory the conversions made.
  std::uint64_t graphs_converted = 0;
  std::uint64_t bytes_converted = 0;
};

}  // namespace ancient

#endif  // ANCIENT_STORE_OPTIONS_H_
