// Helpers shared by the libFuzzer targets in tests/fuzz.
#ifndef ANCIENT_TESTS_FUZZ_FUZZ_UTIL_H_
#define ANCIENT_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace ancient::fuzz {

// Replaces `to` with a recursive copy of `from`, or aborts the run. libFuzzer
// arms SIGALRM for -timeout without SA_RESTART, so the copy's sendfile(2)
// can fail with EINTR: that is retried. A copy that cannot be made at all
// stops the run rather than leaving inputs unprobed.
inline void CopyTreeOrDie(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (int attempt = 0; attempt < 20; ++attempt) {
    fs::remove_all(to, ec);
    ec.clear();
    fs::copy(from, to, fs::copy_options::recursive, ec);
    if (!ec || ec != std::errc::interrupted) break;
  }
  if (ec) {
    std::fprintf(stderr, "cannot copy %s to %s: %s\n", from.c_str(), to.c_str(),
                 ec.message().c_str());
    std::abort();
  }
}

}  // namespace ancient::fuzz

#endif  // ANCIENT_TESTS_FUZZ_FUZZ_UTIL_H_
