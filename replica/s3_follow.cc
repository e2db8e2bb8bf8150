// Following an S3 repository: ANNOUNCE polled with If-None-Match, the
// manifest read, the changed roots' objects fetched with parallel ranged
// GETs and checked against their names, then applied in one commit; see
// s3_repo.h.

#include <sys/mman.h>

#include <atomic>
#include <ctime>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "replica/apply.h"
#include "replica/file_util.h"
#include "replica/s3_repo.h"
#include "replica/util.h"

namespace ancient::replica_internal {
namespace {

// Objects of an S3 repository, each fetched whole into one reused buffer
// (anonymous memory: the largest object of the version), in ranges of
// Config::part_bytes fetched Config::parallel at a time.
class S3Objects : public ObjectSource {
 public:
  S3Objects(S3Repo& repo, const std::string& what) : repo_(repo), what_(what) {}
  ~S3Objects() override {
    if (buf_ != nullptr) ::munmap(buf_, cap_);
  }

  absl::StatusOr<const char*> Bytes(const ObjectRoot& o) override {
    const std::uint64_t size = o.object_size();
    const std::string root = absl::StrCat("root '", o.key, "' of ", what_);
    absl::Status s = Reserve(size);
    if (!s.ok()) return s;
    const std::string key = repo_.Key("objects/" + o.object);
    const s3::Config& config = repo_.client().config();
    const std::uint64_t part = config.part_bytes;
    const std::uint64_t parts = (size + part - 1) / part;
    std::atomic<std::uint64_t> next{0};
    std::mutex mu;
    absl::Status failed;
    auto work = [&] {
      for (std::uint64_t i; (i = next++) < parts;) {
        const std::uint64_t off = i * part;
        absl::Status s = repo_.client().GetRange(
            key, off, std::min(part, size - off), buf_ + off);
        if (!s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (failed.ok()) failed = s;
          next = parts;
        }
      }
    };
    const std::uint64_t threads = std::min<std::uint64_t>(
        parts, static_cast<std::uint64_t>(config.parallel));
    std::vector<std::thread> pool;
    for (std::uint64_t t = 1; t < threads; ++t) pool.emplace_back(work);
    work();
    for (std::thread& t : pool) t.join();
    if (!failed.ok()) {
      return absl::Status(failed.code(),
                          absl::StrCat(failed.message(), " (", root, ")"));
    }
    if (ObjectName(buf_, size) != o.object) {
      return absl::DataLossError(absl::StrCat(repo_.url(), "/objects/",
                                              o.object,
                                              " fails its checksum: its bytes "
                                              "are not the ones named (",
                                              root, ")"));
    }
    return buf_;
  }

 private:
  absl::Status Reserve(std::uint64_t size) {
    if (size <= cap_) return absl::OkStatus();
    if (buf_ != nullptr) ::munmap(buf_, cap_);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      buf_ = nullptr;
      cap_ = 0;
      return absl::ResourceExhaustedError(
          absl::StrCat("no memory for an object of ", size, " bytes"));
    }
    buf_ = static_cast<char*>(p);
    cap_ = size;
    return absl::OkStatus();
  }

  S3Repo& repo_;
  const std::string& what_;
  char* buf_ = nullptr;
  std::uint64_t cap_ = 0;
};

// LOCAL/REMOTE: what the last poll of an S3 repository saw.
struct Remote {
  std::string repository;
  std::string etag;
  std::uint64_t version = 0;
  std::int64_t polled = 0;
  std::uint64_t fetched = 0;
  std::uint64_t requests = 0;
  std::uint64_t retries = 0;
};

Remote ReadRemote(const std::string& local) {
  Remote r;
  absl::StatusOr<std::string> text = ReadSmallFile(local + "/REMOTE");
  if (!text.ok()) return r;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(line, absl::MaxSplits(' ', 1));
    if (kv.first == "repository") r.repository = kv.second;
    if (kv.first == "etag") r.etag = kv.second;
    if (kv.first == "version") (void)absl::SimpleAtoi(kv.second, &r.version);
    if (kv.first == "polled") (void)absl::SimpleAtoi(kv.second, &r.polled);
    if (kv.first == "fetched") (void)absl::SimpleAtoi(kv.second, &r.fetched);
    if (kv.first == "requests") (void)absl::SimpleAtoi(kv.second, &r.requests);
    if (kv.first == "retries") (void)absl::SimpleAtoi(kv.second, &r.retries);
  }
  return r;
}

}  // namespace

absl::StatusOr<std::uint64_t> AnnouncedS3(S3Repo& repo,
                                          const std::string& local,
                                          std::string* etag) {
  const Remote last = ReadRemote(local);
  const bool same = last.repository == repo.url() && last.version != 0;
  absl::StatusOr<std::optional<S3Repo::Announce>> a =
      repo.ReadAnnounce(same ? last.etag : "");
  if (!a.ok()) return a.status();
  if (!*a) {
    return absl::NotFoundError(
        absl::StrCat("nothing is announced in ", repo.url()));
  }
  *etag = (*a)->etag;
  return (*a)->not_modified ? last.version : (*a)->version;
}

absl::Status RecordPollS3(S3Repo& repo, const std::string& local,
                          std::uint64_t announced, const std::string& etag,
                          const FollowResult& result) {
  const s3::TransferStats st = repo.client().stats();
  return WriteFileAtomic(
      local, "REMOTE",
      absl::StrCat("repository ", repo.url(), "\netag ", etag, "\nversion ",
                   announced, "\npolled ", std::time(nullptr), "\nfetched ",
                   result.bytes_fetched + result.manifest_bytes, "\nrequests ",
                   st.requests, "\nretries ", st.retries, "\n"));
}

absl::Status LocalPollStatus(const std::string& local, ReplicaStatus* st) {
  const Remote r = ReadRemote(local);
  if (r.repository.empty()) return absl::OkStatus();
  st->following = r.repository;
  st->last_poll = r.polled;
  st->last_poll_bytes = r.fetched;
  st->last_poll_requests = r.requests;
  st->last_poll_retries = r.retries;
  return absl::OkStatus();
}

absl::Status FollowS3(S3Repo& repo, std::uint64_t v, const Store& store,
                      FollowResult* result) {
  const std::string what = absl::StrCat("version ", v, " of ", repo.url());
  absl::StatusOr<Manifest> m = repo.ReadManifest(v, &result->manifest_bytes);
  if (!m.ok()) return m.status();
  result->bytes = m->bytes();
  S3Objects objects(repo, what);
  return Apply(store, *m, objects, what, result);
}

}  // namespace ancient::replica_internal
