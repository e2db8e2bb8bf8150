// Internal: an S3 client for one bucket, on libcurl, signing with SigV4
// (sigv4.h), configured as config.h says. Thread-safe: connections are
// pooled and reused, any number of calls may run at once.
//
// Every call retries what is transient (connection refused or reset, a
// timeout or a stall, a truncated body, HTTP 500/502/503/504, 429,
// 409, SlowDown, RequestTimeout) up to Config::max_attempts times with
// capped exponential backoff and jitter. Errors name the operation, the
// object (s3://bucket/key) and the server's error code:
//   PermissionDenied  403 (and ExpiredToken), with where the credentials
//                     came from;
//   NotFound          a missing bucket (NoSuchBucket) or object;
//   Unavailable       unreachable, or still failing after the retries;
//   DataLoss          a response shorter or longer than it says, or a body
//                     that is not the XML it should be;
//   InvalidArgument   the server refused the request (another 4xx).

#ifndef ANCIENT_REPLICA_S3_CLIENT_H_
#define ANCIENT_REPLICA_S3_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "replica/s3/config.h"
#include "replica/s3/sigv4.h"

namespace ancient::s3 {

struct ObjectInfo {
  std::string key;  // relative to the bucket
  std::uint64_t size = 0;
  std::string etag;        // as the server gave it, quotes removed
  std::int64_t mtime = 0;  // Last-Modified, seconds since the epoch
};

struct GetResult {
  bool not_modified = false;  // 304: If-None-Match matched
  std::string body;
  std::string etag;
};

struct PutOptions {
  bool create_only = false;  // If-None-Match: *
  std::string if_match;      // only over this ETag (empty: any)
};

// Counters of one client, for status and benchmarks.
struct TransferStats {
  std::uint64_t requests = 0;
  std::uint64_t retries = 0;
  std::uint64_t bytes_received = 0;  // response bodies
  std::uint64_t bytes_sent = 0;      // request bodies
  std::uint64_t wire_bytes = 0;      // all of it, headers included
};

class Client {
 public:
  // Errors: Internal (libcurl could not start).
  static absl::StatusOr<std::unique_ptr<Client>> Create(const Config& config,
                                                        std::string bucket);
  ~Client();

  // GET: nullopt when there is no such object (NotFound when there is no
  // such bucket); not_modified when `if_none_match` is its ETag.
  absl::StatusOr<std::optional<GetResult>> Get(
      const std::string& key, const std::string& if_none_match = "");
  // GET of bytes [offset, offset + len) into dst (exactly len bytes, or an
  // error).
  absl::Status GetRange(const std::string& key, std::uint64_t offset,
                        std::uint64_t len, char* dst);
  // HEAD: nullopt when there is no such object.
  absl::StatusOr<std::optional<ObjectInfo>> Head(const std::string& key);
  // PUT with the payload's SHA-256 signed (the server refuses a body that
  // differs). FailedPrecondition when a condition does not hold.
  absl::Status Put(const std::string& key, absl::string_view data,
                   const PutOptions& options = {});
  // Multipart upload: start, parts (1..10000, each ≥ 5 MiB but the last;
  // returns its ETag), complete (with the parts' ETags in order), abort.
  absl::StatusOr<std::string> StartMultipart(const std::string& key);
  absl::StatusOr<std::string> UploadPart(const std::string& key,
                                         const std::string& upload_id, int part,
                                         absl::string_view data);
  absl::Status CompleteMultipart(const std::string& key,
                                 const std::string& upload_id,
                                 const std::vector<std::string>& etags);
  void AbortMultipart(const std::string& key, const std::string& upload_id);
  // Every object whose key starts with `prefix` (ListObjectsV2, all pages).
  absl::StatusOr<std::vector<ObjectInfo>> List(const std::string& prefix);
  // DELETE; a missing object is not an error.
  absl::Status Delete(const std::string& key);
  // PUT of the bucket itself (tools and tests); an existing one owned by
  // the caller is fine.
  absl::Status CreateBucket();

  const std::string& bucket() const { return bucket_; }
  const Config& config() const { return config_; }
  // "s3://bucket/key".
  std::string Url(absl::string_view key) const;
  TransferStats stats() const;

  // The client's own (client.cc).
  struct Request;
  struct Reply;

 private:
  Client(const Config& config, std::string bucket);
  // Sends `r`, retrying what is transient; returns the final reply
  // whatever its status, or Unavailable/DataLoss.
  absl::StatusOr<Reply> Send(const Request& r);
  absl::StatusOr<Reply> SendOnce(const Request& r, void* curl);
  // The Status of a reply that is not a success.
  absl::Status ErrorOf(const Request& r, const Reply& reply) const;
  void* TakeHandle();
  void GiveHandle(void* h);

  const Config config_;
  const std::string bucket_;
  std::string host_;    // Host header
  std::string origin_;  // scheme://host[:port]
  std::mutex mu_;
  std::vector<void*> idle_;  // CURL*
  std::atomic<std::uint64_t> requests_{0}, retries_{0}, received_{0}, sent_{0},
      wire_{0};
};

}  // namespace ancient::s3

#endif  // ANCIENT_REPLICA_S3_CLIENT_H_
