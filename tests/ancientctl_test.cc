// ancientctl as a user runs it: the built binary, its output and exit code.

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/test_util.h"

namespace {

using ancient_test::TempDir;

struct Result {
  int code;
  std::string out, err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// Runs ancientctl with `args` (shell words), stdin from `input`.
Result Ctl(const std::string& args, const std::string& input = "") {
  static const std::string tmp = TempDir("ctl");
  WriteFile(tmp + "/in", input);
  const std::string cmd = ancient_test::Runfile("tools/ancientctl") + " " +
                          args + " < " + tmp + "/in > " + tmp + "/out 2> " +
                          tmp + "/err";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
          Slurp(tmp + "/out"), Slurp(tmp + "/err")};
}

// One line on stderr, naming the problem.
void ExpectOneLineError(const Result& r, const std::string& needle) {
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

const char kDoc[] = R"({
  "name": "caf\u00e9 \u2603 \ud83d\ude00",
  "escapes": "tab\t quote\" backslash\\ nl\n",
  "big": 9223372036854775807,
  "small": -9223372036854775808,
  "negative": -42,
  "float": 3.141592653589793,
  "exp": -1.5e-300,
  "empty_object": {},
  "empty_array": [],
  "nested": {"a": [1, [2, [3, {"b": null}]], true, false], "z": ""}
})";

TEST(Ancientctl, JsonRoundTrip) {
  const std::string dir = TempDir("json") + "/store";
  const std::string file = TempDir("jsonin") + "/doc.json";
  WriteFile(file, kDoc);
  Result put = Ctl("put " + dir + " doc --json " + file);
  ASSERT_EQ(put.code, 0) << put.err;
  for (const char* pretty : {"", " --pretty"}) {
    Result get = Ctl("get " + dir + " doc" + pretty);
    ASSERT_EQ(get.code, 0) << get.err;
    EXPECT_EQ(nlohmann::json::parse(get.out), nlohmann::json::parse(kDoc))
        << get.out;
  }
  EXPECT_NE(Ctl("get " + dir + " doc --pretty").out.find("\n  \""),
            std::string::npos);
  // From stdin.
  ASSERT_EQ(Ctl("put " + dir + " stdin --json -", "[1,{\"x\":[]}]").code, 0);
  EXPECT_EQ(Ctl("get " + dir + " stdin").out, "[1,{\"x\":[]}]\n");
}

TEST(Ancientctl, LinesRoundTrip) {
  const std::string dir = TempDir("lines") + "/store";
  ASSERT_EQ(Ctl("put " + dir + " l --lines -", "one\ntwo\n\nfour\n").code, 0);
  Result get = Ctl("get " + dir + " l");
  EXPECT_EQ(get.code, 0);
  EXPECT_EQ(get.out, "one\ntwo\n\nfour\n");
}

