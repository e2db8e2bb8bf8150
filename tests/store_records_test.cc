// The store in one process: JSON, recorded types, damaged and foreign
// files, copies, limits, stats, threads, mdb_stat, write protection.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <lmdb.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "tests/raw_lmdb.h"
#include "tests/store_fixtures.h"
#include "tests/test_util.h"

namespace {

using ancient::Store;
using ancient::StoreOptions;
using ancient_test::RawLmdb;
using ancient_test::TempDir;
using store_fixtures::OpenOrDie;
using store_fixtures::Small;

TEST(Store, ReadsAnyRootAsJsonAndSharesJsonBack) {
  const std::string dir = TempDir("json");
  auto store = OpenOrDie(dir, Small());
  const store_types::Entry e{"w\xff", 3, {"a", "b"}};
  ASSERT_TRUE(store->Share("r", e).ok());
  std::map<std::string, store_types::Entry> m{{"k", e}};
  ASSERT_TRUE(store->Share("m", m).ok());
  auto snap = store->Read();
  ASSERT_TRUE(snap.ok());
  const std::string want =
      R"({"word":{"$base64":"d/8="},"count":3,"tags":["a","b"]})";
  EXPECT_EQ(*snap->GetJson("r"), want);
  ancient::JsonOptions part;
  part.path = "k.tags.1";
  EXPECT_EQ(*snap->GetJson("m", part), R"("b")");
  part.path = "k.nothing";
  const auto missing = snap->GetJson("m", part);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("key 'm'"), std::string::npos)
      << missing.status();
  EXPECT_EQ(snap->GetJson("none").status().code(), absl::StatusCode::kNotFound);

  // Back in without the C++ type; the program's type reads it.
  const std::string d = ancient::TypeDescription<store_types::Entry>();
  ASSERT_TRUE(store->ShareJson("r2", d, want).ok());
  auto r2 = store->Get<store_types::Entry>("r2");
  ASSERT_TRUE(r2.ok()) << r2.status();
  EXPECT_EQ((*r2)->word, "w\xff");
  EXPECT_EQ((*r2)->count, 3);
  ASSERT_EQ((*r2)->tags.size(), 2u);
  EXPECT_EQ((*r2)->tags[1], "b");
  EXPECT_EQ(store->Read()->Info("r2")->type_name, "store_types::Entry");
  EXPECT_TRUE(store->Verify().ok());

  // Bad input writes nothing.
  const auto keys = *store->Keys();
  EXPECT_EQ(store->ShareJson("x", d, R"({"word":"w","count":"3","tags":[]})")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  const auto bad_desc = store->ShareJson("x", "ancient/1;le;p64;S{", "{}");
  EXPECT_EQ(bad_desc.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ShareJson("x", "ancient/1;be;p32;i32", "1").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*store->Keys(), keys);

  // A type mismatch names the first difference.
  auto wrong = store->Get<std::map<std::string, std::vector<std::string>>>("m");
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong.status().message().find(
                "`{value}` is struct store_types::Entry of 40 bytes with 3 "
                "fields in the store, vector<string> in this program"),
            std::string::npos)
      << wrong.status();
}

