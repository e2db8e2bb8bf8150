// A helper process for the multi-process store tests (LMDB forbids using an
// environment across fork, so the tests fork and exec this binary).
//
//   store_helper writer DIR FIRST COUNT SYNC [paths]
//                                              run ops FIRST.. (see OpAt);
//                                              "ACK i" after each commit;
//                                              with "paths", values on all
//                                              three write paths (PathOf,
//                                              two marking threads), and
//                                              "ACK i P" for an op that
//                                              marked on two threads
//   store_helper reader DIR MILLIS             read and check every value
//   store_helper hold DIR KEY                  hold a snapshot of KEY until a
//                                              line arrives on stdin
//   store_helper ro-write DIR KEY              open read-only, then write
//                                              through a root (must SIGSEGV)
//   store_helper hold-write DIR                take the write lock, write
//                                              half a batch, wait to be killed
//   store_helper create DIR SEQ                create a store with default
//                                              options, share MakeValue(SEQ)
//                                              at "v"; prints "BASE 0x..."
//   store_helper check DIR KEY SEQ             open read-only, GetVerified KEY,
//                                              expect MakeValue(SEQ); prints
//                                              "OK <relocated 0|1>"
//   store_helper share-big DIR KEY COUNT       share BigValue(COUNT) at KEY

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "store/store.h"
#include "tests/store_ops.h"
#include "tests/test_util.h"

