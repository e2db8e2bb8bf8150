// Stores, repositories and local replica directories shared between real
// accounts (the test runs as root and makes a group and five users, removed
// after): a writer account, readers in the group, a reader outside it; a
// follower service account with readers in two other accounts while
// versions switch.

#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace {

using namespace ancient_test;
namespace fs = std::filesystem;

int Sh(const std::string& cmd) { return std::system(cmd.c_str()); }

// A group and its accounts, made for this process and removed at exit.
struct Accounts {
  std::string group, writer, reader, reader2, follower, outsider;
  std::string dir;  // a world-traversable directory with the binaries
  std::string ctl, helper;

  static Accounts& Get() {
    static Accounts* a = new Accounts;
    return *a;
  }

 private:
  Accounts() {
    if (geteuid() != 0) {
      ADD_FAILURE() << "the accounts tests need root (to make accounts)";
      std::abort();
    }
    const std::string tag = std::to_string(getpid() % 100000);
    group = "ancg" + tag;
    writer = "ancw" + tag;
    reader = "ancr" + tag;
    reader2 = "ancs" + tag;
    follower = "ancf" + tag;
    outsider = "anco" + tag;
    bool ok = Sh("groupadd " + group) == 0;
    for (const std::string& u : {writer, reader, reader2, follower}) {
      ok = ok && Sh("useradd -M -N -g users -G " + group + " " + u) == 0;
    }
    ok = ok && Sh("useradd -M -N -g users " + outsider) == 0;
    if (!ok) {
      ADD_FAILURE() << "could not make the test's accounts";
      std::abort();
    }
    std::atexit([] { Get().Remove(); });
    dir = "/tmp/ancient-accounts-" + tag;
    fs::remove_all(dir);
    fs::create_directories(dir + "/bin");
    ctl = dir + "/bin/ancientctl";
    helper = dir + "/bin/replica_helper";
    fs::copy_file(Runfile("tools/ancientctl"), ctl);
    fs::copy_file(Runfile("replica/replica_helper"), helper);
    Sh("chmod -R a+rX " + dir);
  }
  void Remove() {
    for (const std::string& u : {writer, reader, reader2, follower, outsider}) {
      Sh("userdel " + u + " 2>/dev/null");
    }
    Sh("groupdel " + group + " 2>/dev/null");
    fs::remove_all(dir);
  }
};

// `argv` run as `user` (with its groups), stdout and stderr on one pipe.
Child SpawnAs(const std::string& user, const std::vector<std::string>& argv) {
  return Spawn(
      argv,
      [&] {
        struct passwd* pw = getpwnam(user.c_str());
        if (pw == nullptr || initgroups(user.c_str(), pw->pw_gid) != 0 ||
            setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0 ||
            chdir("/") != 0) {
          _exit(126);
        }
      },
      /*merge_stderr=*/true);
}

struct Ran {
  int code;
  std::string output;
};
Ran RunAs(const std::string& user, const std::vector<std::string>& argv) {
  Child c = SpawnAs(user, argv);
  close(c.in);
  std::string all, line;
  while (ReadLine(c.out, &line)) all += line + "\n";
  const int status = Wait(c);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
          all};
}

// A directory of `user`'s in the accounts' directory.
std::string HomeOf(const std::string& user, const std::string& name) {
  const std::string d = Accounts::Get().dir + "/" + name;
  fs::create_directories(d);
  EXPECT_EQ(Sh("chown " + user + " " + d + " && chmod 755 " + d), 0);
  return d;
}

