// libFuzzer target: FollowOnce from a mutated repository, what a host reads
// from other machines.
//
// A template repository is published once: version 1 of a store holding
// roots of several types. Each input is a list of edits applied to a fresh
// copy of it: XOR a byte, truncate, or append to one of its files (the
// manifest, the announcement, an object, FORMAT), chosen by the input. Then
// a fresh host follows it. Nothing may crash; a follow that succeeds must
// leave a local store that verifies, whose roots read back by their types.
//
// Built and run by tools/fuzz (clang, -fsanitize=fuzzer,address,undefined).

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "replica/replica.h"
#include "store/store.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace fs = std::filesystem;

std::string root_dir;  // everything this process makes, removed at exit
std::string template_repo;
std::string work;
std::vector<fs::path> files;  // the template's files, relative, sorted

void MakeTemplate() {
  // In memory where the machine has it: every follow creates a store.
  const fs::path tmp =
      fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  const std::string root =
      tmp / ("ancient-fuzz-follow." + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  root_dir = root;
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(root_dir, ec);
  });
  template_repo = root + "/repo";
  work = root + "/work";
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto store = ancient::Store::Open(root + "/src", o);
  if (!store.ok()) {
    std::fprintf(stderr, "template store: %s\n",
                 store.status().ToString().c_str());
    std::abort();
  }
  std::vector<std::string> words = {"alpha", "beta", "", "delta"};
  std::map<std::string, std::int64_t> m = {{"x", 1}, {"y", -2}};
  ancient::Value::Object obj;
  obj["k"] = ancient::Value::Array{1, "two", 3.0, nullptr};
  absl::Status s = (*store)->Share("words", words).status();
  if (s.ok()) s = (*store)->Share("map", m).status();
  if (s.ok()) s = (*store)->Share("json", ancient::Value(obj)).status();
  if (s.ok()) s = ancient::Publish(**store, template_repo).status();
  if (!s.ok()) {
    std::fprintf(stderr, "template repository: %s\n", s.ToString().c_str());
    std::abort();
  }
  for (const auto& e : fs::recursive_directory_iterator(template_repo)) {
    if (e.is_regular_file() && e.path().filename() != "LOCK") {
      files.push_back(fs::relative(e.path(), template_repo));
    }
  }
  std::sort(files.begin(), files.end());
}

// Applies the input's edits to `repo`: each is 6 bytes (file, operation,
// offset as 3 bytes, value).
void Edit(const std::string& repo, const std::uint8_t* data, std::size_t size) {
  for (std::size_t i = 0; i + 6 <= size; i += 6) {
    const fs::path path = repo / files[data[i] % files.size()];
    const std::uint32_t off =
        data[i + 2] | data[i + 3] << 8 | data[i + 4] << 16;
    const std::uint8_t v = data[i + 5];
    std::error_code ec;
    const std::uintmax_t len = fs::file_size(path, ec);
    if (ec) continue;
    switch (data[i + 1] % 4) {
      case 0:
      case 1: {  // flip bits of a byte
        if (len == 0) break;
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(off % len);
        char c = 0;
        f.get(c);
        f.seekp(off % len);
        f.put(static_cast<char>(c ^ (v | 1)));
        break;
      }
      case 2:  // truncate
        fs::resize_file(path, len == 0 ? 0 : off % len, ec);
        break;
      case 3: {  // append
        std::ofstream(path, std::ios::app | std::ios::binary)
            << static_cast<char>(v);
        break;
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  MakeTemplate();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  fs::remove_all(work);
  const std::string repo = work + "/repo", local = work + "/local";
  fs::create_directories(work);
  ancient::fuzz::CopyTreeOrDie(template_repo, repo);
  Edit(repo, data, size);
  auto followed = ancient::FollowOnce(repo, local);
  if (!followed.ok()) return 0;  // refused: the host keeps what it had
  // Followed: the host's store must be sound and its roots whole.
  {
    ancient::StoreOptions o;
    o.read_only = true;
    auto store = ancient::Store::Open(local + "/store", o);
    if (!store.ok()) std::abort();
    const absl::Status v = (*store)->Verify();
    if (!v.ok()) {
      std::fprintf(stderr, "followed, then: %s\n", v.ToString().c_str());
      std::abort();
    }
  }
  auto replica = ancient::Replica::Open(local);
  if (!replica.ok()) std::abort();
  // Each root is there by its type, or missing because the (edited, still
  // sound) manifest leaves it out; its contents are whatever the version
  // holds, read safely.
  auto words = (*replica)->GetVerified<std::vector<std::string>>("words");
  if (words.ok()) {
    std::size_t total = 0;
    for (const auto& w : **words) total += w.size();
    if (total > (1u << 20)) std::abort();
  }
  (void)(*replica)->GetVerified<std::map<std::string, std::int64_t>>("map");
  (void)(*replica)->GetVerified<ancient::Value>("json");
  return 0;
}
