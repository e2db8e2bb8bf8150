// A plain LMDB key-value environment for the peers that need a store: put
// bytes, get bytes (zero-copy, valid while the read transaction lives).

#ifndef ANCIENT_BENCH_LMDB_KV_H_
#define ANCIENT_BENCH_LMDB_KV_H_

#include <lmdb.h>

#include <cstdlib>
#include <string>
#include <string_view>

namespace ancient_bench {

class LmdbKv {
 public:
  LmdbKv(const std::string& dir, bool sync, bool read_only = false) {
    mdb_env_create(&env_);
    mdb_env_set_mapsize(env_, std::size_t{1} << 36);
    unsigned flags =
        MDB_NOTLS | (sync ? 0 : MDB_NOSYNC) | (read_only ? MDB_RDONLY : 0);
    if (mdb_env_open(env_, dir.c_str(), flags, 0600) != 0) std::abort();
    MDB_txn* txn;
    mdb_txn_begin(env_, nullptr, read_only ? MDB_RDONLY : 0, &txn);
    mdb_dbi_open(txn, nullptr, 0, &dbi_);
    mdb_txn_commit(txn);
  }
  ~LmdbKv() {
    if (rtxn_ != nullptr) mdb_txn_abort(rtxn_);
    mdb_env_close(env_);
  }
  void Put(std::string_view key, std::string_view value) {
    MDB_txn* txn;
    mdb_txn_begin(env_, nullptr, 0, &txn);
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    if (mdb_put(txn, dbi_, &k, &v, 0) != 0) std::abort();
    if (mdb_txn_commit(txn) != 0) std::abort();
  }
  // Bytes at `key` in a read snapshot kept until the next Get or the end.
  std::string_view Get(std::string_view key) {
    if (rtxn_ != nullptr) mdb_txn_abort(rtxn_);
    mdb_txn_begin(env_, nullptr, MDB_RDONLY, &rtxn_);
    MDB_val k{key.size(), const_cast<char*>(key.data())}, v;
    if (mdb_get(rtxn_, dbi_, &k, &v) != 0) return {};
    return {static_cast<const char*>(v.mv_data), v.mv_size};
  }
  MDB_env* env() const { return env_; }
  MDB_dbi dbi() const { return dbi_; }

 private:
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_txn* rtxn_ = nullptr;
};

}  // namespace ancient_bench

#endif  // ANCIENT_BENCH_LMDB_KV_H_
