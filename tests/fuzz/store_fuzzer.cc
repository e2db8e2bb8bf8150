// libFuzzer target: Open + Verify of mutated stores.
//
// A template store (several graph types, some deletions, so that every table
// has entries) is made once. Each input is a list of mutations applied to a
// fresh copy of it: XOR a byte of the arena, or overwrite bytes of an LMDB
// record (meta, space, a root, a free or pending extent) through LMDB's API.
// Then the copy is opened (read-only and read-write, each in place and
// relocated, with the template's base taken), verified, and listed.
// Nothing may crash. Damage to LMDB's own page format is out of scope: LMDB
// trusts its files (see the note in tools/fuzz).
//
// Built and run by tools/fuzz (clang, -fsanitize=fuzzer,address,undefined).

#include <lmdb.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "store/store.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

namespace fs = std::filesystem;

std::string template_dir;
std::string work_dir;
std::uintptr_t template_base = 0;

void MakeTemplate() {
  template_dir = fs::temp_directory_path() /
                 ("ancient-fuzz-template." + std::to_string(getpid()));
  fs::remove_all(template_dir);
  ancient::StoreOptions o;
  o.max_size = std::size_t{1} << 28;
  o.durability = ancient::Durability::kNoSync;
  auto store = ancient::Store::Open(template_dir, o);
  if (!store.ok()) std::abort();
  template_base = (*store)->base_address();
  std::vector<std::string> words = {"alpha", "beta", "gamma", "", "delta"};
  std::map<std::string, std::int64_t> m = {{"x", 1}, {"y", -2}};
  ancient::Value::Object obj;
  obj["k"] = ancient::Value::Array{1, "two", 3.0, nullptr};
  (void)(*store)->Share("words", words);
  (void)(*store)->Share("map", m);
  (void)(*store)->Share("json", ancient::Value(obj));
  (void)(*store)->Share("gone", 1);
  (void)(*store)->Share("words2", words);
  (void)(*store)->Delete("gone");
  auto snap = (*store)->Read();  // Held: the next overwrite stays pending.
  (void)(*store)->Share("words2", std::vector<std::string>{"z"});
  work_dir = template_dir + ".work";
}

// Overwrites bytes of one LMDB record, chosen by `which` among all records.
void MutateRecord(MDB_env* env, unsigned which, unsigned at,
                  const std::uint8_t* bytes, std::size_t n) {
  MDB_txn* txn;
  if (mdb_txn_begin(env, nullptr, 0, &txn) != 0) return;
  const char* tables[] = {"meta", "roots", "free", "pending", "types"};
  std::vector<std::pair<MDB_dbi, std::string>> keys;
  for (const char* t : tables) {
    MDB_dbi dbi;
    if (mdb_dbi_open(txn, t, 0, &dbi) != 0) continue;
    MDB_cursor* c;
    mdb_cursor_open(txn, dbi, &c);
    MDB_val k, v;
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
      keys.emplace_back(dbi,
                        std::string(static_cast<char*>(k.mv_data), k.mv_size));
    }
    mdb_cursor_close(c);
  }
  if (!keys.empty()) {
    auto& [dbi, key] = keys[which % keys.size()];
    MDB_val k{key.size(), key.data()}, v;
    if (mdb_get(txn, dbi, &k, &v) == 0) {
      std::string value(static_cast<char*>(v.mv_data), v.mv_size);
      if (at % 7 == 6) {
        value.resize(at % (value.size() + 9));  // Wrong length.
      } else if (!value.empty()) {
        for (std::size_t i = 0; i < n; ++i) {
          value[(at + i) % value.size()] = static_cast<char>(bytes[i]);
        }
      }
      MDB_val nv{value.size(), value.data()};
      mdb_put(txn, dbi, &k, &nv, 0);
    }
  }
  mdb_txn_commit(txn);
}

