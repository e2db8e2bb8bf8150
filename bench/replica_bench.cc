// Many hosts (replica/replica.h), in fresh processes where it matters:
//
//  publish/follow: Publish of a store of 100-byte strings (1 GiB by default)
//           and FollowOnce of that version, in MiB/s of the version's files,
//           beside `cp -r` of the same files.
//  announce: from Publish returning to a reader process (ancient::Replica)
//           first reading the new version, with a follower process running
//           FollowOnce every 10 ms: the fetch, checks and switch.
//  switches: a reader process's lookups per second (Replica::Get + one
//           element) for 3 s without switches, then for 3 s while a new
//           version of a small store is published and followed every 100 ms.
//  delta:   a store of n roots (1.2 GiB in all by default) published and
//           followed after changing k of them (k = 0, 1, n/100, n): bytes
//           written and fetched and time, beside `rsync -a --checksum
//           --no-whole-file` of the store's directory onto a copy of the
//           version before (the classic delta transfer) and beside the
//           whole copy that publishing moved before objects.
//  sharded: a 4M-entry hash map shared as 256 shards: the bytes one changed
//           key moves, and lookups in it beside the same map unsplit.
//
// Prints one JSON object per line (tools/bench collects them).
//   replica_bench [--mib=1024] [--deltas | --sharded]
//                                  (ANCIENT_BENCH_SCALE=tiny: 4 MiB, 0.3 s)

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bench/bench_data.h"
#include "replica/replica.h"
#include "store/sharded.h"
#include "store/store.h"

