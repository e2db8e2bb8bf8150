// What only object storage has: a follower's unchanged poll is one small
// request; big roots go up in parts and come down in parallel ranges;
// publishers racing for one version; credentials, buckets and objects that
// are wrong; the gateway stopped in the middle of a follow; publishers and
// followers killed mid-transfer. Against a real S3 server (Ceph's RADOS
// Gateway, tools/s3-gateway); every failure leaves the host on the whole
// version it had.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "replica/replica.h"
#include "replica/replica_testing.h"
#include "replica/s3/gateway_testing.h"
#include "store/store.h"
#include "tests/test_util.h"

namespace {

using ancient::Replica;
using ancient::Store;
using namespace ancient_test;
using Strings = std::vector<std::string>;
using Clock = std::chrono::steady_clock;

std::string Key(int i) { return "root" + std::to_string(i); }

std::optional<std::uint64_t> Current(const std::string& local) {
  auto st = ancient::GetReplicaStatus(local);
  return st.ok() ? st->current : std::nullopt;
}

// A repository in a new bucket, its store of `roots` roots published as
// version 1 and followed by `local`.
struct Fleet {
  std::string root, bucket, repo, local;
  std::unique_ptr<Store> src;
};
Fleet MakeFleet(const std::string& name, int roots = 4) {
  Fleet f;
  f.root = TempDir(name);
  f.bucket = S3Gateway::Get().NewBucket(name);
  f.repo = "s3://" + f.bucket + "/repo";
  f.local = f.root + "/local";
  f.src = OpenStore(f.root + "/src");
  for (int i = 0; i < roots; ++i) {
    EXPECT_TRUE(f.src->Share(Key(i), MakeValue(100 + i, 100)).ok());
  }
  auto p = ancient::Publish(*f.src, f.repo);
  EXPECT_TRUE(p.ok()) << p.status();
  auto r = ancient::FollowOnce(f.repo, f.local);
  EXPECT_TRUE(r.ok()) << r.status();
  return f;
}

TEST(S3Replica, AnUnchangedPollIsOneConditionalRequest) {
  Fleet f = MakeFleet("poll");
  for (int i = 0; i < 3; ++i) {
    auto r = ancient::FollowOnce(f.repo, f.local);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->switched);
    EXPECT_EQ(r->requests, 1u);       // GET ANNOUNCE, If-None-Match: 304
    EXPECT_LT(r->wire_bytes, 1024u);  // headers both ways, no body
    EXPECT_EQ(r->bytes_fetched, 0u);
  }
  auto st = ancient::GetReplicaStatus(f.local);
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->following, f.repo);
  EXPECT_EQ(st->current, 1u);
  EXPECT_EQ(st->last_poll_requests, 1u);
  EXPECT_GT(st->last_poll, 0);
  // A new version is seen at the next poll.
  ASSERT_TRUE(f.src->Share(Key(1), MakeValue(7, 100)).ok());
  ASSERT_TRUE(ancient::Publish(*f.src, f.repo).ok());
  auto r = ancient::FollowOnce(f.repo, f.local);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->switched);
  EXPECT_EQ(r->roots_fetched, 1u);
  EXPECT_EQ(r->requests, 3u);  // ANNOUNCE, MANIFEST, one object
  EXPECT_EQ(SeqAt(f.local, Key(1)), 7);
  // The repository's status, as an operator sees it.
  auto repo = ancient::GetReplicaStatus(f.repo);
  ASSERT_TRUE(repo.ok()) << repo.status();
  EXPECT_TRUE(repo->is_repository);
  EXPECT_EQ(repo->announced, 2u);
  ASSERT_EQ(repo->versions.size(), 2u);
  EXPECT_GT(repo->versions[1].bytes, repo->versions[1].new_bytes);
}

