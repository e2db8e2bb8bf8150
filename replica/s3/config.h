// Internal: where an S3 repository is and how to reach it, read the way
// every AWS tool reads it.
//
// Credentials, first found wins:
//   1. AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN);
//   2. the profile AWS_PROFILE (else "default") in the shared credentials
//      file (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials), then in
//      the config file (AWS_CONFIG_FILE, else ~/.aws/config; section
//      "[profile NAME]", or "[default]"): aws_access_key_id,
//      aws_secret_access_key, aws_session_token;
//   3. none: requests go unsigned (anonymous access to public buckets).
// Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's `region`, else
// us-east-1. Endpoint: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's
// `endpoint_url`, else https://s3.REGION.amazonaws.com. Addressing: path
// style ("ENDPOINT/BUCKET/KEY") for an endpoint given, virtual-host style
// ("BUCKET.s3.REGION.amazonaws.com/KEY") for AWS; ANCIENT_S3_ADDRESSING =
// path|virtual overrides. TLS: AWS_CA_BUNDLE names the CA file.
// Transfers: ANCIENT_S3_MAX_ATTEMPTS (default 6), ANCIENT_S3_CONNECT_TIMEOUT
// and ANCIENT_S3_STALL_TIMEOUT (seconds: 10 and 30), ANCIENT_S3_PARALLEL
// (ranged GETs and part uploads at once: 4), ANCIENT_S3_PART_MIB (8).

#ifndef ANCIENT_REPLICA_S3_CONFIG_H_
#define ANCIENT_REPLICA_S3_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ancient::s3 {

// "s3://BUCKET/PREFIX": bucket and prefix (no leading or trailing '/').
struct Location {
  std::string bucket;
  std::string prefix;
  std::string url() const;  // "s3://bucket/prefix"
};

// Whether `repo` names an S3 repository ("s3://...").
bool IsS3Url(absl::string_view repo);
// Errors: InvalidArgument (no bucket, a bucket name S3 refuses, an empty
//   path segment, naming `url`).
absl::StatusOr<Location> ParseS3Url(absl::string_view url);

struct Config {
  std::string access_key;  // empty: anonymous (unsigned requests)
  std::string secret_key;
  std::string session_token;  // sent as x-amz-security-token
  std::string region = "us-east-1";
  std::string endpoint;  // "https://host[:port]", no trailing '/'
  bool path_style = false;
  std::string ca_bundle;  // empty: the system's
  std::string source;     // where the credentials came from (messages)
  int max_attempts = 6;   // per request, the first included
  double base_backoff_seconds = 0.1;  // doubled per retry, capped, jittered
  double max_backoff_seconds = 5;
  long connect_timeout_seconds = 10;
  long stall_timeout_seconds = 30;  // no byte for this long: retried
  int parallel = 4;                 // ranged GETs / parts at once
  std::uint64_t part_bytes = 8 << 20;
};

// The configuration the environment and the AWS files give.
// Errors: InvalidArgument (AWS_PROFILE names a profile neither file has,
//   a key id without its secret, a malformed number or endpoint), naming the
//   variable or file.
absl::StatusOr<Config> ConfigFromEnvironment();

}  // namespace ancient::s3

#endif  // ANCIENT_REPLICA_S3_CONFIG_H_
