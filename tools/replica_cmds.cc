#include "tools/replica_cmds.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "replica/replica.h"
#include "tools/cli_util.h"

ABSL_FLAG(int, keep, 5, "publish: versions kept in the repository");
ABSL_FLAG(double, grace, 600,
          "publish: seconds a superseded version stays for followers");
ABSL_FLAG(bool, once, false, "follow: one round, then exit (1 on error)");
ABSL_FLAG(double, interval, 5, "follow: seconds between rounds");
ABSL_FLAG(std::uint64_t, pin, 0, "follow: pin LOCAL to this version");
ABSL_FLAG(bool, unpin, false, "follow: follow the announced version again");
ABSL_FLAG(bool, release, false, "keep: let the version go again");

namespace ancientctl {

int PublishCommand(const std::vector<std::string>& args) {
  ancient::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto store = ancient::Store::Open(args[0], o);
  if (!store.ok()) return Fail(store.status());
  ancient::PublishOptions p;
  p.keep = absl::GetFlag(FLAGS_keep);
  p.grace_seconds = absl::GetFlag(FLAGS_grace);
  p.group = absl::GetFlag(FLAGS_group);
  std::unique_ptr<Progress> bar;  // drawn on a terminal, for big stores
  p.progress = [&](std::uint64_t done, std::uint64_t total) {
    if (!bar) bar = std::make_unique<Progress>("publishing", total);
    bar->Update(done);
  };
  const auto t0 = std::chrono::steady_clock::now();
  auto r = ancient::Publish(**store, args[1], p);
  bar.reset();
  if (!r.ok()) return Fail(r.status());
  if (r->published) {
    std::printf(
        "published version %lu: %lu bytes written of %lu in the version (%lu "
        "roots) in %.3f s",
        r->version, r->bytes_written, r->bytes, r->roots_written,
        SecondsSince(t0));
  } else {
    std::printf("nothing changed: version %lu stays announced (%lu bytes)",
                r->version, r->bytes);
  }
  if (!r->removed.empty()) {
    std::printf("; removed old versions %s",
                absl::StrJoin(r->removed, ", ").c_str());
  }
  if (r->objects_removed != 0) {
    std::printf("; removed %lu unused objects", r->objects_removed);
  }
  if (r->requests != 0) {
    std::printf(" [%lu requests, %lu retried]", r->requests, r->retries);
  }
  std::printf("\n");
  return kExitOk;
}

// Set by SIGTERM or SIGINT: follow stops between rounds (a round under
// way finishes first: its version is applied whole or not at all).
volatile sig_atomic_t stop_requested = 0;
void RequestStop(int) { stop_requested = 1; }

void InstallStopHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = RequestStop;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

// Sleeps `d`, waking early when a stop is requested.
void SleepUnlessStopped(std::chrono::duration<double> d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (!stop_requested && std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::min<std::chrono::duration<double>>(
        end - std::chrono::steady_clock::now(), std::chrono::milliseconds(20)));
  }
}