TEST(S3Replica, BigRootsGoUpInPartsAndComeDownInParallelRanges) {
  ScopedEnv part("ANCIENT_S3_PART_MIB", "5");
  const std::string root = TempDir("big");
  const std::string bucket = S3Gateway::Get().NewBucket("big");
  const std::string repo = "s3://" + bucket + "/r", local = root + "/local";
  auto src = OpenStore(root + "/src");
  ASSERT_TRUE(src->Share("big", BigValue(4000)).ok());  // ~16 MiB
  ASSERT_TRUE(src->Share("small", MakeValue(5)).ok());
  // Progress: rising, ending at the total, once per root.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> steps;
  auto record = [&](std::uint64_t done, std::uint64_t total) {
    steps.emplace_back(done, total);
  };
  ancient::PublishOptions po;
  po.progress = record;
  auto p = ancient::Publish(*src, repo, po);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GT(p->bytes_written, 15u << 20);
  // The big object went up in parts: a multipart ETag ("...-4").
  auto list = S3Gateway::Get().Client(bucket)->List("r/objects/");
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->size(), 2u);
  int multipart = 0;
  for (const auto& o : *list) {
    if (o.etag.find('-') != std::string::npos) {
      ++multipart;
      EXPECT_EQ(o.etag.substr(o.etag.find('-')), "-4") << o.etag;
    }
  }
  EXPECT_EQ(multipart, 1);
  auto check_steps = [&](std::uint64_t total) {
    ASSERT_EQ(steps.size(), 2u);
    EXPECT_LT(steps[0].first, steps[1].first);
    EXPECT_EQ(steps[1].first, total);
    EXPECT_EQ(steps[1].second, total);
    steps.clear();
  };
  check_steps(p->bytes);
  ancient::FollowOptions fo;
  fo.progress = record;
  auto r = ancient::FollowOnce(repo, local, fo);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->bytes_fetched, p->bytes);
  check_steps(p->bytes);
  // ANNOUNCE, MANIFEST, 4 ranges of the big one, the small one.
  EXPECT_EQ(r->requests, 7u);
  auto replica = Replica::Open(local);
  ASSERT_TRUE(replica.ok());
  auto big = (*replica)->GetVerified<Strings>("big");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_TRUE(BigValueIsRight(**big, 4000));
}

TEST(S3Replica, PublishersRacingForOneVersionGetOneSuccessAndClearErrors) {
  const std::string root = TempDir("race");
  const std::string bucket = S3Gateway::Get().NewBucket("race");
  const std::string repo = "s3://" + bucket + "/r", local = root + "/local";
  constexpr int kPublishers = 4;
  std::vector<std::unique_ptr<Store>> srcs;
  for (int i = 0; i < kPublishers; ++i) {
    srcs.push_back(OpenStore(root + "/src" + std::to_string(i)));
  }
  int aborted = 0;
  std::uint64_t last = 0;
  for (int round = 0; round < 10 && (aborted == 0 || round < 3); ++round) {
    for (int i = 0; i < kPublishers; ++i) {
      ASSERT_TRUE(srcs[i]->Share("who", MakeValue(1000 * round + i, 20)).ok());
    }
    std::atomic<int> ready{0};
    std::vector<absl::StatusOr<ancient::PublishResult>> results(
        kPublishers, absl::UnknownError("not run"));
    std::vector<std::thread> threads;
    for (int i = 0; i < kPublishers; ++i) {
      threads.emplace_back([&, i] {
        ++ready;
        while (ready < kPublishers) {
        }
        results[i] = ancient::Publish(*srcs[i], repo);
      });
    }
    for (auto& t : threads) t.join();
    std::uint64_t newest = 0;
    int ok = 0;
    for (const auto& r : results) {
      if (r.ok()) {
        ++ok;
        newest = std::max(newest, r->version);
      } else {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted) << r.status();
        EXPECT_NE(r.status().message().find(repo), std::string::npos)
            << r.status();
        ++aborted;
      }
    }
    EXPECT_GE(ok, 1);
    // The announcement never goes backwards, and names a whole version.
    auto st = ancient::GetReplicaStatus(repo);
    ASSERT_TRUE(st.ok()) << st.status();
    EXPECT_EQ(st->announced, newest);
    EXPECT_GT(newest, last);
    last = newest;
    auto f = ancient::FollowOnce(repo, local);
    ASSERT_TRUE(f.ok()) << f.status();
    const std::int64_t seq = SeqAt(local, "who");
    EXPECT_EQ(seq / 1000, round) << seq;
  }
  std::printf("publishes aborted by a racing one: %d\n", aborted);
  EXPECT_GT(aborted, 0) << "no two publishers ever raced";
}

