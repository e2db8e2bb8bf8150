// The S3 client: requests over libcurl, signed with SigV4, retried with
// backoff; see client.h.

#include "replica/s3/client.h"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"

namespace ancient::s3 {

struct Client::Request {
  std::string method;      // GET, HEAD, PUT, POST, DELETE
  std::string op;          // "GetObject": for messages
  std::string key;         // relative to the bucket; "" for the bucket
  Params query;            // decoded
  Params headers;          // besides Host and the x-amz- ones
  absl::string_view body;  // PUT / POST
  char* sink = nullptr;    // a ranged GET's destination (else Reply::body)
  std::uint64_t sink_len = 0;
};

struct Client::Reply {
  long status = 0;
  std::string body;
  std::string etag;
  std::int64_t mtime = 0;
  std::optional<std::uint64_t> content_length;
  std::uint64_t received = 0;  // body bytes (sink or body)
  bool overflow = false;       // more than the sink holds
};

namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
  });
}

std::string AmzDate(std::time_t now) {
  std::tm tm;
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::int64_t ParseTime(absl::string_view s) {
  absl::Time t;
  std::string err;
  for (const char* format : {"%a, %d %b %Y %H:%M:%S", "%Y-%m-%dT%H:%M:%E*SZ",
                             "%Y-%m-%dT%H:%M:%SZ"}) {
    absl::string_view v = s;
    absl::ConsumeSuffix(&v, " GMT");
    if (absl::ParseTime(format, v, absl::UTCTimeZone(), &t, &err)) {
      return absl::ToUnixSeconds(t);
    }
  }
  return 0;
}

std::string Unquote(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
    s = s.substr(1, s.size() - 2);
  }
  return std::string(s);
}

// The text of the first element named `name` under `node` (depth first).
const xmlNode* FindElement(const xmlNode* node, const char* name) {
  for (const xmlNode* n = node; n != nullptr; n = n->next) {
    if (n->type != XML_ELEMENT_NODE) continue;
    if (std::strcmp(reinterpret_cast<const char*>(n->name), name) == 0) {
      return n;
    }
    if (const xmlNode* f = FindElement(n->children, name)) return f;
  }
  return nullptr;
}

std::string TextOf(const xmlNode* n) {
  if (n == nullptr) return "";
  xmlChar* c = xmlNodeGetContent(n);
  std::string s = c ? reinterpret_cast<const char*>(c) : "";
  xmlFree(c);
  return s;
}

// A parsed XML document, freed on scope exit.
class Xml {
 public:
  explicit Xml(absl::string_view text)
      : doc_(xmlReadMemory(
            text.data(), static_cast<int>(text.size()), "response.xml", nullptr,
            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)) {}
  ~Xml() { xmlFreeDoc(doc_); }
  const xmlNode* root() const {
    return doc_ ? xmlDocGetRootElement(doc_) : nullptr;
  }
  std::string Text(const char* name) const {
    return TextOf(FindElement(root(), name));
  }

 private:
  xmlDoc* doc_;
};

bool Retryable(long status, absl::string_view code) {
  return status >= 500 || status == 429 || status == 409 ||
         code == "SlowDown" || code == "RequestTimeout" ||
         code == "InternalError" || code == "OperationAborted";
}

size_t OnBody(char* p, size_t size, size_t n, void* arg) {
  auto* reply =
      static_cast<std::pair<Client::Reply*, const Client::Request*>*>(arg);
  const size_t len = size * n;
  Client::Reply& r = *reply->first;
  const Client::Request& q = *reply->second;
  if (q.sink != nullptr && r.status / 100 == 2) {
    if (r.received + len > q.sink_len) {
      r.overflow = true;
      return 0;  // Aborts the transfer.
    }
    std::memcpy(q.sink + r.received, p, len);
  } else {
    if (r.body.size() + len > (64u << 20)) return 0;  // Not an S3 answer.
    r.body.append(p, len);
  }
  r.received += len;
  return len;
}

