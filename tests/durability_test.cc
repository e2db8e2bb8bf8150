// Ordering under power loss, with a fault-injection shim around msync,
// fdatasync and fsync: this test binary defines those functions (exported
// with -rdynamic, so the store and LMDB call them), logs every call, and can
// make msync fail.
//
// Shown here: a root is never committed before its arena bytes are durable
// (the arena msync comes before LMDB's commit sync); when the bytes cannot be
// made durable the root is not committed; and whatever an unsynced or lost
// write leaves in unused arena space damages nothing committed.

#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "replica/replica.h"
#include "store/store.h"
#include "tests/raw_lmdb.h"
#include "tests/test_util.h"

namespace {

struct Event {
  enum Kind { kMsync, kFileSync } kind;
  std::uintptr_t lo = 0, hi = 0;  // msync range: file offsets
  std::string path;               // synced (or msync'ed) file
};

std::mutex log_mu;
std::vector<Event> events;
std::atomic<bool> fail_msync{false};

std::string FdPath(int fd) {
  char buf[512];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, n) : std::string();
}

// The file and file offset mapped at `addr` in this process, from
// /proc/self/maps (the writer msyncs its own view, wherever that is).
std::pair<std::string, std::uintptr_t> FileAt(std::uintptr_t addr) {
  FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr) return {"", 0};
  char line[1024];
  std::pair<std::string, std::uintptr_t> out{"", 0};
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long lo, hi, off;
    char perms[8], path[512] = "";
    if (std::sscanf(line, "%lx-%lx %7s %lx %*s %*s %511s", &lo, &hi, perms,
                    &off, path) < 4) {
      continue;
    }
    if (addr >= lo && addr < hi) {
      out = {path, off + (addr - lo)};
      break;
    }
  }
  std::fclose(f);
  return out;
}

template <class F>
F Real(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" int msync(void* addr, size_t len, int flags) {
  {
    const auto [path, off] = FileAt(reinterpret_cast<std::uintptr_t>(addr));
    std::lock_guard<std::mutex> l(log_mu);
    events.push_back({Event::kMsync, off, off + len, path});
  }
  if (fail_msync.load()) {
    errno = EIO;
    return -1;
  }
  static auto real = Real<int (*)(void*, size_t, int)>("msync");
  return real(addr, len, flags);
}

extern "C" int fdatasync(int fd) {
  {
    std::lock_guard<std::mutex> l(log_mu);
    events.push_back({Event::kFileSync, 0, 0, FdPath(fd)});
  }
  static auto real = Real<int (*)(int)>("fdatasync");
  return real(fd);
}

extern "C" int fsync(int fd) {
  {
    std::lock_guard<std::mutex> l(log_mu);
    events.push_back({Event::kFileSync, 0, 0, FdPath(fd)});
  }
  static auto real = Real<int (*)(int)>("fsync");
  return real(fd);
}