void ExpectError(const absl::Status& s, absl::StatusCode code,
                 const std::vector<std::string>& named) {
  EXPECT_EQ(s.code(), code) << s;
  for (const std::string& n : named) {
    EXPECT_NE(s.message().find(n), std::string::npos)
        << "'" << n << "' not in: " << s;
  }
}

TEST(S3Replica, WrongCredentialsBucketsAndObjectsAreClearErrorsAndLoseNothing) {
  Fleet f = MakeFleet("errors");
  ASSERT_TRUE(f.src->Share(Key(2), MakeValue(202, 100)).ok());
  {
    ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "not-the-secret-at-all");
    ExpectError(ancient::Publish(*f.src, f.repo).status(),
                absl::StatusCode::kPermissionDenied,
                {f.bucket, "GetObject", "SignatureDoesNotMatch"});
    ExpectError(ancient::FollowOnce(f.repo, f.local).status(),
                absl::StatusCode::kPermissionDenied,
                {"s3://" + f.bucket + "/repo/ANNOUNCE", "GetObject"});
  }
  {
    ScopedEnv key("AWS_ACCESS_KEY_ID",
                  S3Gateway::Get().var("OTHER_ACCESS_KEY_ID"));
    ScopedEnv secret("AWS_SECRET_ACCESS_KEY",
                     S3Gateway::Get().var("OTHER_SECRET_ACCESS_KEY"));
    ExpectError(ancient::Publish(*f.src, f.repo).status(),
                absl::StatusCode::kPermissionDenied,
                {f.bucket, "AccessDenied"});
  }
  {
    // A session token travels signed (x-amz-security-token): RGW, which
    // has no STS here, ignores it and must still find the signature good.
    // (A token the server refuses, ExpiredToken: s3_fault_test.)
    ScopedEnv token("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLE/token+=");
    auto r = ancient::FollowOnce(f.repo, f.local);
    EXPECT_TRUE(r.ok()) << r.status();
  }
  ExpectError(ancient::Publish(*f.src, "s3://no-such-bucket-here/r").status(),
              absl::StatusCode::kNotFound,
              {"no-such-bucket-here", "NoSuchBucket"});
  ExpectError(
      ancient::FollowOnce("s3://" + f.bucket + "/elsewhere", f.local).status(),
      absl::StatusCode::kNotFound,
      {"no ancient repository", f.bucket + "/elsewhere"});
  ExpectError(ancient::Publish(*f.src, "s3://Bad_Bucket/x").status(),
              absl::StatusCode::kInvalidArgument, {"Bad_Bucket"});
  {
    ScopedEnv endpoint("AWS_ENDPOINT_URL", "http://127.0.0.1:9");
    ScopedEnv attempts("ANCIENT_S3_MAX_ATTEMPTS", "2");
    ExpectError(ancient::FollowOnce(f.repo, f.local).status(),
                absl::StatusCode::kUnavailable,
                {"after 2 attempts", "127.0.0.1:9"});
  }
  EXPECT_EQ(Current(f.local), 1u);
  EXPECT_EQ(SeqAt(f.local, Key(2)), 102);

  // Version 2 changes one root; its object is then overwritten in the
  // bucket with other bytes of the same size: refused by its name.
  auto p = ancient::Publish(*f.src, f.repo);
  ASSERT_TRUE(p.ok()) << p.status();
  auto client = S3Gateway::Get().Client(f.bucket);
  auto list = client->List("repo/objects/");
  ASSERT_TRUE(list.ok());
  std::string changed;
  for (const auto& o : *list) {
    if (o.mtime >= list->front().mtime && o.size == p->bytes_written) {
      changed = o.key;
    }
  }
  ASSERT_FALSE(changed.empty());
  auto bytes = client->Get(changed);
  ASSERT_TRUE(bytes.ok() && *bytes);
  std::string other = (*bytes)->body;
  other[other.size() / 2] ^= 1;
  ASSERT_TRUE(client->Put(changed, other).ok());
  ExpectError(
      ancient::FollowOnce(f.repo, f.local).status(),
      absl::StatusCode::kDataLoss,
      {changed.substr(changed.rfind('/') + 1), "checksum", "root 'root2'"});
  EXPECT_EQ(Current(f.local), 1u);
  // Gone: NotFound naming it.
  ASSERT_TRUE(client->Delete(changed).ok());
  ExpectError(ancient::FollowOnce(f.repo, f.local).status(),
              absl::StatusCode::kNotFound,
              {changed.substr(changed.rfind('/') + 1), "root 'root2'"});
  EXPECT_EQ(Current(f.local), 1u);
  // A damaged announcement: DataLoss naming it.
  ASSERT_TRUE(client->Put("repo/ANNOUNCE", "verzion 9\n").ok());
  ExpectError(ancient::FollowOnce(f.repo, f.local).status(),
              absl::StatusCode::kDataLoss, {"ANNOUNCE"});
  EXPECT_EQ(Current(f.local), 1u);
  EXPECT_EQ(SeqAt(f.local, Key(2)), 102);
  // Put right, the host converges.
  ASSERT_TRUE(client->Put(changed, (*bytes)->body).ok());
  ASSERT_TRUE(client->Put("repo/ANNOUNCE", "version 2\n").ok());
  auto r = ancient::FollowOnce(f.repo, f.local);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(SeqAt(f.local, Key(2)), 202);
}

