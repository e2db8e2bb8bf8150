#include <cstdio>
#include <cstdlib>

#include "ancient/ancient.h"

namespace ancient::internal {

void Fatal(const char* message) {
  std::fprintf(stderr, "%s\n", message);
  std::fflush(stderr);
  std::abort();
}

}  // namespace ancient::internal
