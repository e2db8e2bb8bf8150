// Internal: small RAII wrappers and error mapping for LMDB.

#ifndef ANCIENT_STORE_LMDB_UTIL_H_
#define ANCIENT_STORE_LMDB_UTIL_H_

#include <lmdb.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "store/strings.h"

namespace ancient::store_internal {

// Maps an LMDB return code or an errno value to a canonical Status whose
// message names `what` (the operation, file or key) and the code's text
// (mdb_strerror, which is strerror for errno values).
absl::Status LmdbError(int rc, std::string_view what);

inline MDB_val ToVal(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view FromVal(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

// A transaction that aborts unless committed.
class Txn {
 public:
  Txn() = default;
  explicit Txn(MDB_txn* txn) : txn_(txn) {}
  Txn(Txn&& o) noexcept : txn_(o.txn_) { o.txn_ = nullptr; }
  Txn& operator=(Txn&& o) noexcept {
    if (this != &o) {
      Abort();
      txn_ = o.txn_;
      o.txn_ = nullptr;
    }
    return *this;
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { Abort(); }

  MDB_txn* get() const { return txn_; }
  void Abort() {
    if (txn_ != nullptr) mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
  // Forgets the transaction without ending it: for a forked child, where
  // ending it would release the parent's reader slot or write lock.
  void Leak() { txn_ = nullptr; }
  int Commit() {
    const int rc = mdb_txn_commit(txn_);
    txn_ = nullptr;  // Freed by LMDB whatever the outcome.
    return rc;
  }

 private:
  MDB_txn* txn_ = nullptr;
};

// A cursor closed on destruction (read-only cursors must be closed before
// their transaction ends; write cursors may be closed at any time before).
class Cursor {
 public:
  Cursor() = default;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  int Open(MDB_txn* txn, MDB_dbi dbi) {
    return mdb_cursor_open(txn, dbi, &cursor_);
  }
  MDB_cursor* get() const { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
};

// Fixed-width big-endian integers, so that LMDB's byte order sorts keys
// numerically.
inline std::string BigEndian64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return s;
}
// Reads the first 8 bytes of `s` (callers check the size; a shorter `s`
// reads as if zero-padded, never past its end).
inline std::uint64_t ReadBigEndian64(std::string_view s) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) {
    v = (v << 8) | (i < s.size() ? static_cast<unsigned char>(s[i]) : 0u);
  }
  return v;
}

}  // namespace ancient::store_internal

#endif  // ANCIENT_STORE_LMDB_UTIL_H_