TEST(Ancientctl, LsRmStatVerifyCopy) {
  const std::string dir = TempDir("cmds") + "/store";
  ASSERT_EQ(Ctl("put " + dir + " a/1 --json -", "{\"k\":1}").code, 0);
  ASSERT_EQ(Ctl("put " + dir + " a/2 --lines -", "x\ny\n").code, 0);
  ASSERT_EQ(Ctl("put " + dir + " b --json -", "true").code, 0);
  Result ls = Ctl("ls " + dir);
  EXPECT_EQ(ls.code, 0);
  EXPECT_NE(ls.out.find("a/1\tvalue\t"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("a/2\tvector<string>\t"), std::string::npos) << ls.out;
  Result ls_a = Ctl("ls " + dir + " a/");
  EXPECT_EQ(std::count(ls_a.out.begin(), ls_a.out.end(), '\n'), 2) << ls_a.out;

  EXPECT_EQ(Ctl("rm " + dir + " b").code, 0);
  ExpectOneLineError(Ctl("rm " + dir + " b"), "no key 'b'");
  Result stat = Ctl("stat " + dir);
  EXPECT_EQ(stat.code, 0);
  EXPECT_NE(stat.out.find("roots: 2\n"), std::string::npos) << stat.out;
  EXPECT_NE(stat.out.find("base address: 0x"), std::string::npos);
  // In its own process the store is read in place.
  EXPECT_NE(stat.out.find("relocated: no\n"), std::string::npos) << stat.out;
  EXPECT_NE(stat.out.find("address space reserved: "), std::string::npos);

  Result verify = Ctl("verify " + dir);
  EXPECT_EQ(verify.code, 0) << verify.err;
  EXPECT_EQ(verify.out, dir + ": ok\n");

  for (const char* flag : {"", " --compact"}) {
    const std::string copy = TempDir("copy") + "/c";
    ASSERT_EQ(Ctl("copy " + dir + " " + copy + flag).code, 0);
    EXPECT_EQ(Ctl("verify " + copy).code, 0);
    EXPECT_EQ(Ctl("get " + copy + " a/2").out, "x\ny\n");
  }
}

TEST(Ancientctl, VerifyReportsDamage) {
  const std::string dir = TempDir("damaged") + "/store";
  ASSERT_EQ(Ctl("put " + dir + " k --lines -", std::string(5000, 'z')).code, 0);
  {
    std::fstream f(dir + "/arena",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x01');
  }
  ExpectOneLineError(Ctl("verify " + dir), "checksum");
}

TEST(Ancientctl, BadInputIsOneLineAndWritesNothing) {
  const std::string dir = TempDir("bad") + "/store";
  ASSERT_EQ(Ctl("put " + dir + " keep --json -", "[1]").code, 0);
  ExpectOneLineError(Ctl("get /nonexistent/store k"), "no store at");
  ExpectOneLineError(Ctl("get " + dir + " missing"), "no key 'missing'");
  Result bad = Ctl("put " + dir + " broken --json -", "{\n  \"a\": [1, 2,\n}");
  ExpectOneLineError(bad, "line 3, column 1");
  EXPECT_NE(Ctl("get " + dir + " broken").code, 0);  // Nothing written.
  ExpectOneLineError(Ctl("put " + dir + " k --json /nonexistent.json"),
                     "cannot read /nonexistent.json");
  const std::string file = TempDir("notstore") + "/file";
  WriteFile(file, "not a store");
  ExpectOneLineError(Ctl("ls " + file), "not a directory");
  ExpectOneLineError(Ctl("put " + dir + " k"), "exactly one of");
  EXPECT_EQ(Ctl("get " + dir + " keep").out, "[1]\n");
  // A wrong call: usage on stderr, exit 2.
  Result usage = Ctl("frobnicate");
  EXPECT_EQ(usage.code, 2);
  EXPECT_NE(usage.err.find("usage: ancientctl"), std::string::npos);
  EXPECT_EQ(Ctl("get " + dir).code, 2);
  EXPECT_EQ(Ctl("").code, 2);
}

TEST(Ancientctl, HelpForEachCommand) {
  // The one-line usage's names: "usage: ancientctl a|b|c ARGS ...".
  const std::string usage = Ctl("").err;
  const std::size_t from = usage.find("ancientctl ") + 11;
  const std::string names =
      "|" + usage.substr(from, usage.find(" ARGS") - from) + "|";
  const Result help = Ctl("--help");
  for (const char* c :
       {"put", "get", "ls", "schema", "dump", "load", "rm", "stat", "verify",
        "copy", "migrate", "publish", "follow", "status", "demo"}) {
    Result r = Ctl(std::string(c) + " --help");
    EXPECT_EQ(r.code, 0) << c;
    EXPECT_NE(r.out.find(std::string("usage: ancientctl ") + c),
              std::string::npos)
        << r.out;
    // The one-line usage and the command list name every command.
    EXPECT_NE(names.find(std::string("|") + c + "|"), std::string::npos)
        << c << " missing from " << usage;
    EXPECT_NE(help.out.find(std::string("  ") + c + " "), std::string::npos)
        << c << " missing from " << help.out;
  }
}

TEST(Ancientctl, PublishFollowStatus) {
  const std::string root = TempDir("publish");
  const std::string src = root + "/src", repo = root + "/repo",
                    local = root + "/local";
  ASSERT_EQ(Ctl("put " + src + " doc --json -", R"({"v": 1})").code, 0);
  Result p = Ctl("publish " + src + " " + repo);
  EXPECT_EQ(p.code, 0) << p.err;
  EXPECT_NE(p.out.find("published version 1"), std::string::npos) << p.out;
  ASSERT_EQ(Ctl("put " + src + " doc --json -", R"({"v": 2})").code, 0);
  p = Ctl("publish " + src + " " + repo + " --keep 1 --grace 0");
  EXPECT_NE(p.out.find("published version 2"), std::string::npos) << p.out;
  EXPECT_NE(p.out.find("removed old versions 1"), std::string::npos) << p.out;
  Result f = Ctl("follow " + repo + " " + local + " --once");
  EXPECT_EQ(f.code, 0) << f.err;
  EXPECT_NE(f.out.find("version 2 fetched, checked and made current: 68 "
                       "bytes fetched of 68 in the version (1 roots placed, 0 "
                       "removed)"),
            std::string::npos)
      << f.out;
  // Publishing an unchanged store makes no version.
  p = Ctl("publish " + src + " " + repo);
  EXPECT_NE(p.out.find("nothing changed: version 2 stays announced"),
            std::string::npos)
      << p.out;
  Result rs = Ctl("status " + repo);
  EXPECT_EQ(rs.code, 0) << rs.err;
  EXPECT_NE(rs.out.find("announced: 2\n"), std::string::npos) << rs.out;
  EXPECT_NE(rs.out.find("versions kept: 1\n"), std::string::npos) << rs.out;
  EXPECT_NE(rs.out.find("version 2: 68 bytes, 68 new, made "),
            std::string::npos)
      << rs.out;
  Result ls = Ctl("status " + local);
  EXPECT_NE(ls.out.find("current: 2\npinned: none\n"), std::string::npos)
      << ls.out;
  EXPECT_NE(ls.out.find("0 readers"), std::string::npos) << ls.out;
  // The local version is an ordinary store: readable by the other commands.
  EXPECT_EQ(Ctl("get " + local + "/store doc").out, "{\"v\":2}\n");
  // Errors: one line naming the path.
  ExpectOneLineError(Ctl("follow " + root + "/nowhere " + local + " --once"),
                     root + "/nowhere");
  ExpectOneLineError(Ctl("status " + root), root);
  ExpectOneLineError(Ctl("publish " + root + "/nostore " + repo), "nostore");
}

TEST(Ancientctl, SchemaAndLsLongReadTypesFromTheStore) {
  const std::string root = TempDir("schema");
  WriteFile(root + "/words", "car\ncart\n");
  ASSERT_EQ(Ctl("demo " + root + "/store --words " + root +
                "/words "
                "--readers 1")
                .code,
            0);
  const std::string trie =
      "struct ancientctl_demo::TrieNode { bool word; map<char, "
      "ptr<ancientctl_demo::TrieNode>> next; }";
  Result s = Ctl("schema " + root + "/store words-trie");
  EXPECT_EQ(s.code, 0) << s.err;
  EXPECT_EQ(s.out, trie + "\n");
  ASSERT_EQ(Ctl("put " + root + "/store lines --lines -", "a\nb\n").code, 0);
  Result ls = Ctl("ls " + root + "/store -l");
  EXPECT_EQ(ls.code, 0) << ls.err;
  EXPECT_NE(ls.out.find("\tvector<string>\t"), std::string::npos) << ls.out;
  EXPECT_NE(ls.out.find("\t" + trie + "\n"), std::string::npos) << ls.out;
  EXPECT_EQ(Ctl("schema " + root + "/store lines").out, "vector<string>\n");
  ExpectOneLineError(Ctl("schema " + root + "/store nokey"), "nokey");
}

// Runs a program of one release of the cities type (evolution_helper.cc).
std::string Release(int n, const std::string& args) {
  const std::string cmd =
      ancient_test::Runfile("tests/evolution_helper_v" + std::to_string(n)) +
      " " + args + " 2>&1";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[256];
  while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) out += buf;
  if (p != nullptr) pclose(p);
  return out;
}

TEST(Ancientctl, MigrateAStoreToTheNextReleaseAheadOfTime) {
  const std::string root = TempDir("migrate");
  const std::string a = root + "/a", b = root + "/b", c = root + "/c";
  Release(1, "share " + a + " 10");
  Release(2, "share " + b + " 10");
  // The new release reads the old store converted.
  EXPECT_EQ(
      Release(2, "read " + a),
      "COUNT 10 POP 45000 FOUNDED 1143 CONVERTED 1 WRONG 0 DEFAULTED 10\n");
  // stat says when a type is in a store in more than one layout.
  EXPECT_EQ(Ctl("stat " + a).out.find(" layouts"), std::string::npos);
  Release(1, "share " + c + " 3 old");
  Release(2, "share " + c + " 3 new");
  Result mixed = Ctl("stat " + c);
  EXPECT_EQ(mixed.code, 0) << mixed.err;
  EXPECT_NE(mixed.out.find("type map<string,geo::City> in 2 layouts"),
            std::string::npos)
      << mixed.out;
  // The target type from another store's root...
  Result m = Ctl("migrate " + a + " cities --like " + b + ":cities");
  ASSERT_EQ(m.code, 0) << m.err;
  EXPECT_NE(m.out.find("cities: map<string,geo::City> ("), std::string::npos)
      << m.out;
  // ...after which the new release reads in place, with the fields the old
  // release lacked zero (ancientctl has no C++ defaults), and the old one
  // reads it converted.
  EXPECT_EQ(Release(2, "read " + a),
            "COUNT 10 POP 45000 FOUNDED 0 CONVERTED 0 WRONG 0 DEFAULTED 0\n");
  EXPECT_EQ(Release(1, "read " + a),
            "COUNT 10 POP 45000 FOUNDED -1 CONVERTED 1 WRONG 0 DEFAULTED 10\n");
  EXPECT_EQ(Ctl("verify " + a).code, 0);
  // ...or from a file, as `schema --description` prints it.
  Result d = Ctl("schema " + b + " cities --description");
  ASSERT_EQ(d.code, 0) << d.err;
  EXPECT_EQ(d.out.rfind("ancient/", 0), 0u) << d.out;
  WriteFile(root + "/v2.type", d.out);
  Result again = Ctl("migrate " + a + " cities --type " + root + "/v2.type");
  EXPECT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("nothing written"), std::string::npos) << again.out;
  ASSERT_EQ(Ctl("migrate " + c + " old --type " + root + "/v2.type").code, 0);
  EXPECT_EQ(Ctl("stat " + c).out.find(" layouts"), std::string::npos);
  // Errors: one line, naming what is wrong; nothing changes.
  ExpectOneLineError(Ctl("migrate " + a + " cities"), "--type");
  ExpectOneLineError(Ctl("migrate " + a + " nokey --like " + b + ":cities"),
                     "nokey");
  ExpectOneLineError(Ctl("migrate " + a + " cities --like " + b + ":nokey"),
                     "nokey");
  WriteFile(root + "/narrow.type", "ancient/1;le;p64;vector<i8>");
  ExpectOneLineError(
      Ctl("migrate " + a + " cities --type " + root + "/narrow.type"),
      "cannot");
  EXPECT_EQ(Release(2, "read " + a),
            "COUNT 10 POP 45000 FOUNDED 0 CONVERTED 0 WRONG 0 DEFAULTED 0\n");
}

