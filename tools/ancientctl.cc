// ancientctl: the store from the shell. See Usage() and the README.

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "ancient/json.h"
#include "store/group_access.h"
#include "store/store.h"
#include "tools/cli_util.h"
#include "tools/demo.h"
#include "tools/json_cmds.h"
#include "tools/replica_cmds.h"

ABSL_FLAG(std::string, json, "",
          "put: a JSON file to store as a Value ('-': stdin)");
ABSL_FLAG(std::string, lines, "",
          "put: a text file to store as strings, one per line ('-': stdin)");
ABSL_FLAG(bool, pretty, false, "get: indent JSON output");
ABSL_FLAG(std::string, path, "",
          "get: print only this part of the root (e.g. next.a.word)");
ABSL_FLAG(bool, compact, false, "copy: pack live graphs together");
ABSL_FLAG(bool, l, false, "ls: add each root's full type (its schema)");
ABSL_FLAG(bool, description, false,
          "schema: print the raw layout description (for migrate --type)");
ABSL_FLAG(int, readers, 4, "demo: reader processes to start");
ABSL_FLAG(std::string, words, "",
          "demo: the word list (default /usr/share/dict/words, else the "
          "bundled list)");

namespace ancientctl {
namespace {

using ancient::Store;
using ancient::StoreOptions;
using Strings = std::vector<std::string>;

struct Command {
  const char* name;
  const char* args;  // after the command name
  const char* help;
  int min_args, max_args;
  int (*run)(const std::vector<std::string>& args);
};

StoreOptions ReadOnly() {
  StoreOptions o;
  o.read_only = true;
  return o;
}

// Opens an existing store (read-only unless `write`).
absl::StatusOr<std::unique_ptr<Store>> OpenExisting(const std::string& dir,
                                                    bool write) {
  StoreOptions o = write ? StoreOptions() : ReadOnly();
  o.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<Store>> store = Store::Open(dir, o);
  if (store.ok()) WarnIfUnsafe(dir);
  return store;
}

int Put(const Strings& a) {
  const std::string json = absl::GetFlag(FLAGS_json);
  const std::string lines = absl::GetFlag(FLAGS_lines);
  if (json.empty() == lines.empty()) {
    return Fail("put needs exactly one of --json FILE or --lines FILE");
  }
  absl::StatusOr<std::string> text = ReadInput(json.empty() ? lines : json);
  if (!text.ok()) return Fail(text.status());
  // Parse before touching the store: bad input writes nothing.
  absl::StatusOr<ancient::Value> value;
  Strings list;
  if (!json.empty()) {
    value = ancient::ParseJson(*text);
    if (!value.ok()) {
      return Fail(absl::StrFormat("%s: %s", json == "-" ? "stdin" : json,
                                  value.status().message()));
    }
  } else {
    list = absl::StrSplit(*text, '\n');
    if (!list.empty() && list.back().empty()) list.pop_back();
    for (auto& l : list) {
      if (!l.empty() && l.back() == '\r') l.pop_back();
    }
  }
  auto store = Store::Open(a[0], CreatingOptions());
  if (!store.ok()) return Fail(store.status());
  absl::StatusOr<ancient::ShareInfo> info = json.empty()
                                                ? (*store)->Share(a[1], list)
                                                : (*store)->Share(a[1], *value);
  if (!info.ok()) return Fail(info.status());
  std::printf("%s: %lu bytes at offset %lu\n", a[1].c_str(),
              static_cast<unsigned long>(info->size_bytes),
              static_cast<unsigned long>(info->offset));
  return kExitOk;
}

// A read-only snapshot of an existing store. (The snapshot keeps the store
// open after its handle is gone.)
absl::StatusOr<ancient::Snapshot> ReadExisting(const std::string& dir) {
  auto store = OpenExisting(dir, false);
  if (!store.ok()) return store.status();
  return (*store)->Read();
}

int Get(const Strings& a) {
  auto snap = ReadExisting(a[0]);
  if (!snap.ok()) return Fail(snap.status());
  auto info = snap->Info(a[1]);
  if (!info.ok()) return Fail(info.status());
  ancient::JsonOptions options;
  options.pretty = absl::GetFlag(FLAGS_pretty);
  options.path = absl::GetFlag(FLAGS_path);
  if (options.path.empty() &&
      info->type_id == ancient::TypeId<ancient::Value>()) {
    auto v = snap->GetVerified<ancient::Value>(a[1]);
    if (!v.ok()) return Fail(v.status());
    std::printf("%s\n", ancient::ToJson(**v, options.pretty).c_str());
  } else if (options.path.empty() &&
             info->type_id == ancient::TypeId<Strings>()) {
    // What put --lines stored: the lines back.
    auto v = snap->GetVerified<Strings>(a[1]);
    if (!v.ok()) return Fail(v.status());
    for (const ancient::String& s : **v) {
      WriteOut(s);
      std::fputc('\n', stdout);
    }
  } else {
    // Any other root: JSON through the type the store recorded.
    absl::Status s = snap->WriteJson(a[1], options, WriteOut);
    if (!s.ok()) return Fail(s);
    std::fputc('\n', stdout);
  }
  return kExitOk;
}

// The root's type, readably (ancient::Schema), from the store's record.
absl::StatusOr<std::string> SchemaText(const ancient::Snapshot& snap,
                                       const std::string& key) {
  absl::StatusOr<std::string> d = snap.TypeDescription(key);
  if (!d.ok()) {
    if (absl::IsNotFound(d.status()) && snap.Info(key).ok()) {
      return absl::NotFoundError("type not recorded: '" + key +
                                 "' was shared before stores recorded types");
    }
    return d.status();
  }
  absl::StatusOr<ancient::Schema> s = ancient::Schema::Parse(*d);
  if (!s.ok()) return s.status();
  return s->ToString();
}

int Ls(const Strings& a) {
  auto snap = ReadExisting(a[0]);
  if (!snap.ok()) return Fail(snap.status());
  auto roots = snap->List(a.size() > 1 ? a[1] : "");
  if (!roots.ok()) return Fail(roots.status());
  const bool full = absl::GetFlag(FLAGS_l);
  for (const auto& r : *roots) {
    std::printf("%s\t%s\t%lu", r.key.c_str(), r.type_name.c_str(),
                static_cast<unsigned long>(r.size_bytes));
    if (full) {
      absl::StatusOr<std::string> schema = SchemaText(*snap, r.key);
      std::string line =
          schema.ok() ? *schema
                      : "(" + std::string(schema.status().message()) + ")";
      std::replace(line.begin(), line.end(), '\n', ' ');
      while (!line.empty() && line.back() == ' ') line.pop_back();
      std::printf("\t%s", line.c_str());
    }
    std::printf("\n");
  }
  return kExitOk;
}

int SchemaCommand(const Strings& a) {
  auto snap = ReadExisting(a[0]);
  if (!snap.ok()) return Fail(snap.status());
  if (absl::GetFlag(FLAGS_description)) {
    absl::StatusOr<std::string> d = snap->TypeDescription(a[1]);
    if (!d.ok()) return Fail(d.status());
    std::printf("%s\n", d->c_str());
    return kExitOk;
  }
  absl::StatusOr<std::string> schema = SchemaText(*snap, a[1]);
  if (!schema.ok()) return Fail(schema.status());
  std::printf("%s", schema->c_str());
  return kExitOk;
}

int Rm(const Strings& a) {
  auto store = OpenExisting(a[0], true);
  if (!store.ok()) return Fail(store.status());
  absl::Status s = (*store)->Delete(a[1]);
  if (!s.ok()) return Fail(s);
  return kExitOk;
}

int Stat(const Strings& a) {
  auto store = OpenExisting(a[0], false);
  if (!store.ok()) return Fail(store.status());
  auto st = (*store)->Stats();
  if (!st.ok()) return Fail(st.status());
  std::printf(
      "roots: %lu\nbytes live: %lu\nbytes free: %lu\nbytes pending: %lu\n"
      "bytes never used: %lu\narena size: %lu\narena file: %lu\n"
      "lmdb file: %lu\nbase address: %#lx\nmax size: %lu\nreaders: %lu\n"
      "relocated: %s\ngraphs relocated: %lu\nbytes relocated: %lu\n"
      "address space reserved: %lu\n",
      st->roots, st->bytes_live, st->bytes_free, st->bytes_pending,
      st->bytes_never_used, st->arena_size, st->arena_file_bytes,
      st->lmdb_file_bytes, st->base_address, st->max_size, st->readers,
      st->relocated ? "yes" : "no", st->graphs_relocated, st->bytes_relocated,
      st->address_reserved);
  PrintAccess(a[0]);
  // Types shared in more than one layout: a program reads the roots of the
  // layouts it was not built with converted (once per graph, in private
  // memory) until they are migrated.
  auto snap = (*store)->Read();
  if (!snap.ok()) return Fail(snap.status());
  auto roots = snap->List();
  if (!roots.ok()) return Fail(roots.status());
  std::map<std::string, std::map<std::uint64_t, int>> layouts;
  for (const auto& r : *roots) ++layouts[r.type_name][r.type_id];
  for (const auto& [name, ids] : layouts) {
    if (ids.size() < 2) continue;
    std::printf("type %s in %zu layouts:", name.c_str(), ids.size());
    for (const auto& [id, n] : ids) {
      std::printf(" %#lx (%d roots)", static_cast<unsigned long>(id), n);
    }
    std::printf(
        " -- readers convert the layouts they were not built with; "
        "see `ancientctl migrate`\n");
  }
  return kExitOk;
}

int Verify(const Strings& a) {
  auto store = OpenExisting(a[0], false);
  if (!store.ok()) return Fail(store.status());
  // Every root's contents too, by the type the store recorded for it.
  absl::Status s = (*store)->Verify();
  if (!s.ok()) return Fail(s);
  // Roots shared before stores recorded types: the types this tool knows.
  auto snap = (*store)->Read();
  if (!snap.ok()) return Fail(snap.status());
  auto roots = snap->List();
  if (!roots.ok()) return Fail(roots.status());
  for (const auto& r : *roots) {
    if (!absl::IsNotFound(snap->TypeDescription(r.key).status())) continue;
    absl::Status typed;
    if (r.type_id == ancient::TypeId<ancient::Value>()) {
      typed = snap->GetVerified<ancient::Value>(r.key).status();
    } else if (r.type_id == ancient::TypeId<Strings>()) {
      typed = snap->GetVerified<Strings>(r.key).status();
    }
    if (!typed.ok()) return Fail(typed);
  }
  std::printf("%s: ok\n", a[0].c_str());
  return kExitOk;
}

int Copy(const Strings& a) {
  auto store = OpenExisting(a[0], false);
  if (!store.ok()) return Fail(store.status());
  absl::Status s = (*store)->CopyTo(a[1], absl::GetFlag(FLAGS_compact));
  if (s.ok() && !absl::GetFlag(FLAGS_group).empty()) {
    s = ancient::GrantGroup(a[1], absl::GetFlag(FLAGS_group));
  }
  if (!s.ok()) return Fail(s);
  return kExitOk;
}

int RunDemo(const Strings& a) {
  return Demo(a.empty() ? "" : a[0], absl::GetFlag(FLAGS_words),
              absl::GetFlag(FLAGS_readers));
}

int RunDemoReader(const Strings& a) { return DemoReader(a); }

const Command kCommands[] = {
    {"put", "DIR KEY (--json FILE | --lines FILE) [--group NAME]",
     "Stores a JSON document as an ancient::Value, or a text file as a vector "
     "of strings (one per line), at KEY. FILE '-' reads stdin. Creates the "
     "store when missing. The input is parsed in full before the store is "
     "touched: bad input writes nothing. --group NAME: the store is given "
     "to a group whose accounts may read it (default: the owner alone).",
     2, 2, Put},
    {"get", "DIR KEY [--pretty] [--path PATH]",
     "Prints the root at KEY as JSON (indented with --pretty), read through "
     "the type the store recorded (no C++ needed): structs as objects, maps "
     "with string keys as objects, pointers followed, shared objects as "
     "$id/$ref (README, 'Inspecting, dumping and loading'). --path prints a "
     "part: dot-separated fields, keys and indexes, e.g. next.a.word. A "
     "strings root (put --lines) prints one string per line unless --path.",
     2, 2, Get},
    {"ls", "DIR [PREFIX] [-l]",
     "Lists keys (starting with PREFIX) with type and size; with -l, each "
     "root's full type as the store recorded it.",
     1, 2, Ls},
    {"schema", "DIR KEY [--description]",
     "Prints the type of the root at KEY, C++-like (struct definitions with "
     "their fields), as the store recorded it: no C++ definition needed. "
     "With --description, the raw layout description instead (what "
     "`migrate --type` and `dump` use).",
     2, 2, SchemaCommand},
    {"migrate", "DIR KEY (--type FILE | --like STORE:KEY)",
     "Rewrites the root at KEY in another version of its type, in one "
     "commit, so that programs built with that version read it in place "
     "again: fields matched by name, numbers widened, the rules of "
     "README's 'Changing types'. Fields the old type lacks become zero or "
     "empty (no C++ defaults here; Store::Migrate<T> uses T's). The target "
     "type: a file holding its description (`schema --description`), or the "
     "type of the root KEY of another store. Readers holding the old version "
     "keep it until they let go.",
     2, 2, MigrateCommand},
    {"dump", "DIR [PREFIX]",
     "Writes every root (starting with PREFIX) as JSON lines on stdout: a "
     "header line, then {\"key\": ..., \"type\": DESCRIPTION, \"value\": "
     "...} per root, from one consistent snapshot. `load` reads it back.",
     1, 2, DumpCommand},
    {"load", "DIR [FILE] [--replace] [--group NAME]",
     "Reads a dump (FILE, or stdin) into the store DIR (created when "
     "missing), building each graph from its JSON and type without the C++ "
     "type, in one atomic commit: any error loads nothing. Keys the store "
     "holds already are refused unless --replace. --group as for put.",
     1, 2, LoadCommand},
    {"rm", "DIR KEY", "Deletes KEY.", 2, 2, Rm},
    {"stat", "DIR",
     "Prints the store's statistics, and its access: owner, group and the "
     "mode of each file, and UNSAFE lines for files other accounts can "
     "write.",
     1, 1, Stat},
    {"verify", "DIR",
     "Checks the whole store. Exit 0 when sound; exit 1 with the first damage "
     "found.",
     1, 1, Verify},
    {"copy", "SRC DST [--compact] [--group NAME]",
     "Copies the store SRC to the new directory DST, consistently, while "
     "writers go on. --compact packs live graphs together. --group gives DST "
     "to a group whose accounts may read it.",
     2, 2, Copy},
    {"publish", "STORE REPO [--keep N] [--grace SECONDS] [--group NAME]",
     "Publishes STORE as the next version in the repository REPO (a "
     "directory, or s3://BUCKET/PREFIX on S3-compatible object storage, "
     "reached as AWS tools are: AWS_* variables and profiles): writes only "
     "the "
     "roots REPO does not hold (each checked, as an object named by its "
     "content) and a manifest, then announces it atomically; nothing when "
     "no root changed. Prints the bytes written. Versions beyond the newest "
     "--keep (5) are removed once superseded for --grace seconds (600), then "
     "the objects no kept version names. --group: a directory repository is "
     "given to a group whose accounts may follow it (read only).",
     2, 2, PublishCommand},
    {"follow",
     "REPO LOCAL [--once] [--interval SECONDS] [--pin V | --unpin] "
     "[--group NAME]",
     "On a reader host: applies each newly announced (or the pinned) version "
     "of REPO to the store in LOCAL, fetching only the roots it lacks (each "
     "checked against its name and type), in one atomic commit. Prints the "
     "bytes fetched. Runs every --interval seconds (5) until SIGTERM or "
     "SIGINT (a round under way finishes first; then exit 0), or once "
     "with --once. A damaged or missing object is refused and the current "
     "version kept. REPO may be s3://BUCKET/PREFIX (an unchanged "
     "repository costs one conditional GET per round). Readers use "
     "ancient::Replica on LOCAL; --group gives LOCAL to a group whose "
     "accounts read it (read-only).",
     2, 2, FollowCommand},
    {"keep", "REPO VERSION [--release]",
     "Keeps VERSION in the repository REPO (a directory or s3://...) through "
     "every publisher's garbage collection whatever --keep says, as for a "
     "fleet pinned back to it; --release lets it go again.",
     2, 2, KeepCommand},
    {"status", "DIR",
     "Shows a repository's (a directory or s3://BUCKET/PREFIX) announced "
     "version and the versions it keeps (their bytes and the bytes each "
     "added), or a local directory's current and pinned versions (with "
     "readers) and, when it follows an S3 repository, its last poll.",
     1, 1, StatusCommand},
    {"demo", "[DIR] [--words FILE] [--readers N]",
     "Builds a trie of a word list, shares it, and starts reader processes "
     "that attach read-only and look words up, showing times and memory. "
     "Default DIR: a temporary directory, removed afterwards.",
     0, 1, RunDemo},
    {"demo-reader", "DIR KEY WORDS START_NS", nullptr, 4, 4, RunDemoReader},
};

// One line on stderr naming every command (from kCommands, so that none is
// left out).
void Usage() {
  std::string names;
  for (const Command& c : kCommands) {
    if (c.help == nullptr) continue;  // internal
    if (!names.empty()) names += '|';
    names += c.name;
  }
  std::fprintf(stderr,
               "usage: ancientctl %s ARGS (ancientctl COMMAND --help)\n",
               names.c_str());
}

void CommandHelp(const Command& c) {
  std::printf("usage: ancientctl %s %s\n\n%s\n", c.name, c.args,
              c.help ? c.help : "(internal)");
}

}  // namespace
}  // namespace ancientctl