size_t OnHeader(char* p, size_t size, size_t n, void* arg) {
  auto* r = static_cast<Client::Reply*>(arg);
  const absl::string_view line(p, size * n);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (after a 100 Continue): forget the last one's.
    r->etag.clear();
    r->content_length.reset();
    r->mtime = 0;
    // The status, known before the body (where the body goes hangs on it).
    const std::size_t sp = line.find(' ');
    long status = 0;
    if (sp != absl::string_view::npos &&
        absl::SimpleAtoi(line.substr(sp + 1, 3), &status)) {
      r->status = status;
    }
    return size * n;
  }
  const std::size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return size * n;
  const std::string name = absl::AsciiStrToLower(line.substr(0, colon));
  const absl::string_view value =
      absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (name == "etag") {
    r->etag = Unquote(value);
  } else if (name == "last-modified") {
    r->mtime = ParseTime(value);
  } else if (name == "content-length") {
    std::uint64_t v;
    if (absl::SimpleAtoi(value, &v)) r->content_length = v;
  }
  return size * n;
}

struct Upload {
  absl::string_view data;
  std::size_t pos = 0;
};

size_t OnRead(char* p, size_t size, size_t n, void* arg) {
  auto* u = static_cast<Upload*>(arg);
  const std::size_t len = std::min(size * n, u->data.size() - u->pos);
  std::memcpy(p, u->data.data() + u->pos, len);
  u->pos += len;
  return len;
}

}  // namespace

Client::Client(const Config& config, std::string bucket)
    : config_(config), bucket_(std::move(bucket)) {
  absl::string_view rest = config_.endpoint;
  absl::string_view scheme = "https://";
  if (absl::ConsumePrefix(&rest, "http://")) {
    scheme = "http://";
  } else {
    absl::ConsumePrefix(&rest, "https://");
  }
  host_ =
      config_.path_style ? std::string(rest) : absl::StrCat(bucket_, ".", rest);
  origin_ = absl::StrCat(scheme, host_);
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(const Config& config,
                                                       std::string bucket) {
  GlobalInit();
  return std::unique_ptr<Client>(new Client(config, std::move(bucket)));
}

Client::~Client() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

std::string Client::Url(absl::string_view key) const {
  return key.empty() ? absl::StrCat("s3://", bucket_)
                     : absl::StrCat("s3://", bucket_, "/", std::string(key));
}

TransferStats Client::stats() const {
  return {requests_.load(), retries_.load(), received_.load(), sent_.load(),
          wire_.load()};
}

void* Client::TakeHandle() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  return curl_easy_init();
}

void Client::GiveHandle(void* h) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(h);
}

