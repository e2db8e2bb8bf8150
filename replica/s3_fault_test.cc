// The faults a real gateway will not make on demand, injected by a proxy in
// front of it (replica/s3/fault_server.py): SlowDown, 500s, 409s,
// truncated bodies, dropped connections, stalls, an expired session token,
// a body that is not XML. Transient faults are retried and the follow
// completes; lasting ones are clear errors, and the host keeps its version.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <string>

#include "replica/replica.h"
#include "replica/s3/gateway_testing.h"
#include "store/store.h"
#include "tests/test_util.h"

namespace {

using ancient::Replica;
using ancient::Store;
using namespace ancient_test;
using Strings = std::vector<std::string>;

// The proxy, started in front of this process's gateway; AWS_ENDPOINT_URL
// points at it for the test's scope.
class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    S3Gateway& gw = S3Gateway::Get();
    dir_ = TempDir("faults");
    control_ = dir_ + "/control";
    proxy_ = Spawn({"/usr/bin/python3", Runfile("replica/s3/fault_server.py"),
                    gw.endpoint(), control_});
    std::string line;
    ASSERT_TRUE(ReadLine(proxy_.out, &line));
    ASSERT_EQ(line.substr(0, 5), "PORT ") << line;
    endpoint_ = std::make_unique<ScopedEnv>(
        "AWS_ENDPOINT_URL", "http://127.0.0.1:" + line.substr(5));
    backoff_ = std::make_unique<ScopedEnv>("ANCIENT_S3_BACKOFF", "0.01");
    part_ = std::make_unique<ScopedEnv>("ANCIENT_S3_PART_MIB", "5");
    const std::string bucket = gw.NewBucket("faults");
    repo_ = "s3://" + bucket + "/r";
    local_ = dir_ + "/local";
    ancient::StoreOptions o;
    o.durability = ancient::Durability::kNoSync;
    src_ = *Store::Open(dir_ + "/src", o);
    ASSERT_TRUE(src_->Share("big", BigValue(3000)).ok());  // 3 ranges
    ASSERT_TRUE(src_->Share("small", MakeValue(1)).ok());
    ASSERT_TRUE(ancient::Publish(*src_, repo_).ok());
    ASSERT_TRUE(ancient::FollowOnce(repo_, local_).ok());
    ASSERT_TRUE(src_->Share("small", MakeValue(2)).ok());
    ASSERT_TRUE(src_->Share("big", BigValue(2999)).ok());
    auto p = ancient::Publish(*src_, repo_);
    ASSERT_TRUE(p.ok()) << p.status();
  }
  void TearDown() override {
    endpoint_.reset();
    kill(proxy_.pid, SIGKILL);
    Wait(proxy_);
  }
  void Inject(const std::string& spec) { std::ofstream(control_) << spec; }
  std::int64_t Small() {
    auto r = Replica::Open(local_);
    auto v = (*r)->GetVerified<Strings>("small");
    return v.ok() ? CheckValue(**v) : -1;
  }
  std::uint64_t Current() {
    return ancient::GetReplicaStatus(local_)->current.value_or(0);
  }

  std::string dir_, control_, repo_, local_;
  Child proxy_;
  std::unique_ptr<ScopedEnv> endpoint_, backoff_, part_;
  std::unique_ptr<Store> src_;
};

TEST_F(Faults, TransientFaultsAreRetriedAndTheFollowCompletes) {
  Inject(
      "GET 503 3\n"
      "objects/ 500 2\n"
      "objects/ truncate 2\n"
      "objects/ drop 2\n"
      "MANIFEST 409 1\n");
  auto r = ancient::FollowOnce(repo_, local_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->version, 2u);
  // Every fault was met, and each was retried (libcurl itself resends a
  // request whose reused connection was dropped before any answer, so
  // the two drops may not count).
  std::ifstream left(control_);
  std::string match, fault;
  int count;
  while (left >> match >> fault >> count) EXPECT_EQ(count, 0) << fault;
  EXPECT_GE(r->retries, 8u);
  EXPECT_EQ(Small(), 2);
  auto replica = Replica::Open(local_);
  auto big = (*replica)->GetVerified<Strings>("big");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_TRUE(BigValueIsRight(**big, 2999));
}

TEST_F(Faults, AStalledResponseIsCutAndRetried) {
  ScopedEnv stall("ANCIENT_S3_STALL_TIMEOUT", "1");
  Inject("objects/ slow 1\n");
  auto r = ancient::FollowOnce(repo_, local_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(r->retries, 1u);
  EXPECT_EQ(Small(), 2);
}

TEST_F(Faults, LastingFaultsAreClearErrorsAndTheHostKeepsItsVersion) {
  {
    ScopedEnv attempts("ANCIENT_S3_MAX_ATTEMPTS", "3");
    Inject("objects/ 503 100\n");
    auto r = ancient::FollowOnce(repo_, local_);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
    EXPECT_NE(r.status().message().find("SlowDown"), std::string::npos);
    EXPECT_NE(r.status().message().find("after 3 attempts"), std::string::npos);
    EXPECT_EQ(Current(), 1u);
  }
  Inject("ANNOUNCE expired 1\n");
  auto r = ancient::FollowOnce(repo_, local_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied)
      << r.status();
  EXPECT_NE(r.status().message().find("ExpiredToken"), std::string::npos);
  EXPECT_NE(r.status().message().find("ANNOUNCE"), std::string::npos);
  EXPECT_EQ(Current(), 1u);
  Inject("objects/ denied 1\n");
  r = ancient::FollowOnce(repo_, local_);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied)
      << r.status();
  EXPECT_EQ(Current(), 1u);
  EXPECT_EQ(Small(), 1);
  // A listing that is not XML: the publish fails, nothing announced.
  ASSERT_TRUE(src_->Share("small", MakeValue(3)).ok());
  Inject("list-type garbage 1\n");
  auto p = ancient::Publish(*src_, repo_);
  EXPECT_EQ(p.status().code(), absl::StatusCode::kDataLoss) << p.status();
  EXPECT_EQ(ancient::GetReplicaStatus(repo_)->announced, 2u);
  // All cleared: the host converges.
  Inject("");
  ASSERT_TRUE(ancient::FollowOnce(repo_, local_).ok());
  EXPECT_EQ(Small(), 2);
}

}  // namespace
