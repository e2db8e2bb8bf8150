// Repositories on object storage: reading ANNOUNCE, manifests and the
// version list, and the repository's status; see s3_repo.h.

#include "replica/s3_repo.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "replica/util.h"

namespace ancient::replica_internal {

absl::StatusOr<std::unique_ptr<S3Repo>> S3Repo::Open(const std::string& url) {
  absl::StatusOr<s3::Location> loc = s3::ParseS3Url(url);
  if (!loc.ok()) return loc.status();
  absl::StatusOr<s3::Config> config = s3::ConfigFromEnvironment();
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<s3::Client>> client =
      s3::Client::Create(*config, loc->bucket);
  if (!client.ok()) return client.status();
  return std::unique_ptr<S3Repo>(
      new S3Repo(loc->url(), loc->prefix.empty() ? "" : loc->prefix + "/",
                 *std::move(client)));
}

std::string S3Repo::Key(const std::string& name) const {
  return prefix_ + name;
}

absl::StatusOr<std::optional<S3Repo::Announce>> S3Repo::ReadAnnounce(
    const std::string& if_none_match) {
  absl::StatusOr<std::optional<s3::GetResult>> got =
      client_->Get(Key("ANNOUNCE"), if_none_match);
  if (!got.ok()) return got.status();
  if (!*got) {
    absl::StatusOr<std::optional<s3::ObjectInfo>> format =
        client_->Head(Key("FORMAT"));
    if (!format.ok()) return format.status();
    if (!*format) {
      return absl::NotFoundError(absl::StrCat("no ancient repository at ", url_,
                                              " (no ", url_, "/FORMAT)"));
    }
    return std::nullopt;
  }
  Announce a;
  a.etag = (*got)->etag;
  if ((*got)->not_modified) {
    a.not_modified = true;
    return a;
  }
  absl::StatusOr<std::uint64_t> v =
      ParseVersionText((*got)->body, url_ + "/ANNOUNCE");
  if (!v.ok()) return v.status();
  a.version = *v;
  return a;
}

absl::StatusOr<Manifest> S3Repo::ReadManifest(std::uint64_t v,
                                              std::uint64_t* bytes) {
  const std::string name = "versions/" + VersionName(v) + "/MANIFEST";
  const std::string where = url_ + "/" + name;
  absl::StatusOr<std::optional<s3::GetResult>> got = client_->Get(Key(name));
  if (!got.ok()) return got.status();
  if (!*got) {
    return absl::NotFoundError(absl::StrCat(
        "version ", v, " is not in repository ", url_, " (no ", where, ")"));
  }
  if (bytes != nullptr) *bytes = (*got)->body.size();
  absl::StatusOr<Manifest> m = DecodeManifest((*got)->body, where);
  if (!m.ok()) return m.status();
  if (m->version != v) {
    return absl::DataLossError(
        absl::StrCat(where, " names version ", m->version));
  }
  if (m->format != 2) {
    return absl::DataLossError(
        absl::StrCat(where,
                     ": a whole-copy version has no place in an S3 "
                     "repository"));
  }
  return m;
}

absl::StatusOr<std::vector<std::pair<std::uint64_t, std::int64_t>>>
S3Repo::ListVersions() {
  absl::StatusOr<std::vector<s3::ObjectInfo>> list =
      client_->List(Key("versions/"));
  if (!list.ok()) return list.status();
  std::vector<std::pair<std::uint64_t, std::int64_t>> out;
  for (const s3::ObjectInfo& o : *list) {
    absl::string_view k = o.key;
    std::uint64_t v;
    if (absl::ConsumePrefix(&k, Key("versions/")) &&
        absl::ConsumeSuffix(&k, "/MANIFEST") && absl::SimpleAtoi(k, &v) &&
        v > 0) {
      out.emplace_back(v, o.mtime);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<absl::flat_hash_set<std::uint64_t>> S3Repo::KeptVersions() {
  absl::StatusOr<std::vector<s3::ObjectInfo>> list =
      client_->List(Key("pins/"));
  if (!list.ok()) return list.status();
  absl::flat_hash_set<std::uint64_t> out;
  for (const s3::ObjectInfo& o : *list) {
    absl::string_view k = o.key;
    std::uint64_t v;
    if (absl::ConsumePrefix(&k, Key("pins/")) && absl::SimpleAtoi(k, &v)) {
      out.insert(v);
    }
  }
  return out;
}

absl::Status KeepVersionS3(S3Repo& repo, std::uint64_t v, bool keep) {
  const std::string pin = repo.Key("pins/" + VersionName(v));
  if (!keep) return repo.client().Delete(pin);
  absl::StatusOr<std::optional<s3::ObjectInfo>> there =
      repo.client().Head(repo.Key("versions/" + VersionName(v) + "/MANIFEST"));
  if (!there.ok()) return there.status();
  if (!*there) {
    return absl::NotFoundError(
        absl::StrCat("version ", v, " is not in repository ", repo.url()));
  }
  return repo.client().Put(pin, "kept\n");
}

absl::StatusOr<ReplicaStatus> S3Status(S3Repo& repo) {
  absl::StatusOr<std::optional<S3Repo::Announce>> a = repo.ReadAnnounce();
  if (!a.ok()) return a.status();
  ReplicaStatus st;
  st.is_repository = true;
  if (*a) st.announced = (*a)->version;
  absl::StatusOr<std::vector<std::pair<std::uint64_t, std::int64_t>>> vs =
      repo.ListVersions();
  if (!vs.ok()) return vs.status();
  absl::StatusOr<absl::flat_hash_set<std::uint64_t>> kept = repo.KeptVersions();
  if (!kept.ok()) return kept.status();
  for (const auto& [v, mtime] : *vs) {
    absl::StatusOr<Manifest> m = repo.ReadManifest(v);
    if (!m.ok()) return m.status();
    st.versions.push_back(
        {v, m->bytes(), m->new_bytes, mtime, 0, kept->contains(v)});
  }
  return st;
}

}  // namespace ancient::replica_internal
