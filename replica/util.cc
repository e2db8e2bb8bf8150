// Shared by publish.cc, follow.cc and replica.cc; see replica_util.h.

#include "replica/util.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "replica/file_util.h"
#include "store/core.h"
#include "store/strings.h"

namespace ancient::replica_internal {

using store_internal::Cat;
using store_internal::Core;
using store_internal::ReadMeta;
using store_internal::ReadTxn;
using store_internal::RootRecord;

std::string VersionName(std::uint64_t v) { return absl::StrFormat("%010d", v); }

std::string VersionFileText(std::uint64_t v) {
  return absl::StrFormat("version %d\n", v);
}

absl::StatusOr<std::optional<std::uint64_t>> ReadVersionFile(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return std::nullopt;
    return text.status();
  }
  return ParseVersionText(*text, path);
}

absl::StatusOr<std::uint64_t> ParseVersionText(const std::string& text,
                                               const std::string& what) {
  std::uint64_t v = 0;
  absl::string_view t(text.data(), text.size());
  if (!absl::ConsumePrefix(&t, "version ") ||
      !absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(t), &v) || v == 0) {
    return absl::DataLossError(
        Cat(what, " does not hold 'version N' (", text.substr(0, 40), ")"));
  }
  return v;
}

absl::StatusOr<std::vector<std::uint64_t>> ListVersions(
    const std::string& dir) {
  std::vector<std::uint64_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return FileError(errno, "opendir " + dir);
  }
  while (dirent* e = ::readdir(d)) {
    std::uint64_t v;
    const std::string name = e->d_name;
    if (!name.empty() &&
        std::all_of(name.begin(), name.end(),
                    [](char c) { return c >= '0' && c <= '9'; }) &&
        absl::SimpleAtoi(name, &v) && v > 0) {
      out.push_back(v);
    }
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::unique_ptr<Store>> OpenExisting(const std::string& dir,
                                                    bool convert_types) {
  StoreOptions o;
  o.read_only = true;
  o.convert_types = convert_types;
  o.create_if_missing = false;
  return Store::Open(dir, o);
}

absl::StatusOr<std::vector<RootInfo>> VerifyCopy(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenExisting(dir);
  if (!store.ok()) return store.status();
  absl::Status s = (*store)->Verify();
  if (!s.ok()) return s;
  absl::StatusOr<Snapshot> snap = (*store)->Read();
  if (!snap.ok()) return snap.status();
  return snap->List();
}

std::uint64_t ReadersOf(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenExisting(dir);
  if (!store.ok()) return 0;
  absl::StatusOr<StoreStats> st = (*store)->Stats();
  return st.ok() ? st->readers : 1;  // Unsure: keep it.
}

absl::Status MakeLayout(const std::string& dir, const char* format,
                        const char* also, std::string* found) {
  absl::Status s = MakeDir(dir);
  if (s.ok()) s = MakeDir(dir + "/versions");
  if (s.ok()) s = MakeDir(dir + "/tmp");
  if (s.ok() && !Exists(dir + "/FORMAT")) {
    s = WriteFileAtomic(dir, "FORMAT", format);
  }
  if (!s.ok()) return s;
  absl::StatusOr<std::string> text = ReadSmallFile(dir + "/FORMAT");
  if (!text.ok()) return text.status();
  if (found != nullptr) *found = *text;
  if (*text != format && (also == nullptr || *text != also)) {
    return absl::FailedPreconditionError(
        Cat(dir, " is not an ancient ",
            format == kRepoFormat ? "repository" : "local replica directory",
            " (its FORMAT says '", text->substr(0, 40), "')"));
  }
  return absl::OkStatus();
}

void RemoveStaleTmp(const std::string& dir, double max_age) {
  const std::int64_t now = std::time(nullptr);
  for (const std::string& name : ListNames(dir + "/tmp")) {
    const std::string path = dir + "/tmp/" + name;
    int pid = 0;
    const std::size_t dot = name.rfind('.');
    const bool dead = dot != std::string::npos &&
                      absl::SimpleAtoi(name.substr(dot + 1), &pid) && pid > 0 &&
                      ::kill(pid, 0) != 0 && errno == ESRCH;
    if (dead || now - MtimeSeconds(path) > max_age) RemoveAll(path);
  }
}

absl::StatusOr<std::optional<std::uint64_t>> StoreVersion(const Core& core,
                                                          MDB_txn* txn) {
  absl::StatusOr<std::optional<std::string>> rec =
      ReadMeta(txn, core.meta_db(), kVersionRecord, core.dir());
  if (!rec.ok()) return rec.status();
  if (!*rec) return std::nullopt;
  std::uint64_t v = 0;
  if (!absl::SimpleAtoi(**rec, &v) || v == 0) {
    return absl::DataLossError(Cat("store ", core.dir(),
                                   ": bad replica version record '",
                                   (*rec)->substr(0, 40), "'"));
  }
  return v;
}

}  // namespace ancient::replica_internal