int FollowCommand(const std::vector<std::string>& args) {
  const std::string& repo = args[0];
  const std::string& local = args[1];
  if (absl::GetFlag(FLAGS_unpin) || absl::GetFlag(FLAGS_pin) != 0) {
    std::optional<std::uint64_t> pin;
    if (!absl::GetFlag(FLAGS_unpin)) pin = absl::GetFlag(FLAGS_pin);
    absl::Status s = ancient::SetPin(local, pin);
    if (!s.ok()) return Fail(s);
  }
  const bool once = absl::GetFlag(FLAGS_once);
  const auto interval = std::chrono::duration<double>(
      std::max(0.01, absl::GetFlag(FLAGS_interval)));
  InstallStopHandlers();
  ancient::FollowOptions follow_options;
  follow_options.group = absl::GetFlag(FLAGS_group);
  std::unique_ptr<Progress> bar;  // per round, drawn on a terminal
  follow_options.progress = [&](std::uint64_t done, std::uint64_t total) {
    if (!bar) bar = std::make_unique<Progress>("fetching", total);
    bar->Update(done);
  };
  std::uint64_t version = 0;
  while (true) {
    if (stop_requested) {
      std::fprintf(stderr,
                   "ancientctl: follow stopped by a signal, at version %lu\n",
                   static_cast<unsigned long>(version));
      return kExitOk;
    }
    const auto t0 = std::chrono::steady_clock::now();
    auto r = ancient::FollowOnce(repo, local, follow_options);
    bar.reset();  // Cleared before the round's line is printed.
    if (!r.ok()) {
      if (once) return Fail(r.status());
      // Keep serving what we have; say so, then try again.
      std::fprintf(stderr, "ancientctl: %s (keeping the current version)\n",
                   std::string(r.status().message()).c_str());
    } else {
      version = r->version;
    }
    if (r.ok() && (r->switched || !r->removed.empty() || once)) {
      std::printf("version %lu%s", r->version,
                  r->switched ? " fetched, checked and made current" : "");
      if (r->switched) {
        std::printf(
            ": %lu bytes fetched of %lu in the version (%lu roots placed, %lu "
            "removed) in %.3f s",
            r->bytes_fetched, r->bytes, r->roots_fetched, r->roots_removed,
            SecondsSince(t0));
      }
      if (!r->removed.empty()) {
        std::printf("; removed unread versions %s",
                    absl::StrJoin(r->removed, ", ").c_str());
      }
      if (r->requests != 0) {
        std::printf(" [%lu requests, %lu retried]", r->requests, r->retries);
      }
      std::printf("\n");
      std::fflush(stdout);
    }
    if (once) return kExitOk;
    SleepUnlessStopped(interval);
  }
}

// Seconds since the epoch as "2026-12-05T23:00:00Z".
std::string Utc(std::int64_t seconds) {
  char when[32] = "?";
  const std::time_t t = seconds;
  std::tm tm;
  if (gmtime_r(&t, &tm) != nullptr) {
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  }
  return when;
}

int KeepCommand(const std::vector<std::string>& args) {
  std::uint64_t v = 0;
  if (!absl::SimpleAtoi(args[1], &v)) {
    return Fail("keep: '" + args[1] + "' is not a version number");
  }
  const bool keep = !absl::GetFlag(FLAGS_release);
  absl::Status s = ancient::KeepVersion(args[0], v, keep);
  if (!s.ok()) return Fail(s);
  std::printf("version %lu of %s %s\n", static_cast<unsigned long>(v),
              args[0].c_str(),
              keep ? "is kept whatever --keep says"
                   : "goes again when superseded and beyond --keep");
  return kExitOk;
}

int StatusCommand(const std::vector<std::string>& args) {
  auto st = ancient::GetReplicaStatus(args[0]);
  if (!st.ok()) return Fail(st.status());
  auto show = [](const std::optional<std::uint64_t>& v) {
    return v ? std::to_string(*v) : std::string("none");
  };
  if (st->is_repository) {
    std::printf("repository %s\nannounced: %s\n", args[0].c_str(),
                show(st->announced).c_str());
  } else {
    std::printf("local %s\ncurrent: %s\npinned: %s\n", args[0].c_str(),
                show(st->current).c_str(), show(st->pinned).c_str());
    if (!st->following.empty()) {
      std::printf(
          "following: %s\nlast poll: %s (%lu bytes fetched, %lu requests, "
          "%lu retried)\n",
          st->following.c_str(), Utc(st->last_poll).c_str(),
          st->last_poll_bytes, st->last_poll_requests, st->last_poll_retries);
    }
  }
  if (args[0].rfind("s3://", 0) != 0) PrintAccess(args[0]);
  std::printf("versions kept: %zu\n", st->versions.size());
  for (const auto& v : st->versions) {
    std::printf("  version %lu: %lu bytes", v.version, v.bytes);
    if (st->is_repository) std::printf(", %lu new", v.new_bytes);
    if (v.kept) std::printf(", kept");
    std::printf(", made %s", Utc(v.mtime).c_str());
    if (!st->is_repository) std::printf(", %lu readers", v.readers);
    std::printf("\n");
  }
  return kExitOk;
}

}  // namespace ancientctl
