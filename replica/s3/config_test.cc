// The S3 configuration read as AWS tools read it: the environment first,
// then the profile's credentials and config files, else anonymous.

#include "replica/s3/config.h"

#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace ancient::s3 {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v :
         {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
          "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL",
          "AWS_ENDPOINT_URL_S3", "AWS_CA_BUNDLE", "ANCIENT_S3_ADDRESSING",
          "ANCIENT_S3_MAX_ATTEMPTS", "ANCIENT_S3_PART_MIB"}) {
      ::unsetenv(v);
    }
    dir_ = ancient_test::TempDir("s3config");
    ::setenv("AWS_SHARED_CREDENTIALS_FILE", (dir_ + "/credentials").c_str(), 1);
    ::setenv("AWS_CONFIG_FILE", (dir_ + "/config").c_str(), 1);
  }
  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }
  std::string dir_;
};

TEST_F(ConfigTest, NothingMeansAnonymousOnAws) {
  absl::StatusOr<Config> c = ConfigFromEnvironment();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->access_key.empty());
  EXPECT_EQ(c->region, "us-east-1");
  EXPECT_EQ(c->endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_FALSE(c->path_style);
}

TEST_F(ConfigTest, EnvironmentBeatsProfiles) {
  Write("credentials",
        "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = s\n");
  ::setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
  ::setenv("AWS_SESSION_TOKEN", "tok", 1);
  ::setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
  ::setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:7480/", 1);
  absl::StatusOr<Config> c = ConfigFromEnvironment();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key, "ENVKEY");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_EQ(c->region, "eu-west-1");
  EXPECT_EQ(c->endpoint, "http://127.0.0.1:7480");
  EXPECT_TRUE(c->path_style);
  ::setenv("AWS_REGION", "ap-south-1", 1);
  EXPECT_EQ(ConfigFromEnvironment()->region, "ap-south-1");
}

TEST_F(ConfigTest, NamedProfileFromBothFiles) {
  Write("credentials",
        "[default]\naws_access_key_id = D\naws_secret_access_key = d\n"
        "# a comment\n[fleet]\naws_access_key_id = F\n"
        "aws_secret_access_key = f\naws_session_token = T\n");
  Write("config",
        "[default]\nregion = us-west-2\n[profile fleet]\nregion = eu-north-1\n"
        "endpoint_url = https://minio.internal:9000\n");
  absl::StatusOr<Config> c = ConfigFromEnvironment();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key, "D");
  EXPECT_EQ(c->region, "us-west-2");
  ::setenv("AWS_PROFILE", "fleet", 1);
  c = ConfigFromEnvironment();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key, "F");
  EXPECT_EQ(c->secret_key, "f");
  EXPECT_EQ(c->session_token, "T");
  EXPECT_EQ(c->region, "eu-north-1");
  EXPECT_EQ(c->endpoint, "https://minio.internal:9000");
  EXPECT_TRUE(c->path_style);
}

TEST_F(ConfigTest, ClearErrors) {
  ::setenv("AWS_PROFILE", "nosuch", 1);
  absl::StatusOr<Config> c = ConfigFromEnvironment();
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("nosuch"), std::string::npos);
  ::unsetenv("AWS_PROFILE");
  ::setenv("AWS_ACCESS_KEY_ID", "K", 1);
  EXPECT_EQ(ConfigFromEnvironment().status().code(),
            absl::StatusCode::kInvalidArgument);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::setenv("AWS_ENDPOINT_URL", "ftp://x", 1);
  EXPECT_EQ(ConfigFromEnvironment().status().code(),
            absl::StatusCode::kInvalidArgument);
  ::unsetenv("AWS_ENDPOINT_URL");
  ::setenv("ANCIENT_S3_MAX_ATTEMPTS", "zero", 1);
  EXPECT_EQ(ConfigFromEnvironment().status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(S3Url, Parse) {
  absl::StatusOr<Location> l = ParseS3Url("s3://my-bucket/fleet/dict/");
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(l->bucket, "my-bucket");
  EXPECT_EQ(l->prefix, "fleet/dict");
  EXPECT_EQ(l->url(), "s3://my-bucket/fleet/dict");
  EXPECT_EQ(ParseS3Url("s3://bkt")->prefix, "");
  EXPECT_FALSE(ParseS3Url("s3://").ok());
  EXPECT_FALSE(ParseS3Url("s3://ab/x").ok());
  EXPECT_FALSE(ParseS3Url("s3://Upper/x").ok());
  EXPECT_FALSE(ParseS3Url("s3://bucket/a//b").ok());
  EXPECT_FALSE(ParseS3Url("/local/dir").ok());
  EXPECT_TRUE(IsS3Url("s3://b/p"));
  EXPECT_FALSE(IsS3Url("/s3://"));
}

}  // namespace
}  // namespace ancient::s3
