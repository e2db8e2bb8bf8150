// The S3 configuration from the environment and the AWS files; see
// config.h.

#include "replica/s3/config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace ancient::s3 {
namespace {

using Section = std::map<std::string, std::string>;

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string HomeFile(const char* override_var, const char* name) {
  if (std::optional<std::string> f = Env(override_var)) return *f;
  const char* home = std::getenv("HOME");
  return absl::StrCat(home ? home : "", "/.aws/", name);
}

// Section `section` of an INI file (nullopt: no file or no such section).
std::optional<Section> ReadSection(const std::string& path,
                                   const std::string& section) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::optional<Section> out;
  bool inside = false;
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view l = absl::StripAsciiWhitespace(line);
    if (l.empty() || l[0] == '#' || l[0] == ';') continue;
    if (l.front() == '[' && l.back() == ']') {
      inside = absl::StripAsciiWhitespace(l.substr(1, l.size() - 2)) == section;
      if (inside && !out) out.emplace();
      continue;
    }
    const std::size_t eq = l.find('=');
    if (!inside || eq == absl::string_view::npos) continue;
    (*out)[absl::AsciiStrToLower(absl::StripAsciiWhitespace(l.substr(0, eq)))] =
        std::string(absl::StripAsciiWhitespace(l.substr(eq + 1)));
  }
  return out;
}

std::string Get(const Section& s, const char* name) {
  auto it = s.find(name);
  return it == s.end() ? "" : it->second;
}

absl::Status Number(const char* var, double* out) {
  std::optional<std::string> v = Env(var);
  if (!v) return absl::OkStatus();
  if (!absl::SimpleAtod(*v, out) || *out < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(var, "='", *v, "' is not a number of seconds >= 0"));
  }
  return absl::OkStatus();
}

absl::Status Count(const char* var, int* out) {
  std::optional<std::string> v = Env(var);
  if (!v) return absl::OkStatus();
  if (!absl::SimpleAtoi(*v, out) || *out < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(var, "='", *v, "' is not a whole number >= 1"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string Location::url() const {
  return prefix.empty() ? absl::StrCat("s3://", bucket)
                        : absl::StrCat("s3://", bucket, "/", prefix);
}

bool IsS3Url(absl::string_view repo) { return absl::StartsWith(repo, "s3://"); }

absl::StatusOr<Location> ParseS3Url(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "s3://")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", url, "' is not an s3://BUCKET/PREFIX address"));
  }
  while (absl::ConsumeSuffix(&rest, "/")) {
  }
  Location loc;
  const std::size_t slash = rest.find('/');
  loc.bucket = std::string(rest.substr(0, slash));
  if (slash != absl::string_view::npos) {
    loc.prefix = std::string(rest.substr(slash + 1));
  }
  const bool bucket_ok =
      loc.bucket.size() >= 3 && loc.bucket.size() <= 63 &&
      std::all_of(loc.bucket.begin(), loc.bucket.end(), [](char c) {
        return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' ||
               c == '.';
      });
  if (!bucket_ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", url, "': bucket name '", loc.bucket,
                     "' is not 3-63 characters of a-z, 0-9, '-' and '.'"));
  }
  if (absl::StrContains(loc.prefix, "//")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", url, "': the prefix has an empty segment"));
  }
  return loc;
}

