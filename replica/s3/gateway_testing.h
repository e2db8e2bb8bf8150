// Tests only: a real S3 server (Ceph's RADOS Gateway, tools/s3-gateway)
// for this test process, started on first use and stopped at exit, with
// AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY set for this
// process and the children it starts.

#ifndef ANCIENT_REPLICA_S3_GATEWAY_TESTING_H_
#define ANCIENT_REPLICA_S3_GATEWAY_TESTING_H_

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "replica/s3/client.h"
#include "tests/test_util.h"

namespace ancient_test {

class S3Gateway {
 public:
  // The gateway of this process (started now if need be; the test fails
  // if it cannot start).
  static S3Gateway& Get() {
    static S3Gateway* g = new S3Gateway;
    return *g;
  }

  // A new bucket of tester's, named after `name`.
  std::string NewBucket(const std::string& name) {
    const std::string bucket = name + "-" + std::to_string(++buckets_);
    absl::StatusOr<ancient::s3::Config> c =
        ancient::s3::ConfigFromEnvironment();
    EXPECT_TRUE(c.ok()) << c.status();
    auto client = ancient::s3::Client::Create(*c, bucket);
    absl::Status s = (*client)->CreateBucket();
    EXPECT_TRUE(s.ok()) << s;
    return bucket;
  }
  // A client of `bucket` as tester.
  std::unique_ptr<ancient::s3::Client> Client(const std::string& bucket) {
    return *ancient::s3::Client::Create(*ancient::s3::ConfigFromEnvironment(),
                                        bucket);
  }
  // Stops / starts the gateway daemon alone (the cluster keeps its data).
  void StopGateway() { Run("stop-rgw"); }
  void RestartGateway() { Run("restart-rgw"); }

  const std::string& endpoint() const { return env_.at("AWS_ENDPOINT_URL"); }
  const std::string& var(const std::string& name) const {
    return env_.at(name);
  }

 private:
  S3Gateway() {
    dir_ = TempDir("s3gw");
    const std::string script = Runfile("tools/s3-gateway");
    const int rc = std::system(
        (script + " start " + dir_ + " 3072 > " + dir_ + ".out 2>&1").c_str());
    if (rc != 0) {
      std::ifstream log(dir_ + ".out");
      std::string text((std::istreambuf_iterator<char>(log)), {});
      ADD_FAILURE() << "tools/s3-gateway start failed: " << text;
      std::abort();
    }
    std::ifstream in(dir_ + "/env");
    std::string line;
    while (std::getline(in, line)) {
      const std::size_t eq = line.find('=');
      if (eq == std::string::npos) continue;
      env_[line.substr(0, eq)] = line.substr(eq + 1);
    }
    for (const char* v : {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID",
                          "AWS_SECRET_ACCESS_KEY", "AWS_REGION"}) {
      ::setenv(v, env_.at(v).c_str(), 1);
    }
    for (const char* v : {"AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_CA_BUNDLE",
                          "AWS_ENDPOINT_URL_S3"}) {
      ::unsetenv(v);
    }
    owner_ = ::getpid();
    std::atexit([] { Get().Stop(); });
  }
  void Run(const std::string& cmd) {
    const int rc = std::system(
        (Runfile("tools/s3-gateway") + " " + cmd + " " + dir_).c_str());
    EXPECT_EQ(rc, 0) << cmd;
  }
  void Stop() {
    if (::getpid() == owner_) Run("stop");
  }

  std::string dir_;
  std::map<std::string, std::string> env_;
  pid_t owner_ = 0;
  int buckets_ = 0;
};

// Sets an environment variable for the scope, restoring it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    const char* old = std::getenv(name);
    if (old != nullptr) old_ = old;
    had_ = old != nullptr;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace ancient_test

#endif  // ANCIENT_REPLICA_S3_GATEWAY_TESTING_H_
