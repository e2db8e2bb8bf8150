// Following an S3 repository: ANNOUNCE polled with If-None-Match, the
// manifest read, the changed roots' objects fetched with parallel ranged
// GETs and checked against their names, then applied in one commit; see
// s3_repo.h.

#include <sys/mman.h>

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <mutex>
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

// Objects of an S3 repository, fetched ahead of their use in ranges of
// Config::part_bytes by Config::parallel threads, in the order Expect
// gives; an object is checked against its name when asked for. Memory:
// the objects fetched ahead, at most kAheadParts parts' worth beyond the
// one in use (any one object may exceed that alone).
class S3Objects : public ObjectSource {
 public:
  S3Objects(S3Repo& repo, const std::string& what)
      : repo_(repo), what_(what), config_(repo.client().config()) {}
  ~S3Objects() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (std::thread& t : threads_) t.join();
    for (Slot& s : slots_) Free(s);
  }

  void Expect(const std::vector<const ObjectRoot*>& order) override {
    for (const ObjectRoot* o : order) {
      Slot& s = slots_.emplace_back();
      s.o = o;
      s.size = o->object_size();
      const std::uint64_t parts = std::max<std::uint64_t>(
          1, (s.size + config_.part_bytes - 1) / config_.part_bytes);
      s.ranges_left = parts;
      for (std::uint64_t p = 0; p < parts; ++p) {
        const std::uint64_t off = p * config_.part_bytes;
        tasks_.push_back({slots_.size() - 1, off,
                          std::min(config_.part_bytes, s.size - off)});
      }
    }
    const std::size_t threads = std::min<std::size_t>(
        tasks_.size(), static_cast<std::size_t>(config_.parallel));
    for (std::size_t t = 0; t < threads; ++t) {
      threads_.emplace_back([this] { Work(); });
    }
  }

  absl::StatusOr<const char*> Bytes(const ObjectRoot& o) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (next_ > 0) {  // The last one is done with.
      Free(slots_[next_ - 1]);
      cv_.notify_all();
    }
    if (next_ >= slots_.size() || slots_[next_].o != &o) {
      return absl::InternalError("S3Objects: asked out of the expected order");
    }
    Slot& s = slots_[next_++];
    cv_.wait(lock, [&] { return s.ranges_left == 0; });
    const std::string root = absl::StrCat("root '", o.key, "' of ", what_);
    if (!s.status.ok()) {
      return absl::Status(s.status.code(),
                          absl::StrCat(s.status.message(), " (", root, ")"));
    }
    if (ObjectName(s.buf, s.size) != o.object) {
      return absl::DataLossError(absl::StrCat(
          repo_.url(), "/objects/", o.object,
          " fails its checksum: its bytes are not the ones named (", root,
          ")"));
    }
    return s.buf;
  }

 private:
  static constexpr std::uint64_t kAheadParts = 16;
  struct Slot {
    const ObjectRoot* o = nullptr;
    std::uint64_t size = 0;
    char* buf = nullptr;  // anonymous memory, once admitted
    std::uint64_t ranges_left = 0;
    absl::Status status;
  };
  struct Task {
    std::size_t slot;
    std::uint64_t offset, len;
  };

  void Free(Slot& s) {
    if (s.buf != nullptr) {
      ::munmap(s.buf, std::max<std::uint64_t>(s.size, 1));
      held_ -= s.size;
      s.buf = nullptr;
    }
  }

  void Work() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_ && next_task_ < tasks_.size()) {
      const Task t = tasks_[next_task_];
      Slot& s = slots_[t.slot];
      if (s.buf == nullptr && s.status.ok()) {
        // Admitted when it is the next one used, or within the budget.
        const std::uint64_t budget = kAheadParts * config_.part_bytes;
        if (t.slot + 1 > next_ && held_ + s.size > budget) {
          cv_.wait(lock);
          continue;
        }
        void* p = ::mmap(nullptr, std::max<std::uint64_t>(s.size, 1),
                         PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) {
          s.status = absl::ResourceExhaustedError(
              absl::StrCat("no memory for an object of ", s.size, " bytes"));
        } else {
          s.buf = static_cast<char*>(p);
          held_ += s.size;
        }
      }
      ++next_task_;
      absl::Status st = s.status;
      if (st.ok()) {
        char* dst = s.buf + t.offset;
        const std::string key = repo_.Key("objects/" + s.o->object);
        lock.unlock();
        st = repo_.client().GetRange(key, t.offset, t.len, dst);
        lock.lock();
      }
      if (!st.ok() && s.status.ok()) s.status = st;
      --s.ranges_left;
      cv_.notify_all();
    }
  }

  S3Repo& repo_;
  const std::string& what_;
  const s3::Config& config_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Slot> slots_;  // fixed once Expect returns
  std::vector<Task> tasks_;
  std::size_t next_task_ = 0;  // the next range to fetch
  std::size_t next_ = 0;       // the next slot Bytes returns
  std::uint64_t held_ = 0;     // bytes of admitted slots
  bool stop_ = false;
  std::vector<std::thread> threads_;
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
                      FollowResult* result, const ProgressFn& progress) {
  const std::string what = absl::StrCat("version ", v, " of ", repo.url());
  absl::StatusOr<Manifest> m = repo.ReadManifest(v, &result->manifest_bytes);
  if (!m.ok()) return m.status();
  result->bytes = m->bytes();
  S3Objects objects(repo, what);
  return Apply(store, *m, objects, what, result, progress);
}

}  // namespace ancient::replica_internal
