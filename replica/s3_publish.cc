// Publish to object storage: objects uploaded create-only (in parts when
// big), the version claimed by its MANIFEST, then announced over the ETag
// read; see s3_repo.h.

#include <algorithm>
#include <ctime>
#include <deque>
#include <future>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "replica/objects.h"
#include "replica/s3_repo.h"
#include "replica/util.h"
#include "store/strings.h"

namespace ancient::replica_internal {
namespace {

using store_internal::ReadTxn;
using store_internal::RootRecord;

// Uploads the objects of one publish, each at most once.
class S3ObjectWriter {
 public:
  S3ObjectWriter(const store_internal::Core& core, S3Repo& repo)
      : repo_(repo), maker_(core) {}
  ~S3ObjectWriter() {
    for (auto& f : running_) f.wait();
  }

  // As ObjectWriter::Write (publish.cc): the object's name, uploaded
  // unless the bucket has it.
  absl::StatusOr<std::string> Write(const ReadTxn& txn, std::string_view key,
                                    const RootRecord& r,
                                    const std::string& description,
                                    std::uint64_t* written) {
    const std::uint64_t len = r.graph_size + r.reloc_size;
    const std::uint64_t part = repo_.client().config().part_bytes;
    // Small objects are kept from the hashing pass and sent from memory;
    // big ones are made again, part by part, once their name is known.
    std::string whole;
    if (len <= part) whole.reserve(len);
    absl::StatusOr<std::string> name = maker_.Make(
        txn, key, r, description, /*check=*/true,
        [&](std::uint64_t, const char* p, std::uint64_t n) {
          if (len <= part) whole.append(p, n);
          return absl::OkStatus();
        },
        [](std::uint64_t, std::uint64_t) {});
    if (!name.ok()) return name.status();
    if (names_.contains(*name)) return name;
    names_.insert(*name);
    const std::string object = repo_.Key("objects/" + *name);
    if (len > part) {
      // Its parts go several at once; this waits for them.
      absl::StatusOr<std::optional<s3::ObjectInfo>> there =
          repo_.client().Head(object);
      if (!there.ok()) return there.status();
      if (!*there || (*there)->size != len) {
        absl::Status s = Multipart(txn, key, r, description, object, *name);
        if (!s.ok()) return s;
        *written += len;
      }
      return name;
    }
    // A small one goes in the background (a HEAD, then a create-only PUT
    // unless it is there), Config::parallel at a time, while the next
    // roots are hashed; Finish waits for them.
    while (running_.size() >=
           static_cast<std::size_t>(repo_.client().config().parallel)) {
      absl::Status s = WaitOldest();
      if (!s.ok()) return s;
    }
    running_.push_back(std::async(
        std::launch::async,
        [this, object, len, whole = std::move(whole)]() -> Sent {
          s3::Client& client = repo_.client();
          absl::StatusOr<std::optional<s3::ObjectInfo>> there =
              client.Head(object);
          if (!there.ok()) return {there.status(), 0};
          if (*there && (*there)->size == len) return {absl::OkStatus(), 0};
          // Create-only: an object of this name has these bytes already.
          absl::Status s = client.Put(object, whole, {.create_only = !*there});
          if (absl::IsFailedPrecondition(s)) return {absl::OkStatus(), 0};
          return {s, s.ok() ? len : 0};
        }));
    return name;
  }

  // Waits for every upload; adds the bytes they wrote to *written.
  absl::Status Finish(std::uint64_t* written) {
    absl::Status first;
    while (!running_.empty()) {
      absl::Status s = WaitOldest();
      if (first.ok()) first = s;
    }
    *written += background_written_;
    background_written_ = 0;
    return first;
  }

 private:
  struct Sent {
    absl::Status status;
    std::uint64_t bytes;
  };
  absl::Status WaitOldest() {
    Sent sent = running_.front().get();
    running_.pop_front();
    background_written_ += sent.bytes;
    return sent.status;
  }

