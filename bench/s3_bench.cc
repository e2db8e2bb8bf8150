// Repositories on object storage, against the S3 gateway that tools/bench
// starts (tools/s3-gateway; AWS_ENDPOINT_URL and keys in the environment):
//
//  publish/follow: the 256-root store (1.2 GiB by default) published to an
//           empty s3:// repository and followed into an empty host, in
//           MiB/s; beside `aws s3 cp --recursive` (Debian's awscli) and
//           `s3cmd put/get --recursive` moving as many bytes (256 files of
//           the same sizes) to and from the same gateway.
//  one root: one root changed, published and followed: bytes moved, time.
//  poll:    an unchanged repository polled: requests and bytes on the wire.
//  fleet:   8 follower processes (`ancientctl follow --interval 0.1`) on
//           this machine: from the start of Publish to all 8 serving the
//           new version (the first, and one root changed).
//
// Prints one JSON object per line.
//   s3_bench --ctl PATH [--mib=1228]   (ANCIENT_BENCH_SCALE=tiny: 8 MiB)

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_data.h"
#include "replica/replica.h"
#include "store/store.h"

namespace ancient_bench {
namespace {

namespace fs = std::filesystem;

double Since(std::int64_t t0) { return (NowNs() - t0) / 1e9; }

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Runs `cmd` (its output dropped), returning its seconds; -1 on failure.
double Shell(const std::string& cmd) {
  double s = 0;
  const std::int64_t t0 = NowNs();
  const int rc = std::system((cmd + " >/dev/null 2>&1").c_str());
  s = Since(t0);
  if (rc != 0) std::fprintf(stderr, "s3_bench: failed: %s\n", cmd.c_str());
  return rc == 0 ? s : -1;
}

void Peers(const std::string& root, std::uint64_t bytes, std::size_t n) {
  // 256 files of the store's root size, pseudo-random content.
  const std::string dir = root + "/peer-src";
  fs::create_directories(dir);
  std::mt19937_64 rng(1);
  std::string buf(bytes / n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j + 8 <= buf.size(); j += 8) {
      const std::uint64_t x = rng();
      std::memcpy(&buf[j], &x, 8);
    }
    std::ofstream(dir + "/root" + std::to_string(i), std::ios::binary) << buf;
  }
  const std::string endpoint = Env("AWS_ENDPOINT_URL");
  const std::string aws = "aws --endpoint-url " + endpoint + " ";
  Shell(aws + "s3 mb s3://peer-aws");
  const double aws_put =
      Shell(aws + "s3 cp --recursive " + dir + " s3://peer-aws/x");
  const double aws_get =
      Shell(aws + "s3 cp --recursive s3://peer-aws/x " + root + "/peer-aws");
  Shell(aws + "s3 rm --recursive s3://peer-aws/x");
  const std::string cfg = root + "/s3cfg";
  const std::string host = endpoint.substr(endpoint.find("//") + 2);
  std::ofstream(cfg) << "[default]\naccess_key = " << Env("AWS_ACCESS_KEY_ID")
                     << "\nsecret_key = " << Env("AWS_SECRET_ACCESS_KEY")
                     << "\nhost_base = " << host << "\nhost_bucket = " << host
                     << "\nuse_https = False\nsignature_v2 = False\n";
  const std::string s3cmd = "s3cmd -c " + cfg + " ";
  Shell(s3cmd + "mb s3://peer-s3cmd");
  const double s3cmd_put =
      Shell(s3cmd + "put --recursive " + dir + "/ s3://peer-s3cmd/x/");
  fs::create_directories(root + "/peer-s3cmd");
  const double s3cmd_get = Shell(s3cmd + "get --recursive s3://peer-s3cmd/x/ " +
                                 root + "/peer-s3cmd/");
  Shell(s3cmd + "del --recursive --force s3://peer-s3cmd/x/");
  std::printf(
      "{\"bench\":\"s3_peers\",\"bytes\":%lu,\"aws_put_s\":%.3f,"
      "\"aws_get_s\":%.3f,\"s3cmd_put_s\":%.3f,\"s3cmd_get_s\":%.3f}\n",
      static_cast<unsigned long>(bytes), aws_put, aws_get, s3cmd_put,
      s3cmd_get);
  std::fflush(stdout);
}

// Seconds from now until every local in `locals` is on version v.
double UntilAllServe(const std::vector<std::string>& locals, std::uint64_t v,
                     std::int64_t t0) {
  for (std::size_t i = 0; i < locals.size();) {
    auto st = ancient::GetReplicaStatus(locals[i]);
    if (st.ok() && st->current == v) {
      ++i;
    } else if (Since(t0) > 120) {
      return -1;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  return Since(t0);
}

void Run(std::size_t mib, const std::string& ctl) {
  const std::string root = TempDir("s3");
  const std::string bucket = "bench-" + std::to_string(::getpid());
  Shell("aws --endpoint-url " + Env("AWS_ENDPOINT_URL") + " s3 mb s3://" +
        bucket);
  const std::string repo = "s3://" + bucket + "/repo";
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto src = ancient::Store::Open(root + "/src", o);
  const std::size_t n = Tiny() ? 8 : 256;
  const std::size_t per_root = (mib << 20) / n / 100;
  for (std::size_t i = 0; i < n; ++i) {
    (void)(*src)->Share("root" + std::to_string(i), RootStrings(i, per_root));
  }
  std::int64_t t0 = NowNs();
  auto pub = ancient::Publish(**src, repo);
  const double publish_s = Since(t0);
  t0 = NowNs();
  auto fol = ancient::FollowOnce(repo, root + "/local");
  const double follow_s = Since(t0);
  if (!pub.ok() || !fol.ok()) {
    std::fprintf(stderr, "s3_bench: %s %s\n", pub.status().ToString().c_str(),
                 fol.status().ToString().c_str());
    std::exit(1);
  }
  std::printf(
      "{\"bench\":\"s3_full\",\"n\":%zu,\"bytes\":%lu,\"publish_s\":%.3f,"
      "\"publish_requests\":%lu,\"follow_s\":%.3f,\"follow_requests\":%lu}\n",
      n, static_cast<unsigned long>(pub->bytes), publish_s,
      static_cast<unsigned long>(pub->requests), follow_s,
      static_cast<unsigned long>(fol->requests));
  std::fflush(stdout);
  Peers(root, pub->bytes, n);

  // The fleet: 8 followers, each its own process and host directory.
  std::vector<std::string> locals;
  std::vector<pid_t> pids;
  for (int i = 0; i < 8; ++i) {
    locals.push_back(root + "/host" + std::to_string(i));
    const pid_t pid = fork();
    if (pid == 0) {
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      execl(ctl.c_str(), ctl.c_str(), "follow", repo.c_str(),
            locals.back().c_str(), "--interval", "0.1", (char*)nullptr);
      _exit(127);
    }
    pids.push_back(pid);
  }
  t0 = NowNs();
  const double first_s = UntilAllServe(locals, pub->version, t0);

  // One root changed: published, followed by this host and by the fleet.
  (void)(*src)->Share("root7", RootStrings(999999, per_root));
  // From the publish's start: the followers see the announcement before
  // Publish returns (it collects garbage after announcing).
  t0 = NowNs();
  auto one = ancient::Publish(**src, repo);
  const double one_publish_s = Since(t0);
  const double fleet_s = UntilAllServe(locals, one->version, t0);
  t0 = NowNs();
  auto one_follow = ancient::FollowOnce(repo, root + "/local");
  const double one_follow_s = Since(t0);
  for (const pid_t pid : pids) kill(pid, SIGTERM);
  long follower_rss_kib = 0;  // the largest of the 8 (ru_maxrss)
  for (const pid_t pid : pids) {
    struct rusage ru;
    if (wait4(pid, nullptr, 0, &ru) == pid) {
      follower_rss_kib = std::max(follower_rss_kib, ru.ru_maxrss);
    }
  }
  // An unchanged poll.
  t0 = NowNs();
  auto poll = ancient::FollowOnce(repo, root + "/local");
  const double poll_s = Since(t0);
  if (!one.ok() || !one_follow.ok() || !poll.ok()) std::exit(1);
  std::printf(
      "{\"bench\":\"s3_one\",\"publish_s\":%.3f,\"written\":%lu,"
      "\"follow_s\":%.3f,\"fetched\":%lu,\"version_bytes\":%lu,"
      "\"fleet8_first_s\":%.3f,\"fleet8_one_s\":%.3f,"
      "\"poll_s\":%.5f,\"poll_requests\":%lu,\"poll_wire_bytes\":%lu,"
      "\"follower_max_rss_kib\":%ld}\n",
      one_publish_s, static_cast<unsigned long>(one->bytes_written),
      one_follow_s, static_cast<unsigned long>(one_follow->bytes_fetched),
      static_cast<unsigned long>(one->bytes), first_s, fleet_s, poll_s,
      static_cast<unsigned long>(poll->requests),
      static_cast<unsigned long>(poll->wire_bytes), follower_rss_kib);
  std::fflush(stdout);
  fs::remove_all(root);
  // The gateway keeps objects in memory, and stops taking writes when
  // nearly full: the next run needs the room.
  Shell("aws --endpoint-url " + Env("AWS_ENDPOINT_URL") + " s3 rb --force s3://" +
        bucket);
}

}  // namespace
}  // namespace ancient_bench

int main(int argc, char** argv) {
  std::size_t mib = ancient_bench::Tiny() ? 8 : 1228;
  std::string ctl;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--mib=", 0) == 0) mib = std::stoul(a.substr(6));
    if (a == "--ctl" && i + 1 < argc) ctl = argv[++i];
  }
  if (ctl.empty() || std::getenv("AWS_ENDPOINT_URL") == nullptr) {
    std::fprintf(stderr,
                 "usage: s3_bench --ctl ANCIENTCTL [--mib=N] (with "
                 "AWS_ENDPOINT_URL and keys set: tools/s3-gateway)\n");
    return 2;
  }
  ancient_bench::Run(mib, ctl);
  return 0;
}