namespace ancient::replica_internal {

absl::StatusOr<ObjectRoot> EntryFor(const ReadTxn& txn, std::string_view key,
                                    const RootRecord& r, std::string_view name,
                                    Manifest* m) {
  auto [type, inserted] = m->types.try_emplace(r.type_id);
  if (inserted) {
    absl::StatusOr<std::string> d = txn.TypeDescriptionOf(r.type_id);
    if (d.ok()) {
      type->second = *std::move(d);
    } else if (!absl::IsNotFound(d.status())) {
      m->types.erase(type);
      return d.status();
    }
  }
  ObjectRoot o;
  o.key = std::string(key);
  o.type_name = std::string(name);
  o.type_id = r.type_id;
  o.graph_size = r.graph_size;
  o.reloc_size = r.reloc_size;
  return o;
}

absl::Status ObjectChecker::Check(std::uint64_t type_id,
                                  const std::string& description,
                                  const GraphBytes& graph,
                                  const std::string& what) {
  if (description.empty()) return absl::OkStatus();
  auto it = schemas_.find(type_id);
  if (it == schemas_.end()) {
    absl::StatusOr<Schema> parsed = Schema::Parse(description);
    if (!parsed.ok()) {
      return absl::DataLossError(
          Cat(what, ": its type description: ", parsed.status().message()));
    }
    it = schemas_.emplace(type_id, std::make_unique<Schema>(*std::move(parsed)))
             .first;
  }
  absl::Status s = VerifyGraph(*it->second, graph);
  if (!s.ok()) return absl::DataLossError(Cat(what, ": ", s.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MappedFile>> MappedFile::Open(
    const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return FileError(errno, "open " + path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return FileError(errno, "fstat " + path);
  const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  if (size == 0) {
    return std::unique_ptr<MappedFile>(new MappedFile(nullptr, 0));
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (p == MAP_FAILED) return FileError(errno, "mmap " + path);
  ::madvise(p, size, MADV_SEQUENTIAL);
  return std::unique_ptr<MappedFile>(
      new MappedFile(static_cast<const char*>(p), size));
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<char*>(data_), size_);
}

// The version the store of a local directory holds (as of now); nullopt
// when it holds none yet.
absl::StatusOr<std::optional<std::uint64_t>> VersionIn(const Store& store) {
  const std::shared_ptr<store_internal::Core>& core =
      store_internal::CoreOf(store);
  absl::StatusOr<std::shared_ptr<store_internal::ReadTxn>> txn =
      store_internal::ReadTxn::Begin(core);
  if (!txn.ok()) return txn.status();
  return replica_internal::StoreVersion(*core, (*txn)->txn());
}

// The local store of `local`, if it holds a version.
std::unique_ptr<Store> OpenLocalStore(const std::string& local,
                                      bool convert_types,
                                      std::uint64_t* version) {
  if (!Exists(LocalStoreDir(local) + "/data.mdb")) return nullptr;
  absl::StatusOr<std::unique_ptr<Store>> s =
      OpenExisting(LocalStoreDir(local), convert_types);
  if (!s.ok()) return nullptr;
  absl::StatusOr<std::optional<std::uint64_t>> v = VersionIn(**s);
  if (!v.ok() || !*v) return nullptr;
  *version = **v;
  return *std::move(s);
}

}  // namespace ancient::replica_internal
