#include "tools/cli_util.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <iterator>

#include "absl/flags/flag.h"
#include "store/group_access.h"

ABSL_FLAG(std::string, group, "",
          "put, load, copy, publish, follow: a group whose accounts may read "
          "what the command creates (default: the owner alone)");

namespace ancientctl {

int Fail(const absl::Status& status) {
  return Fail(std::string(status.message()));
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "ancientctl: %s\n", message.c_str());
  return kExitFailure;
}

absl::StatusOr<std::string> ReadInput(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin),
                       std::istreambuf_iterator<char>());
  }
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError("cannot read " + path + ": " +
                               std::strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError("cannot read " + path +
                                      ": not a regular file");
  }
  std::string out;
  out.reserve(static_cast<std::size_t>(st.st_size));
  Progress progress("reading " + path, static_cast<std::uint64_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      const int err = errno;
      close(fd);
      return absl::DataLossError("reading " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    progress.Update(out.size());
  }
  close(fd);
  return out;
}

Progress::Progress(std::string label, std::uint64_t total)
    : label_(std::move(label)),
      total_(total),
      enabled_(isatty(2) == 1 && total > (std::uint64_t{8} << 20)) {}

Progress::~Progress() {
  if (enabled_ && last_percent_ >= 0) std::fprintf(stderr, "\r\033[K");
}

void Progress::Update(std::uint64_t done) {
  if (!enabled_ || total_ == 0) return;
  const int percent = static_cast<int>(done * 100 / total_);
  if (percent == last_percent_) return;
  last_percent_ = percent;
  const int width = 30, filled = percent * width / 100;
  std::fprintf(stderr, "\r[%.*s%*s] %3d%% %s", filled,
               "##############################", width - filled, "", percent,
               label_.c_str());
  std::fflush(stderr);
}

ancient::StoreOptions CreatingOptions() {
  ancient::StoreOptions o;
  o.group = absl::GetFlag(FLAGS_group);
  return o;
}

void WarnIfUnsafe(const std::string& dir) {
  absl::StatusOr<ancient::AccessReport> r = ancient::InspectAccess(dir);
  if (!r.ok()) return;
  for (const std::string& why : r->unsafe) {
    std::fprintf(stderr,
                 "ancientctl: warning: %s: another account could write a "
                 "graph crafted to mislead readers\n",
                 why.c_str());
  }
}

void PrintAccess(const std::string& dir) {
  absl::StatusOr<ancient::AccessReport> r = ancient::InspectAccess(dir);
  if (!r.ok()) {
    std::printf("access: unknown (%s)\n",
                std::string(r.status().message()).c_str());
    return;
  }
  std::printf("access: owner %s, group %s (%s)\n", r->owner.c_str(),
              r->group.c_str(),
              r->group_readable ? "the group reads" : "private to the owner");
  for (const ancient::FileAccess& f : r->files) {
    std::printf("  %s %s:%s %s\n",
                ancient::ModeString(f.mode, f.is_dir).c_str(), f.owner.c_str(),
                f.group.c_str(), f.name.c_str());
  }
  for (const std::string& why : r->unsafe) {
    std::printf("UNSAFE: %s\n", why.c_str());
  }
}

}  // namespace ancientctl