absl::StatusOr<Config> ConfigFromEnvironment() {
  Config c;
  const std::optional<std::string> profile_var = Env("AWS_PROFILE");
  const std::string profile = profile_var.value_or("default");
  const std::string cred_file =
      HomeFile("AWS_SHARED_CREDENTIALS_FILE", "credentials");
  const std::string config_file = HomeFile("AWS_CONFIG_FILE", "config");
  std::optional<Section> creds = ReadSection(cred_file, profile);
  std::optional<Section> conf = ReadSection(
      config_file, profile == "default" ? profile : "profile " + profile);
  if (profile_var && !creds && !conf) {
    return absl::InvalidArgumentError(
        absl::StrCat("AWS_PROFILE='", profile, "' is in neither ", cred_file,
                     " nor ", config_file));
  }
  const Section none;
  const Section& cr = creds ? *creds : none;
  const Section& co = conf ? *conf : none;

  const std::optional<std::string> key = Env("AWS_ACCESS_KEY_ID");
  const std::optional<std::string> secret = Env("AWS_SECRET_ACCESS_KEY");
  if (key || secret) {
    if (!key || !secret) {
      return absl::InvalidArgumentError(
          "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
    }
    c.access_key = *key;
    c.secret_key = *secret;
    c.session_token = Env("AWS_SESSION_TOKEN").value_or("");
    c.source = "the environment (AWS_ACCESS_KEY_ID)";
  } else {
    for (const auto& [section, file] :
         {std::pair{&cr, cred_file}, std::pair{&co, config_file}}) {
      if (Get(*section, "aws_access_key_id").empty()) continue;
      c.access_key = Get(*section, "aws_access_key_id");
      c.secret_key = Get(*section, "aws_secret_access_key");
      c.session_token = Get(*section, "aws_session_token");
      c.source = absl::StrCat("profile '", profile, "' of ", file);
      if (c.secret_key.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(c.source,
                         " has aws_access_key_id but no "
                         "aws_secret_access_key"));
      }
      break;
    }
    if (c.access_key.empty()) c.source = "no credentials (anonymous)";
  }

  if (std::optional<std::string> r = Env("AWS_REGION")) {
    c.region = *r;
  } else if (std::optional<std::string> r = Env("AWS_DEFAULT_REGION")) {
    c.region = *r;
  } else if (!Get(co, "region").empty()) {
    c.region = Get(co, "region");
  }
  std::string endpoint =
      Env("AWS_ENDPOINT_URL_S3")
          .value_or(Env("AWS_ENDPOINT_URL").value_or(Get(co, "endpoint_url")));
  if (endpoint.empty()) {
    c.endpoint = absl::StrCat("https://s3.", c.region, ".amazonaws.com");
    c.path_style = false;
  } else {
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
    if (!absl::StartsWith(endpoint, "http://") &&
        !absl::StartsWith(endpoint, "https://")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "endpoint '", endpoint, "' (AWS_ENDPOINT_URL) is not http(s)://"));
    }
    c.endpoint = endpoint;
    c.path_style = true;
  }
  if (std::optional<std::string> a = Env("ANCIENT_S3_ADDRESSING")) {
    if (*a != "path" && *a != "virtual") {
      return absl::InvalidArgumentError(absl::StrCat(
          "ANCIENT_S3_ADDRESSING='", *a, "' is neither path nor virtual"));
    }
    c.path_style = *a == "path";
  }
  c.ca_bundle = Env("AWS_CA_BUNDLE").value_or("");

  absl::Status s = Count("ANCIENT_S3_MAX_ATTEMPTS", &c.max_attempts);
  double connect = static_cast<double>(c.connect_timeout_seconds);
  double stall = static_cast<double>(c.stall_timeout_seconds);
  int part_mib = static_cast<int>(c.part_bytes >> 20);
  if (s.ok()) s = Number("ANCIENT_S3_CONNECT_TIMEOUT", &connect);
  if (s.ok()) s = Number("ANCIENT_S3_STALL_TIMEOUT", &stall);
  if (s.ok()) s = Number("ANCIENT_S3_BACKOFF", &c.base_backoff_seconds);
  if (s.ok()) s = Count("ANCIENT_S3_PARALLEL", &c.parallel);
  if (s.ok()) s = Count("ANCIENT_S3_PART_MIB", &part_mib);
  if (!s.ok()) return s;
  if (part_mib < 5) {
    return absl::InvalidArgumentError(
        "ANCIENT_S3_PART_MIB must be at least 5 (S3's smallest part)");
  }
  c.connect_timeout_seconds = std::max<long>(1, static_cast<long>(connect));
  c.stall_timeout_seconds = std::max<long>(1, static_cast<long>(stall));
  c.part_bytes = static_cast<std::uint64_t>(part_mib) << 20;
  return c;
}

}  // namespace ancient::s3
