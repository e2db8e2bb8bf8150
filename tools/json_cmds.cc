#include "tools/json_cmds.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "ancient/schema/schema.h"
#include "ancient/schema/schema_graph.h"
#include "store/store.h"
#include "tools/cli_util.h"

ABSL_FLAG(bool, replace, false, "load: replace keys the store holds already");
ABSL_FLAG(std::string, type, "",
          "migrate: a file holding the target type's description (as "
          "`schema --description` prints it; '-': stdin)");
ABSL_FLAG(std::string, like, "",
          "migrate: STORE:KEY, a root whose recorded type is the target");

namespace ancientctl {
namespace {

// The first line of a dump.
constexpr int kDumpVersion = 1;

std::string Header() {
  return absl::StrFormat("{\"ancient_dump\":%d,\"platform\":%s}\n",
                         kDumpVersion,
                         ancient::JsonBytes(ancient::Schema::NativePlatform()));
}

}  // namespace

int DumpCommand(const std::vector<std::string>& args) {
  ancient::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto store = ancient::Store::Open(args[0], o);
  if (!store.ok()) return Fail(store.status());
  auto snap = (*store)->Read();  // one consistent view for the whole dump
  if (!snap.ok()) return Fail(snap.status());
  auto roots = snap->List(args.size() > 1 ? args[1] : "");
  if (!roots.ok()) return Fail(roots.status());
  WriteOut(Header());
  for (const ancient::RootInfo& r : *roots) {
    absl::StatusOr<std::string> type = snap->TypeDescription(r.key);
    if (!type.ok()) return Fail(type.status());
    WriteOut(absl::StrCat("{\"key\":", ancient::JsonBytes(r.key), ",\"type\":",
                          ancient::JsonBytes(*type), ",\"value\":"));
    absl::Status s = snap->WriteJson(r.key, {}, WriteOut);
    if (!s.ok()) {
      WriteOut("\n");
      return Fail(s);
    }
    WriteOut("}\n");
  }
  if (std::fflush(stdout) != 0) return Fail("writing the dump failed");
  return kExitOk;
}

int LoadCommand(const std::vector<std::string>& args) {
  const std::string path = args.size() > 1 ? args[1] : "-";
  std::ifstream file;
  if (path != "-") {
    file.open(path);
    if (!file) return Fail("cannot read " + path);
  }
  std::istream& in = path == "-" ? std::cin : file;
  const std::string source = path == "-" ? "stdin" : path;
  std::string line;
  if (!std::getline(in, line)) return Fail(source + ": empty, not a dump");
  const nlohmann::json header = nlohmann::json::parse(line, nullptr, false);
  if (header.is_discarded() || !header.is_object() ||
      header.value("ancient_dump", 0) != kDumpVersion) {
    return Fail(source + ": line 1 is not an ancient dump header");
  }
  const std::string platform = header.value("platform", "");
  if (platform != ancient::Schema::NativePlatform()) {
    return Fail(
        absl::StrFormat("%s: the dump was written for %s; this build writes %s",
                        source, platform, ancient::Schema::NativePlatform()));
  }
  auto store = ancient::Store::Open(args[0], CreatingOptions());
  if (!store.ok()) return Fail(store.status());
  auto batch = (*store)->Write();  // every root, or none
  if (!batch.ok()) return Fail(batch.status());
  auto snap = (*store)->Read();
  if (!snap.ok()) return Fail(snap.status());
  const bool replace = absl::GetFlag(FLAGS_replace);
  const auto t0 = std::chrono::steady_clock::now();
  std::set<std::string> seen;
  std::uint64_t bytes = line.size() + 1, count = 0;
  for (int n = 2; std::getline(in, line); ++n) {
    bytes += line.size() + 1;
    if (line.empty()) continue;
    const std::string where = absl::StrFormat("%s:%d", source, n);
    // The key and type (the value is skipped here: ShareJson builds the
    // graph from the line's "value" in its own single parse).
    bool has_value = false;
    const nlohmann::json j = nlohmann::json::parse(
        line,
        [&](int depth, nlohmann::json::parse_event_t event,
            nlohmann::json& parsed) {
          if (depth == 1 && event == nlohmann::json::parse_event_t::key &&
              parsed == "value") {
            has_value = true;
            return false;  // the member and its value are dropped
          }
          return true;
        },
        false);
    if (j.is_discarded() || !j.is_object() || !j.contains("key") ||
        !j.contains("type") || !j["type"].is_string() || !has_value) {
      return Fail(where +
                  ": expected {\"key\": ..., \"type\": ..., "
                  "\"value\": ...}");
    }
    absl::StatusOr<std::string> key = ancient::ParseJsonBytes(j["key"].dump());
    if (!key.ok()) {
      return Fail(where + ": \"key\": " + std::string(key.status().message()));
    }
    if (!seen.insert(*key).second) {
      return Fail(where + ": key '" + *key + "' given twice; nothing loaded");
    }
    if (!replace && snap->Info(*key).ok()) {
      return Fail(where + ": the store holds '" + *key +
                  "' already (--replace to replace); nothing loaded");
    }
    absl::StatusOr<ancient::ShareInfo> info =
        batch->ShareJson(*key, j["type"].get<std::string>(), line, "value");
    if (!info.ok()) {
      return Fail(where + ": " + std::string(info.status().message()) +
                  "; nothing loaded");
    }
    ++count;
  }
  if (absl::Status s = batch->Commit(); !s.ok()) return Fail(s);
  std::printf("loaded %lu roots (%lu bytes of JSON) in %.3f s\n",
              static_cast<unsigned long>(count),
              static_cast<unsigned long>(bytes), SecondsSince(t0));
  return kExitOk;
}

namespace {

// The target type of `migrate`: from --type FILE or --like STORE:KEY.
absl::StatusOr<std::string> TargetType() {
  const std::string file = absl::GetFlag(FLAGS_type);
  const std::string like = absl::GetFlag(FLAGS_like);
  if (file.empty() == like.empty()) {
    return absl::InvalidArgumentError(
        "migrate needs exactly one of --type FILE or --like STORE:KEY");
  }
  if (!file.empty()) {
    absl::StatusOr<std::string> d = ReadInput(file);
    if (!d.ok()) return d.status();
    while (!d->empty() && (d->back() == '\n' || d->back() == '\r')) {
      d->pop_back();
    }
    return d;
  }
  const std::size_t colon = like.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == like.size()) {
    return absl::InvalidArgumentError("--like wants STORE:KEY, not '" + like +
                                      "'");
  }
  ancient::StoreOptions o;
  o.read_only = true;
  o.create_if_missing = false;
  auto other = ancient::Store::Open(like.substr(0, colon), o);
  if (!other.ok()) return other.status();
  auto snap = (*other)->Read();
  if (!snap.ok()) return snap.status();
  return snap->TypeDescription(like.substr(colon + 1));
}

}  // namespace

