// Fresh-process benchmarks, which Google Benchmark's loop cannot express:
//
//  open:    open-to-first-read at several data sizes: a new process opens the
//           data, makes it readable and looks one element up, timing itself
//           from before the open to after the lookup. Ours: Store Open + Get
//           + index; cereal: LMDB get + deserialize + index; FlatBuffers:
//           LMDB get + Verifier + index; Boost.Interprocess: open the mapped
//           file + find + index; and raw LMDB (open + get, no decoding):
//           the floor under ours. Best of several runs, page cache warm.
//           Ours twice: in place, and relocated (the child first takes the
//           store's base address, as another library would), each followed
//           by a first full traversal and the private memory it cost.
//  readers: 1 and 2 reader processes doing random map lookups in a shared
//           store: throughput, and each reader's private memory.
//
// Prints one JSON object per line (tools/bench collects them).
//   open_bench [--sizes=1,64,1024]   sizes in MiB (ANCIENT_BENCH_SCALE=tiny: 1)
//   open_bench --make=DIR [--sizes=..]  writes the stores under DIR/<MiB>,
//                                       keeps them, prints each child's
//                                       command line (for profiling)

#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_data.h"
#include "bench/lmdb_kv.h"
#include "bench/peers.h"
#include "store/store.h"

namespace ancient_bench {
namespace {

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

// ------------------------------------------------------- child processes

std::map<std::string, long> SmapsRollupKiB();

// Ours: opens the store read-only and reads the middle element (its size
// into *got). 0, or the child's exit code for what failed.
int OpenAndRead(const std::string& path, std::size_t n,
                std::unique_ptr<ancient::Store>* store,
                std::optional<ancient::Root<Strings>>* root, std::size_t* got) {
  ancient::StoreOptions o;
  o.read_only = true;
  auto s = ancient::Store::Open(path, o);
  if (!s.ok()) return 2;
  *store = *std::move(s);
  auto r = (*store)->Get<Strings>("data");
  if (!r.ok()) return 3;
  root->emplace(*std::move(r));
  *got = (***root)[n / 2].size();
  return 0;
}

// Ours, in place or (with `base` taken first) relocated: prints the
// nanoseconds to the first lookup, then to traverse every string once, and
// the anonymous (private) memory the two cost, in KiB.
int ChildAncient(const std::string& path, std::size_t n, std::uintptr_t base) {
  if (base != 0) {
    void* want = reinterpret_cast<void*>(base);
    if (mmap(want, 4096, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
             0) != want) {
      return 7;
    }
  }
  const long before = SmapsRollupKiB()["Anonymous"];
  const std::int64_t t0 = NowNs();
  std::unique_ptr<ancient::Store> store;
  std::optional<ancient::Root<Strings>> root;
  std::size_t got = 0;
  if (const int rc = OpenAndRead(path, n, &store, &root, &got); rc != 0) {
    return rc;
  }
  const std::int64_t t1 = NowNs();
  std::size_t total = 0;
  for (const auto& s : **root) total += s.size();
  const std::int64_t t2 = NowNs();
  const long after = SmapsRollupKiB()["Anonymous"];
  auto st = store->Stats();
  if (!st.ok() || st->relocated != (base != 0)) return 8;
  std::printf("%ld %ld %ld\n", static_cast<long>(t1 - t0),
              static_cast<long>(t2 - t1), after - before);
  return got == 100 && total == n * 100 ? 0 : 6;
}

// Prints the nanoseconds from just before opening to just after the first
// lookup, measured inside the fresh process (fork and exec excluded: their
// cost depends on the parent, not on the contender).
int ChildOpen(const std::string& kind, const std::string& path, std::size_t n) {
  const std::int64_t t0 = NowNs();
  std::size_t got = 0;
  if (kind == "noop") {
    got = n;
  } else if (kind == "ancient") {
    std::unique_ptr<ancient::Store> store;
    std::optional<ancient::Root<Strings>> root;
    if (const int rc = OpenAndRead(path, n, &store, &root, &got); rc != 0) {
      return rc;
    }
  } else if (kind == "lmdb") {
    // The floor under ours: an LMDB environment opened and one get, the
    // bytes left untouched.
    LmdbKv kv(path, false, true);
    got = kv.Get("data").empty() ? 0 : 100;
  } else if (kind == "cereal") {
    LmdbKv kv(path, false, true);
    const Strings v = CerealLoad<Strings>(kv.Get("data"));
    got = v[n / 2].size();
  } else if (kind == "flatbuffers") {
    LmdbKv kv(path, false, true);
    const std::string_view bytes = kv.Get("data");
    flatbuffers::Verifier verifier(
        reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), 64,
        1u << 31);
    if (!verifier.VerifyBuffer<fb::Words>(nullptr)) return 4;
    got = flatbuffers::GetRoot<fb::Words>(bytes.data())
              ->words()
              ->Get(n / 2)
              ->size();
  } else if (kind == "boost") {
    Segment seg(bip::open_read_only, (path + "/segment").c_str());
    const BWords* v = seg.find<BWords>("words").first;
    if (v == nullptr) return 5;
    got = (*v)[n / 2].size();
  }
  const std::int64_t ns = NowNs() - t0;
  std::printf("%ld\n", static_cast<long>(ns));
  return got == 100 || kind == "noop" ? 0 : 6;
}

std::map<std::string, long> SmapsRollupKiB() {
  std::map<std::string, long> m;
  std::ifstream in("/proc/self/smaps_rollup");
  std::string key, unit;
  long kb;
  std::string line;
  while (std::getline(in, line)) {
    if (std::sscanf(line.c_str(), "%*[^:]: %ld", &kb) == 1) {
      m[line.substr(0, line.find(':'))] = kb;
    }
  }
  return m;
}

int ChildReader(const std::string& path, std::size_t lookups) {
  // Private memory is anonymous memory (heap, stacks, copies): pages of the
  // shared arena mapping are the page cache's, whatever smaps calls them (a
  // dirty page cache page mapped by one process shows as Private_Dirty).
  // Measured before the store is touched, to leave out the runtime's own.
  const long before = SmapsRollupKiB()["Anonymous"];
  ancient::StoreOptions o;
  o.read_only = true;
  auto store = ancient::Store::Open(path, o);
  if (!store.ok()) return 2;
  auto root = (*store)->Get<std::map<std::string, std::int64_t>>("map");
  if (!root.ok()) return 3;
  const auto& map = **root;
  std::mt19937_64 rng(getpid());
  std::int64_t sum = 0;
  const std::int64_t t0 = NowNs();
  for (std::size_t i = 0; i < lookups; ++i) {
    // A random key, taken from the store itself so the reader's heap holds
    // nothing of the data.
    const ancient::String& key = map[rng() % map.size()].first;
    sum += *map.get(key.view());
  }
  const std::int64_t ns = NowNs() - t0;
  auto mem = SmapsRollupKiB();
  std::printf("%ld %ld %ld %ld\n", static_cast<long>(ns),
              mem["Anonymous"] - before, mem["Private_Clean"],
              static_cast<long>(sum & 1));
  return 0;
}

// --------------------------------------------------------------- parent

// Runs this program with `args`; returns wall nanoseconds, or -1.
std::int64_t RunChild(const std::vector<std::string>& args,
                      std::string* out = nullptr) {
  const std::int64_t t0 = NowNs();
  int fd;
  const pid_t pid = StartSelf(args, &fd);
  if (pid < 0) return -1;
  const std::string text = ReadAllAndClose(fd);
  int status;
  waitpid(pid, &status, 0);
  const std::int64_t ns = NowNs() - t0;
  if (out != nullptr) *out = text;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? ns : -1;
}

// The best of `runs` fresh processes, as each measured itself.
std::int64_t BestOf(int runs, const std::vector<std::string>& args) {
  std::int64_t best = -1;
  for (int i = 0; i < runs; ++i) {
    std::string out;
    if (RunChild(args, &out) < 0) return -1;
    const std::int64_t ns = std::atoll(out.c_str());
    if (best < 0 || ns < best) best = ns;
  }
  return best;
}

// Writes `data` under `root` for every contender (ours, cereal and
// FlatBuffers in LMDB, a Boost.Interprocess segment); their paths by name,
// "lmdb" (the raw floor) reading cereal's environment.
std::map<std::string, std::string> MakeStores(const std::string& root,
                                              const Strings& data) {
  std::map<std::string, std::string> paths = {
      {"ancient", root + "/ancient"},
      {"cereal", root + "/cereal"},
      {"flatbuffers", root + "/flatbuffers"},
      {"boost", root + "/boost"}};
  fs::create_directories(root);
  {
    ancient::StoreOptions o;
    o.durability = ancient::Durability::kNoSync;
    auto store = ancient::Store::Open(paths["ancient"], o);
    (void)(*store)->Share("data", data);
  }
  for (const char* k : {"cereal", "flatbuffers", "boost"})
    fs::create_directories(paths[k]);
  {
    LmdbKv kv(paths["cereal"], false);
    kv.Put("data", CerealBytes(data));
  }
  {
    flatbuffers::FlatBufferBuilder b;
    BuildFbWords(b, data);
    LmdbKv kv(paths["flatbuffers"], false);
    kv.Put("data",
           std::string_view(reinterpret_cast<const char*>(b.GetBufferPointer()),
                            b.GetSize()));
  }
  {
    Segment seg(bip::create_only, (paths["boost"] + "/segment").c_str(),
                BoostFileSize(PayloadBytes(data)) + data.size() * 64);
    BuildBoostWords(seg, data);
  }
  paths["lmdb"] = paths["cereal"];
  return paths;
}

void OpenBench(std::size_t mib) {
  const Strings data = HundredByteStrings(mib);
  const std::string n = std::to_string(data.size());
  const std::string root = TempDir("open");
  std::map<std::string, std::string> paths = MakeStores(root, data);
  const int runs = mib >= 512 ? 3 : 7;
  // Ours, in place and relocated: open, first full traversal, memory.
  std::uintptr_t base;
  {
    auto store = ancient::Store::Open(paths["ancient"]);
    base = (*store)->base_address();
  }
  for (const std::uintptr_t take : {std::uintptr_t{0}, base}) {
    std::int64_t open_ns = -1, traverse_ns = -1;
    long private_kib = 0;
    for (int i = 0; i < runs; ++i) {
      std::string out;
      if (RunChild(
              {"--child=ancient", paths["ancient"], n, std::to_string(take)},
              &out) < 0) {
        break;
      }
      long o = 0, t = 0, p = 0;
      std::sscanf(out.c_str(), "%ld %ld %ld", &o, &t, &p);
      if (open_ns < 0 || o < open_ns) open_ns = o;
      if (traverse_ns < 0 || t < traverse_ns) traverse_ns = t;
      private_kib = p;
    }
    std::printf(
        "{\"bench\":\"attach\",\"relocated\":%s,\"mib\":%zu,"
        "\"open_ns\":%ld,\"traverse_ns\":%ld,\"private_kib\":%ld}\n",
        take != 0 ? "true" : "false", mib, static_cast<long>(open_ns),
        static_cast<long>(traverse_ns), private_kib);
    std::fflush(stdout);
  }
  for (const auto& [kind, path] : paths) {
    const std::int64_t ns = BestOf(runs, {"--child=open", kind, path, n});
    std::printf(
        "{\"bench\":\"open\",\"contender\":\"%s\",\"mib\":%zu,\"ns\":%ld}\n",
        kind.c_str(), mib, static_cast<long>(ns));
    std::fflush(stdout);
  }
  fs::remove_all(root);
}

void ReadersBench() {
  const std::string dir = TempDir("readers") + "/s";
  std::size_t data_bytes = 0;
  {
    ancient::StoreOptions o;
    o.durability = ancient::Durability::kNoSync;
    auto store = ancient::Store::Open(dir, o);
    auto info = (*store)->Share("map", WordMap());
    data_bytes = info->size_bytes;
  }
  const std::size_t lookups = Tiny() ? 10000 : 5000000;
  for (int procs : {1, 2}) {
    std::vector<pid_t> pids;
    std::vector<int> outs;
    const std::int64_t t0 = NowNs();
    for (int p = 0; p < procs; ++p) {
      int fd;
      const pid_t pid =
          StartSelf({"--child=reader", dir, std::to_string(lookups)}, &fd);
      if (pid < 0) return;
      pids.push_back(pid);
      outs.push_back(fd);
    }
    long max_private = 0;
    for (int p = 0; p < procs; ++p) {
      const std::string text = ReadAllAndClose(outs[p]);
      waitpid(pids[p], nullptr, 0);
      long ns = 0, dirty = 0, clean = 0, x = 0;
      std::sscanf(text.c_str(), "%ld %ld %ld %ld", &ns, &dirty, &clean, &x);
      max_private = std::max(max_private, dirty);
    }
    const std::int64_t wall = NowNs() - t0;
    std::printf(
        "{\"bench\":\"readers\",\"processes\":%d,\"lookups_per_s\":%.0f,"
        "\"private_kib\":%ld,\"data_kib\":%zu}\n",
        procs, double(lookups) * procs / (wall / 1e9), max_private,
        data_bytes / 1024);
    std::fflush(stdout);
  }
  fs::remove_all(fs::path(dir).parent_path());
}

}  // namespace
}  // namespace ancient_bench