absl::StatusOr<Client::Reply> Client::SendOnce(const Request& r, void* h) {
  CURL* curl = static_cast<CURL*>(h);
  curl_easy_reset(curl);
  std::string path = config_.path_style ? absl::StrCat("/", bucket_) : "";
  if (!r.key.empty() || !config_.path_style) {
    absl::StrAppend(&path, "/", UriEncode(r.key, true));
  }
  const std::string query = CanonicalQuery(r.query);
  const std::string url =
      absl::StrCat(origin_, path, query.empty() ? "" : "?", query);
  const std::string payload_hash =
      r.body.empty() ? kEmptySha256 : Sha256Hex(r.body);
  const std::string date = AmzDate(std::time(nullptr));
  Params signed_headers = r.headers;
  signed_headers.emplace_back("host", host_);
  signed_headers.emplace_back("x-amz-date", date);
  signed_headers.emplace_back("x-amz-content-sha256", payload_hash);
  if (!config_.session_token.empty()) {
    signed_headers.emplace_back("x-amz-security-token", config_.session_token);
  }
  curl_slist* headers = nullptr;
  for (const auto& [name, value] : signed_headers) {
    headers =
        curl_slist_append(headers, absl::StrCat(name, ": ", value).c_str());
  }
  if (!config_.access_key.empty()) {
    const Signature sig = SignV4(
        {r.method, path, r.query, signed_headers, payload_hash},
        {config_.access_key, config_.secret_key, config_.region, "s3"}, date);
    headers = curl_slist_append(
        headers, absl::StrCat("Authorization: ", sig.authorization).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");
  headers = curl_slist_append(headers, "Content-Type:");

  Reply reply;
  std::pair<Reply*, const Request*> body_arg(&reply, &r);
  Upload upload{r.body};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT,
                   config_.connect_timeout_seconds);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, config_.stall_timeout_seconds);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body_arg);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &reply);
  if (!config_.ca_bundle.empty()) {
    curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_bundle.c_str());
  }
  if (r.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (r.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(r.body.size()));
  } else if (r.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, r.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(r.body.size()));
  } else if (r.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r.method.c_str());
  }
  const CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  ++requests_;
  sent_ += r.body.size();
  received_ += reply.received;
  long request_size = 0, header_size = 0;
  curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &request_size);
  curl_easy_getinfo(curl, CURLINFO_HEADER_SIZE, &header_size);
  wire_ += static_cast<std::uint64_t>(request_size + header_size) +
           r.body.size() + reply.received;
  const std::string what =
      absl::StrCat(r.op, " ", Url(r.key), " (", config_.endpoint, ")");
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && reply.overflow)) {
    return absl::UnavailableError(
        absl::StrCat(what, ": ", curl_easy_strerror(rc)));
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
  const bool body_expected =
      r.method != "HEAD" && reply.status != 304 && reply.status != 204;
  if (reply.overflow || (body_expected && reply.content_length &&
                         *reply.content_length != reply.received)) {
    return absl::DataLossError(absl::StrCat(what, ": the response body was ",
                                            reply.received, " bytes; it said ",
                                            reply.content_length.value_or(0)));
  }
  if (r.sink != nullptr && reply.status / 100 == 2 &&
      reply.received != r.sink_len) {
    return absl::DataLossError(absl::StrCat(what, ": ", reply.received,
                                            " bytes came; ", r.sink_len,
                                            " were asked for"));
  }
  return reply;
}

absl::StatusOr<Client::Reply> Client::Send(const Request& r) {
  void* h = TakeHandle();
  if (h == nullptr) return absl::InternalError("curl_easy_init failed");
  thread_local std::mt19937_64 rng(std::random_device{}());
  absl::StatusOr<Reply> reply;
  for (int attempt = 1;; ++attempt) {
    reply = SendOnce(r, h);
    bool again;
    if (reply.ok()) {
      const std::string code =
          reply->status / 100 == 2 ? "" : Xml(reply->body).Text("Code");
      again = Retryable(reply->status, code);
    } else {
      again = true;  // Unreachable, reset, stalled, truncated.
    }
    if (!again || attempt >= config_.max_attempts) break;
    ++retries_;
    const double cap =
        std::min(config_.max_backoff_seconds,
                 config_.base_backoff_seconds *
                     static_cast<double>(1u << std::min(attempt, 20)));
    std::uniform_real_distribution<double> jitter(cap / 2, cap);
    std::this_thread::sleep_for(std::chrono::duration<double>(jitter(rng)));
  }
  GiveHandle(h);
  if (!reply.ok()) {
    return absl::Status(reply.status().code(),
                        absl::StrCat(reply.status().message(), " (after ",
                                     config_.max_attempts, " attempts)"));
  }
  return reply;
}

absl::Status Client::ErrorOf(const Request& r, const Reply& reply) const {
  const Xml xml(reply.body);
  std::string code = xml.Text("Code");
  if (code.empty()) code = absl::StrCat("HTTP ", reply.status);
  std::string message = xml.Text("Message");
  const std::string what =
      absl::StrCat(r.op, " ", Url(r.key), ": ", reply.status, " ", code,
                   message.empty() ? "" : absl::StrCat(" (", message, ")"));
  if (reply.status == 403 || code == "ExpiredToken" ||
      code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch") {
    return absl::PermissionDeniedError(
        absl::StrCat(what, "; credentials: ", config_.source));
  }
  if (reply.status == 404) return absl::NotFoundError(what);
  if (reply.status == 412) return absl::FailedPreconditionError(what);
  if (reply.status >= 500 || Retryable(reply.status, code)) {
    return absl::UnavailableError(
        absl::StrCat(what, " (after ", config_.max_attempts, " attempts)"));
  }
  return absl::InvalidArgumentError(what);
}

