// Damaged and hostile store files: each gives an error from Open, Get or
// Verify, never a crash. Each case starts from a sound store and damages it
// the way a bad disk, a bug or an attacker would. Every case runs twice: with
// the store mapped at its base, and relocated (its base taken in this
// process), where graphs are rewritten from their relocation records.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "store/store.h"
#include "tests/raw_lmdb.h"
#include "tests/test_util.h"

namespace {

using ancient::Store;
using ancient::StoreOptions;
using namespace ancient_test;  // RawLmdb, RootField, GetField, SetField
using Strings = std::vector<std::string>;

// Whether this run's stores open relocated (the test's parameter).
bool relocate = false;

// While alive (and when `relocate`), holds the first page at the store's
// recorded base, so that the store opens relocated. Failing to take it is a
// test failure: the Relocated variant would silently run the InPlace one.
class BaseTaken {
 public:
  explicit BaseTaken(const std::string& dir) {
    if (!relocate) return;
    std::uint64_t base = 0;
    {
      RawLmdb raw(dir);
      std::optional<std::string> meta = raw.Get("meta", "meta");
      if (!meta || meta->size() < 32) return;  // No base recorded to take.
      std::memcpy(&base, meta->data() + 24, 8);
    }
    void* want = reinterpret_cast<void*>(base);
    void* p = mmap(want, 4096, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == want) {
      p_ = p;
    } else {
      if (p != MAP_FAILED) munmap(p, 4096);
      ADD_FAILURE() << "could not take the store's base " << want << ": "
                    << std::strerror(errno);
    }
  }
  ~BaseTaken() {
    if (p_ != nullptr) munmap(p_, 4096);
  }
  bool taken() const { return p_ != nullptr; }

 private:
  void* p_ = nullptr;
};

// Checks that `store` is mapped as the test's variant asks: relocated
// exactly when its base is taken.
void ExpectMapping(const Store& store, const BaseTaken& taken) {
  auto st = store.Stats();
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->relocated, taken.taken());
}

class Hostile : public testing::TestWithParam<bool> {
 protected:
  void SetUp() override { relocate = GetParam(); }
};

StoreOptions Opts() {
  StoreOptions o;
  o.max_size = std::size_t{1} << 30;
  o.durability = ancient::Durability::kNoSync;
  return o;
}

// A sound store with two roots, "a" and "b".
std::string MakeStore(const std::string& name) {
  const std::string dir = ancient_test::TempDir(name) + "/store";
  auto store = Store::Open(dir, Opts());
  EXPECT_TRUE(store.ok());
  EXPECT_TRUE((*store)->Share("a", ancient_test::MakeValue(1, 300)).ok());
  EXPECT_TRUE((*store)->Share("b", ancient_test::MakeValue(2, 300)).ok());
  EXPECT_TRUE((*store)->Share("gone", 5).ok());
  EXPECT_TRUE((*store)->Delete("gone").ok());
  EXPECT_TRUE((*store)->Verify().ok());
  return dir;
}

// Opens `dir`; if that works, gets and verifies; expects some error, and
// never a crash. Returns the error found.
absl::Status Probe(const std::string& dir) {
  BaseTaken taken(dir);
  auto store = Store::Open(dir, Opts());
  if (!store.ok()) return store.status();
  // Where the space records are sound enough for Stats, the mapping is the
  // one the variant asks for.
  if (auto st = (*store)->Stats(); st.ok()) {
    EXPECT_EQ(st->relocated, taken.taken()) << dir;
  }
  for (const char* key : {"a", "b"}) {
    auto v = (*store)->Get<Strings>(key);
    if (!v.ok()) return v.status();
  }
  absl::Status s = (*store)->Verify();
  if (!s.ok()) return s;
  // Nothing found: then the values must be right (checked, then read).
  for (const auto& [key, seq] : {std::pair{"a", 1}, std::pair{"b", 2}}) {
    auto v = (*store)->GetVerified<Strings>(key);
    if (!v.ok()) return v.status();
    if (ancient_test::CheckValue(**v) != seq) {
      return absl::DataLossError("the value at '" + std::string(key) +
                                 "' is wrong, and nothing said so");
    }
  }
  return absl::OkStatus();
}

