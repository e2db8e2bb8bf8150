// Builds against @ancient from another workspace and checks a round trip.
#include <cstdio>
#include <map>
#include <string>

#include "ancient/ancient.h"

int main() {
  std::map<std::string, int> m = {{"one", 1}, {"two", 2}};
  auto a = ancient::Mark(m);
  const int* two = a.Follow().get("two");
  if (two == nullptr || *two != 2 || a.Follow().contains("three")) {
    std::fprintf(stderr, "consumer: wrong result from @ancient//ancient\n");
    return 1;
  }
  std::printf("consumer: @ancient//ancient works (%zu-byte block)\n",
              a.size_bytes());
  return 0;
}
