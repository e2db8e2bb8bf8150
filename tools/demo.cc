#include "tools/demo.h"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "store/store.h"
#include "tools/cli_util.h"

namespace ancientctl_demo {
struct TrieNode {
  bool word = false;
  std::map<char, std::unique_ptr<TrieNode>> next;
};
}  // namespace ancientctl_demo
ANCIENT_STRUCT(ancientctl_demo::TrieNode, word, next);

extern const char kBundledWords[];  // demo_words.txt, made by a genrule

namespace ancientctl {
namespace {

using ancientctl_demo::TrieNode;
using FrozenTrie = ancient::Frozen<TrieNode>;
constexpr char kKey[] = "words-trie";
constexpr char kBuiltin[] = "(bundled list)";
const char* const kNonWords[] = {"qzxv", "xxyyzz", "aaaaaaaaaaaaa", "zqjkw",
                                 "bcdfgh"};

std::int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

absl::StatusOr<std::vector<std::string>> LoadWords(const std::string& path) {
  std::string text;
  if (path == kBuiltin) {
    text = kBundledWords;
  } else {
    absl::StatusOr<std::string> t = ReadInput(path);
    if (!t.ok()) return t.status();
    text = *std::move(t);
  }
  std::vector<std::string> words =
      absl::StrSplit(text, '\n', absl::SkipEmpty());
  return words;
}

bool Lookup(const FrozenTrie& root, std::string_view w) {
  const FrozenTrie* t = &root;
  for (char ch : w) {
    const auto* next = t->next.get(ch);
    if (next == nullptr) return false;
    t = next->get();
  }
  return t->word;
}

// Fields of /proc/self/smaps_rollup, in KiB.
std::map<std::string, long> MemoryKiB() {
  std::map<std::string, long> m;
  std::ifstream in("/proc/self/smaps_rollup");
  std::string key;
  long kb;
  std::string unit;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (ls >> key >> kb >> unit && !key.empty() && key.back() == ':') {
      key.pop_back();
      m[key] = kb;
    }
  }
  return m;
}

// Resident KiB of the arena mapping (from /proc/self/smaps).
long ArenaResidentKiB(const std::string& arena_path) {
  std::ifstream in("/proc/self/smaps");
  std::string line;
  bool in_arena = false;
  long total = 0;
  while (std::getline(in, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find('-') != std::string::npos && line.find(':') > 8) {
      in_arena = line.size() >= arena_path.size() &&
                 line.compare(line.size() - arena_path.size(),
                              arena_path.size(), arena_path) == 0;
    } else if (in_arena && line.rfind("Rss:", 0) == 0) {
      total += std::atol(line.c_str() + 4);
    }
  }
  return total;
}

}  // namespace

int DemoReader(const std::vector<std::string>& a) {
  const std::string& dir = a[0];
  const std::int64_t start_ns = std::atoll(a[3].c_str());
  const std::int64_t open_ns = NowNs();
  ancient::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto store = ancient::Store::Open(dir, o);
  if (!store.ok()) return Fail(store.status());
  auto root = (*store)->Get<TrieNode>(a[1]);
  if (!root.ok()) return Fail(root.status());
  // The first lookup, timed from the parent's fork (fork, exec, dynamic
  // linking and start-up included) and from the open (open, attach, read).
  volatile bool first = Lookup(**root, "the");
  (void)first;
  const std::int64_t first_ns = NowNs();
  const double first_ms = (first_ns - start_ns) / 1e6;
  const double open_ms = (first_ns - open_ns) / 1e6;
  auto words = LoadWords(a[2]);
  if (!words.ok() || words->empty()) return Fail("demo-reader: no words");
  std::size_t missing = 0, found_non = 0;
  const std::int64_t t0 = NowNs();
  for (const auto& w : *words) missing += Lookup(**root, w) ? 0 : 1;
  for (const char* w : kNonWords) found_non += Lookup(**root, w) ? 1 : 0;
  const double ns_per = double(NowNs() - t0) / (words->size() + 5);
  auto mem = MemoryKiB();
  std::printf(
      "first_lookup_ms=%.2f open_to_first_ms=%.3f words=%zu missing=%zu "
      "nonwords_found=%zu ns_per_lookup=%.0f rss_kib=%ld private_kib=%ld "
      "arena_resident_kib=%ld\n",
      first_ms, open_ms, words->size(), missing, found_non, ns_per, mem["Rss"],
      mem["Anonymous"], ArenaResidentKiB(dir + "/arena"));
  return (missing == 0 && found_non == 0) ? kExitOk : kExitFailure;
}