int main(int argc, char** argv) {
  using namespace ancient_bench;
  if (argc >= 2 && std::strcmp(argv[1], "--child=open") == 0 && argc == 5) {
    return ChildOpen(argv[2], argv[3], std::stoull(argv[4]));
  }
  if (argc >= 2 && std::strcmp(argv[1], "--child=ancient") == 0 && argc == 5) {
    return ChildAncient(argv[2], std::stoull(argv[3]), std::stoull(argv[4]));
  }
  if (argc >= 2 && std::strcmp(argv[1], "--child=reader") == 0 && argc == 4) {
    return ChildReader(argv[2], std::stoull(argv[3]));
  }
  std::vector<std::size_t> sizes = Tiny()
                                       ? std::vector<std::size_t>{1}
                                       : std::vector<std::size_t>{1, 64, 1024};
  std::string make;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--make=", 7) == 0) make = argv[i] + 7;
    if (std::strncmp(argv[i], "--sizes=", 8) == 0) {
      sizes.clear();
      for (const char* p = argv[i] + 8; *p;) {
        sizes.push_back(std::strtoull(p, const_cast<char**>(&p), 10));
        if (*p == ',') ++p;
      }
    }
  }
  if (!make.empty()) {
    // For profiling one contender's child by hand: the stores are kept.
    for (std::size_t mib : sizes) {
      const Strings data = HundredByteStrings(mib);
      const std::string root = make + "/" + std::to_string(mib);
      for (const auto& [kind, path] : MakeStores(root, data)) {
        std::printf("%s --child=open %s %s %zu\n", argv[0], kind.c_str(),
                    path.c_str(), data.size());
      }
    }
    return 0;
  }
  for (std::size_t mib : sizes) OpenBench(mib);
  ReadersBench();
  return 0;
}