namespace ancient_bench {
namespace {

namespace fs = std::filesystem;
using Strings = std::vector<std::string>;

std::uint64_t DirBytes(const std::string& dir) {
  std::uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

// Seconds that `cp -r from to` takes, with its files fsync()ed as ours are
// (`sync FILE...`; page cache warm, as for ours).
double CpSeconds(const std::string& from, const std::string& to) {
  const std::string cmd =
      "cp -r '" + from + "' '" + to + "' && sync '" + to + "'/*";
  const std::int64_t t0 = NowNs();
  if (std::system(cmd.c_str()) != 0) return -1;
  return (NowNs() - t0) / 1e9;
}

// fsyncs the files of `dir` (`sync FILE...`).
void SyncDir(const std::string& dir) {
  const std::string cmd = "sync '" + dir + "'/*";
  if (std::system(cmd.c_str()) != 0)
    std::fprintf(stderr, "%s failed\n", cmd.c_str());
}

// ---------------------------------------------------------------- children

// Follows until killed.
int ChildFollower(const std::string& repo, const std::string& local) {
  while (true) {
    (void)ancient::FollowOnce(repo, local);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Reads through a Replica for `seconds` (or until "seq" reaches `until`, if
// >= 0): prints lookups, seconds, and when `until` was first seen (ns).
int ChildReader(const std::string& local, double seconds, std::int64_t until) {
  std::unique_ptr<ancient::Replica> replica;
  while (replica == nullptr) {
    auto r = ancient::Replica::Open(local);
    if (r.ok())
      replica = *std::move(r);
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::mt19937_64 rng(getpid());
  std::uint64_t lookups = 0, sum = 0;
  std::int64_t seen_ns = -1;
  const std::int64_t t0 = NowNs();
  const std::int64_t end = t0 + static_cast<std::int64_t>(seconds * 1e9);
  while (NowNs() < end) {
    auto data = replica->Get<Strings>("data");
    if (!data.ok()) return 2;
    sum += (**data)[rng() % (*data)->size()].size();
    ++lookups;
    if (until >= 0 && (lookups & 63) == 0) {
      auto seq = replica->Get<std::int64_t>("seq");
      if (seq.ok() && **seq == until) {
        seen_ns = NowNs();
        break;
      }
    }
  }
  std::printf("%lu %.6f %ld %lu\n", static_cast<unsigned long>(lookups),
              (NowNs() - t0) / 1e9, static_cast<long>(seen_ns),
              static_cast<unsigned long>(sum & 1));
  return 0;
}

// ------------------------------------------------------------------ parent

void Run(std::size_t mib) {
  const std::string root = TempDir("replica");
  const std::string src_dir = root + "/src", repo = root + "/repo",
                    local = root + "/local";
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto src = ancient::Store::Open(src_dir, o);
  {
    const Strings data = HundredByteStrings(mib);
    (void)(*src)->Share("data", data);
  }
  (void)(*src)->Share("seq", std::int64_t{1});

  // Publish and follow, beside cp -r of the same files. The source store,
  // just written with kNoSync, is synced first: its write-back would
  // otherwise compete with whichever is measured first.
  SyncDir(src_dir);
  std::int64_t t0 = NowNs();
  auto pub = ancient::Publish(**src, repo);
  const double publish_s = (NowNs() - t0) / 1e9;
  if (!pub.ok()) {
    std::fprintf(stderr, "publish: %s\n",
                 std::string(pub.status().message()).c_str());
    return;
  }
  const double version_mib = pub->bytes / 1048576.0;
  const double cp_src_s = CpSeconds(src_dir, root + "/cp_src");
  t0 = NowNs();
  auto fol = ancient::FollowOnce(repo, local);
  const double follow_s = (NowNs() - t0) / 1e9;
  if (!fol.ok()) return;
  // The version's files: its objects (and its manifest).
  const double cp_version_s =
      CpSeconds(repo + "/objects", root + "/cp_version");
  std::printf(
      "{\"bench\":\"replica\",\"mib\":%.1f,\"publish_s\":%.4f,"
      "\"cp_src_s\":%.4f,\"src_mib\":%.1f,\"follow_s\":%.4f,"
      "\"cp_version_s\":%.4f}\n",
      version_mib, publish_s, cp_src_s, DirBytes(src_dir) / 1048576.0, follow_s,
      cp_version_s);
  std::fflush(stdout);
  fs::remove_all(root + "/cp_src");
  fs::remove_all(root + "/cp_version");

  // Announce to first read on the follower's host.
  int fol_out, rd_out;
  const pid_t follower = StartSelf({"--child=follower", repo, local}, &fol_out);
  const pid_t reader =
      StartSelf({"--child=reader", local, "600", "2"}, &rd_out);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  (void)(*src)->Share("seq", std::int64_t{2});
  pub = ancient::Publish(**src, repo);
  const std::int64_t announced = NowNs();
  const std::string text = ReadAllAndClose(rd_out);
  waitpid(reader, nullptr, 0);
  long lookups = 0, seen = -1;
  double secs = 0;
  std::sscanf(text.c_str(), "%ld %lf %ld", &lookups, &secs, &seen);
  std::printf(
      "{\"bench\":\"announce\",\"mib\":%.1f,\"announce_to_read_s\":%.4f}\n",
      version_mib, seen > 0 ? (seen - announced) / 1e9 : -1.0);
  std::fflush(stdout);
  kill(follower, SIGKILL);
  waitpid(follower, nullptr, 0);
  close(fol_out);
  fs::remove_all(root);
}

// Reader throughput with and without switches, on a small store.
void Switches() {
  const std::string root = TempDir("switches");
  const std::string repo = root + "/repo", local = root + "/local";
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto src = ancient::Store::Open(root + "/src", o);
  (void)(*src)->Share("data", Words());
  (void)(*src)->Share("seq", std::int64_t{1});
  (void)ancient::Publish(**src, repo);
  (void)ancient::FollowOnce(repo, local);
  const double seconds = Tiny() ? 0.3 : 3;
  const std::string secs = std::to_string(seconds);
  auto measure = [&](bool switching) {
    int out, fol_out = -1;
    pid_t follower = -1;
    if (switching) {
      follower = StartSelf({"--child=follower", repo, local}, &fol_out);
    }
    const pid_t reader = StartSelf({"--child=reader", local, secs, "-1"}, &out);
    int published = 0;
    if (switching) {
      const std::int64_t end =
          NowNs() + static_cast<std::int64_t>(seconds * 1e9);
      for (std::int64_t seq = 2; NowNs() < end; ++seq) {
        (void)(*src)->Share("seq", seq);
        ancient::PublishOptions p;
        p.keep = 3;
        p.grace_seconds = 0;
        if (ancient::Publish(**src, repo, p).ok()) ++published;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
    const std::string text = ReadAllAndClose(out);
    waitpid(reader, nullptr, 0);
    if (switching) {
      kill(follower, SIGKILL);
      waitpid(follower, nullptr, 0);
      close(fol_out);
    }
    long lookups = 0;
    double s = 1;
    std::sscanf(text.c_str(), "%ld %lf", &lookups, &s);
    std::printf(
        "{\"bench\":\"switches\",\"switching\":%s,\"lookups_per_s\":%.0f,"
        "\"versions_published\":%d}\n",
        switching ? "true" : "false", lookups / s, published);
    std::fflush(stdout);
  };
  measure(false);
  measure(true);
  fs::remove_all(root);
}

// One Publish of `src` to `repo`, then one FollowOnce into `local`, timed.
struct Round {
  absl::StatusOr<ancient::PublishResult> pub;
  absl::StatusOr<ancient::FollowResult> fol;
  double publish_s = 0, follow_s = 0;
  bool ok() const { return pub.ok() && fol.ok(); }
};
Round PublishAndFollow(const ancient::Store& src, const std::string& repo,
                       const std::string& local) {
  Round r;
  std::int64_t t0 = NowNs();
  r.pub = ancient::Publish(src, repo);
  r.publish_s = (NowNs() - t0) / 1e9;
  t0 = NowNs();
  r.fol = ancient::FollowOnce(repo, local);
  r.follow_s = (NowNs() - t0) / 1e9;
  if (!r.ok()) {
    std::fprintf(stderr, "publish: %s; follow: %s\n",
                 r.pub.status().ToString().c_str(),
                 r.fol.status().ToString().c_str());
  }
  return r;
}

// The number after `label` in rsync --stats output ("1,234" allowed).
double StatNumber(const std::string& text, const std::string& label) {
  const std::size_t at = text.find(label);
  if (at == std::string::npos) return -1;
  std::string digits;
  for (std::size_t i = at + label.size(); i < text.size(); ++i) {
    if (text[i] >= '0' && text[i] <= '9') {
      digits += text[i];
    } else if (text[i] != ',' && !digits.empty()) {
      break;
    }
  }
  return digits.empty() ? -1 : std::stod(digits);
}

void Deltas(std::size_t mib) {
  const std::string root = TempDir("delta");
  const std::string src_dir = root + "/src", repo = root + "/repo",
                    local = root + "/local", mirror = root + "/mirror";
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto src = ancient::Store::Open(src_dir, o);
  const std::size_t n = Tiny() ? 8 : 256;
  const std::size_t per_root = (mib << 20) / n / 100;
  for (std::size_t i = 0; i < n; ++i) {
    (void)(*src)->Share("root" + std::to_string(i), RootStrings(i, per_root));
  }
  const double store_mib = DirBytes(src_dir) / 1048576.0;
  SyncDir(src_dir);  // As in Run.
  Round first = PublishAndFollow(**src, repo, local);
  if (!first.ok()) return;
  const double publish_s = first.publish_s, follow_s = first.follow_s;
  const auto& pub = first.pub;
  const auto& fol = first.fol;
  const double cp_s = CpSeconds(src_dir, mirror);  // the host's old copy
  std::printf(
      "{\"bench\":\"delta\",\"k\":-1,\"n\":%zu,\"store_mib\":%.1f,"
      "\"publish_s\":%.4f,\"written\":%lu,\"follow_s\":%.4f,"
      "\"fetched\":%lu,\"cp_s\":%.4f,\"version_bytes\":%lu}\n",
      n, store_mib, publish_s, static_cast<unsigned long>(pub->bytes_written),
      follow_s, static_cast<unsigned long>(fol->bytes_fetched), cp_s,
      static_cast<unsigned long>(pub->bytes));
  std::fflush(stdout);
  std::uint64_t seed = 1000000;
  std::size_t start = 0;
  for (const std::size_t k :
       {std::size_t{0}, std::size_t{1}, std::max<std::size_t>(1, n / 100), n}) {
    // k distinct roots, each given new content.
    for (std::size_t j = 0; j < k; ++j) {
      (void)(*src)->Share("root" + std::to_string((start + j) % n),
                          RootStrings(++seed, per_root));
    }
    start += k + 5;
    Round round = PublishAndFollow(**src, repo, local);
    if (!round.ok()) return;
    const double p_s = round.publish_s, f_s = round.follow_s;
    const auto& pub = round.pub;
    const auto& fol = round.fol;
    double rsync_s = -1;
    const std::string stats =
        RunTimed("rsync -a --checksum --no-whole-file --stats '" + src_dir +
                     "/' '" + mirror + "/' && sync '" + mirror + "'/*",
                 &rsync_s);
    std::printf(
        "{\"bench\":\"delta\",\"k\":%zu,\"n\":%zu,\"store_mib\":%.1f,"
        "\"publish_s\":%.4f,\"written\":%lu,\"follow_s\":%.4f,"
        "\"fetched\":%lu,\"manifest\":%lu,\"rsync_s\":%.4f,"
        "\"rsync_literal\":%.0f,"
        "\"rsync_sent\":%.0f,\"version_bytes\":%lu,\"full_bytes\":%lu}\n",
        k, n, store_mib, p_s, static_cast<unsigned long>(pub->bytes_written),
        f_s, static_cast<unsigned long>(fol->bytes_fetched),
        static_cast<unsigned long>(pub->manifest_bytes),
        stats.empty() ? -1.0 : rsync_s, StatNumber(stats, "Literal data:"),
        StatNumber(stats, "Total bytes sent:"),
        static_cast<unsigned long>(pub->bytes),
        static_cast<unsigned long>(DirBytes(src_dir)));
    std::fflush(stdout);
  }
  fs::remove_all(root);
}

void ShardedMap() {
  using Dict = std::unordered_map<std::string, std::vector<std::int64_t>>;
  const std::string root = TempDir("sharded");
  const std::string repo = root + "/repo", local = root + "/local";
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto src = ancient::Store::Open(root + "/src", o);
  auto whole_store = ancient::Store::Open(root + "/whole", o);
  const std::size_t entries = Tiny() ? 20000 : 4000000;
  const int shards = 256;
  std::vector<std::string> keys(entries);
  for (std::size_t i = 0; i < entries; ++i) keys[i] = "key" + std::to_string(i);
  {
    Dict whole;
    for (std::size_t i = 0; i < entries; ++i) {
      whole.emplace(keys[i], std::vector<std::int64_t>(2 + i % 4, i));
    }
    (void)(*whole_store)->Share("dict", whole);
  }
  ancient::Sharded<Dict> m(shards);
  for (std::size_t i = 0; i < entries; ++i) {
    m.insert_or_assign(keys[i], std::vector<std::int64_t>(2 + i % 4, i));
  }
  auto share = [&] {
    auto batch = (*src)->Write();
    (void)m.Share(*batch, "dict");
    (void)batch->Commit();
  };
  share();
  if (!PublishAndFollow(**src, repo, local).ok()) return;
  m.insert_or_assign(keys[entries / 2], std::vector<std::int64_t>{-1});
  share();
  Round round = PublishAndFollow(**src, repo, local);
  if (!round.ok()) return;
  const double p_s = round.publish_s, f_s = round.follow_s;
  const auto& pub = round.pub;
  const auto& fol = round.fol;
  std::int64_t t0;

  // Lookups of existing keys in random order: the unsplit map against the
  // sharded one, alternately, three times each; the best of each.
  auto replica = ancient::Replica::Open(local);
  auto snap = (*replica)->Read();
  auto view = ancient::ShardedView<Dict>::Open(*snap, "dict");
  auto wsnap = (*whole_store)->Read();
  auto whole = wsnap->Get<Dict>("dict");
  if (!view.ok() || !whole.ok()) return;
  std::vector<const std::string*> order(Tiny() ? 20000 : 2000000);
  std::mt19937_64 rng(5);
  for (auto& k : order) k = &keys[rng() % entries];
  // The same sharded map read in the producer's store (placed by Share,
  // not by a follow): tells sharding's cost from placement's.
  auto ssnap = (*src)->Read();
  auto src_view = ancient::ShardedView<Dict>::Open(*ssnap, "dict");
  if (!src_view.ok()) return;
  double best_whole = 1e18, best_sharded = 1e18, best_src = 1e18;
  std::uint64_t sum = 0;
  for (int rep = 0; rep < 3; ++rep) {
    t0 = NowNs();
    for (const std::string* k : order) sum += (*whole)->get(*k)->size();
    best_whole = std::min(best_whole, double(NowNs() - t0) / order.size());
    t0 = NowNs();
    for (const std::string* k : order) sum += view->get(*k)->size();
    best_sharded = std::min(best_sharded, double(NowNs() - t0) / order.size());
    t0 = NowNs();
    for (const std::string* k : order) sum += src_view->get(*k)->size();
    best_src = std::min(best_src, double(NowNs() - t0) / order.size());
  }
  std::printf(
      "{\"bench\":\"sharded\",\"entries\":%zu,\"shards\":%d,"
      "\"map_bytes\":%lu,\"written\":%lu,\"fetched\":%lu,"
      "\"publish_s\":%.4f,\"follow_s\":%.4f,\"whole_ns\":%.1f,"
      "\"sharded_ns\":%.1f,\"sharded_src_ns\":%.1f,\"check\":%lu}\n",
      entries, shards, static_cast<unsigned long>(pub->bytes),
      static_cast<unsigned long>(pub->bytes_written),
      static_cast<unsigned long>(fol->bytes_fetched), p_s, f_s, best_whole,
      best_sharded, best_src, static_cast<unsigned long>(sum & 1));
  std::fflush(stdout);
  fs::remove_all(root);
}

}  // namespace
}  // namespace ancient_bench

int main(int argc, char** argv) {
  using namespace ancient_bench;
  if (argc == 4 && std::strcmp(argv[1], "--child=follower") == 0) {
    return ChildFollower(argv[2], argv[3]);
  }
  if (argc == 5 && std::strcmp(argv[1], "--child=reader") == 0) {
    return ChildReader(argv[2], std::stod(argv[3]), std::stoll(argv[4]));
  }
  std::size_t mib = Tiny() ? 4 : 1024;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--mib=", 6) == 0) mib = std::stoull(argv[i] + 6);
  }
  bool only_deltas = false;   // --deltas: the delta and sharded runs only
  bool only_sharded = false;  // --sharded: the sharded run only
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--deltas") == 0) only_deltas = true;
    if (std::strcmp(argv[i], "--sharded") == 0) only_sharded = true;
  }
  if (!only_deltas && !only_sharded) {
    Run(mib);
    Switches();
  }
  if (!only_sharded) Deltas(mib);
  ShardedMap();
  return 0;
}
