// Crash torture: a writer process runs random Share / Delete / WriteBatch
// operations with kSync, its values on all three write paths (vectors of
// strings in two passes, small record graphs in one pass, big ones marked
// on two threads: PathOf in store_ops.h), and is killed with SIGKILL at a
// random moment; the
// parent reopens the store, runs Verify, checks that every root acknowledged
// before the kill is present and byte-exact and that no space is lost. Round
// after round on the same store.
//
//   crash_torture --helper=PATH [--rounds=200] [--seed=1]
//   [--max_delay_us=40000]   (the first kill's window; it adapts)
//
// Prints its counts; exits 0 when every round passed, 1 otherwise.

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "store/store.h"
#include "tests/store_ops.h"
#include "tests/test_util.h"

ABSL_FLAG(int, rounds, 200, "kill rounds to run");
ABSL_FLAG(std::uint64_t, seed, 1, "random seed for kill times");
ABSL_FLAG(int, max_delay_us, 40000,
          "longest wait before the first kill (the window then adapts)");
ABSL_FLAG(std::string, helper, "",
          "the store_helper binary (default: runfiles)");
ABSL_FLAG(std::string, dir, "",
          "store directory (default: a new temporary one)");

namespace {

using namespace ancient_test;

// The seq of the value at `key`, whichever path wrote it (its type tells:
// a vector of strings, or records); DataLoss for a damaged value or one
// whose path is not its seq's.
absl::StatusOr<std::uint64_t> ReadSeq(ancient::Store& store,
                                      const std::string& key) {
  auto v = store.GetVerified<std::vector<std::string>>(key);
  if (v.ok()) {
    const std::int64_t seq = CheckValue(**v);
    if (seq < 0 || PathOf(seq) != WritePath::kTwoPass) {
      return absl::DataLossError("damaged value at " + key);
    }
    return static_cast<std::uint64_t>(seq);
  }
  if (!absl::IsFailedPrecondition(v.status())) return v.status();
  auto r = store.GetVerified<parallel_graph::Recs>(key);  // the other type
  if (!r.ok()) return r.status();
  const std::int64_t seq = (*r)->seq;
  if (seq < 0 || PathOf(seq) == WritePath::kTwoPass ||
      parallel_graph::CheckRecs(**r, RecordsOf(seq)) != seq) {
    return absl::DataLossError("damaged records at " + key);
  }
  return static_cast<std::uint64_t>(seq);
}

// The store's contents as key -> seq; an error for a damaged value.
absl::StatusOr<Model> ReadAll(ancient::Store& store) {
  Model m;
  auto keys = store.Keys();
  if (!keys.ok()) return keys.status();
  for (const auto& key : *keys) {
    absl::StatusOr<std::uint64_t> seq = ReadSeq(store, key);
    if (!seq.ok()) return seq.status();
    m[key] = *seq;
  }
  return m;
}

std::string Show(const Model& m) {
  std::string s;
  for (const auto& [k, v] : m) s += k + "=" + std::to_string(v) + " ";
  return s;
}

int Fail(int round, const std::string& what) {
  std::printf("crash torture: round %d FAILED: %s\n", round, what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int rounds = absl::GetFlag(FLAGS_rounds);
  std::string helper = absl::GetFlag(FLAGS_helper);
  if (helper.empty()) helper = Runfile("tests/store_helper");
  std::string dir = absl::GetFlag(FLAGS_dir);
  if (dir.empty()) dir = TempDir("torture");
  std::mt19937_64 rng(absl::GetFlag(FLAGS_seed));
  // The kill comes at a random point of a window that widens after a kill
  // that came before the writer's first commit and narrows a little after
  // one that came later: on a slow build (ThreadSanitizer) the writer takes
  // longer to commit, and the kills follow it there instead of all landing
  // in its start-up.
  double window = absl::GetFlag(FLAGS_max_delay_us);

  ancient::StoreOptions opts;
  opts.max_size = std::size_t{1} << 32;
  opts.convert_types = false;  // a value read as the other type: refused
  Model model;                 // The contents as of the last acknowledged op.
  std::uintptr_t base = 0;
  std::uint64_t next = 0, unacked_commits = 0, kills = 0, writing_kills = 0;
  std::uint64_t parallel_ops = 0;  // acknowledged ops marked on two threads
  for (int round = 0; round < rounds; ++round) {
    Child w = Spawn({helper, "writer", dir, std::to_string(next), "100000000",
                     "sync", "paths"});
    std::string line;
    if (!ReadLine(w.out, &line) || line != "READY") {
      Wait(w);
      return Fail(round, "writer did not start: " + line);
    }
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<std::int64_t>(
            0, static_cast<std::int64_t>(window))(rng)));
    kill(w.pid, SIGKILL);
    std::int64_t acked = -1;
    while (ReadLine(w.out, &line)) {
      if (line.rfind("ACK ", 0) != 0) return Fail(round, "writer: " + line);
      acked = std::stoll(line.substr(4));
      parallel_ops += line.back() == 'P';
    }
    const int status = Wait(w);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      return Fail(round, "writer was not killed by SIGKILL");
    }
    ++kills;
    if (acked >= 0) {
      ++writing_kills;  // It had committed: killed mid-run.
      window = std::max(1000.0, window * 0.95);
    } else {
      window = std::min(2e6, window * 1.3);
    }
    for (std::uint64_t i = next; static_cast<std::int64_t>(i) <= acked; ++i) {
      Apply(OpAt(i), model);
    }
    if (acked >= 0) next = static_cast<std::uint64_t>(acked) + 1;