  // Uploads the object of `key` in parts, several at once.
  absl::Status Multipart(const ReadTxn& txn, std::string_view key,
                         const RootRecord& r, const std::string& description,
                         const std::string& object, const std::string& name) {
    s3::Client& client = repo_.client();
    const std::uint64_t part = client.config().part_bytes;
    absl::StatusOr<std::string> id = client.StartMultipart(object);
    if (!id.ok()) return id.status();
    std::vector<std::string> etags;
    std::deque<std::future<absl::StatusOr<std::string>>> running;
    absl::Status failed;
    auto collect = [&] {
      absl::StatusOr<std::string> etag = running.front().get();
      running.pop_front();
      if (!etag.ok() && failed.ok()) failed = etag.status();
      etags.push_back(etag.ok() ? *etag : "");
    };
    auto buf = std::make_shared<std::string>();
    auto send = [&] {
      const int number = static_cast<int>(etags.size() + running.size()) + 1;
      running.push_back(
          std::async(std::launch::async, [&client, object, id, number, buf] {
            return client.UploadPart(object, *id, number, *buf);
          }));
      buf = std::make_shared<std::string>();
      while (running.size() >=
             static_cast<std::size_t>(client.config().parallel)) {
        collect();
      }
    };
    absl::StatusOr<std::string> again = maker_.Make(
        txn, key, r, description, /*check=*/false,
        [&](std::uint64_t, const char* p, std::uint64_t n) {
          while (n > 0) {
            const std::uint64_t take = std::min(n, part - buf->size());
            buf->append(p, take);
            p += take;
            n -= take;
            if (buf->size() == part) send();
          }
          return failed;
        },
        [](std::uint64_t, std::uint64_t) {});
    if (again.ok() && !buf->empty()) send();
    while (!running.empty()) collect();
    absl::Status s = !again.ok() ? again.status() : failed;
    if (s.ok() && *again != name) {
      s = absl::DataLossError(absl::StrCat("root '", std::string(key),
                                           "' changed between two reads"));
    }
    if (s.ok()) s = client.CompleteMultipart(object, *id, etags);
    if (!s.ok()) client.AbortMultipart(object, *id);
    return s;
  }

  S3Repo& repo_;
  ObjectMaker maker_;
  absl::flat_hash_set<std::string> names_;
  std::deque<std::future<Sent>> running_;  // small objects being sent
  std::uint64_t background_written_ = 0;
};

// Versions beyond the newest `keep` (never the announced one), superseded
// for `grace` seconds; then the objects that no remaining version names
// and that are older than `grace` (a publish under way has not named its
// objects yet).
void RemoveOld(S3Repo& repo, const PublishOptions& options,
               std::uint64_t announced, PublishResult* result) {
  absl::StatusOr<std::vector<std::pair<std::uint64_t, std::int64_t>>> vs =
      repo.ListVersions();
  if (!vs.ok()) return;
  absl::StatusOr<absl::flat_hash_set<std::uint64_t>> pinned =
      repo.KeptVersions();
  if (!pinned.ok()) return;  // Which may go is unknown: none goes.
  const std::int64_t now = std::time(nullptr);
  const std::size_t n = vs->size();
  std::vector<std::uint64_t> kept;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t v = (*vs)[i].first;
    if (i + static_cast<std::size_t>(options.keep) < n && v != announced &&
        !pinned->contains(v) &&
        now - (*vs)[i + 1].second >= options.grace_seconds &&
        repo.client()
            .Delete(repo.Key("versions/" + VersionName(v) + "/MANIFEST"))
            .ok()) {
      result->removed.push_back(v);
      continue;
    }
    kept.push_back(v);
  }
  absl::flat_hash_set<std::string> named;
  for (const std::uint64_t v : kept) {
    absl::StatusOr<Manifest> m = repo.ReadManifest(v);
    if (!m.ok()) return;  // It might name anything: remove no object.
    for (const ObjectRoot& r : m->objects) named.insert(r.object);
  }
  const std::string prefix = repo.Key("objects/");
  absl::StatusOr<std::vector<s3::ObjectInfo>> objects =
      repo.client().List(prefix);
  if (!objects.ok()) return;
  for (const s3::ObjectInfo& o : *objects) {
    if (named.contains(o.key.substr(prefix.size())) ||
        now - o.mtime < options.grace_seconds) {
      continue;
    }
    if (repo.client().Delete(o.key).ok()) ++result->objects_removed;
  }
}

// Puts `text` in ANNOUNCE over the ETag `etag` (none: create-only); never
// over a version at or past `v`. Aborted when another publisher announced
// meanwhile.
absl::Status Announce(S3Repo& repo, std::uint64_t v, std::string etag) {
  const std::string text = VersionFileText(v);
  bool quoted = false;
  for (int attempt = 0; attempt < 5; ++attempt) {
    s3::PutOptions o;
    if (etag.empty()) {
      o.create_only = true;
    } else {
      // RGW matches the bare ETag, S3 the quoted one: try both.
      o.if_match = quoted ? absl::StrCat("\"", etag, "\"") : etag;
    }
    absl::Status s = repo.client().Put(repo.Key("ANNOUNCE"), text, o);
    if (!absl::IsFailedPrecondition(s)) return s;
    absl::StatusOr<std::optional<S3Repo::Announce>> now = repo.ReadAnnounce();
    if (!now.ok()) return now.status();
    if (*now && (*now)->version >= v) {
      return absl::AbortedError(
          absl::StrCat("version ", (*now)->version, " was announced at ",
                       repo.url(), " by another publisher meanwhile; version ",
                       v, " stays unannounced"));
    }
    const std::string seen = *now ? (*now)->etag : "";
    quoted = seen == etag && !quoted;
    etag = seen;
  }
  return absl::AbortedError(absl::StrCat("ANNOUNCE of ", repo.url(),
                                         " kept changing; version ", v,
                                         " stays unannounced"));
}

}  // namespace

