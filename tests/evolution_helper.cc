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

template <class Root>
void Print(const Root& root, std::uint64_t converted) {
  std::int64_t pop = 0;
  for (const auto& e : *root) pop += e.second.population;
#if EVOLUTION_RELEASE == 1
  const int founded = kFounded;
#else
  const int founded = root->empty() ? 0 : (*root)[0].second.founded;
#endif
  std::printf("COUNT %zu POP %lld FOUNDED %d CONVERTED %llu\n", root->size(),
              static_cast<long long>(pop), founded,
              static_cast<unsigned long long>(converted));
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
