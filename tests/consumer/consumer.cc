// Builds against @ancient from another workspace, as a user's project would,
// and checks a round trip through the graph layer and through a store.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "ancient/ancient.h"
#include "store/store.h"

int main() {
  std::map<std::string, int> m = {{"one", 1}, {"two", 2}};
  auto a = ancient::Mark(m);
  const int* two = a.Follow().get("two");
  if (two == nullptr || *two != 2 || a.Follow().contains("three")) {
    std::fprintf(stderr, "consumer: wrong result from @ancient//ancient\n");
    return 1;
  }

  char dir[] = "/tmp/ancient-consumer.XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  auto store = ancient::Store::Open(std::string(dir) + "/store");
  if (!store.ok()) {
    std::fprintf(stderr, "consumer: %s\n", store.status().ToString().c_str());
    return 1;
  }
  if (!(*store)->Share("m", m).ok()) return 1;
  auto root = (*store)->Get<std::map<std::string, int>>("m");
  if (!root.ok() || *(*root)->get("one") != 1) {
    std::fprintf(stderr, "consumer: wrong result from @ancient//store\n");
    return 1;
  }
  std::printf("consumer: @ancient//ancient and @ancient//store work\n");
  std::system((std::string("rm -rf ") + dir).c_str());
  return 0;
}