absl::StatusOr<std::optional<GetResult>> Client::Get(
    const std::string& key, const std::string& if_none_match) {
  Request r{"GET", "GetObject", key};
  if (!if_none_match.empty()) {
    r.headers.emplace_back("if-none-match",
                           absl::StrCat("\"", if_none_match, "\""));
  }
  absl::StatusOr<Reply> reply = Send(r);
  if (!reply.ok()) return reply.status();
  GetResult g;
  if (reply->status == 304) {
    g.not_modified = true;
    g.etag = if_none_match;
    return g;
  }
  if (reply->status == 404 && Xml(reply->body).Text("Code") != "NoSuchBucket") {
    return std::nullopt;
  }
  if (reply->status / 100 != 2) return ErrorOf(r, *reply);
  g.body = std::move(reply->body);
  g.etag = std::move(reply->etag);
  return g;
}

absl::Status Client::GetRange(const std::string& key, std::uint64_t offset,
                              std::uint64_t len, char* dst) {
  if (len == 0) return absl::OkStatus();
  Request r{"GET", "GetObject", key};
  r.headers.emplace_back("range",
                         absl::StrCat("bytes=", offset, "-", offset + len - 1));
  r.sink = dst;
  r.sink_len = len;
  absl::StatusOr<Reply> reply = Send(r);
  if (!reply.ok()) return reply.status();
  if (reply->status / 100 != 2) return ErrorOf(r, *reply);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ObjectInfo>> Client::Head(const std::string& key) {
  Request r{"HEAD", "HeadObject", key};
  absl::StatusOr<Reply> reply = Send(r);
  if (!reply.ok()) return reply.status();
  if (reply->status == 404) return std::nullopt;
  if (reply->status / 100 != 2) return ErrorOf(r, *reply);
  return ObjectInfo{key, reply->content_length.value_or(0), reply->etag,
                    reply->mtime};
}

absl::Status Client::Put(const std::string& key, absl::string_view data,
                         const PutOptions& options) {
  Request r{"PUT", "PutObject", key};
  r.body = data;
  if (options.create_only) r.headers.emplace_back("if-none-match", "*");
  if (!options.if_match.empty()) {
    r.headers.emplace_back("if-match", options.if_match);
  }
  absl::StatusOr<Reply> reply = Send(r);
  if (!reply.ok()) return reply.status();
  if (reply->status / 100 != 2) return ErrorOf(r, *reply);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Client::StartMultipart(const std::string& key) {
  Request r{"POST", "CreateMultipartUpload", key, {{"uploads", ""}}};
  absl::StatusOr<Reply> reply = Send(r);
  if (!reply.ok()) return reply.status();
  if (reply->status / 100 != 2) return ErrorOf(r, *reply);
  std::string id = Xml(reply->body).Text("UploadId");
  if (id.empty()) {
    return absl::DataLossError(absl::StrCat("CreateMultipartUpload ", Url(key),
                                            ": the answer has no UploadId"));
  }
  return id;
}

absl::StatusOr<std::string> Client::UploadPart(const std::string& key,
                                               const std::string& upload_id,
                                               int part,
                                               absl::string_view data) {
  Request r{"PUT",
            "UploadPart",
            key,
            {{"partNumber", absl::StrCat(part)}, {"uploadId", upload_id}}};
  r.body = data;
  absl::StatusOr<Reply> reply = Send(r);
  if (!reply.ok()) return reply.status();
  if (reply->status / 100 != 2) return ErrorOf(r, *reply);
  if (reply->etag.empty()) {
    return absl::DataLossError(absl::StrCat("UploadPart ", Url(key), " part ",
                                            part, ": the answer has no ETag"));
  }
  return reply->etag;
}

absl::Status Client::CompleteMultipart(const std::string& key,
                                       const std::string& upload_id,
                                       const std::vector<std::string>& etags) {
  std::string body = "<CompleteMultipartUpload>";
  for (std::size_t i = 0; i < etags.size(); ++i) {
    absl::StrAppend(&body, "<Part><PartNumber>", i + 1, "</PartNumber><ETag>\"",
                    etags[i], "\"</ETag></Part>");
  }
  body += "</CompleteMultipartUpload>";
  Request r{"POST", "CompleteMultipartUpload", key, {{"uploadId", upload_id}}};
  r.body = body;
  absl::StatusOr<Reply> reply = Send(r);
  if (!reply.ok()) return reply.status();
  // S3 may answer 200 with an error document after a long wait.
  if (reply->status / 100 != 2 || !Xml(reply->body).Text("Code").empty()) {
    if (reply->status / 100 == 2) reply->status = 500;
    return ErrorOf(r, *reply);
  }
  return absl::OkStatus();
}

void Client::AbortMultipart(const std::string& key,
                            const std::string& upload_id) {
  Request r{"DELETE", "AbortMultipartUpload", key, {{"uploadId", upload_id}}};
  (void)Send(r);
}

absl::StatusOr<std::vector<ObjectInfo>> Client::List(
    const std::string& prefix) {
  std::vector<ObjectInfo> out;
  std::string token;
  for (;;) {
    Request r{
        "GET", "ListObjectsV2", "", {{"list-type", "2"}, {"prefix", prefix}}};
    if (!token.empty()) r.query.emplace_back("continuation-token", token);
    absl::StatusOr<Reply> reply = Send(r);
    if (!reply.ok()) return reply.status();
    if (reply->status / 100 != 2) return ErrorOf(r, *reply);
    const Xml xml(reply->body);
    if (xml.root() == nullptr) {
      return absl::DataLossError(absl::StrCat("ListObjectsV2 ", Url(prefix),
                                              ": the answer is not XML"));
    }
    for (const xmlNode* n = xml.root()->children; n != nullptr; n = n->next) {
      if (n->type != XML_ELEMENT_NODE ||
          std::strcmp(reinterpret_cast<const char*>(n->name), "Contents") !=
              0) {
        continue;
      }
      ObjectInfo o;
      o.key = TextOf(FindElement(n->children, "Key"));
      o.etag = Unquote(TextOf(FindElement(n->children, "ETag")));
      o.mtime = ParseTime(TextOf(FindElement(n->children, "LastModified")));
      if (!absl::SimpleAtoi(TextOf(FindElement(n->children, "Size")),
                            &o.size) ||
          o.key.empty()) {
        return absl::DataLossError(absl::StrCat(
            "ListObjectsV2 ", Url(prefix), ": an entry without Key or Size"));
      }
      out.push_back(std::move(o));
    }
    token = xml.Text("NextContinuationToken");
    if (xml.Text("IsTruncated") != "true" || token.empty()) break;
  }
  return out;
}

absl::Status Client::Delete(const std::string& key) {
  Request r{"DELETE", "DeleteObject", key};
  absl::StatusOr<Reply> reply = Send(r);
  if (!reply.ok()) return reply.status();
  if (reply->status / 100 != 2 && reply->status != 404)
    return ErrorOf(r, *reply);
  return absl::OkStatus();
}

absl::Status Client::CreateBucket() {
  Request r{"PUT", "CreateBucket", ""};
  absl::StatusOr<Reply> reply = Send(r);
  if (!reply.ok()) return reply.status();
  if (reply->status / 100 == 2) return absl::OkStatus();
  if (Xml(reply->body).Text("Code") == "BucketAlreadyOwnedByYou") {
    return absl::OkStatus();
  }
  return ErrorOf(r, *reply);
}

}  // namespace ancient::s3
