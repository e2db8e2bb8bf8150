// Test helper: reads and writes a store's LMDB tables directly, as another
// program (or damage) would, bypassing ancient::Store.

#ifndef ANCIENT_TESTS_RAW_LMDB_H_
#define ANCIENT_TESTS_RAW_LMDB_H_

#include <lmdb.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace ancient_test {

// The RootRecord layout (store/format.h): offset, extent size, graph size,
// relocation size, type id, checksum, base address; then the type name.
enum RootField { kOffset, kExtent, kGraph, kReloc, kTypeId, kChecksum, kBase };

inline std::uint64_t GetField(const std::string& rec, RootField f) {
  std::uint64_t v;
  std::memcpy(&v, rec.data() + 8 * f, 8);
  return v;
}
inline void SetField(std::string& rec, RootField f, std::uint64_t v) {
  std::memcpy(rec.data() + 8 * f, &v, 8);
}

class RawLmdb {
 public:
  explicit RawLmdb(const std::string& dir) {
    if (mdb_env_create(&env_) != 0) std::abort();
    mdb_env_set_maxdbs(env_, 8);
    mdb_env_set_mapsize(env_, std::size_t{1} << 36);
    if (mdb_env_open(env_, dir.c_str(), 0, 0600) != 0) std::abort();
  }
  ~RawLmdb() { mdb_env_close(env_); }

  std::optional<std::string> Get(const char* table, const std::string& key) {
    MDB_txn* txn;
    mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    MDB_dbi dbi;
    std::optional<std::string> out;
    if (mdb_dbi_open(txn, table, 0, &dbi) == 0) {
      MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
      if (mdb_get(txn, dbi, &k, &v) == 0) {
        out.emplace(static_cast<char*>(v.mv_data), v.mv_size);
      }
    }
    mdb_txn_abort(txn);
    return out;
  }

  void Put(const char* table, const std::string& key,
           const std::string& value) {
    MDB_txn* txn;
    mdb_txn_begin(env_, nullptr, 0, &txn);
    MDB_dbi dbi;
    if (mdb_dbi_open(txn, table, MDB_CREATE, &dbi) != 0) std::abort();
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    if (mdb_put(txn, dbi, &k, &v, 0) != 0) std::abort();
    if (mdb_txn_commit(txn) != 0) std::abort();
  }

  void Del(const char* table, const std::string& key) {
    MDB_txn* txn;
    mdb_txn_begin(env_, nullptr, 0, &txn);
    MDB_dbi dbi;
    mdb_dbi_open(txn, table, 0, &dbi);
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    mdb_del(txn, dbi, &k, nullptr);
    mdb_txn_commit(txn);
  }

  // Removes a whole table (as in a store made before it existed).
  void Drop(const char* table) {
    MDB_txn* txn;
    mdb_txn_begin(env_, nullptr, 0, &txn);
    MDB_dbi dbi;
    if (mdb_dbi_open(txn, table, 0, &dbi) == 0) mdb_drop(txn, dbi, 1);
    mdb_txn_commit(txn);
  }

  // Every key of a table.
  std::vector<std::string> Keys(const char* table) {
    std::vector<std::string> keys;
    MDB_txn* txn;
    mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    MDB_dbi dbi;
    if (mdb_dbi_open(txn, table, 0, &dbi) == 0) {
      MDB_cursor* c;
      mdb_cursor_open(txn, dbi, &c);
      MDB_val k, v;
      for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
           rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        keys.emplace_back(static_cast<char*>(k.mv_data), k.mv_size);
      }
      mdb_cursor_close(c);
    }
    mdb_txn_abort(txn);
    return keys;
  }

 private:
  MDB_env* env_ = nullptr;
};

}  // namespace ancient_test

#endif  // ANCIENT_TESTS_RAW_LMDB_H_
