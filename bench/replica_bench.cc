// Many hosts (store/replica.h), in fresh processes where it matters:
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
//
// Prints one JSON object per line (tools/bench collects them).
//   replica_bench [--mib=1024]     (ANCIENT_BENCH_SCALE=tiny: 4 MiB, 0.3 s)

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
#include <vector>

#include "bench/bench_data.h"
#include "store/replica.h"
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

  // Publish and follow, beside cp -r of the same files.
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
  const double cp_version_s =
      CpSeconds(repo + "/versions/0000000001", root + "/cp_version");
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
  Run(mib);
  Switches();
  return 0;
}