TEST(S3Replica, TheGatewayStoppedMidFollowThenRestarted) {
  ScopedEnv part("ANCIENT_S3_PART_MIB", "5");
  Fleet f = MakeFleet("restart");
  ASSERT_TRUE(f.src->Share("big", BigValue(3000)).ok());
  ASSERT_TRUE(ancient::Publish(*f.src, f.repo).ok());
  // Without enough retries: Unavailable, the host keeps version 1.
  S3Gateway::Get().StopGateway();
  {
    ScopedEnv attempts("ANCIENT_S3_MAX_ATTEMPTS", "2");
    ExpectError(ancient::FollowOnce(f.repo, f.local).status(),
                absl::StatusCode::kUnavailable, {"GetObject", f.bucket});
  }
  EXPECT_EQ(Current(f.local), 1u);
  EXPECT_EQ(SeqAt(f.local, Key(0)), 100);
  // With the default retries, a follow under way while the gateway is
  // down rides it out and completes once it is back.
  absl::StatusOr<ancient::FollowResult> r = absl::UnknownError("not run");
  std::thread follower([&] { r = ancient::FollowOnce(f.repo, f.local); });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  S3Gateway::Get().RestartGateway();
  follower.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->retries, 0u);
  EXPECT_EQ(r->version, 2u);
  auto replica = Replica::Open(f.local);
  ASSERT_TRUE(replica.ok());
  auto big = (*replica)->GetVerified<Strings>("big");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_TRUE(BigValueIsRight(**big, 3000));
}

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Every root of `local`'s current version is of one publish round (seq /
// 1000); returns the round, or -1 if the roots disagree or are damaged.
std::int64_t WholeRound(const std::string& local, int roots) {
  std::int64_t round = -2;
  auto replica = Replica::Open(local);
  if (!replica.ok()) return -1;
  auto snap = (*replica)->Read();
  for (int i = 0; i < roots; ++i) {
    auto v = snap->Get<Strings>(Key(i));
    if (!v.ok()) return -1;
    const std::int64_t seq = CheckValue(**v);
    if (seq < 0 || (round != -2 && seq / 1000 != round)) return -1;
    round = seq / 1000;
  }
  return round;
}

