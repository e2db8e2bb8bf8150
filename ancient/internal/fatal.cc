#include "ancient/internal/fatal.h"

#include <cstdio>
#include <cstdlib>

namespace ancient::internal {

void Fatal(const char* message) {
  std::fprintf(stderr, "%s\n", message);
  std::fflush(stderr);
  std::abort();
}

}  // namespace ancient::internal