TEST(Ancientctl, GetDumpAndLoadStructRootsWithoutTheirType) {
  const std::string root = TempDir("dump");
  WriteFile(root + "/words", "car\ncart\n");
  const std::string a = root + "/a", b = root + "/b";
  ASSERT_EQ(Ctl("demo " + a + " --words " + root + "/words --readers 1").code,
            0);
  ASSERT_EQ(Ctl("put " + a + " doc --json -", R"({"x":[1,2.5]})").code, 0);
  ASSERT_EQ(Ctl("put " + a + " lines --lines -", "l1\nl2\n").code, 0);
  const std::string trie =
      R"({"word":false,"next":{"c":{"word":false,"next":{"a":{"word":false,)"
      R"("next":{"r":{"word":true,"next":{"t":{"word":true,"next":{}}}}}}}}}})";
  Result get = Ctl("get " + a + " words-trie");
  ASSERT_EQ(get.code, 0) << get.err;
  EXPECT_EQ(get.out, trie + "\n");
  EXPECT_EQ(
      Ctl("get " + a + " words-trie --path next.c.next.a.next.r.word").out,
      "true\n");
  EXPECT_EQ(Ctl("get " + a + " lines --path 1").out, "\"l2\"\n");
  EXPECT_NE(
      Ctl("get " + a + " words-trie --pretty").out.find("\n  \"next\": {"),
      std::string::npos);
  ExpectOneLineError(Ctl("get " + a + " words-trie --path next.z"),
                     "has no part 'z'");

  Result dump = Ctl("dump " + a);
  ASSERT_EQ(dump.code, 0) << dump.err;
  EXPECT_EQ(dump.out.substr(0, dump.out.find('\n')),
            R"({"ancient_dump":1,"platform":"ancient/1;le;p64"})");
  EXPECT_NE(dump.out.find(R"({"key":"words-trie","type":"ancient/1;le;p64;)"
                          R"(ancientctl_demo::TrieNode{)"),
            std::string::npos)
      << dump.out;
  WriteFile(root + "/dump", dump.out);
  Result load = Ctl("load " + b + " " + root + "/dump");
  ASSERT_EQ(load.code, 0) << load.err;
  EXPECT_NE(load.out.find("loaded 3 roots"), std::string::npos) << load.out;
  EXPECT_EQ(Ctl("dump " + b).out, dump.out);  // dump -> load -> dump
  EXPECT_EQ(Ctl("get " + b + " words-trie").out, trie + "\n");
  EXPECT_EQ(Ctl("get " + b + " lines").out, "l1\nl2\n");
  EXPECT_EQ(Ctl("verify " + b).code, 0);
  EXPECT_EQ(Ctl("schema " + b + " words-trie").out,
            Ctl("schema " + a + " words-trie").out);
  // Through a pipe, with a prefix.
  Result part = Ctl("dump " + a + " words");
  ASSERT_EQ(part.code, 0);
  ASSERT_EQ(Ctl("load " + root + "/c -", part.out).code, 0);
  EXPECT_EQ(Ctl("ls " + root + "/c").out.find("doc"), std::string::npos);

  // Refusals load nothing: existing keys, bad lines, a foreign platform.
  ExpectOneLineError(Ctl("load " + b + " " + root + "/dump"),
                     "holds 'doc' already");
  EXPECT_EQ(Ctl("load " + b + " " + root + "/dump --replace").code, 0);
  const std::string header = dump.out.substr(0, dump.out.find('\n') + 1);
  const std::string d = root + "/d";
  ExpectOneLineError(
      Ctl("load " + d + " -",
          header +
              R"({"key":"ok","type":"ancient/1;le;p64;i32","value":1})"
              "\n" +
              R"({"key":"bad","type":"ancient/1;le;p64;i8","value":300})"
              "\n"),
      "stdin:3: key 'bad': $: expected an integer that fits i8, found 300");
  EXPECT_EQ(Ctl("ls " + d).out, "");  // "ok" was not loaded either
  ExpectOneLineError(Ctl("load " + d + " -",
                         "{\"ancient_dump\":1,"
                         "\"platform\":\"ancient/1;be;p32\"}\n"),
                     "written for ancient/1;be;p32");
  ExpectOneLineError(Ctl("load " + d + " -", "not json\n"),
                     "not an ancient dump");
}

