// AWS Signature Version 4; see sigv4.h.

#include "replica/s3/sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ancient::s3 {
namespace {

std::string Hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

std::string Hmac(absl::string_view key, absl::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out,
       &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

}  // namespace

std::string Sha256Hex(absl::string_view data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return Hex(out, sizeof out);
}

std::string UriEncode(absl::string_view s, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '.' || c == '_' ||
        c == '~' || (c == '/' && keep_slash)) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kDigits[u >> 4]);
      out.push_back(kDigits[u & 15]);
    }
  }
  return out;
}

std::string CanonicalQuery(const Params& query) {
  Params encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) {
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  return absl::StrJoin(encoded, "&", [](std::string* out, const auto& p) {
    absl::StrAppend(out, p.first, "=", p.second);
  });
}

Signature SignV4(const SigningRequest& r, const SigningKey& key,
                 absl::string_view amz_date) {
  Params headers;
  for (const auto& [name, value] : r.headers) {
    headers.emplace_back(absl::AsciiStrToLower(name),
                         std::string(absl::StripAsciiWhitespace(value)));
  }
  std::sort(headers.begin(), headers.end());
  std::string canonical_headers, signed_headers;
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&canonical_headers, name, ":", value, "\n");
    absl::StrAppend(&signed_headers, signed_headers.empty() ? "" : ";", name);
  }
  Signature sig;
  sig.canonical_request = absl::StrCat(
      r.method, "\n", r.path, "\n", CanonicalQuery(r.query), "\n",
      canonical_headers, "\n", signed_headers, "\n", r.payload_hash);
  const std::string date(amz_date.substr(0, 8));
  const std::string when(amz_date);
  const std::string scope =
      absl::StrCat(date, "/", key.region, "/", key.service, "/aws4_request");
  sig.string_to_sign = absl::StrCat("AWS4-HMAC-SHA256\n", when, "\n", scope,
                                    "\n", Sha256Hex(sig.canonical_request));
  std::string k = Hmac(absl::StrCat("AWS4", key.secret_key), date);
  k = Hmac(k, key.region);
  k = Hmac(k, key.service);
  k = Hmac(k, "aws4_request");
  const std::string mac = Hmac(k, sig.string_to_sign);
  sig.authorization = absl::StrCat(
      "AWS4-HMAC-SHA256 Credential=", key.access_key, "/", scope,
      ",SignedHeaders=", signed_headers, ",Signature=",
      Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size()));
  return sig;
}

}  // namespace ancient::s3
