// Data sets shared by the benchmarks: the words of /usr/share/dict/words
// (as a vector and as a map), a pointer-rich graph with sharing, and a real
// JSON document as ancient::Value. ANCIENT_BENCH_SCALE=tiny makes them small
// (for CI's smoke run).

#ifndef ANCIENT_BENCH_BENCH_DATA_H_
#define ANCIENT_BENCH_BENCH_DATA_H_

#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ancient/ancient.h"
#include "ancient/json.h"

namespace ancient_bench {

inline bool Tiny() {
  const char* s = std::getenv("ANCIENT_BENCH_SCALE");
  return s != nullptr && std::string(s) == "tiny";
}

inline const std::vector<std::string>& Words() {
  static const auto* words = [] {
    auto* v = new std::vector<std::string>;
    std::ifstream in("/usr/share/dict/words");
    for (std::string w; std::getline(in, w);) v->push_back(w);
    if (v->empty()) {
      for (int i = 0; i < 100000; ++i) v->push_back("word" + std::to_string(i));
    }
    if (Tiny()) v->resize(std::min<std::size_t>(v->size(), 1000));
    return v;
  }();
  return *words;
}

inline const std::map<std::string, std::int64_t>& WordMap() {
  static const auto* m = [] {
    auto* out = new std::map<std::string, std::int64_t>;
    std::int64_t i = 0;
    for (const auto& w : Words()) (*out)[w] = i++;
    return out;
  }();
  return *m;
}

inline std::size_t PayloadBytes(const std::vector<std::string>& v) {
  std::size_t n = 0;
  for (const auto& s : v) n += s.size();
  return n;
}

// A graph of N nodes, each with 1..4 edges to random nodes: many nodes are
// reached from several others (sharing), and there are cycles.
struct GraphNode {
  std::int64_t id;
  std::vector<GraphNode*> edges;
};

struct Graph {
  std::vector<std::unique_ptr<GraphNode>> nodes;
};

inline std::size_t GraphSize() { return Tiny() ? 1000 : 1000000; }

// The graph, built anew (GraphSize() nodes); the same every time.
inline std::unique_ptr<Graph> MakeGraph() {
  auto out = std::make_unique<Graph>();
  const std::size_t n = GraphSize();
  out->nodes.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out->nodes.push_back(std::make_unique<GraphNode>());
    out->nodes.back()->id = static_cast<std::int64_t>(i);
  }
  std::mt19937_64 rng(42);
  for (std::size_t i = 0; i < n; ++i) {
    const int k = 1 + rng() % 4;
    // Node i links to i+1 so that everything is reachable from node 0.
    out->nodes[i]->edges.push_back(out->nodes[(i + 1) % n].get());
    for (int e = 1; e < k; ++e) {
      out->nodes[i]->edges.push_back(out->nodes[rng() % n].get());
    }
  }
  return out;
}

inline const Graph& TheGraph() {
  static const Graph* g = MakeGraph().release();
  return *g;
}

// The words as a Value (a JSON array of strings).
inline const ancient::Value& WordsValue() {
  static const ancient::Value* v = [] {
    ancient::Value::Array a(Words().begin(), Words().end());
    return new ancient::Value(std::move(a));
  }();
  return *v;
}

// A real JSON document (Debian's iso-codes) as a Value; synthetic if absent.
inline const ancient::Value& Json() {
  static const ancient::Value* v = [] {
    std::ifstream in("/usr/share/iso-codes/json/iso_639-3.json");
    std::stringstream ss;
    ss << in.rdbuf();
    auto parsed = ancient::ParseJson(ss.str());
    if (parsed.ok() && !Tiny()) return new ancient::Value(*std::move(parsed));
    ancient::Value::Array a;
    for (int i = 0; i < (Tiny() ? 100 : 8000); ++i) {
      ancient::Value::Object o;
      o["alpha_3"] = "x" + std::to_string(i);
      o["name"] = "Language " + std::to_string(i);
      o["scope"] = "I";
      a.push_back(ancient::Value(o));
    }
    ancient::Value::Object root;
    root["639-3"] = ancient::Value(a);
    return new ancient::Value(root);
  }();
  return *v;
}

// Random lookup keys (all present), the same for every contender.
inline const std::vector<std::string>& LookupKeys() {
  static const auto* keys = [] {
    auto* k = new std::vector<std::string>;
    std::mt19937_64 rng(7);
    const auto& w = Words();
    const std::size_t n = Tiny() ? 1000 : 1000000;
    k->reserve(n);
    for (std::size_t i = 0; i < n; ++i) k->push_back(w[rng() % w.size()]);
    return k;
  }();
  return *keys;
}

// Monotonic nanoseconds, comparable across processes on one machine.
inline std::int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Random strings of 100 bytes adding up to `mib` MiB.
inline std::vector<std::string> HundredByteStrings(std::size_t mib) {
  const std::size_t n = (mib << 20) / 100;
  std::vector<std::string> v(n);
  std::mt19937_64 rng(1);
  for (auto& s : v) {
    s.resize(100);
    for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  }
  return v;
}

// Starts this program again with `args` (fork + exec of /proc/self/exe: a
// fresh process), its stdout on a pipe whose read end goes to *out.
inline pid_t StartSelf(const std::vector<std::string>& args, int* out) {
  static const std::string self = [] {
    std::vector<char> buf(4096);
    const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
    return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n))
                 : std::string("/proc/self/exe");
  }();
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv = {const_cast<char*>(self.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(self.c_str(), argv.data());
    _exit(127);
  }
  close(fds[1]);
  *out = fds[0];
  return pid;
}

// Reads `fd` to its end, then closes it.
inline std::string ReadAllAndClose(int fd) {
  std::string text;
  char buf[256];
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0) text.append(buf, r);
  close(fd);
  return text;
}

inline std::string TempDir(const std::string& name) {
  std::string tmpl = "/tmp/ancient-bench-" + name + ".XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) std::abort();
  return buf.data();
}

// Strings of 100 bytes, `count` of them, different for each seed.
inline std::vector<std::string> RootStrings(std::uint64_t seed, std::size_t count) {
  std::vector<std::string> v(count);
  std::mt19937_64 rng(seed * 7919 + 1);
  for (auto& s : v) {
    s.resize(100);
    for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  }
  return v;
}

// `cmd`'s standard output, and its seconds in *secs.
inline std::string RunTimed(const std::string& cmd, double* secs) {
  const std::int64_t t0 = NowNs();
  std::string out;
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char buf[512];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    if (pclose(f) != 0) out.clear();
  }
  *secs = (NowNs() - t0) / 1e9;
  return out;
}

}  // namespace ancient_bench

ANCIENT_STRUCT(ancient_bench::GraphNode, id, edges);
ANCIENT_STRUCT(ancient_bench::Graph, nodes);

#endif  // ANCIENT_BENCH_BENCH_DATA_H_
