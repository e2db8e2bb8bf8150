// Internal: AWS Signature Version 4 for S3 requests (the canonical request,
// the string to sign, the signing key), hashed with OpenSSL's libcrypto.
//
// Contract: `path` is the request path already URI-encoded (UriEncode with
// slashes kept); query parameters are given decoded and are encoded and
// sorted here; header names may be in any case and are signed lower-cased,
// values trimmed. The result is the Authorization header's value. The
// signer adds nothing to the request: the caller sends x-amz-date,
// x-amz-content-sha256 (and x-amz-security-token) with the same values it
// signed.

#ifndef ANCIENT_REPLICA_S3_SIGV4_H_
#define ANCIENT_REPLICA_S3_SIGV4_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace ancient::s3 {

// The hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);
// The hash of an empty payload (GET, HEAD, DELETE).
inline constexpr char kEmptySha256[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// RFC 3986 percent-encoding as SigV4 wants it: A-Z a-z 0-9 - . _ ~ kept,
// '/' kept when `keep_slash`, everything else %XX (upper-case hex).
std::string UriEncode(absl::string_view s, bool keep_slash);

using Params = std::vector<std::pair<std::string, std::string>>;

// The query string, encoded and sorted by name then value, as both the
// canonical request and the URL must carry it ("a=1&b=").
std::string CanonicalQuery(const Params& query);

struct SigningRequest {
  std::string method;        // "GET"
  std::string path;          // "/bucket/key", encoded
  Params query;              // decoded
  Params headers;            // every header signed, host included
  std::string payload_hash;  // hex SHA-256, or "UNSIGNED-PAYLOAD"
};

struct SigningKey {
  std::string access_key;
  std::string secret_key;
  std::string region;   // "us-east-1"
  std::string service;  // "s3"
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string authorization;  // the Authorization header's value
};

// Signs `r` at `amz_date` ("20130524T000000Z", UTC).
Signature SignV4(const SigningRequest& r, const SigningKey& key,
                 absl::string_view amz_date);

}  // namespace ancient::s3

#endif  // ANCIENT_REPLICA_S3_SIGV4_H_
