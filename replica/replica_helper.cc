// A helper process for the many-hosts tests (replica/replica_test.cc).
//
//   replica_helper publish SRC REPO FIRST COUNT KEEP GRACE [STRINGS]
//       for seq FIRST..FIRST+COUNT-1: share MakeValue(seq, STRINGS (50)) at
//       "v" in the store SRC (then prints "SHARED seq"), then publish it to
//       REPO (then prints "PUBLISHED version seq")
//   replica_helper read LOCAL MILLIS LAST
//       reads "v" through a Replica on LOCAL until it holds seq LAST (or
//       MILLIS pass): every value must be whole and seqs never go back;
//       prints "READS n LAST seq VERSIONS k" (exit 0), or what went wrong
//   replica_helper publish-multi SRC REPO FIRST COUNT ROOTS
//       for seq FIRST..FIRST+COUNT-1: commits version seq of ROOTS roots
//       (multi_root_testing.h) to SRC, publishes it (prints "PUBLISHED
//       version seq")
//   replica_helper read-multi LOCAL MILLIS LAST ROOTS
//       reads snapshots of a Replica on LOCAL until one holds seq LAST:
//       every snapshot must hold every root of one version, the same seq
//       whenever it reports the same version, never going back; prints
//       "READS n LAST seq VERSIONS k", or what went wrong (MIXED ...)

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "replica/multi_root_testing.h"
#include "replica/replica.h"
#include "store/store.h"
#include "tests/store_ops.h"
#include "tests/test_util.h"