TEST(Ancientctl, StoreHeldByDeadWriter) {
  const std::string dir = TempDir("deadwriter") + "/store";
  ASSERT_EQ(Ctl("put " + dir + " before --json -", "1").code, 0);
  ancient_test::Child w = ancient_test::Spawn(
      {ancient_test::Runfile("tests/store_helper"), "hold-write", dir});
  std::string line;
  ASSERT_TRUE(ancient_test::ReadLine(w.out, &line));
  ASSERT_EQ(line, "LOCKED");
  kill(w.pid, SIGKILL);
  ancient_test::Wait(w);
  // LMDB's robust lock recovers from the dead writer; its half batch is gone.
  Result put = Ctl("put " + dir + " after --json -", "2");
  EXPECT_EQ(put.code, 0) << put.err;
  EXPECT_EQ(Ctl("get " + dir + " before").out, "1\n");
  EXPECT_EQ(Ctl("get " + dir + " after").out, "2\n");
  EXPECT_NE(Ctl("get " + dir + " half-written").code, 0);
  EXPECT_EQ(Ctl("verify " + dir).code, 0);
}

TEST(Ancientctl, DemoOnSmallWordList) {
  const std::string words = TempDir("demowords") + "/words";
  WriteFile(words, "apple\napply\nbanana\nband\nbandana\ncar\ncart\n");
  Result r = Ctl("demo --words " + words + " --readers 2");
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("load 7 words"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reader 2: ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("every reader found every word and no non-word"),
            std::string::npos)
      << r.out;
}

}  // namespace