int main(int argc, char** argv) {
  using namespace ancientctl;
  // Under `bazel run`, relative paths mean the caller's directory.
  if (const char* wd = std::getenv("BUILD_WORKING_DIRECTORY")) {
    if (chdir(wd) != 0) return Fail(std::string("cannot enter ") + wd);
  }
  if (argc < 2) {
    Usage();
    return kExitUsage;
  }
  const std::string_view name = argv[1];
  const Command* command = nullptr;
  for (const Command& c : kCommands) {
    if (name == c.name) command = &c;
  }
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--help") == 0 ||
        std::strcmp(argv[i], "-h") == 0) {
      if (command != nullptr) {
        CommandHelp(*command);
      } else {
        std::printf("usage: ancientctl COMMAND ARGS\n\ncommands:\n");
        for (const Command& c : kCommands) {
          if (c.help) std::printf("  %-7s %s\n", c.name, c.args);
        }
      }
      return kExitOk;
    }
  }
  if (command == nullptr) {
    Usage();
    return kExitUsage;
  }
  absl::SetProgramUsageMessage("ancientctl COMMAND ARGS");
  // "--json -" means stdin; joined as "--json=-" so that Abseil does not
  // warn that the value looks like a flag.
  std::vector<std::string> joined;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--json" || arg == "--lines") && i + 1 < argc &&
        std::string_view(argv[i + 1]) == "-") {
      joined.push_back(std::string(arg) + "=-");
      ++i;
    } else {
      joined.emplace_back(arg);
    }
  }
  std::vector<char*> joined_argv;
  for (auto& s : joined) joined_argv.push_back(s.data());
  std::vector<char*> rest = absl::ParseCommandLine(
      static_cast<int>(joined_argv.size()), joined_argv.data());
  std::vector<std::string> args(rest.begin() + 1, rest.end());
  if (static_cast<int>(args.size()) < command->min_args ||
      static_cast<int>(args.size()) > command->max_args) {
    std::fprintf(stderr, "usage: ancientctl %s %s\n", command->name,
                 command->args);
    return kExitUsage;
  }
  return command->run(args);
}