namespace {

using namespace ancient_test;

std::vector<Event> TakeEvents() {
  std::lock_guard<std::mutex> l(log_mu);
  std::vector<Event> out;
  out.swap(events);
  return out;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

ancient::StoreOptions SyncOpts() {
  ancient::StoreOptions o;
  o.max_size = std::size_t{1} << 30;
  o.durability = ancient::Durability::kSync;
  return o;
}

TEST(Durability, ArenaBytesAreDurableBeforeTheirRootCommits) {
  const std::string dir = TempDir("order") + "/s";
  for (int round = 0; round < 5; ++round) {
    std::vector<Event> log;
    std::vector<std::uint64_t> offsets;
    {
      auto store = ancient::Store::Open(dir, SyncOpts());
      ASSERT_TRUE(store.ok());
      TakeEvents();
      auto batch = (*store)->Write();
      ASSERT_TRUE(batch.ok());
      for (int i = 0; i < 3; ++i) {
        auto info = batch->Share("k" + std::to_string(i),
                                 MakeValue(round * 10 + i, 500));
        ASSERT_TRUE(info.ok());
        offsets.push_back(info->offset);
      }
      ASSERT_TRUE(batch->Commit().ok());
      log = TakeEvents();
    }
    // What the checksum covers: the graph and its relocation record, as the
    // committed root records say (read with the store closed).
    std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
    {
      RawLmdb raw(dir);
      for (int i = 0; i < 3; ++i) {
        const std::string rec = *raw.Get("roots", "k" + std::to_string(i));
        const std::uint64_t off = GetField(rec, kOffset);
        const std::uint64_t graph = GetField(rec, kGraph);
        const std::uint64_t reloc = GetField(rec, kReloc);
        ASSERT_EQ(off, offsets[i]);
        ASSERT_GT(reloc, 0u);
        ranges.emplace_back(off, off + graph + reloc);
      }
    }
    // The first sync of LMDB's data file is where the commit becomes
    // durable; every graph and its relocation record must have been
    // msync'ed before it.
    std::size_t commit = log.size();
    for (std::size_t i = 0; i < log.size(); ++i) {
      if (log[i].kind == Event::kFileSync &&
          EndsWith(log[i].path, "/data.mdb")) {
        commit = i;
        break;
      }
    }
    ASSERT_LT(commit, log.size()) << "LMDB never synced its data file";
    for (const auto& [lo, hi] : ranges) {
      bool synced = false;
      for (std::size_t i = 0; i < commit; ++i) {
        synced |= log[i].kind == Event::kMsync &&
                  EndsWith(log[i].path, "/arena") && log[i].lo <= lo &&
                  hi <= log[i].hi;
      }
      EXPECT_TRUE(synced) << "bytes [" << lo << ", " << hi
                          << ") of the arena not synced before the commit";
    }
  }
}

TEST(Durability, NoSyncSkipsSyncs) {
  ancient::StoreOptions o = SyncOpts();
  o.durability = ancient::Durability::kNoSync;
  auto store = ancient::Store::Open(TempDir("nosync") + "/s", o);
  ASSERT_TRUE(store.ok());
  // Neither the arena's msync nor LMDB's syncs of its files, in a Share or
  // a batch; while kSync (above) makes both.
  TakeEvents();
  ASSERT_TRUE((*store)->Share("k", MakeValue(1, 100)).ok());
  {
    auto batch = (*store)->Write();
    ASSERT_TRUE(batch.ok());
    ASSERT_TRUE(batch->Share("k2", MakeValue(2, 100)).ok());
    ASSERT_TRUE(batch->Delete("k").ok());
    ASSERT_TRUE(batch->Commit().ok());
  }
  for (const Event& e : TakeEvents()) {
    ADD_FAILURE() << (e.kind == Event::kMsync ? "msync of " : "sync of ")
                  << e.path;
  }
}

TEST(Durability, BytesThatCannotBeMadeDurableAreNeverCommitted) {
  const std::string dir = TempDir("failsync") + "/s";
  auto store = ancient::Store::Open(dir, SyncOpts());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Share("k", MakeValue(1, 200)).ok());
  fail_msync = true;
  auto failed = (*store)->Share("k", MakeValue(2, 200));
  auto fresh = (*store)->Share("new", MakeValue(3, 200));
  fail_msync = false;
  // msync's EIO: DataLoss, naming the call and the arena file.
  for (const auto* r : {&failed, &fresh}) {
    EXPECT_EQ(r->status().code(), absl::StatusCode::kDataLoss) << r->status();
    EXPECT_NE(r->status().message().find("msync " + dir + "/arena"),
              std::string::npos)
        << r->status();
  }
  auto v = (*store)->Get<std::vector<std::string>>("k");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(CheckValue(**v), 1);  // The old value, untouched.
  EXPECT_EQ((*store)->Get<std::vector<std::string>>("new").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE((*store)->Verify().ok()) << (*store)->Verify();
  ASSERT_TRUE((*store)->Share("k", MakeValue(4, 200)).ok());  // Recovers.
}

TEST(Durability, LostUnsyncedWritesDamageNothingCommitted) {
  // A power loss can leave anything in space no committed root uses: a
  // half-written graph, stale bytes, garbage. Fill all of it with garbage.
  const std::string dir = TempDir("lost") + "/s";
  {
    auto store = ancient::Store::Open(dir, SyncOpts());
    ASSERT_TRUE(store.ok());
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(
          (*store)->Share("k" + std::to_string(i), MakeValue(i, 100 + i)).ok());
    }
    for (int i = 0; i < 20; i += 2) {
      ASSERT_TRUE((*store)->Delete("k" + std::to_string(i)).ok());
    }
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> live;
  {
    RawLmdb raw(dir);
    for (const auto& key : raw.Keys("roots")) {
      const std::string rec = *raw.Get("roots", key);
      live.emplace_back(GetField(rec, kOffset), GetField(rec, kExtent));
    }
  }
  const int fd = open((dir + "/arena").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  const off_t size = lseek(fd, 0, SEEK_END);
  std::string garbage(static_cast<std::size_t>(size), '\0');
  ASSERT_EQ(pread(fd, garbage.data(), garbage.size(), 0), size);
  std::uint64_t scribbled = 0;
  for (off_t i = 0; i < size; ++i) {
    bool used = false;
    for (auto [off, len] : live)
      used |= static_cast<std::uint64_t>(i) >= off &&
              static_cast<std::uint64_t>(i) < off + len;
    if (!used) {
      garbage[i] = static_cast<char>(0xa5 ^ i);
      ++scribbled;
    }
  }
  ASSERT_EQ(pwrite(fd, garbage.data(), garbage.size(), 0), size);
  close(fd);
  ASSERT_GT(scribbled, 0u);
  auto store = ancient::Store::Open(dir, SyncOpts());
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->Verify().ok()) << (*store)->Verify();
  for (int i = 1; i < 20; i += 2) {
    auto v = (*store)->Get<std::vector<std::string>>("k" + std::to_string(i));
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(CheckValue(**v), i);
  }
  // And the garbage space is reused cleanly.
  ASSERT_TRUE((*store)->Share("k0", MakeValue(100, 300)).ok());
  EXPECT_TRUE((*store)->Verify().ok());
}

// The first of the data.mdb syncs of the store at `dir` that end the log:
// where its last commit becomes durable (LMDB syncs its data pages, then
// its meta page, with none of our calls between).
std::size_t LastCommit(const std::vector<Event>& log, const std::string& dir) {
  const std::string data = dir + "/data.mdb";
  auto is_commit = [&](const Event& e) {
    return e.kind == Event::kFileSync && e.path == data;
  };
  std::size_t i = log.size();
  while (i > 0 && !is_commit(log[i - 1])) --i;
  if (i == 0) return log.size();  // none
  --i;
  while (i > 0 && is_commit(log[i - 1])) --i;
  return i;
}

// Every root of the store at `dir` (its graph and relocation record, as its
// committed record says) was made durable before that store's last commit:
// by an msync of a range covering it, or a sync of the whole arena file.
void ExpectRootsDurableBeforeLastCommit(const std::vector<Event>& log,
                                        const std::string& dir,
                                        const std::vector<std::string>& keys) {
  const std::size_t commit = LastCommit(log, dir);
  ASSERT_LT(commit, log.size()) << "no commit of " << dir << " was synced";
  RawLmdb raw(dir);
  for (const std::string& key : keys) {
    const std::optional<std::string> rec = raw.Get("roots", key);
    ASSERT_TRUE(rec.has_value()) << key;
    const std::uint64_t lo = GetField(*rec, kOffset);
    const std::uint64_t hi =
        lo + GetField(*rec, kGraph) + GetField(*rec, kReloc);
    bool synced = false;
    for (std::size_t i = 0; i < commit; ++i) {
      const Event& e = log[i];
      if (e.path != dir + "/arena") continue;
      synced |= e.kind == Event::kFileSync ||
                (e.lo <= lo && hi <= e.hi);  // msync of a covering range
    }
    EXPECT_TRUE(synced) << dir << ": root '" << key << "' (bytes [" << lo
                        << ", " << hi << ")) not durable before the commit";
  }
}

const std::vector<std::string> kThreeKeys = {"k0", "k1", "k2"};

void ShareThree(ancient::Store& store, int seq) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        store.Share("k" + std::to_string(i), MakeValue(seq + i, 500)).ok());
  }
}