void Probe(bool read_only, bool relocated) {
  // Relocated: the template's base is taken, so every graph read is
  // rewritten from its (possibly damaged) relocation record.
  void* blocker = nullptr;
  if (relocated) {
    void* want = reinterpret_cast<void*>(template_base);
    blocker = mmap(want, 4096, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (blocker != want) {
      // The relocated probe must not silently become the in-place one.
      std::fprintf(stderr, "cannot take the template's base %p\n", want);
      std::abort();
    }
  }
  struct Unblock {
    void* p;
    ~Unblock() {
      if (p != nullptr) munmap(p, 4096);
    }
  } unblock{blocker};
  ancient::StoreOptions o;
  o.read_only = read_only;
  o.create_if_missing = false;
  o.max_size = std::size_t{1} << 28;
  o.durability = ancient::Durability::kNoSync;
  o.mark_threads = 2;  // the parallel Share too (see "par" below)
  auto store = ancient::Store::Open(work_dir, o);
  if (!store.ok()) return;
  // Where Stats can be had and the recorded base is the template's, the
  // store is mapped as this probe asked.
  if (auto st = (*store)->Stats(); st.ok() &&
                                   st->base_address == template_base &&
                                   st->relocated != relocated) {
    std::fprintf(stderr, "store %s relocated, asked %s\n",
                 st->relocated ? "is" : "is not", relocated ? "so" : "not");
    std::abort();
  }
  const absl::Status verified = (*store)->Verify();
  auto snap = (*store)->Read();
  if (!snap.ok()) return;
  (void)snap->List();
  // Recorded types: damaged ones must be refused (they no longer hash to
  // their id), sound ones parse.
  for (const char* key : {"words", "map", "json"}) {
    auto d = snap->TypeDescription(key);
    if (d.ok() && !ancient::Schema::Parse(*d).ok()) std::abort();
    // JSON through the recorded type checks the graph itself first: never
    // a crash; and a store that verified gives JSON for every typed root.
    auto json = snap->GetJson(key);
    if (verified.ok() && d.ok() && !json.ok()) std::abort();
  }
  // Unchecked reads: only the root's structure (and, relocated, its
  // checksum and relocation record) is checked; nothing is dereferenced.
  (void)snap->Get<std::vector<std::string>>("words");
  (void)snap->Get<std::map<std::string, std::int64_t>>("map");
  if (verified.ok()) {
    // Verified, then checked against its type: reading must be safe.
    auto words = snap->GetVerified<std::vector<std::string>>("words");
    auto json = snap->GetVerified<ancient::Value>("json");
    (void)json;
    if (words.ok()) {
      std::size_t total = 0;
      for (const auto& s : **words) total += s.size();
      if (total > (1u << 28)) std::abort();
    }
  }
  if (!read_only) {
    const auto shared =
        (*store)->Share("new", std::vector<std::string>{"fuzz"});
    // 100 vectors (tasks enough to start the second marking thread),
    // shared on two threads into whatever free space the store records.
    std::vector<std::vector<std::string>> par(100, {"p", "q", "r"});
    const auto parallel = (*store)->Share("par", par);
    const absl::Status deleted = (*store)->Delete("map");
    const absl::Status after = (*store)->Verify();
    if (verified.ok() && parallel.ok()) {
      auto back = (*store)->GetVerified<decltype(par)>("par");
      if (!back.ok() || (*back)->size() != 100 || (**back)[99][2] != "r" ||
          parallel->mark_threads != 2) {
        std::fprintf(stderr, "parallel Share into a verified store: %s\n",
                     back.status().ToString().c_str());
        std::abort();
      }
    }
    // A store that verified stays sound through writes: they succeed
    // ("map" is gone after the first read-write probe) and it verifies.
    if (verified.ok() &&
        (!shared.ok() || !parallel.ok() ||
         !(deleted.ok() || absl::IsNotFound(deleted)) || !after.ok())) {
      std::fprintf(stderr, "writes to a verified store: %s / %s / %s / %s\n",
                   shared.status().ToString().c_str(),
                   parallel.status().ToString().c_str(),
                   deleted.ToString().c_str(), after.ToString().c_str());
      std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  MakeTemplate();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  // The schema parser on the raw input, bare and after a valid header:
  // untrusted text, never a crash.
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)ancient::Schema::Parse(text);
  (void)ancient::Schema::Parse("ancient/1;le;p64;" + std::string(text));
  // "TYPE|JSON": a graph built from JSON by a schema must pass its own
  // typed check and print back.
  if (const auto bar = text.find('|'); bar != std::string_view::npos) {
    auto schema = ancient::Schema::Parse("ancient/1;le;p64;" +
                                         std::string(text.substr(0, bar)));
    if (schema.ok()) {
      auto g = ancient::JsonGraph::Build(*schema, text.substr(bar + 1));
      if (g.ok()) {
        void* buf = ::operator new (g->size(), std::align_val_t{64});
        g->Write(buf);
        const ancient::GraphBytes bytes{static_cast<const char*>(buf),
                                        g->size(),
                                        reinterpret_cast<std::uintptr_t>(buf)};
        if (!ancient::VerifyGraph(*schema, bytes).ok() ||
            !ancient::GraphToJson(*schema, bytes).ok()) {
          std::abort();
        }
        ::operator delete (buf, std::align_val_t{64});
      }
    }
  }
  ancient::fuzz::CopyTreeOrDie(template_dir, work_dir);
  // Mutations of 6 bytes each: kind, selector (2), offset (2), value.
  std::vector<std::pair<std::uint64_t, std::uint8_t>> arena_edits;
  MDB_env* env = nullptr;
  for (std::size_t i = 0; i + 6 <= size && i < 6 * 16; i += 6) {
    const unsigned kind = data[i] % 3;
    const unsigned sel = data[i + 1] | (data[i + 2] << 8);
    const unsigned off = data[i + 3] | (data[i + 4] << 8);
    if (kind == 0) {
      arena_edits.emplace_back((std::uint64_t{sel} << 16 | off) % (1u << 20),
                               data[i + 5]);
    } else {
      if (env == nullptr) {
        mdb_env_create(&env);
        mdb_env_set_maxdbs(env, 8);
        mdb_env_set_mapsize(env, std::size_t{1} << 30);
        if (const int rc = mdb_env_open(env, work_dir.c_str(), 0, 0600)) {
          std::fprintf(stderr, "cannot open the copy %s: %s\n",
                       work_dir.c_str(), mdb_strerror(rc));
          std::abort();
        }
      }
      MutateRecord(env, sel, off, data + i + 5,
                   kind == 1 ? 1 : std::min<std::size_t>(8, size - i - 5));
    }
  }
  if (env != nullptr) mdb_env_close(env);
  if (!arena_edits.empty()) {
    FILE* f = std::fopen((work_dir + "/arena").c_str(), "r+b");
    if (f != nullptr) {
      for (auto [at, x] : arena_edits) {
        if (std::fseek(f, static_cast<long>(at), SEEK_SET) == 0) {
          const int c = std::fgetc(f);
          if (c != EOF) {
            std::fseek(f, static_cast<long>(at), SEEK_SET);
            std::fputc(c ^ x, f);
          }
        }
      }
      std::fclose(f);
    }
  }
  for (const bool relocated : {false, true}) {
    Probe(true, relocated);
    Probe(false, relocated);
  }
  return 0;
}
