// One release of a program (built twice: EVOLUTION_RELEASE 1 and 2) that
// shares and reads cities with its own version of the type:
//   evolution_helper share DIR N [KEY]  shares N cities at KEY ("cities")
//   evolution_helper read DIR           reads "cities" as its type; prints
//                                       "COUNT n POP p FOUNDED f CONVERTED c"
//   evolution_helper follow REPO LOCAL  FollowOnce, then reads "cities"
//                                       from the Replica, printing as read
// Exit 1 with the error on stderr when anything fails.

#include <cstdio>
#include <cstdlib>
#include <string>

#include "replica/replica.h"
#include "store/store.h"
#include "tests/evolution_types.h"

namespace {

using Cities = evolution::Mine;
#if EVOLUTION_RELEASE == 1
constexpr int kFounded = -1;  // release 1 has no such field
#endif

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "%s\n", s.ToString().c_str());
  return 1;
}

// How many cities differ from evolution::Cities' city of their key in a
// field both releases have (*wrong), and how many hold this release's
// defaults in the fields the other release lacks (*defaulted).
template <class Root>
void Check(const Root& root, int* wrong, int* defaulted) {
  *wrong = *defaulted = 0;
  for (const auto& e : *root) {
    const auto& key = e.first;
    const auto& c = e.second;
    const int i = std::atoi(std::string(key.view()).c_str() + 4);  // "cityN"
    *wrong +=
        !(key.view() == "city" + std::to_string(i) &&
          c.name.view() == "City " + std::to_string(i) &&
          c.population == std::int64_t{i} * 1000 && c.zips.size() == 2 &&
          c.zips[0] == static_cast<std::uint32_t>(i) && c.zips[1] == 70000);
#if EVOLUTION_RELEASE == 1
    *defaulted += c.mayor.size() == 0;
#else
    *defaulted += c.founded == 1143 && c.motto.view() == "none";
#endif
  }
}

template <class Root>
void Print(const Root& root, std::uint64_t converted) {
  std::int64_t pop = 0;
  for (const auto& e : *root) pop += e.second.population;
#if EVOLUTION_RELEASE == 1
  const int founded = kFounded;
#else
  const int founded = root->empty() ? 0 : (*root)[0].second.founded;
#endif
  int wrong = 0, defaulted = 0;
  Check(root, &wrong, &defaulted);
  std::printf(
      "COUNT %zu POP %lld FOUNDED %d CONVERTED %llu WRONG %d DEFAULTED %d\n",
      root->size(), static_cast<long long>(pop), founded,
      static_cast<unsigned long long>(converted), wrong, defaulted);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "share" && (argc == 4 || argc == 5)) {
    auto store = ancient::Store::Open(argv[2]);
    if (!store.ok()) return Fail(store.status());
    auto info = (*store)->Share(argc == 5 ? argv[4] : "cities",
                                evolution::Cities<Cities>(std::atoi(argv[3])));
    return info.ok() ? 0 : Fail(info.status());
  }
  if (cmd == "read" && argc == 3) {
    ancient::StoreOptions o;
    o.read_only = true;
    auto store = ancient::Store::Open(argv[2], o);
    if (!store.ok()) return Fail(store.status());
    auto root = (*store)->GetVerified<Cities>("cities");
    if (!root.ok()) return Fail(root.status());
    auto st = (*store)->Stats();
    if (!st.ok()) return Fail(st.status());
    Print(*root, st->graphs_converted);
    return 0;
  }
  if (cmd == "follow" && argc == 4) {
    auto f = ancient::FollowOnce(argv[2], argv[3]);
    if (!f.ok()) return Fail(f.status());
    auto replica = ancient::Replica::Open(argv[3]);
    if (!replica.ok()) return Fail(replica.status());
    auto root = (*replica)->Get<Cities>("cities");
    if (!root.ok()) return Fail(root.status());
    auto st = (*replica)->Stats();
    if (!st.ok()) return Fail(st.status());
    Print(*root, st->graphs_converted);
    return 0;
  }
  std::fprintf(
      stderr,
      "usage: evolution_helper share DIR N [KEY] | read DIR | follow REPO "
      "LOCAL\n");
  return 2;
}