TEST(Durability, AFollowSyncsTheRootsItPlacesBeforeItsCommit) {
  const std::string root = TempDir("follow");
  const std::string repo = root + "/repo", local = root + "/local";
  ancient::StoreOptions o = SyncOpts();
  o.durability = ancient::Durability::kNoSync;  // the publisher's own store
  auto src = ancient::Store::Open(root + "/src", o);
  ASSERT_TRUE(src.ok());
  ShareThree(**src, 10);
  ASSERT_TRUE(ancient::Publish(**src, repo).ok());
  ASSERT_TRUE(ancient::FollowOnce(repo, local).ok());
  ShareThree(**src, 20);  // every root changes
  ASSERT_TRUE(ancient::Publish(**src, repo).ok());
  TakeEvents();
  auto r = ancient::FollowOnce(repo, local);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->roots_fetched, 3u);
  ExpectRootsDurableBeforeLastCommit(TakeEvents(), local + "/store",
                                     kThreeKeys);
}

TEST(Durability, ACopySyncsItsRootsBeforeItsCommit) {
  const std::string root = TempDir("copy");
  auto store = ancient::Store::Open(root + "/s", SyncOpts());
  ASSERT_TRUE(store.ok());
  ShareThree(**store, 30);
  for (bool compact : {false, true}) {
    const std::string dest = root + (compact ? "/compact" : "/plain");
    TakeEvents();
    ASSERT_TRUE((*store)->CopyTo(dest, compact).ok());
    ExpectRootsDurableBeforeLastCommit(TakeEvents(), dest, kThreeKeys);
  }
}

TEST(Durability, APublishSyncsItsObjectsAndManifestBeforeAnnouncing) {
  const std::string root = TempDir("publish");
  const std::string repo = root + "/repo";
  auto store = ancient::Store::Open(root + "/s", SyncOpts());
  ASSERT_TRUE(store.ok());
  ShareThree(**store, 40);
  TakeEvents();
  auto p = ancient::Publish(**store, repo);
  ASSERT_TRUE(p.ok()) << p.status();
  const std::vector<Event> log = TakeEvents();
  // The announcement is durable once its file is synced; every object and
  // the manifest must have been synced before.
  std::size_t announce = log.size(), objects = 0, manifest = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    const std::string& path = log[i].path;
    if (log[i].kind != Event::kFileSync) continue;
    if (path.find("/ANNOUNCE") != std::string::npos) {
      announce = std::min(announce, i);
    } else if (announce == log.size()) {
      objects += path.find(repo + "/tmp/object") == 0;
      manifest += path.find("/MANIFEST") != std::string::npos;
    }
  }
  ASSERT_LT(announce, log.size()) << "the announcement was never synced";
  EXPECT_EQ(objects, 3u);  // three new objects, each synced before
  EXPECT_GE(manifest, 1u);
}

}  // namespace