TEST(Accounts, AStoreForAGroupIsReadByItsReadersAndNoOneElse) {
  Accounts& a = Accounts::Get();
  const std::string home = HomeOf(a.writer, "writer");
  const std::string store = home + "/store";
  const std::string json = home + "/v.json";
  Sh("echo '[\"hello\",\"group\"]' > " + json + " && chmod 644 " + json);
  Ran r = RunAs(a.writer, {a.ctl, "put", store, "greeting", "--json", json,
                           "--group", a.group});
  ASSERT_EQ(r.code, 0) << r.output;
  // Owner writes, the group reads, no one else enters.
  struct stat st;
  ASSERT_EQ(stat(store.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02750u);
  EXPECT_EQ(getgrgid(st.st_gid)->gr_name, a.group);
  for (const auto& [file, mode] :
       {std::pair{"data.mdb", 0640u}, std::pair{"arena", 0640u},
        std::pair{"lock.mdb", 0660u}}) {
    ASSERT_EQ(stat((store + "/" + file).c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 07777, mode) << file;
    EXPECT_EQ(getgrgid(st.st_gid)->gr_name, a.group) << file;
  }
  r = RunAs(a.reader, {a.ctl, "get", store, "greeting"});
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("[\"hello\",\"group\"]"), std::string::npos)
      << r.output;
  // A reader in the group cannot write the data.
  r = RunAs(a.reader, {a.ctl, "put", store, "x", "--json", json});
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("ermission denied"), std::string::npos) << r.output;
  // An account outside the group: PermissionDenied naming the file.
  r = RunAs(a.outsider, {a.ctl, "get", store, "greeting"});
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find(store), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ermission denied"), std::string::npos) << r.output;
  // Later writes (a big value grows the arena) keep the modes; a copy made
  // for the group is the group's.
  const std::string big = home + "/big.txt";
  Sh("seq 1 300000 > " + big + " && chmod 644 " + big);
  r = RunAs(a.writer, {a.ctl, "put", store, "numbers", "--lines", big});
  ASSERT_EQ(r.code, 0) << r.output;
  r = RunAs(a.writer,
            {a.ctl, "copy", store, home + "/copy", "--group", a.group});
  ASSERT_EQ(r.code, 0) << r.output;
  r = RunAs(a.reader2, {a.ctl, "get", home + "/copy", "greeting"});
  EXPECT_EQ(r.code, 0) << r.output;
  r = RunAs(a.reader, {a.ctl, "stat", store});
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("group " + a.group + " (the group reads)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(
      r.output.find("-rw-rw---- " + a.writer + ":" + a.group + " lock.mdb"),
      std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("UNSAFE"), std::string::npos) << r.output;
  // Writable by every account: stat says so, and readers are warned.
  ASSERT_EQ(chmod((store + "/arena").c_str(), 0646), 0);
  r = RunAs(a.reader, {a.ctl, "stat", store});
  EXPECT_NE(r.output.find("UNSAFE: " + store + "/arena is writable by every"),
            std::string::npos)
      << r.output;
  r = RunAs(a.reader, {a.ctl, "get", store, "greeting"});
  EXPECT_NE(r.output.find("warning: " + store + "/arena is writable"),
            std::string::npos)
      << r.output;
  ASSERT_EQ(chmod((store + "/arena").c_str(), 0640), 0);
  // A group that does not exist: a clear error, nothing made.
  r = RunAs(a.writer, {a.ctl, "put", home + "/other", "k", "--json", json,
                       "--group", "no-such-group-here"});
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("no group named 'no-such-group-here'"),
            std::string::npos)
      << r.output;
}

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(Accounts, AFollowerServiceAndReadersInOtherAccountsWhileVersionsSwitch) {
  Accounts& a = Accounts::Get();
  constexpr int kRoots = 12, kVersions = 15;
  const std::string pub = HomeOf(a.writer, "publisher");
  const std::string hosts = HomeOf(a.follower, "hosts");
  const std::string src = pub + "/src", repo = pub + "/repo";
  const std::string local = hosts + "/dict";
  // The first version, then the repository given to the group.
  Ran r = RunAs(a.writer, {a.helper, "publish-multi", src, repo, "0", "1",
                           std::to_string(kRoots)});
  ASSERT_EQ(r.code, 0) << r.output;
  r = RunAs(a.writer, {a.ctl, "publish", src, repo, "--group", a.group});
  ASSERT_EQ(r.code, 0) << r.output;
  struct stat st;
  ASSERT_EQ(stat(repo.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02750u);
  // The follower account has no write access to the repository.
  r = RunAs(a.follower, {"/usr/bin/touch", repo + "/objects/x"});
  EXPECT_NE(r.code, 0);
  Child follower =
      SpawnAs(a.follower, {a.ctl, "follow", repo, local, "--interval", "0.005",
                           "--group", a.group});
  std::vector<Child> readers;
  for (const std::string& u : {a.reader, a.reader2}) {
    readers.push_back(
        SpawnAs(u, {a.helper, "read-multi", local, "120000",
                    std::to_string(kVersions - 1), std::to_string(kRoots)}));
  }
  r = RunAs(a.writer, {a.helper, "publish-multi", src, repo, "1",
                       std::to_string(kVersions - 1), std::to_string(kRoots)});
  ASSERT_EQ(r.code, 0) << r.output;
  for (Child& c : readers) {
    std::string line, last;
    while (ReadLine(c.out, &line)) last = line;
    EXPECT_EQ(ExitCode(Wait(c)), 0) << last;
    EXPECT_EQ(last.substr(0, 6), "READS ") << last;
    EXPECT_NE(last.find(" LAST " + std::to_string(kVersions - 1) + " "),
              std::string::npos)
        << last;
  }
  // An account outside the group reads nothing of the host's data.
  r = RunAs(a.outsider, {a.ctl, "get", local + "/store", "k0"});
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("ermission denied"), std::string::npos) << r.output;
  r = RunAs(a.outsider, {a.ctl, "status", local});
  EXPECT_EQ(r.code, 1) << r.output;
  // The follower stops cleanly as a service manager stops it.
  kill(follower.pid, SIGTERM);
  EXPECT_EQ(ExitCode(Wait(follower)), 0);
  r = RunAs(a.reader, {a.ctl, "status", local});
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("current: " + std::to_string(kVersions)),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("group " + a.group + " (the group reads)"),
            std::string::npos)
      << r.output;
}

}  // namespace