int MigrateCommand(const std::vector<std::string>& args) {
  absl::StatusOr<std::string> type = TargetType();
  if (!type.ok()) return Fail(type.status());
  absl::StatusOr<ancient::Schema> schema = ancient::Schema::Parse(*type);
  if (!schema.ok()) {
    return Fail(absl::StrCat("the target type: ", schema.status().message()));
  }
  ancient::StoreOptions o;
  o.create_if_missing = false;
  auto store = ancient::Store::Open(args[0], o);
  if (!store.ok()) return Fail(store.status());
  auto before = (*store)->Read();
  if (!before.ok()) return Fail(before.status());
  auto info = before->Info(args[1]);
  if (!info.ok()) return Fail(info.status());
  absl::StatusOr<ancient::ShareInfo> done = (*store)->Migrate(args[1], *type);
  if (!done.ok()) return Fail(done.status());
  if (info->type_id == ancient::TypeIdOf(*type)) {
    std::printf("%s: already %s; nothing written\n", args[1].c_str(),
                schema->TypeName().c_str());
  } else {
    std::printf("%s: %s (%lu bytes) -> %s (%lu bytes at offset %lu)\n",
                args[1].c_str(), info->type_name.c_str(),
                static_cast<unsigned long>(info->size_bytes),
                schema->TypeName().c_str(),
                static_cast<unsigned long>(done->size_bytes),
                static_cast<unsigned long>(done->offset));
  }
  return kExitOk;
}

}  // namespace ancientctl