void ExpectError(const std::string& dir, absl::StatusCode code,
                 const std::string& needle) {
  const absl::Status s = Probe(dir);
  EXPECT_EQ(s.code(), code) << s;
  EXPECT_NE(s.message().find(needle), std::string::npos) << s;
}

void EditRoot(const std::string& dir, const std::string& key,
              void (*edit)(std::string&)) {
  RawLmdb raw(dir);
  std::string rec = *raw.Get("roots", key);
  edit(rec);
  raw.Put("roots", key, rec);
}

void FlipArenaByte(const std::string& dir, std::uint64_t at) {
  const int fd = open((dir + "/arena").c_str(), O_RDWR);
  char b;
  ASSERT_EQ(pread(fd, &b, 1, at), 1);
  b ^= 0x10;
  ASSERT_EQ(pwrite(fd, &b, 1, at), 1);
  close(fd);
}

// Writes `value` at byte `at` of root `key`'s graph, then recomputes the
// root's checksum so that the damage is not caught by it.
void OverwriteWithForgedChecksum(const std::string& dir, const std::string& key,
                                 std::uint64_t at, std::uint64_t value) {
  std::string rec = *RawLmdb(dir).Get("roots", key);
  const std::uint64_t off = GetField(rec, kOffset);
  const int fd = open((dir + "/arena").c_str(), O_RDWR);
  ASSERT_EQ(pwrite(fd, &value, 8, off + at), 8);
  std::string bytes(GetField(rec, kGraph) + GetField(rec, kReloc), '\0');
  ASSERT_EQ(pread(fd, bytes.data(), bytes.size(), off),
            static_cast<ssize_t>(bytes.size()));
  close(fd);
  SetField(rec, kChecksum, XXH3_64bits(bytes.data(), bytes.size()));
  RawLmdb(dir).Put("roots", key, rec);
}

TEST_P(Hostile, TruncatedArena) {
  const std::string dir = MakeStore("truncated");
  ASSERT_EQ(truncate((dir + "/arena").c_str(), 4096), 0);
  ExpectError(dir, absl::StatusCode::kDataLoss, "arena");
}

TEST_P(Hostile, MissingArena) {
  const std::string dir = MakeStore("noarena");
  ASSERT_EQ(unlink((dir + "/arena").c_str()), 0);
  ExpectError(dir, absl::StatusCode::kDataLoss, "arena file is missing");
}

TEST_P(Hostile, ArenaExtendedWithGarbage) {
  const std::string dir = MakeStore("extended");
  std::uint64_t size = 0;
  {
    struct stat st;
    ASSERT_EQ(stat((dir + "/arena").c_str(), &st), 0);
    size = static_cast<std::uint64_t>(st.st_size);
    std::ofstream f(dir + "/arena", std::ios::app | std::ios::binary);
    f << std::string(100000, '\xa5');
  }
  // A read-only Verify reports it...
  StoreOptions ro = Opts();
  ro.read_only = true;
  BaseTaken taken(dir);
  {
    auto store = Store::Open(dir, ro);
    ASSERT_TRUE(store.ok()) << store.status();
    ExpectMapping(**store, taken);
    const absl::Status v = (*store)->Verify();
    EXPECT_EQ(v.code(), absl::StatusCode::kDataLoss) << v;
    EXPECT_NE(v.message().find("past its recorded end"), std::string::npos)
        << v;
  }
  // ...a read-write open removes it (as after a writer's crash while
  // growing), and everything committed is intact.
  auto store = Store::Open(dir, Opts());
  ASSERT_TRUE(store.ok());
  ExpectMapping(**store, taken);
  struct stat st;
  ASSERT_EQ(stat((dir + "/arena").c_str(), &st), 0);
  EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), size);
  EXPECT_TRUE((*store)->Verify().ok()) << (*store)->Verify();
  auto a = (*store)->Get<Strings>("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(ancient_test::CheckValue(**a), 1);
  ASSERT_TRUE((*store)->Share("c", ancient_test::MakeValue(3, 20000)).ok());
  EXPECT_TRUE((*store)->Verify().ok());
}

