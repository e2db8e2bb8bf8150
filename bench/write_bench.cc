// What a producer pays to write, measured the way users build their data:
// each data set is built in the heap, marked and shared in a fresh process
// (first build, first Mark, first Share: the memory is new to the process),
// then again in the same process (rebuilt in a warm heap, marked and shared
// a second time), on 1 and on 2 marking threads (or the counts --threads
// lists: 4 and 8 oversubscribe 2 cores, which shows what locks and shared
// cache lines would cost on more).
//
// Data sets:
//  trie:     a trie (std::map<char, unique_ptr<node>>) of the 663k words of
//            Debian's american-english-insane, in the file's (sorted) order
//            and shuffled.
//  map:      unordered_map<string, vector<int64>>, 4M entries (as
//            mark_bench's BigMap).
//  graph:    1M nodes with 1..4 edges each to random nodes (sharing,
//            cycles): bench_data.h's graph, whose Boost.Interprocess build
//            peers_bench measures.
//  records:  N unique_ptrs to structs of a string and a vector of int64: 2M
//            (about 330 MiB of graph); 18M (about 2.9 GiB) under
//            ANCIENT_BENCH_SCALE=big.
//
// Prints one JSON object per line, one per child run:
//   {"bench":"write","data":D,"threads":T,"order":O,"build_first_ms":..,
//    "mark_first_ms":..,"share_first_ms":..,"build_warm_ms":..,
//    "mark_warm_ms":..,"share_warm_ms":..,"graph_bytes":..,"peak_rss_mb":..,
//    "threads_used":..,"share_threads":..,"share_scratch_bytes":..,
//    "huge_pages":..}
//   write_bench [--data=trie,map,graph,records] [--runs=3] [--threads=1,2]
//               [--huge_pages]
// --huge_pages: Mark with MarkOptions::huge_pages (Share is not affected).

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/bench_data.h"
#include "bench/mem_stats.h"
#include "store/store.h"

namespace write_bench {
struct TrieNode {
  bool word = false;
  std::map<char, std::unique_ptr<TrieNode>> next;
};
struct Record {
  std::string name;
  std::vector<std::int64_t> values;
};
struct Records {
  std::vector<std::unique_ptr<Record>> items;
};
}  // namespace write_bench
ANCIENT_STRUCT(write_bench::TrieNode, word, next);
ANCIENT_STRUCT(write_bench::Record, name, values);
ANCIENT_STRUCT(write_bench::Records, items);