namespace {

using ancient_test::HelperFail;

using ancient::Store;
using ancient::StoreOptions;

// Options for opening the store to read.
StoreOptions ReadOnly() {
  StoreOptions o;
  o.read_only = true;
  o.max_size = std::size_t{1} << 32;
  return o;
}

int Writer(const std::string& dir, std::uint64_t first, std::uint64_t count,
           bool sync, bool paths) {
  StoreOptions o;
  o.max_size = std::size_t{1} << 32;
  if (paths) o.mark_threads = 2;
  o.durability =
      sync ? ancient::Durability::kSync : ancient::Durability::kNoSync;
  auto store = Store::Open(dir, o);
  if (!store.ok()) return HelperFail("open", store.status());
  std::printf("READY\n");
  std::fflush(stdout);
  for (std::uint64_t i = first; i < first + count; ++i) {
    const ancient_test::Op op = ancient_test::OpAt(i);
    auto batch = (*store)->Write();
    if (!batch.ok()) return HelperFail("write", batch.status());
    bool parallel = false;
    for (const auto& [key, seq] : op.shares) {
      absl::StatusOr<ancient::ShareInfo> info =
          !paths ||
                  ancient_test::PathOf(seq) == ancient_test::WritePath::kTwoPass
              ? batch->Share(key, ancient_test::MakeValue(seq, op.size))
              : batch->Share(key, parallel_graph::MakeRecs(
                                      static_cast<std::int64_t>(seq),
                                      ancient_test::RecordsOf(seq)));
      if (!info.ok()) return HelperFail("share " + key, info.status());
      parallel |= info->mark_threads > 1;
    }
    for (const auto& key : op.deletes) {
      absl::Status s = batch->Delete(key);
      if (!s.ok() && !absl::IsNotFound(s))
        return HelperFail("delete " + key, s);
    }
    absl::Status s = batch->Commit();
    if (!s.ok()) return HelperFail("commit", s);
    std::printf("ACK %lu%s\n", static_cast<unsigned long>(i),
                parallel ? " P" : "");
    std::fflush(stdout);
  }
  return 0;
}

int Reader(const std::string& dir, int millis) {
  auto store = Store::Open(dir, ReadOnly());
  if (!store.ok()) return HelperFail("open", store.status());
  std::uint64_t reads = 0;
  const absl::Status s = ancient_test::ReadAndCheckFor(**store, millis, &reads);
  if (absl::IsDataLoss(s)) {
    std::printf("%s\n", std::string(s.message()).c_str());  // "TORN key"
    std::fflush(stdout);
    return 1;
  }
  if (!s.ok()) return HelperFail("read", s);
  std::printf("READS %lu\n", static_cast<unsigned long>(reads));
  std::fflush(stdout);
  return 0;
}

int Hold(const std::string& dir, const std::string& key) {
  auto store = Store::Open(dir, ReadOnly());
  if (!store.ok()) return HelperFail("open", store.status());
  auto root = (*store)->Get<std::vector<std::string>>(key);
  if (!root.ok()) return HelperFail("get", root.status());
  // A private copy of the bytes, to compare with later.
  std::vector<std::string> before;
  for (const auto& s : **root) before.push_back(s.str());
  std::printf("HELD %ld\n",
              static_cast<long>(ancient_test::CheckValue(**root)));
  std::fflush(stdout);
  std::string line;
  std::getline(std::cin, line);
  bool same = before.size() == (*root)->size();
  for (std::size_t i = 0; same && i < before.size(); ++i) {
    same = (**root)[i].view() == before[i];
  }
  std::printf("%s %ld\n", same ? "STILL" : "CHANGED",
              static_cast<long>(ancient_test::CheckValue(**root)));
  std::fflush(stdout);
  return same ? 0 : 1;
}

// Takes the write lock and holds it until killed.
int HoldWrite(const std::string& dir) {
  StoreOptions o;
  o.max_size = std::size_t{1} << 32;
  auto store = Store::Open(dir, o);
  if (!store.ok()) return HelperFail("open", store.status());
  auto batch = (*store)->Write();
  if (!batch.ok()) return HelperFail("write", batch.status());
  auto info = batch->Share("half-written", ancient_test::MakeValue(99, 1000));
  if (!info.ok()) return HelperFail("share", info.status());
  std::printf("LOCKED\n");
  std::fflush(stdout);
  pause();
  return 0;
}

int Create(const std::string& dir, std::uint64_t seq) {
  auto store = Store::Open(dir);
  if (!store.ok()) return HelperFail("open", store.status());
  auto info = (*store)->Share("v", ancient_test::MakeValue(seq, 20));
  if (!info.ok()) return HelperFail("share", info.status());
  std::printf("BASE %#lx\n",
              static_cast<unsigned long>((*store)->base_address()));
  std::fflush(stdout);
  return 0;
}

int Check(const std::string& dir, const std::string& key, std::int64_t seq) {
  StoreOptions o;
  o.read_only = true;
  auto store = Store::Open(dir, o);
  if (!store.ok()) return HelperFail("open", store.status());
  auto root = (*store)->GetVerified<std::vector<std::string>>(key);
  if (!root.ok()) return HelperFail("get", root.status());
  if (ancient_test::CheckValue(**root) != seq) {
    std::printf("BAD\n");
    std::fflush(stdout);
    return 1;
  }
  auto st = (*store)->Stats();
  if (!st.ok()) return HelperFail("stats", st.status());
  std::printf("OK %d\n", st->relocated ? 1 : 0);
  std::fflush(stdout);
  return 0;
}

int ShareBig(const std::string& dir, const std::string& key,
             std::size_t count) {
  auto store = Store::Open(dir);
  if (!store.ok()) return HelperFail("open", store.status());
  auto info = (*store)->Share(key, ancient_test::BigValue(count));
  if (!info.ok()) return HelperFail("share", info.status());
  std::printf("DONE %lu\n", static_cast<unsigned long>(info->size_bytes));
  std::fflush(stdout);
  return 0;
}

int RoWrite(const std::string& dir, const std::string& key) {
  auto store = Store::Open(dir, ReadOnly());
  if (!store.ok()) return HelperFail("open", store.status());
  auto root = (*store)->Get<std::string>(key);
  if (!root.ok()) return HelperFail("get", root.status());
  // The default action, even under a sanitizer that would catch the fault.
  signal(SIGSEGV, SIG_DFL);
  std::printf("WRITING\n");
  std::fflush(stdout);
  char* p = const_cast<char*>((*root)->data());
  *static_cast<volatile char*>(p) = 'X';  // Must fault: the arena is PROT_READ.
  std::printf("WROTE\n");
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "writer" && (argc == 6 || argc == 7)) {
    return Writer(argv[2], std::stoull(argv[3]), std::stoull(argv[4]),
                  std::string(argv[5]) == "sync",
                  argc == 7 && std::string(argv[6]) == "paths");
  }
  if (mode == "reader" && argc == 4) return Reader(argv[2], std::stoi(argv[3]));
  if (mode == "hold" && argc == 4) return Hold(argv[2], argv[3]);
  if (mode == "ro-write" && argc == 4) return RoWrite(argv[2], argv[3]);
  if (mode == "hold-write" && argc == 3) return HoldWrite(argv[2]);
  if (mode == "create" && argc == 4)
    return Create(argv[2], std::stoull(argv[3]));
  if (mode == "check" && argc == 5) {
    return Check(argv[2], argv[3], std::stoll(argv[4]));
  }
  if (mode == "share-big" && argc == 5) {
    return ShareBig(argv[2], argv[3], std::stoull(argv[4]));
  }
  std::fprintf(stderr,
               "usage: store_helper writer|reader|hold|ro-write|hold-write|"
               "create|check|share-big DIR ...\n");
  return 64;
}