TEST_P(Hostile, ZeroTailIsNotDamage) {
  // Growth that crashed before writing leaves zeros: not reported.
  const std::string dir = MakeStore("zerotail");
  {
    std::ofstream f(dir + "/arena", std::ios::app | std::ios::binary);
    f << std::string(100000, '\0');
  }
  StoreOptions ro = Opts();
  ro.read_only = true;
  BaseTaken taken(dir);
  auto store = Store::Open(dir, ro);
  ASSERT_TRUE(store.ok());
  ExpectMapping(**store, taken);
  EXPECT_TRUE((*store)->Verify().ok()) << (*store)->Verify();
  for (const auto& [key, seq] : {std::pair{"a", 1}, std::pair{"b", 2}}) {
    auto v = (*store)->GetVerified<Strings>(key);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(ancient_test::CheckValue(**v), seq);
  }
}

TEST_P(Hostile, RootPointingOutsideTheArena) {
  const std::string dir = MakeStore("outside");
  EditRoot(dir, "a", [](std::string& r) { SetField(r, kOffset, 1ull << 29); });
  ExpectError(dir, absl::StatusCode::kDataLoss, "'a'");
  EditRoot(dir, "a", [](std::string& r) { SetField(r, kOffset, 1ull << 40); });
  ExpectError(dir, absl::StatusCode::kDataLoss, "'a'");
  EditRoot(dir, "a",
           [](std::string& r) { SetField(r, kOffset, 0xffffffffffffffc0); });
  ExpectError(dir, absl::StatusCode::kDataLoss, "'a'");
}

TEST_P(Hostile, ExtentSizesThatDoNotFit) {
  const std::string dir = MakeStore("sizes");
  EditRoot(dir, "b", [](std::string& r) {
    SetField(r, kGraph, GetField(r, kExtent) + 8);
  });
  ExpectError(dir, absl::StatusCode::kDataLoss, "'b'");
  EditRoot(dir, "b", [](std::string& r) {
    SetField(r, kGraph, 64);
    SetField(r, kReloc, ~0ull);
  });
  ExpectError(dir, absl::StatusCode::kDataLoss, "'b'");
}

TEST_P(Hostile, OverlappingExtents) {
  const std::string dir = MakeStore("overlap");
  {
    RawLmdb raw(dir);
    raw.Put("roots", "c", *raw.Get("roots", "a"));  // Two roots, one extent.
  }
  ExpectError(dir, absl::StatusCode::kDataLoss, "overlaps");
}

TEST_P(Hostile, LostSpace) {
  const std::string dir = MakeStore("lost");
  {
    RawLmdb raw(dir);
    for (const auto& k : raw.Keys("free")) raw.Del("free", k);
    for (const auto& k : raw.Keys("pending")) raw.Del("pending", k);
  }
  ExpectError(dir, absl::StatusCode::kDataLoss, "space lost");
}

TEST_P(Hostile, FlippedBytesInGraphAndRelocationRecord) {
  const std::string dir = MakeStore("flipped");
  std::string rec = *RawLmdb(dir).Get("roots", "a");
  const std::uint64_t off = GetField(rec, kOffset);
  const std::uint64_t graph = GetField(rec, kGraph);
  FlipArenaByte(dir, off + graph + 1);  // In the relocation record.
  ExpectError(dir, absl::StatusCode::kDataLoss, "checksum");
  FlipArenaByte(dir, off + graph + 1);  // Restored.
  EXPECT_TRUE(Probe(dir).ok());
  FlipArenaByte(dir, off + 8);  // In the graph (a size field).
  ExpectError(dir, absl::StatusCode::kDataLoss, "checksum");
}