int Demo(const std::string& dir_arg, const std::string& words_arg,
         int readers) {
  std::string dir = dir_arg;
  bool temporary = false;
  if (dir.empty()) {
    char tmpl[] = "/tmp/ancient-demo.XXXXXX";
    if (mkdtemp(tmpl) == nullptr)
      return Fail("cannot make a temporary directory");
    dir = std::string(tmpl) + "/store";
    temporary = true;
  }
  std::string words_path = words_arg;
  if (words_path.empty()) {
    words_path = std::filesystem::exists("/usr/share/dict/words")
                     ? "/usr/share/dict/words"
                     : kBuiltin;
  }
  int rc = kExitOk;
  {
    auto t = std::chrono::steady_clock::now();
    auto words = LoadWords(words_path);
    if (!words.ok()) return Fail(words.status());
    std::printf("1. load %zu words from %s: %.1f ms\n", words->size(),
                words_path.c_str(), SecondsSince(t) * 1e3);

    t = std::chrono::steady_clock::now();
    TrieNode trie;
    std::size_t nodes = 1;
    for (const auto& w : *words) {
      TrieNode* n = &trie;
      for (char ch : w) {
        auto& next = n->next[ch];
        if (!next) {
          next = std::make_unique<TrieNode>();
          ++nodes;
        }
        n = next.get();
      }
      n->word = true;
    }
    std::printf("2. build a trie of %zu nodes in the heap: %.1f ms\n", nodes,
                SecondsSince(t) * 1e3);

    t = std::chrono::steady_clock::now();
    auto store = ancient::Store::Open(dir);
    if (!store.ok()) return Fail(store.status());
    auto info = (*store)->Share(kKey, trie);
    if (!info.ok()) return Fail(info.status());
    auto st = (*store)->Stats();
    if (!st.ok()) return Fail(st.status());
    std::printf(
        "3. share it in %s (synced): %.1f ms; graph %.1f MiB, arena file "
        "%.1f MiB, LMDB %.1f KiB, mapped at %#lx\n",
        dir.c_str(), SecondsSince(t) * 1e3, info->size_bytes / 1048576.0,
        st->arena_file_bytes / 1048576.0, st->lmdb_file_bytes / 1024.0,
        st->base_address);

    std::printf(
        "4. start %d reader processes (read-only attach, check every "
        "word and %zu non-words):\n",
        readers, std::size(kNonWords));
    struct Reader {
      pid_t pid;
      int out;
    };
    std::vector<Reader> procs;
    for (int i = 0; i < readers; ++i) {
      int fds[2];
      if (pipe(fds) != 0) return Fail("pipe failed");
      const std::string start = std::to_string(NowNs());
      const pid_t pid = fork();
      if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/proc/self/exe", "ancientctl", "demo-reader", dir.c_str(), kKey,
              words_path.c_str(), start.c_str(), nullptr);
        _exit(127);
      }
      close(fds[1]);
      procs.push_back({pid, fds[0]});
    }
    for (int i = 0; i < readers; ++i) {
      std::string out;
      char buf[512];
      ssize_t n;
      while ((n = read(procs[i].out, buf, sizeof buf)) > 0) out.append(buf, n);
      close(procs[i].out);
      int status = 0;
      waitpid(procs[i].pid, &status, 0);
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (!ok) rc = kExitFailure;
      std::map<std::string, std::string> f;
      for (absl::string_view kv : absl::StrSplit(out, ' ', absl::SkipEmpty())) {
        std::vector<std::string> p =
            absl::StrSplit(kv, absl::MaxSplits('=', 1));
        if (p.size() == 2)
          f[p[0]] = std::string(absl::StripTrailingAsciiWhitespace(p[1]));
      }
      std::printf(
          "   reader %d: %s; first lookup %s ms after the fork (exec and "
          "start-up included), %s ms after the open; %s ns per lookup; "
          "%s words missing, %s non-words found; memory: private %s KiB "
          "(its own heap, with its copy of the word list), the trie %s KiB "
          "resident in the shared page cache, not copied\n",
          i + 1, ok ? "ok" : "FAILED", f["first_lookup_ms"].c_str(),
          f["open_to_first_ms"].c_str(), f["ns_per_lookup"].c_str(),
          f["missing"].c_str(), f["nonwords_found"].c_str(),
          f["private_kib"].c_str(), f["arena_resident_kib"].c_str());
    }
    std::printf("5. %s\n", rc == kExitOk
                               ? "every reader found every word and no non-word"
                               : "a reader FAILED");
  }
  if (temporary) {
    std::error_code ec;
    std::filesystem::remove_all(std::filesystem::path(dir).parent_path(), ec);
  }
  return rc;
}

}  // namespace ancientctl