    // Every other round the store is checked relocated: its base taken
    // here, as by another library.
    void* blocker = nullptr;
    if (round % 2 == 1 && base != 0) {
      blocker = mmap(reinterpret_cast<void*>(base), 4096, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      if (blocker != reinterpret_cast<void*>(base)) {
        return Fail(round, "could not take the store's base");
      }
    }
    auto store = ancient::Store::Open(dir, opts);
    if (!store.ok()) return Fail(round, std::string(store.status().message()));
    base = (*store)->base_address();
    absl::Status v = (*store)->Verify();
    if (!v.ok()) return Fail(round, std::string(v.message()));
    auto st = (*store)->Stats();
    if (!st.ok() || st->bytes_live + st->bytes_free + st->bytes_never_used !=
                        st->arena_size) {
      return Fail(round, "space does not add up");
    }
    absl::StatusOr<Model> got = ReadAll(**store);
    if (!got.ok()) return Fail(round, std::string(got.status().message()));
    if (blocker != nullptr) {
      st = (*store)->Stats();
      if (!st.ok() || (!got->empty() && !st->relocated)) {
        return Fail(round, "the store was not relocated with its base taken");
      }
      store->reset();
      munmap(blocker, 4096);
    }
    // Exactly what was acknowledged, or that plus the one op that committed
    // just before the kill, before its ACK was printed.
    Model plus_one = model;
    Apply(OpAt(next), plus_one);
    if (*got != model) {
      if (*got != plus_one) {
        return Fail(round, "store holds " + Show(*got) + "; acknowledged " +
                               Show(model));
      }
      model = plus_one;
      ++next;
      ++unacked_commits;
    }
  }
  std::printf(
      "crash torture: %d rounds, %lu kills (%lu after the writer had "
      "committed), %lu ops committed (%lu acknowledged ones marked on two "
      "threads), %lu committed but killed before acknowledging, 0 lost or "
      "damaged roots\n",
      rounds, static_cast<unsigned long>(kills),
      static_cast<unsigned long>(writing_kills),
      static_cast<unsigned long>(next),
      static_cast<unsigned long>(parallel_ops),
      static_cast<unsigned long>(unacked_commits));
  // The kills must land while the writer works, or the rounds prove
  // nothing: most rounds killed a writer that had committed, and on
  // average each round committed at least one op (a normal run: ~16 a
  // round; 1.8 on a machine loaded by a parallel build).
  if (writing_kills < static_cast<std::uint64_t>(rounds) / 2) {
    return Fail(rounds, "too few kills landed while the writer was writing");
  }
  if (next < static_cast<std::uint64_t>(rounds)) {
    return Fail(rounds, "too little work done");
  }
  // Every path was written and killed under: a third of the ops each; the
  // parallel ones must really have marked on two threads.
  if (parallel_ops < next / 6) {
    return Fail(rounds, "too few Shares marked on two threads");
  }
  return 0;
}