TEST(Store, RecordsTheLayoutOfEveryTypeShared) {
  const std::string dir = TempDir("types");
  {
    auto store = OpenOrDie(dir, Small());
    ASSERT_TRUE(store->Share("r", store_types::Entry{"w", 3, {"a", "b"}}).ok());
    ASSERT_TRUE(store->Share("n", std::int64_t{7}).ok());
    ASSERT_TRUE(store->Share("n2", std::int64_t{8}).ok());  // Same type.
    auto snap = store->Read();
    ASSERT_TRUE(snap.ok());
    auto d = snap->TypeDescription("r");
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(*d, ancient::TypeDescription<store_types::Entry>());
    EXPECT_EQ(*snap->TypeDescription("n"),
              ancient::TypeDescription<std::int64_t>());
    EXPECT_EQ(snap->TypeDescription("none").status().code(),
              absl::StatusCode::kNotFound);
    // Carried by CopyTo.
    ASSERT_TRUE(store->CopyTo(dir + "/copy", true).ok());
    auto copy = OpenOrDie(dir + "/copy", Small());
    EXPECT_EQ(*copy->Read()->TypeDescription("r"),
              ancient::TypeDescription<store_types::Entry>());
  }
  EXPECT_EQ(RawLmdb(dir).Keys("types").size(), 2u);  // Once per type.
  // A damaged description is found by Verify and refused by the reader.
  {
    RawLmdb raw(dir);
    const std::string k = raw.Keys("types")[0];
    std::string v = *raw.Get("types", k);
    v[v.size() / 2] ^= 1;
    raw.Put("types", k, v);
  }
  {
    auto store = OpenOrDie(dir, Small());
    const absl::Status v = store->Verify();
    EXPECT_EQ(v.code(), absl::StatusCode::kDataLoss) << v;
    EXPECT_NE(v.message().find("damaged"), std::string::npos) << v;
  }
  // A store made before types were recorded: readable read-only, Verify
  // passes, descriptions are NotFound; a read-write open adds the table.
  RawLmdb(dir).Drop("types");
  StoreOptions ro = Small();
  ro.read_only = true;
  {
    auto store = OpenOrDie(dir, ro);
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(store->Verify().ok()) << store->Verify();
    EXPECT_EQ(**store->Get<std::int64_t>("n"), 7);
    EXPECT_EQ(store->Read()->TypeDescription("n").status().code(),
              absl::StatusCode::kNotFound);
  }
  auto store = OpenOrDie(dir, Small());
  ASSERT_TRUE(store->Share("n3", std::int64_t{9}).ok());
  EXPECT_EQ(*store->Read()->TypeDescription("n3"),
            ancient::TypeDescription<std::int64_t>());
  EXPECT_TRUE(store->Verify().ok());
}

TEST(Store, SpaceReusedInOneBatchIsClearedBeforeWriting) {
  // New arena space is known to be zero and is not cleared again; space
  // freed and reused inside one batch was written, and must be. A graph
  // with absent optionals and null pointers (left as zeros, not written)
  // shows whether it was.
  auto store = OpenOrDie(TempDir("zeroed"), Small());
  std::vector<std::string> noise(20000, std::string(40, '\xff'));
  std::vector<std::optional<std::string>> maybe(3000);
  maybe[7] = "seven";
  std::vector<std::unique_ptr<int>> ptrs(3000);
  ptrs[9] = std::make_unique<int>(9);
  for (int round = 0; round < 3; ++round) {
    auto batch = store->Write();
    ASSERT_TRUE(batch.ok());
    ASSERT_TRUE(batch->Share("noise", noise).ok());  // grows the arena
    ASSERT_TRUE(batch->Delete("noise").ok());        // gives it back to the end
    ASSERT_TRUE(batch->Share("maybe", maybe).ok());  // reuses it
    ASSERT_TRUE(batch->Share("ptrs", ptrs).ok());
    ASSERT_TRUE(batch->Commit().ok());
    auto m = store->GetVerified<decltype(maybe)>("maybe");
    ASSERT_TRUE(m.ok()) << m.status();
    for (std::size_t i = 0; i < maybe.size(); ++i) {
      ASSERT_EQ((**m)[i].has_value(), i == 7) << "round " << round << " " << i;
    }
    EXPECT_EQ(*(**m)[7], "seven");
    auto p = store->GetVerified<decltype(ptrs)>("ptrs");
    ASSERT_TRUE(p.ok()) << p.status();
    for (std::size_t i = 0; i < ptrs.size(); ++i) {
      ASSERT_EQ(static_cast<bool>((**p)[i]), i == 9) << i;
    }
    EXPECT_EQ(*(**p)[9], 9);
    EXPECT_TRUE(store->Verify().ok());
  }
}