namespace {

using ancient_test::HelperFail;

int Publish(const std::string& src, const std::string& repo,
            std::uint64_t first, std::uint64_t count, int keep, double grace,
            std::size_t strings) {
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto store = ancient::Store::Open(src, o);
  if (!store.ok()) return HelperFail("open", store.status());
  ancient::PublishOptions p;
  p.keep = keep;
  p.grace_seconds = grace;
  for (std::uint64_t seq = first; seq < first + count; ++seq) {
    auto info = (*store)->Share("v", ancient_test::MakeValue(seq, strings));
    if (!info.ok()) return HelperFail("share", info.status());
    std::printf("SHARED %lu\n", static_cast<unsigned long>(seq));
    std::fflush(stdout);
    auto r = ancient::Publish(**store, repo, p);
    if (!r.ok()) return HelperFail("publish", r.status());
    std::printf("PUBLISHED %lu %lu\n", static_cast<unsigned long>(r->version),
                static_cast<unsigned long>(seq));
    std::fflush(stdout);
  }
  return 0;
}

int Read(const std::string& local, int millis, std::int64_t last) {
  const auto end =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
  std::unique_ptr<ancient::Replica> replica;
  while (replica == nullptr) {  // Until the follower makes a version current.
    auto r = ancient::Replica::Open(local);
    if (r.ok()) {
      replica = *std::move(r);
    } else if (std::chrono::steady_clock::now() > end) {
      return HelperFail("open", r.status());
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  std::int64_t seen = -1;
  std::uint64_t reads = 0, versions = 0, version = 0;
  while (seen != last) {
    if (std::chrono::steady_clock::now() > end) {
      std::printf("TIMEOUT at seq %ld\n", static_cast<long>(seen));
      std::fflush(stdout);
      return 1;
    }
    auto v = replica->Get<std::vector<std::string>>("v");
    if (!v.ok()) return HelperFail("get", v.status());
    const std::int64_t seq = ancient_test::CheckValue(**v);
    if (seq < 0) {
      std::printf("TORN\n");
      std::fflush(stdout);
      return 1;
    }
    if (seq < seen || replica->version() < version) {
      std::printf("BACKWARDS seq %ld after %ld\n", static_cast<long>(seq),
                  static_cast<long>(seen));
      std::fflush(stdout);
      return 1;
    }
    if (replica->version() != version) ++versions;
    version = replica->version();
    seen = seq;
    ++reads;
  }
  std::printf("READS %lu LAST %ld VERSIONS %lu\n",
              static_cast<unsigned long>(reads), static_cast<long>(seen),
              static_cast<unsigned long>(versions));
  std::fflush(stdout);
  return 0;
}

int PublishMulti(const std::string& src, const std::string& repo,
                 std::uint64_t first, std::uint64_t count, int roots) {
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto store = ancient::Store::Open(src, o);
  if (!store.ok()) return HelperFail("open", store.status());
  for (std::uint64_t seq = first; seq < first + count; ++seq) {
    absl::Status s = ancient_test::WriteMultiRoot(**store, seq, roots, 40);
    if (!s.ok()) return HelperFail("write", s);
    auto r = ancient::Publish(**store, repo);
    if (!r.ok()) return HelperFail("publish", r.status());
    std::printf("PUBLISHED %lu %lu\n", static_cast<unsigned long>(r->version),
                static_cast<unsigned long>(seq));
    std::fflush(stdout);
  }
  return 0;
}

int ReadMulti(const std::string& local, int millis, std::int64_t last,
              int roots) {
  const auto end =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(millis);
  std::unique_ptr<ancient::Replica> replica;
  std::int64_t seen = -1;
  std::uint64_t reads = 0;
  absl::flat_hash_map<std::uint64_t, std::int64_t> seq_of_version;
  while (seen != last) {
    if (std::chrono::steady_clock::now() > end) {
      std::printf("TIMEOUT at seq %ld\n", static_cast<long>(seen));
      std::fflush(stdout);
      return 1;
    }
    if (replica == nullptr) {  // Until the follower makes a version current.
      auto r = ancient::Replica::Open(local);
      if (r.ok()) replica = *std::move(r);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    auto snapshot = replica->Read();
    if (!snapshot.ok()) return HelperFail("read", snapshot.status());
    auto version = ancient::Replica::VersionOf(*snapshot);
    if (!version.ok()) return HelperFail("version", version.status());
    auto seq = ancient_test::CheckMultiRoot(*snapshot, roots);
    if (!seq.ok()) return HelperFail("check", seq.status());
    auto [at, fresh] = seq_of_version.emplace(*version, *seq);
    if (!fresh && at->second != *seq) {
      std::printf("MIXED version %lu held seq %ld, now %ld\n",
                  static_cast<unsigned long>(*version),
                  static_cast<long>(at->second), static_cast<long>(*seq));
      std::fflush(stdout);
      return 1;
    }
    if (*seq < seen) {
      std::printf("BACKWARDS seq %ld after %ld\n", static_cast<long>(*seq),
                  static_cast<long>(seen));
      std::fflush(stdout);
      return 1;
    }
    seen = *seq;
    ++reads;
  }
  std::printf("READS %lu LAST %ld VERSIONS %zu\n",
              static_cast<unsigned long>(reads), static_cast<long>(seen),
              seq_of_version.size());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "publish" && (argc == 8 || argc == 9)) {
    return Publish(argv[2], argv[3], std::stoull(argv[4]), std::stoull(argv[5]),
                   std::stoi(argv[6]), std::stod(argv[7]),
                   argc == 9 ? std::stoull(argv[8]) : 50);
  }
  if (mode == "read" && argc == 5) {
    return Read(argv[2], std::stoi(argv[3]), std::stoll(argv[4]));
  }
  if (mode == "publish-multi" && argc == 7) {
    return PublishMulti(argv[2], argv[3], std::stoull(argv[4]),
                        std::stoull(argv[5]), std::stoi(argv[6]));
  }
  if (mode == "read-multi" && argc == 6) {
    return ReadMulti(argv[2], std::stoi(argv[3]), std::stoll(argv[4]),
                     std::stoi(argv[5]));
  }
  std::fprintf(stderr,
               "usage: replica_helper publish|read|publish-multi|read-multi "
               "...\n");
  return 64;
}