TEST(S3Replica, PublishersAndFollowersKilledMidTransfer) {
  ScopedEnv part("ANCIENT_S3_PART_MIB", "5");
  constexpr int kRoots = 6;
  const std::string root = TempDir("kills");
  const std::string bucket = S3Gateway::Get().NewBucket("kills");
  const std::string repo = "s3://" + bucket + "/r", local = root + "/local";
  const std::string ctl = Runfile("tools/ancientctl");
  auto client = S3Gateway::Get().Client(bucket);
  auto objects = [&] {
    auto l = client->List("r/objects/");
    return l.ok() ? l->size() : 0;
  };
  auto announced = [&] {
    auto st = ancient::GetReplicaStatus(repo);
    return st.ok() ? st->announced.value_or(0) : 0;
  };
  std::mt19937 rng(42);
  int publishes_cut = 0, follows_cut = 0;
  double publish_seconds = 1, follow_seconds = 1;
  for (int round = 1; round <= 8; ++round) {
    {
      auto src = OpenStore(root + "/src");
      for (int i = 0; i < kRoots; ++i) {
        ASSERT_TRUE(
            src->Share(Key(i), MakeValue(1000 * round + i, 150000)).ok());
      }
    }
    // A publisher killed at a random point of its upload (the odd rounds),
    // then one that finishes.
    if (round % 2 == 1) {
      const std::size_t before = objects();
      const std::uint64_t was = announced();
      Child p = Spawn({ctl, "publish", root + "/src", repo});
      std::uniform_real_distribution<double> at(0.2, 0.9);
      std::this_thread::sleep_for(
          std::chrono::duration<double>(publish_seconds * at(rng)));
      kill(p.pid, SIGKILL);
      const int code = ExitCode(Wait(p));
      const std::uint64_t now = announced();
      if (code == 128 + SIGKILL && now == was && objects() > before) {
        ++publishes_cut;  // Some objects up, nothing announced.
      }
      // Finished, or killed after announcing (while it removes old
      // versions): one version more. Killed before: none. The follow
      // below shows that what is announced is whole.
      if (code == 0) {
        EXPECT_EQ(now, was + 1);
      } else {
        EXPECT_TRUE(now == was || now == was + 1) << now << " after " << was;
      }
    }
    auto start = Clock::now();
    Child p = Spawn({ctl, "publish", root + "/src", repo});
    ASSERT_EQ(ExitCode(Wait(p)), 0);
    publish_seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    // A follower killed at a random point of its download, then one that
    // finishes; the host is on one whole version throughout.
    const std::int64_t had = round == 1 ? -2 : WholeRound(local, kRoots);
    Child fk = Spawn({ctl, "follow", repo, local, "--once"});
    std::uniform_real_distribution<double> at(0.1, 0.9);
    std::this_thread::sleep_for(
        std::chrono::duration<double>(follow_seconds * at(rng)));
    kill(fk.pid, SIGKILL);
    if (ExitCode(Wait(fk)) == 128 + SIGKILL && round > 1) {
      const std::int64_t now = WholeRound(local, kRoots);
      EXPECT_TRUE(now == had || now == round) << now;
      if (now == had) ++follows_cut;
    }
    start = Clock::now();
    Child fo = Spawn({ctl, "follow", repo, local, "--once"});
    ASSERT_EQ(ExitCode(Wait(fo)), 0);
    follow_seconds =
        std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_EQ(WholeRound(local, kRoots), round);
  }
  std::printf("publishes cut mid-upload: %d of 4; follows cut: %d of 7\n",
              publishes_cut, follows_cut);
  EXPECT_GT(publishes_cut, 0);
  EXPECT_GT(follows_cut, 0);
  // No orphans beyond what the next collection removes: with no grace,
  // the objects left are exactly those of the kept versions.
  Child gc = Spawn(
      {ctl, "publish", root + "/src", repo, "--keep", "2", "--grace", "0"});
  ASSERT_EQ(ExitCode(Wait(gc)), 0);
  auto st = ancient::GetReplicaStatus(repo);
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->versions.size(), 2u);
  EXPECT_EQ(objects(), static_cast<std::size_t>(2 * kRoots));
}

}  // namespace