TEST(Store, TruncatedArenaIsAnError) {
  const std::string dir = TempDir("truncated");
  {
    auto store = OpenOrDie(dir, Small());
    ASSERT_TRUE(store->Share("k", ancient_test::MakeValue(1, 5000)).ok());
  }
  ASSERT_EQ(truncate((dir + "/arena").c_str(), 100), 0);
  auto s = Store::Open(dir, Small());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
  EXPECT_NE(s.status().message().find("arena"), std::string::npos);
  ASSERT_EQ(unlink((dir + "/arena").c_str()), 0);
  EXPECT_EQ(Store::Open(dir, Small()).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(Store, WrongFormatVersionPointerWidthOrEndianness) {
  const std::string dir = TempDir("version");
  { OpenOrDie(dir, Small()); }
  const std::string meta = RawLmdb(dir).Get("meta", "meta").value_or("");
  ASSERT_EQ(meta.size(), 32u);
  // Layout: magic[8], version u32, pointer bits u32, endian u32, ...
  struct Case {
    int at;
    const char* expect;
  };
  for (Case c : {Case{8, "format version"}, Case{12, "-bit pointers"},
                 Case{16, "byte order"}, Case{0, "not an ancient store"}}) {
    std::string bad = meta;
    bad[c.at] ^= 0x40;
    RawLmdb(dir).Put("meta", "meta", bad);
    auto s = Store::Open(dir, Small());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition)
        << s.status();
    EXPECT_NE(s.status().message().find(c.expect), std::string::npos)
        << s.status();
  }
  RawLmdb(dir).Put("meta", "meta", meta);
  EXPECT_TRUE(Store::Open(dir, Small()).ok());
}

TEST(Store, NotAStore) {
  const std::string dir = TempDir("notastore");
  const std::string file = dir + "/file";
  std::ofstream(file) << "hello";
  auto s = Store::Open(file, Small());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition);
  // LMDB files written by another program, without our tables.
  MDB_env* env;
  mdb_env_create(&env);
  ASSERT_EQ(mdb_env_open(env, dir.c_str(), 0, 0600), 0);
  MDB_txn* txn;
  mdb_txn_begin(env, nullptr, 0, &txn);
  MDB_dbi dbi;
  mdb_dbi_open(txn, nullptr, 0, &dbi);
  MDB_val k{1, const_cast<char*>("x")}, v{1, const_cast<char*>("y")};
  mdb_put(txn, dbi, &k, &v, 0);
  mdb_txn_commit(txn);
  mdb_env_close(env);
  StoreOptions ro = Small();
  ro.read_only = true;
  auto r = Store::Open(dir, ro);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition)
      << r.status();
}

TEST(Store, VerifyFindsDamage) {
  const std::string dir = TempDir("damage");
  std::uint64_t offset;
  {
    auto store = OpenOrDie(dir, Small());
    auto info = store->Share("k", ancient_test::MakeValue(3, 100));
    ASSERT_TRUE(info.ok());
    offset = info->offset;
    ASSERT_TRUE(store->Verify().ok());
  }
  // Flip one byte inside the graph.
  const int fd = open((dir + "/arena").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  char b;
  ASSERT_EQ(pread(fd, &b, 1, offset + 40), 1);
  b ^= 0x5a;
  ASSERT_EQ(pwrite(fd, &b, 1, offset + 40), 1);
  close(fd);
  auto store = OpenOrDie(dir, Small());
  const absl::Status v = store->Verify();
  EXPECT_EQ(v.code(), absl::StatusCode::kDataLoss) << v;
  EXPECT_NE(v.message().find("'k'"), std::string::npos) << v;
}

TEST(Store, CopyToPlainAndCompact) {
  const std::string dir = TempDir("copysrc");
  auto store = OpenOrDie(dir, Small());
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(
        store
            ->Share("k" + std::to_string(i), ancient_test::MakeValue(i, 50 + i))
            .ok());
  }
  for (int i = 0; i < 20; i += 3) {
    ASSERT_TRUE(store->Delete("k" + std::to_string(i)).ok());
  }
  for (bool compact : {false, true}) {
    const std::string dest = TempDir(compact ? "compact" : "plain") + "/copy";
    ASSERT_TRUE(store->CopyTo(dest, compact).ok())
        << store->CopyTo(dest, compact);
    auto copy = OpenOrDie(dest, Small());
    ASSERT_NE(copy, nullptr);
    EXPECT_NE(copy->base_address(), store->base_address());
    EXPECT_TRUE(copy->Verify().ok()) << copy->Verify();
    EXPECT_EQ(*copy->Keys(), *store->Keys());
    const std::vector<std::string> keys = *store->Keys();
    for (const auto& key : keys) {
      auto v = copy->Get<std::vector<std::string>>(key);
      ASSERT_TRUE(v.ok());
      EXPECT_EQ(ancient_test::CheckValue(**v), std::stoi(key.substr(1)));
    }
    auto cs = copy->Stats();
    auto ss = store->Stats();
    if (compact) {
      EXPECT_EQ(cs->bytes_free, 0u);
      EXPECT_LE(cs->bytes_live + cs->bytes_free + cs->bytes_never_used -
                    cs->bytes_never_used,
                ss->bytes_live);
    } else {
      EXPECT_EQ(cs->bytes_live, ss->bytes_live);
      EXPECT_EQ(cs->bytes_free, ss->bytes_free);
    }
    // A copy onto a store that holds data is refused.
    EXPECT_EQ(store->CopyTo(dest, compact).code(),
              absl::StatusCode::kFailedPrecondition);
  }
}

