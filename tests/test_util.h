// Helpers shared by the store tests and their helper processes.

#ifndef ANCIENT_TESTS_TEST_UTIL_H_
#define ANCIENT_TESTS_TEST_UTIL_H_

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ancient/ancient.h"

namespace ancient_test {

// A value whose contents follow from `seq`, ending with a checksum of the
// rest, so that a reader can tell a whole value from a torn one.
inline std::vector<std::string> MakeValue(std::uint64_t seq,
                                          std::size_t n = 64) {
  std::vector<std::string> v;
  v.push_back("seq:" + std::to_string(seq));
  std::uint64_t x = seq * 0x9e3779b97f4a7c15ULL + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    v.push_back(std::string(1 + x % 40, static_cast<char>('a' + x % 26)));
  }
  std::uint64_t h = 0;
  for (const auto& s : v) h = h * 31 + ancient::StableHash(s);
  v.push_back("sum:" + std::to_string(h));
  return v;
}

// The seq of a frozen MakeValue, or -1 when it is not one (torn, damaged).
inline std::int64_t CheckValue(const ancient::Vector<ancient::String>& v) {
  if (v.size() < 2 || v[0].view().substr(0, 4) != "seq:") return -1;
  std::uint64_t h = 0;
  for (std::size_t i = 0; i + 1 < v.size(); ++i) {
    h = h * 31 + ancient::StableHash(v[i].view());
  }
  if (v[v.size() - 1].view() != "sum:" + std::to_string(h)) return -1;
  const std::int64_t seq = std::atoll(v[0].c_str() + 4);
  const auto expected = MakeValue(seq, v.size() - 2);
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i].view() != expected[i]) return -1;
  }
  return seq;
}

// A large value: `count` strings of 4000 bytes, each starting with its
// index, so that BigValueIsRight can check every one.
inline std::vector<std::string> BigValue(std::size_t count) {
  std::vector<std::string> v(count);
  for (std::size_t i = 0; i < count; ++i) {
    v[i] = std::to_string(i) + ":";
    v[i].resize(4000, static_cast<char>('a' + i % 26));
  }
  return v;
}
inline bool BigValueIsRight(const ancient::Vector<ancient::String>& v,
                            std::size_t count) {
  if (v.size() != count) return false;
  for (std::size_t i = 0; i < count; ++i) {
    const std::string head = std::to_string(i) + ":";
    const std::string_view s = v[i].view();
    if (s.size() != 4000 || s.substr(0, head.size()) != head ||
        s.back() != static_cast<char>('a' + i % 26)) {
      return false;
    }
  }
  return true;
}

// A fresh empty directory under the test's temporary directory.
inline std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/" + name + ".XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) std::abort();
  return std::string(buf.data());
}

// The path of a helper binary that Bazel puts in the runfiles: under
// `bazel test` (TEST_SRCDIR) or `bazel run` (the working directory).
inline std::string Runfile(const std::string& path) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  if (srcdir == nullptr) return path;
  const char* ws = std::getenv("TEST_WORKSPACE");
  return std::string(srcdir) + "/" + (ws ? ws : "ancient") + "/" + path;
}

// A child process started with fork + exec, its stdout on a pipe.
struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout
  int in = -1;   // write end of the child's stdin
};

// `in_child` runs in the child before exec (and must not return on
// failure: _exit); with `merge_stderr` the child's stderr goes to the same
// pipe as its stdout.
inline Child Spawn(const std::vector<std::string>& argv,
                   const std::function<void()>& in_child = {},
                   bool merge_stderr = false) {
  int out[2], in[2];
  if (pipe(out) != 0 || pipe(in) != 0) std::abort();
  Child c;
  c.pid = fork();
  if (c.pid == 0) {
    if (in_child) in_child();
    dup2(out[1], 1);
    if (merge_stderr) dup2(out[1], 2);
    dup2(in[0], 0);
    close(out[0]);
    close(out[1]);
    close(in[0]);
    close(in[1]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  close(in[0]);
  c.out = out[0];
  c.in = in[1];
  return c;
}

// Reads one line from fd (without the newline); false at end of file.
inline bool ReadLine(int fd, std::string* line) {
  line->clear();
  char ch;
  while (true) {
    const ssize_t n = read(fd, &ch, 1);
    if (n <= 0) return !line->empty();
    if (ch == '\n') return true;
    line->push_back(ch);
  }
}

// Whether fd has something to read (or is at its end) within `millis`.
inline bool ReadableWithin(int fd, int millis) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, millis) == 1;
}

// Waits for the child; returns its wait status.
inline int Wait(Child& c) {
  int status = 0;
  waitpid(c.pid, &status, 0);
  if (c.out >= 0) close(c.out);
  if (c.in >= 0) close(c.in);
  c.out = c.in = -1;
  return status;
}

// How long a follower (the `ancientctl follow` command line `argv`) takes on
// this build: it runs until its first line, "version N fetched, ... in F s",
// then is killed. Returns {start-up, fetch} in microseconds: the time to
// that line less F, and F; nullopt when the line is not that.
struct FollowTiming {
  std::int64_t start_us = 0, fetch_us = 0;
};
inline std::optional<FollowTiming> TimeFirstFollow(
    const std::vector<std::string>& argv) {
  const auto t0 = std::chrono::steady_clock::now();
  Child f = Spawn(argv);
  std::string line;
  const bool read = ReadLine(f.out, &line);
  const std::int64_t total_us =
      std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - t0)
          .count();
  kill(f.pid, SIGKILL);
  Wait(f);
  const std::size_t in = line.rfind(" in ");
  if (!read || in == std::string::npos) return std::nullopt;
  FollowTiming t;
  t.fetch_us = static_cast<std::int64_t>(std::stod(line.substr(in + 4)) * 1e6);
  t.start_us = total_us > t.fetch_us ? total_us - t.fetch_us : 0;
  return t;
}

}  // namespace ancient_test

#endif  // ANCIENT_TESTS_TEST_UTIL_H_