absl::StatusOr<PublishResult> PublishS3(const Store& store, S3Repo& repo,
                                        const PublishOptions& options) {
  s3::Client& client = repo.client();
  absl::StatusOr<std::optional<s3::GetResult>> format =
      client.Get(repo.Key("FORMAT"));
  if (!format.ok()) return format.status();
  if (!*format) {
    absl::Status s =
        client.Put(repo.Key("FORMAT"), kRepoFormat, {.create_only = true});
    if (!s.ok() && !absl::IsFailedPrecondition(s)) return s;
  } else if ((*format)->body != kRepoFormat) {
    return absl::FailedPreconditionError(
        absl::StrCat(repo.url(),
                     " is not an ancient repository (its FORMAT "
                     "holds something else)"));
  }
  absl::StatusOr<std::optional<S3Repo::Announce>> announced =
      repo.ReadAnnounce();
  if (!announced.ok()) return announced.status();
  std::optional<Manifest> previous;
  if (*announced) {
    absl::StatusOr<Manifest> m = repo.ReadManifest((*announced)->version);
    if (m.ok()) previous = *std::move(m);
  }
  PublishResult result;
  Manifest m;
  S3ObjectWriter writer(*store_internal::CoreOf(store), repo);
  absl::Status s = CollectRoots(
      store, previous,
      // Kept versions' objects stay (RemoveOld): no request needed.
      [](const ObjectRoot&) { return true; },
      [&](const ReadTxn& txn, std::string_view key, const RootRecord& r,
          const std::string& description, std::uint64_t* written) {
        return writer.Write(txn, key, r, description, written);
      },
      &m, &result, options.progress);
  // Every object is up before anything names it.
  absl::Status uploaded = writer.Finish(&result.bytes_written);
  if (s.ok()) s = uploaded;
  if (!s.ok()) return s;
  const std::uint64_t last = *announced ? (*announced)->version : 0;
  if (previous && SameRoots(*previous, m)) {
    result.version = last;
    result.published = false;
    RemoveOld(repo, options, last, &result);
    return result;
  }
  absl::StatusOr<std::vector<std::pair<std::uint64_t, std::int64_t>>> vs =
      repo.ListVersions();
  if (!vs.ok()) return vs.status();
  result.version = std::max(vs->empty() ? 0 : vs->back().first, last) + 1;
  m.version = result.version;
  m.new_bytes = result.bytes_written;
  const std::string manifest = EncodeManifest(m);
  result.manifest_bytes = manifest.size();
  s = client.Put(repo.Key("versions/" + VersionName(m.version) + "/MANIFEST"),
                 manifest, {.create_only = true});
  if (absl::IsFailedPrecondition(s)) {
    return absl::AbortedError(absl::StrCat(
        "version ", m.version, " of ", repo.url(),
        " was made by another publisher first; this publish announced "
        "nothing (its objects stay for the next publish to reuse or remove)"));
  }
  if (!s.ok()) return s;
  s = Announce(repo, m.version, *announced ? (*announced)->etag : "");
  if (!s.ok()) return s;
  RemoveOld(repo, options, m.version, &result);
  return result;
}

}  // namespace ancient::replica_internal