TEST(Store, MaxSizeReachedIsResourceExhausted) {
  StoreOptions o = Small();
  o.max_size = 1 << 20;
  auto store = OpenOrDie(TempDir("maxsize"), o);
  ASSERT_TRUE(store->Share("small", std::string(1000, 'x')).ok());
  auto big = store->Share("big", std::string(2 << 20, 'y'));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted)
      << big.status();
  EXPECT_EQ(**store->Get<std::string>("small"), std::string(1000, 'x'));
  EXPECT_TRUE(store->Verify().ok()) << store->Verify();
}

TEST(Store, StatsAddUp) {
  auto store = OpenOrDie(TempDir("stats"), Small());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(
        store->Share("k" + std::to_string(i), ancient_test::MakeValue(i, 300))
            .ok());
  }
  ASSERT_TRUE(store->Delete("k3").ok());
  auto st = store->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->roots, 9u);
  EXPECT_EQ(st->bytes_live + st->bytes_free + st->bytes_never_used,
            st->arena_size);
  EXPECT_GT(st->bytes_free, 0u);
  EXPECT_GE(st->arena_file_bytes, st->arena_size);
  EXPECT_GT(st->lmdb_file_bytes, 0u);
  EXPECT_EQ(st->base_address, store->base_address());
}

TEST(Store, ThreadsShareOneStore) {
  // One writer thread and three reader threads on one Store object.
  auto store = OpenOrDie(TempDir("threads"), Small());
  ASSERT_TRUE(store->Share("k", ancient_test::MakeValue(0, 50)).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        auto snap = store->Read();
        if (!snap.ok()) {
          ++bad;
          continue;
        }
        auto v = snap->Get<std::vector<std::string>>("k");
        if (!v.ok() || ancient_test::CheckValue(**v) < 0) ++bad;
        auto r = store->Get<std::vector<std::string>>("k");
        if (!r.ok() || ancient_test::CheckValue(**r) < 0) ++bad;
        ++reads;
      }
    });
  }
  for (int i = 1; i <= 300; ++i) {
    ASSERT_TRUE(store->Share("k", ancient_test::MakeValue(i, 50)).ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(reads.load(), 0);
  EXPECT_TRUE(store->Verify().ok());
}

TEST(Store, MdbStatReadsTheStore) {
  const std::string dir = TempDir("mdbstat");
  {
    auto store = OpenOrDie(dir, Small());
    ASSERT_TRUE(store->Share("k", 1).ok());
  }
  FILE* p = popen(("mdb_stat -a " + dir + " 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[256];
  while (fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_EQ(pclose(p), 0) << out;
  EXPECT_NE(out.find("Status of roots"), std::string::npos) << out;
  EXPECT_NE(out.find("Status of meta"), std::string::npos) << out;
}

}  // namespace

namespace {

TEST(Store, WriterCannotWriteThroughARootEither) {
  // The mapping at the base is read-only in every process; the writer
  // writes graphs through a second, writable view.
  auto store = OpenOrDie(ancient_test::TempDir("writerro"), Small());
  ASSERT_TRUE(store->Share("k", std::string("intact")).ok());
  auto root = store->Get<std::string>("k");
  ASSERT_TRUE(root.ok());
  char* p = const_cast<char*>((*root)->data());
  EXPECT_EXIT(
      {
        signal(SIGSEGV, SIG_DFL);
        *static_cast<volatile char*>(p) = 'X';
      },
      testing::KilledBySignal(SIGSEGV), "");
  EXPECT_EQ(**root, "intact");
}

}  // namespace
