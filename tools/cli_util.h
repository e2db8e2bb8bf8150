// Shared pieces of ancientctl: errors, file input, a progress bar.

#ifndef ANCIENT_TOOLS_CLI_UTIL_H_
#define ANCIENT_TOOLS_CLI_UTIL_H_

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "store/options.h"

// --group NAME: put, load, copy, publish, follow.
ABSL_DECLARE_FLAG(std::string, group);

namespace ancientctl {

// Exit codes, as the README lists them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // verify found damage; a command failed
inline constexpr int kExitUsage = 2;    // wrong call

// Prints "ancientctl: <message>" on stderr; returns kExitFailure.
int Fail(const absl::Status& status);
int Fail(const std::string& message);

// Writes `piece` to stdout as is (bytes, not a C string).
inline void WriteOut(std::string_view piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
}

// Reads a whole file, or stdin for "-". Shows progress for large files when
// stderr is a terminal.
absl::StatusOr<std::string> ReadInput(const std::string& path);

// A progress bar on stderr, drawn only when stderr is a terminal.
class Progress {
 public:
  Progress(std::string label, std::uint64_t total);
  ~Progress();
  void Update(std::uint64_t done);

 private:
  std::string label_;
  std::uint64_t total_;
  bool enabled_;
  int last_percent_ = -1;
};

// Options for a store this command may create (with --group's group).
ancient::StoreOptions CreatingOptions();
// Warns on stderr when `dir` is writable by accounts outside its owner and
// group (a reader could be fed a crafted graph).
void WarnIfUnsafe(const std::string& dir);
// Prints the owner, group and modes of `dir` and its files ("access: ...").
void PrintAccess(const std::string& dir);

inline double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
      .count();
}

}  // namespace ancientctl

#endif  // ANCIENT_TOOLS_CLI_UTIL_H_
