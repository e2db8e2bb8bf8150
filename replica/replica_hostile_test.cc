// A follower's own checks, each reached: objects whose names match their
// bytes but whose graphs are not sound (so only the follow's checks can
// refuse them), a manifest whose type description is not the one its type
// id names, and a type without a description (pointers still checked).
// Each refusal names what it refuses, and the host keeps its version.

#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "replica/replica.h"
#include "store/store.h"
#include "tests/test_util.h"

namespace {

using ancient::Store;
using namespace ancient_test;
using Strings = std::vector<std::string>;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A repository with version 1 (MakeValue(1) at "v") followed into a local
// directory, and version 2 (MakeValue(2)) published but not followed.
struct Hosts {
  std::string root, repo, local, manifest, object;
};
Hosts Make(const std::string& name) {
  Hosts h;
  h.root = TempDir(name);
  h.repo = h.root + "/repo";
  h.local = h.root + "/local";
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto src = Store::Open(h.root + "/src", o);
  EXPECT_TRUE(src.ok()) << src.status();
  EXPECT_TRUE((*src)->Share("v", MakeValue(1, 50)).ok());
  EXPECT_TRUE(ancient::Publish(**src, h.repo).ok());
  EXPECT_TRUE(ancient::FollowOnce(h.repo, h.local).ok());
  EXPECT_TRUE((*src)->Share("v", MakeValue(2, 50)).ok());
  auto r = ancient::Publish(**src, h.repo);
  EXPECT_TRUE(r.ok() && r->version == 2);
  h.manifest = h.repo + "/versions/0000000002/MANIFEST";
  std::istringstream in(ReadAll(h.manifest));
  std::string word;
  while (in >> word) {
    if (word != "root") continue;
    std::string key, type, graph, reloc;
    in >> key >> type >> graph >> reloc >> h.object;
  }
  return h;
}

// The name an object of these bytes has (XXH3-128, as publish names it).
std::string NameOf(const std::string& bytes) {
  const XXH128_hash_t x = XXH3_128bits(bytes.data(), bytes.size());
  return absl::StrFormat("%016x%016x", x.high64, x.low64);
}

// Aims the root vector's pointer (bytes 0..8 of an object) far past it.
void PointPastTheObject(std::string& bytes) {
  std::uint64_t p;
  std::memcpy(&p, bytes.data(), sizeof p);
  p += std::uint64_t{1} << 36;
  std::memcpy(bytes.data(), &p, sizeof p);
}

// Replaces version 2's object by `bytes`, under the name its bytes give, and
// points the manifest at it: a repository whose names all check out.
void SwapObject(const Hosts& h, const std::string& bytes) {
  const std::string name = NameOf(bytes);
  WriteAll(h.repo + "/objects/" + name, bytes);
  WriteAll(h.manifest,
           absl::StrReplaceAll(ReadAll(h.manifest), {{h.object, name}}));
}

// Follows and expects DataLoss containing `needle`; the host keeps
// version 1 and reads it whole.
void ExpectRefused(const Hosts& h, const std::string& needle) {
  auto r = ancient::FollowOnce(h.repo, h.local);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status();
  auto replica = ancient::Replica::Open(h.local);
  ASSERT_TRUE(replica.ok()) << replica.status();
  EXPECT_EQ((*replica)->version(), 1u);
  auto v = (*replica)->GetVerified<Strings>("v");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(CheckValue(**v), 1);
}

TEST(ReplicaHostile, AnObjectNamedByItsBytesWhoseGraphIsUnsound) {
  Hosts h = Make("unsound");
  std::string bytes = ReadAll(h.repo + "/objects/" + h.object);
  ASSERT_GT(bytes.size(), 16u);
  // The root vector's length (bytes 8..16) made far larger than its array:
  // every pointer still points inside the object (the relocation record is
  // untouched), so only the typed check can see it.
  const std::uint64_t huge = std::uint64_t{1} << 40;
  std::memcpy(bytes.data() + 8, &huge, sizeof huge);
  SwapObject(h, bytes);
  ExpectRefused(h, "root 'v'");
}

TEST(ReplicaHostile, AnObjectWhosePointersLeaveIt) {
  Hosts h = Make("pointers");
  std::string bytes = ReadAll(h.repo + "/objects/" + h.object);
  PointPastTheObject(bytes);
  SwapObject(h, bytes);
  ExpectRefused(h, "root 'v'");
}

// The manifest's "type ID HEX" line for version 2's one type.
std::string TypeLine(const Hosts& h) {
  std::istringstream in(ReadAll(h.manifest));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("type ", 0) == 0) return line;
  }
  return "";
}

TEST(ReplicaHostile, ATypeDescriptionThatIsNotItsTypeIds) {
  Hosts h = Make("mismatch");
  const std::string line = TypeLine(h);
  ASSERT_FALSE(line.empty());
  // The description of another type (a vector of numbers) under the id of
  // vector<string>: the object, a vector<string>, might pass a check by
  // the wrong description, and would be recorded under a type it is not.
  const std::string other =
      ancient::TypeDescription<std::vector<std::int64_t>>();
  const std::string forged =
      line.substr(0, line.rfind(' ') + 1) + absl::BytesToHexString(other);
  WriteAll(h.manifest,
           absl::StrReplaceAll(ReadAll(h.manifest), {{line, forged}}));
  ExpectRefused(h, "MANIFEST");
}

TEST(ReplicaHostile, ATypeWithoutADescriptionStillHasItsPointersChecked) {
  // An empty description (what a root shared before stores recorded types
  // is published with) skips the typed check; the pointers are still
  // checked by the relocation record before anything is placed.
  Hosts h = Make("nodescription");
  const std::string line = TypeLine(h);
  ASSERT_FALSE(line.empty());
  WriteAll(h.manifest,
           absl::StrReplaceAll(ReadAll(h.manifest),
                               {{line, line.substr(0, line.rfind(' ') + 1)}}));
  std::string bytes = ReadAll(h.repo + "/objects/" + h.object);
  PointPastTheObject(bytes);
  SwapObject(h, bytes);
  ExpectRefused(h, "root 'v'");
}

}  // namespace