namespace write_bench {
namespace {

using ancient_bench::NowNs;
using BigMap = std::unordered_map<std::string, std::vector<std::int64_t>>;

std::string Scale() {
  const char* s = std::getenv("ANCIENT_BENCH_SCALE");
  return s == nullptr ? "" : s;
}

void XorShift(std::uint64_t& x) {
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
}

// ---- the data sets: input (not timed) and heap build (timed) -------------

std::vector<std::string> InsaneWords(bool shuffled) {
  std::vector<std::string> v;
  std::ifstream in("/usr/share/dict/american-english-insane");
  std::string w;
  while (std::getline(in, w)) v.push_back(w);
  if (v.empty()) {  // wamerican-insane missing: a stand-in, said so
    std::fprintf(stderr, "write_bench: no american-english-insane\n");
    std::ifstream words("/usr/share/dict/words");
    while (std::getline(words, w)) v.push_back(w);
  }
  if (Scale() == "tiny") v.resize(std::min<std::size_t>(v.size(), 5000));
  if (shuffled) std::shuffle(v.begin(), v.end(), std::mt19937_64(3));
  return v;
}

std::unique_ptr<TrieNode> BuildTrie(const std::vector<std::string>& words) {
  auto root = std::make_unique<TrieNode>();
  for (const auto& w : words) {
    TrieNode* n = root.get();
    for (char ch : w) {
      auto& child = n->next[ch];
      if (child == nullptr) child = std::make_unique<TrieNode>();
      n = child.get();
    }
    n->word = true;
  }
  return root;
}

std::size_t MapEntries() { return Scale() == "tiny" ? 10000 : 4000000; }

std::unique_ptr<BigMap> BuildMap() {
  auto m = std::make_unique<BigMap>();
  const std::size_t n = MapEntries();
  m->reserve(n);
  std::uint64_t x = 88172645463325252ULL;
  for (std::size_t i = 0; i < n; ++i) {
    XorShift(x);
    std::vector<std::int64_t> v(1 + x % 8);
    for (auto& e : v) e = static_cast<std::int64_t>(x ^ i);
    m->emplace("key" + std::to_string(i), std::move(v));
  }
  return m;
}

std::size_t RecordCount() {
  const std::string s = Scale();
  return s == "tiny" ? 10000 : s == "big" ? 18000000 : 2000000;
}

std::unique_ptr<Records> BuildRecords() {
  auto r = std::make_unique<Records>();
  const std::size_t n = RecordCount();
  r->items.reserve(n);
  std::uint64_t x = 0x2545F4914F6CDD1DULL;
  for (std::size_t i = 0; i < n; ++i) {
    XorShift(x);
    auto rec = std::make_unique<Record>();
    rec->name = "record-" + std::to_string(i) + "-";
    rec->name.resize(24 + x % 24, static_cast<char>('a' + x % 26));
    rec->values.resize(6 + x % 7);
    for (auto& v : rec->values) v = static_cast<std::int64_t>(x ^ i);
    r->items.push_back(std::move(rec));
  }
  return r;
}

// ---- the child: one data set, one thread count ---------------------------

struct Times {
  double build_first = 0, mark_first = 0, share_first = 0;
  double build_warm = 0, mark_warm = 0, share_warm = 0;
  std::uint64_t graph_bytes = 0;
  int threads_used = 0;
  // The first Share's: the threads that marked it and the heap memory the
  // writer held beside the graph (ShareInfo::scratch_bytes).
  int share_threads = 0;
  std::uint64_t share_scratch_bytes = 0;
};

double Ms(std::int64_t from) { return (NowNs() - from) / 1e6; }

// Builds (first), marks twice, shares twice, frees and builds again (warm).
template <class T, class Build>
int Measure(Build build, const ancient::MarkOptions& mo, Times* t) {
  std::int64_t s = NowNs();
  std::unique_ptr<T> value = build();
  t->build_first = Ms(s);
  {
    s = NowNs();
    auto a = ancient::Mark(*value, mo);
    t->mark_first = Ms(s);
    t->graph_bytes = a.size_bytes();
    t->threads_used = a.threads_used();
  }
  {
    s = NowNs();
    auto a = ancient::Mark(*value, mo);
    t->mark_warm = Ms(s);
  }
  const std::string dir = ancient_bench::TempDir("write");
  {
    ancient::StoreOptions o;
    o.durability = ancient::Durability::kNoSync;
    o.mark_threads = mo.threads;
    auto store = ancient::Store::Open(dir + "/s", o);
    if (!store.ok()) return 2;
    s = NowNs();
    auto info = (*store)->Share("v", *value);
    if (!info.ok()) return 3;
    t->share_first = Ms(s);
    t->share_threads = info->mark_threads;
    t->share_scratch_bytes = info->scratch_bytes;
    s = NowNs();
    if (!(*store)->Share("v", *value).ok()) return 3;
    t->share_warm = Ms(s);
  }
  std::filesystem::remove_all(dir);
  value.reset();  // the heap keeps the memory: the rebuild is warm
  s = NowNs();
  value = build();
  t->build_warm = Ms(s);
  return 0;
}

int Child(const std::string& data, int threads, const std::string& order,
          bool huge_pages) {
  const ancient::MarkOptions mo{.threads = threads, .huge_pages = huge_pages};
  Times t;
  int rc = 1;
  if (data == "trie") {
    const auto words = InsaneWords(order == "shuffled");
    rc = Measure<TrieNode>([&] { return BuildTrie(words); }, mo, &t);
  } else if (data == "map") {
    rc = Measure<BigMap>(BuildMap, mo, &t);
  } else if (data == "graph") {
    rc = Measure<ancient_bench::Graph>(ancient_bench::MakeGraph, mo, &t);
  } else if (data == "records") {
    rc = Measure<Records>(BuildRecords, mo, &t);
  }
  if (rc != 0) return rc;
  std::printf(
      "{\"bench\":\"write\",\"data\":\"%s\",\"threads\":%d,\"order\":\"%s\","
      "\"scale\":\"%s\",\"build_first_ms\":%.2f,\"mark_first_ms\":%.2f,"
      "\"share_first_ms\":%.2f,\"build_warm_ms\":%.2f,\"mark_warm_ms\":%.2f,"
      "\"share_warm_ms\":%.2f,\"graph_bytes\":%llu,\"peak_rss_mb\":%.1f,"
      "\"threads_used\":%d,\"share_threads\":%d,\"share_scratch_bytes\":%llu,"
      "\"huge_pages\":%s}\n",
      data.c_str(), threads, order.c_str(), Scale().c_str(), t.build_first,
      t.mark_first, t.share_first, t.build_warm, t.mark_warm, t.share_warm,
      static_cast<unsigned long long>(t.graph_bytes),
      ancient_bench::StatusMb("VmHWM"), t.threads_used, t.share_threads,
      static_cast<unsigned long long>(t.share_scratch_bytes),
      huge_pages ? "true" : "false");
  return 0;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from <= s.size()) {
    const std::size_t to = std::min(s.find(',', from), s.size());
    if (to > from) out.push_back(s.substr(from, to - from));
    from = to + 1;
  }
  return out;
}

int Main(int argc, char** argv) {
  std::string data = "trie,map,graph,records";
  int runs = 3;
  std::string child, order = "sorted";
  std::string threads = "1,2";  // a child: the one count it marks with
  bool huge_pages = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--data=", 0) == 0) {
      data = a.substr(7);
    } else if (a.rfind("--runs=", 0) == 0) {
      runs = std::atoi(a.c_str() + 7);
    } else if (a.rfind("--child=", 0) == 0) {
      child = a.substr(8);
    } else if (a.rfind("--threads=", 0) == 0) {
      threads = a.substr(10);
    } else if (a.rfind("--order=", 0) == 0) {
      order = a.substr(8);
    } else if (a == "--huge_pages") {
      huge_pages = true;
    } else if (a.rfind("--benchmark_", 0) == 0) {
      // the smoke test's flag for Google Benchmark binaries: one run
      runs = 1;
    } else {
      std::fprintf(stderr,
                   "usage: write_bench [--data=trie,map,graph,records] "
                   "[--runs=N] [--threads=1,2] [--huge_pages]\n");
      return 64;
    }
  }
  if (!child.empty()) {
    return Child(child, std::atoi(threads.c_str()), order, huge_pages);
  }
  int failures = 0;
  for (const std::string& d : Split(data)) {
    const std::vector<std::string> orders =
        d == "trie" ? std::vector<std::string>{"sorted", "shuffled"}
                    : std::vector<std::string>{"sorted"};
    for (int run = 0; run < runs; ++run) {
      for (const std::string& o : orders) {
        for (const std::string& t : Split(threads)) {
          const int th = std::atoi(t.c_str());
          int out = -1;
          std::vector<std::string> args = {"--child=" + d,
                                           "--threads=" + std::to_string(th),
                                           "--order=" + o};
          if (huge_pages) args.push_back("--huge_pages");
          const pid_t pid = ancient_bench::StartSelf(args, &out);
          const std::string line = ancient_bench::ReadAllAndClose(out);
          int status = 0;
          waitpid(pid, &status, 0);
          if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            std::fprintf(stderr, "write_bench: %s on %d threads failed (%d)\n",
                         d.c_str(), th, status);
            ++failures;
            continue;
          }
          std::fputs(line.c_str(), stdout);
          std::fflush(stdout);
        }
      }
    }
  }
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace write_bench

int main(int argc, char** argv) { return write_bench::Main(argc, argv); }