TEST_P(Hostile, ForgedChecksumStillCaughtByPointerCheck) {
  // Damage with a matching checksum: a pointer aimed outside its graph.
  const std::string dir = MakeStore("forged");
  OverwriteWithForgedChecksum(dir, "a", 0, 0x10);  // The vector's data.
  ExpectError(dir, absl::StatusCode::kDataLoss, "outside");
}

TEST_P(Hostile, ForgedSizeCaughtByTheTypedChecks) {
  // A size field made too large, with the checksum forged to match: every
  // pointer still lands inside the graph, so only a typed check can tell:
  // Verify's, by the type the store recorded, and GetVerified's.
  const std::string dir = MakeStore("forgedsize");
  OverwriteWithForgedChecksum(dir, "a", 8, 1u << 30);  // The vector's size.
  {
    BaseTaken taken(dir);
    auto store = Store::Open(dir, Opts());
    ASSERT_TRUE(store.ok());
    ExpectMapping(**store, taken);
    const absl::Status s = (*store)->Verify();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_NE(s.message().find("root 'a'"), std::string::npos) << s;
    EXPECT_NE(s.message().find("vector elements"), std::string::npos) << s;
    auto v = (*store)->GetVerified<Strings>("a");
    EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << v.status();
    EXPECT_NE(v.status().message().find("vector elements"), std::string::npos)
        << v.status();
    EXPECT_TRUE((*store)->GetVerified<Strings>("b").ok());
    auto json = (*store)->Read()->GetJson("a");
    EXPECT_EQ(json.status().code(), absl::StatusCode::kDataLoss)
        << json.status();
  }
  // Without the recorded type (a store from before the types table),
  // Verify cannot tell; GetVerified still can.
  {
    RawLmdb raw(dir);
    for (const auto& k : raw.Keys("types")) raw.Del("types", k);
  }
  BaseTaken taken(dir);
  auto store = Store::Open(dir, Opts());
  ASSERT_TRUE(store.ok());
  ExpectMapping(**store, taken);
  EXPECT_TRUE((*store)->Verify().ok());
  EXPECT_EQ((*store)->GetVerified<Strings>("a").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ((*store)->Read()->GetJson("a").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(Hostile, WrongBaseAddress) {
  const std::string dir = MakeStore("base");
  {
    RawLmdb raw(dir);
    std::string meta = *raw.Get("meta", "meta");
    std::uint64_t base;
    std::memcpy(&base, meta.data() + 24, 8);
    base += std::uint64_t{1} << 30;
    std::memcpy(meta.data() + 24, &base, 8);
    raw.Put("meta", "meta", meta);
  }
  ExpectError(dir, absl::StatusCode::kDataLoss, "written for base address");
}

TEST_P(Hostile, WrongFormatVersion) {
  const std::string dir = MakeStore("version");
  {
    RawLmdb raw(dir);
    std::string meta = *raw.Get("meta", "meta");
    meta[8] = 99;
    raw.Put("meta", "meta", meta);
  }
  ExpectError(dir, absl::StatusCode::kFailedPrecondition, "format version");
}

TEST_P(Hostile, MalformedRecords) {
  const std::string dir = MakeStore("records");
  RawLmdb(dir).Put("roots", "a", "short");
  ExpectError(dir, absl::StatusCode::kDataLoss, "malformed root record");
  RawLmdb(dir).Del("roots", "a");
  RawLmdb(dir).Put("meta", "space", "xx");
  ExpectError(dir, absl::StatusCode::kDataLoss, "space record");
  const std::string dir2 = MakeStore("records2");
  RawLmdb(dir2).Put("free", "bad", "key");
  ExpectError(dir2, absl::StatusCode::kDataLoss, "malformed");
  RawLmdb(dir2).Put("meta", "meta", "not a meta record");
  ExpectError(dir2, absl::StatusCode::kFailedPrecondition,
              "not an ancient store");
}

// No store, so no base: run once.
TEST(HostileFiles, LmdbFilesFromAnotherProgram) {
  const std::string dir = ancient_test::TempDir("foreign");
  RawLmdb(dir).Put("customers", "alice", "42");
  StoreOptions ro = Opts();
  ro.read_only = true;
  auto s = Store::Open(dir, ro);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition)
      << s.status();
}

// No store, so no base: run once.
TEST(HostileFiles, GarbageLmdbFile) {
  const std::string dir = ancient_test::TempDir("garbage");
  std::ofstream(dir + "/data.mdb") << std::string(8192, 'G');
  auto s = Store::Open(dir, Opts());
  // LMDB's MDB_INVALID: not an LMDB file, named.
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
  EXPECT_NE(s.status().message().find(dir), std::string::npos) << s.status();
}

// No store, so no base: run once.
TEST(HostileFiles, EmptyDirectoryAndRegularFile) {
  const std::string dir = ancient_test::TempDir("empty");
  StoreOptions ro = Opts();
  ro.read_only = true;
  EXPECT_EQ(Store::Open(dir, ro).status().code(), absl::StatusCode::kNotFound);
  const std::string file = dir + "/file";
  std::ofstream(file) << "x";
  EXPECT_EQ(Store::Open(file, Opts()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Store::Open(file, ro).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_P(Hostile, DamagedRelocationRecordWithForgedChecksum) {
  // The record names slots that hold no pointer into the graph: relocating
  // by it would write wild pointers. Caught by Verify in place, and before
  // anything is rewritten when relocating (Get already fails).
  const std::string dir = MakeStore("relocs");
  const std::uint64_t graph = GetField(*RawLmdb(dir).Get("roots", "a"), kGraph);
  OverwriteWithForgedChecksum(dir, "a", graph, 0x0303030303030303);
  ExpectError(dir, absl::StatusCode::kDataLoss, "'a'");
  if (relocate) {
    BaseTaken taken(dir);
    auto store = Store::Open(dir, Opts());
    ASSERT_TRUE(store.ok());
    auto a = (*store)->Get<Strings>("a");
    EXPECT_EQ(a.status().code(), absl::StatusCode::kDataLoss) << a.status();
    auto b = (*store)->Get<Strings>("b");  // Undamaged: still readable.
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(ancient_test::CheckValue(**b), 2);
    ExpectMapping(**store, taken);
    EXPECT_TRUE(taken.taken());
  }
}

std::string BigEndian(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) s[i] = static_cast<char>(v & 0xff);
  return s;
}

TEST_P(Hostile, FreeSpaceRecordPastTheArena) {
  // Found by the fuzzer: a writer allocated from a free-space record that
  // pointed far past the arena, and computed an address from it.
  const std::string dir = MakeStore("freepast");
  for (const std::uint64_t off :
       {0xffffffffffff0000ull, 1ull << 40, 64ull * 1000003}) {
    {
      RawLmdb raw(dir);
      for (const auto& k : raw.Keys("free")) raw.Del("free", k);
      raw.Put("free", BigEndian(off), BigEndian(1 << 20));
    }
    BaseTaken taken(dir);
    auto store = Store::Open(dir, Opts());
    ASSERT_TRUE(store.ok()) << store.status();
    ExpectMapping(**store, taken);
    auto info = (*store)->Share("c", ancient_test::MakeValue(3, 10));
    EXPECT_EQ(info.status().code(), absl::StatusCode::kDataLoss)
        << info.status();
    EXPECT_EQ((*store)->Keys()->size(), 2u);  // Nothing written.
    auto a = (*store)->GetVerified<Strings>("a");
    ASSERT_TRUE(a.ok());
    EXPECT_EQ(ancient_test::CheckValue(**a), 1);
  }
}

INSTANTIATE_TEST_SUITE_P(InPlaceAndRelocated, Hostile, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Relocated" : "InPlace";
                         });

}  // namespace
