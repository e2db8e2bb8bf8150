// WriteTxn's free-space allocator: the free and pending tables, reclaiming
// what no reader can see any more, first fit, growing the arena.

#include <bit>
#include <cstring>
#include <limits>

#include "absl/strings/str_format.h"
#include "store/write_txn.h"

namespace ancient::store_internal {

namespace {
constexpr std::uint64_t kMinGrowth = std::uint64_t{1} << 20;
}  // namespace

absl::Status WriteTxn::Reclaim() {
  Cursor cursor;
  int rc = cursor.Open(txn_.get(), core_->pending_db());
  if (rc != MDB_SUCCESS) return LmdbError(rc, "opening pending cursor");
  MDB_val k, v;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> reclaimed;
  rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST);
  if (rc == MDB_NOTFOUND) return absl::OkStatus();  // Nothing waits.
  // The reader table is scanned only when something waits for readers.
  const std::uint64_t oldest = core_->OldestReader(nullptr);
  while (rc == MDB_SUCCESS) {
    if (k.mv_size != 16 || v.mv_size != 8) {
      return absl::DataLossError("store " + core_->dir() +
                                 ": malformed pending-free record");
    }
    const std::string_view key = FromVal(k);
    const std::uint64_t freed_by = ReadBigEndian64(key);
    // Readers whose snapshot predates `freed_by` may still see the extent.
    if (freed_by > oldest) break;
    reclaimed.emplace_back(ReadBigEndian64(key.substr(8)),
                           ReadBigEndian64(FromVal(v)));
    rc = mdb_cursor_del(cursor.get(), 0);
    if (rc != MDB_SUCCESS) return LmdbError(rc, "reclaiming freed space");
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
    return LmdbError(rc, "reading pending frees");
  }
  for (auto [off, len] : reclaimed) {
    absl::Status s = AddFree(off, len);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status WriteTxn::AddFree(std::uint64_t off, std::uint64_t len) {
  if (len == 0) return absl::OkStatus();
  // Find the free neighbours first; change nothing until both are known.
  std::optional<std::pair<std::uint64_t, std::uint64_t>> next, prev;
  {
    Cursor cursor;
    int rc = cursor.Open(txn_.get(), core_->free_db());
    if (rc != MDB_SUCCESS) return LmdbError(rc, "opening free cursor");
    const std::string key = BigEndian64(off);
    MDB_val k = ToVal(key), v;
    rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_SET_RANGE);
    if (rc == MDB_SUCCESS) {
      next.emplace(ReadBigEndian64(FromVal(k)), ReadBigEndian64(FromVal(v)));
      rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_PREV);
    } else if (rc == MDB_NOTFOUND) {
      rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_LAST);
    }
    if (rc == MDB_SUCCESS) {
      prev.emplace(ReadBigEndian64(FromVal(k)), ReadBigEndian64(FromVal(v)));
    } else if (rc != MDB_NOTFOUND) {
      return LmdbError(rc, "reading free space");
    }
  }
  if ((next && next->first < off + len) ||
      (prev && prev->first + prev->second > off) ||
      off + len > space_.high_water) {
    return absl::DataLossError(absl::StrFormat(
        "store %s: freeing [%d, %d), which is already free or past the "
        "high-water mark %d",
        core_->dir(), off, off + len, space_.high_water));
  }
  auto erase = [&](std::uint64_t at) {
    const std::string key = BigEndian64(at);
    MDB_val k = ToVal(key);
    return LmdbError(mdb_del(txn_.get(), core_->free_db(), &k, nullptr),
                     "merging free space");
  };
  if (next && next->first == off + len) {
    absl::Status s = erase(next->first);
    if (!s.ok()) return s;
    len += next->second;
  }
  if (prev && prev->first + prev->second == off) {
    absl::Status s = erase(prev->first);
    if (!s.ok()) return s;
    off = prev->first;
    len += prev->second;
  }
  if (off + len == space_.high_water) {
    // Back to never-used space, but perhaps written: not known zero.
    zero_from_ = std::max(zero_from_, space_.high_water);
    space_.high_water = off;
    return absl::OkStatus();
  }
  const std::string key = BigEndian64(off), val = BigEndian64(len);
  MDB_val k = ToVal(key), v = ToVal(val);
  return LmdbError(mdb_put(txn_.get(), core_->free_db(), &k, &v, 0),
                   "recording free space");
}

absl::Status WriteTxn::EnsureArena(std::uint64_t end) {
  if (end <= space_.arena_size) return core_->arena().MapForWrite(end);
  const std::uint64_t reserve = core_->options().max_size;
  if (end > reserve) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "store %s: arena would need %d bytes, more than max_size (%d)",
        core_->dir(), end, reserve));
  }
  // Grow by half again (at least 1 MiB) to make growth rare.
  std::uint64_t size =
      std::max({end, space_.arena_size + space_.arena_size / 2, kMinGrowth});
  size = std::min(AlignUp(size, 4096), reserve);
  // What the file holds past the recorded size (a writer that crashed while
  // growing) is not known zero; what fallocate adds is.
  absl::StatusOr<std::uint64_t> had = core_->arena().FileSize();
  if (!had.ok()) return had.status();
  absl::Status s = core_->arena().Grow(size);
  if (!s.ok() && size > end) {
    size = AlignUp(end, 4096) > reserve ? end : AlignUp(end, 4096);
    s = core_->arena().Grow(size);  // Retry with just what is needed.
  }
  if (!s.ok()) return s;
  zero_from_ = std::min(zero_from_, std::max(space_.arena_size, *had));
  space_.arena_size = size;
  return absl::OkStatus();
}

absl::Status WriteTxn::ReadFree(const MDB_val& k, const MDB_val& v,
                                std::uint64_t* off_out,
                                std::uint64_t* len_out) const {
  if (k.mv_size != 8 || v.mv_size != 8) {
    return absl::DataLossError(
        Cat("store ", core_->dir(), ": malformed free-space record"));
  }
  const std::uint64_t off = ReadBigEndian64(FromVal(k));
  const std::uint64_t len = ReadBigEndian64(FromVal(v));
  *off_out = off;
  *len_out = len;
  if (off % kExtentAlign != 0 || off > space_.high_water ||
      len > space_.high_water - off) {
    // Never write where a damaged record points.
    return absl::DataLossError(absl::StrFormat(
        "store %s: damaged free-space record (offset %d, length %d; "
        "high-water mark %d)",
        core_->dir(), off, len, space_.high_water));
  }
  return absl::OkStatus();
}

absl::Status WriteTxn::TakeFree(std::uint64_t min_len, std::size_t scan,
                                std::optional<Extent>* taken) {
  taken->reset();
  Cursor cursor;
  int rc = cursor.Open(txn_.get(), core_->free_db());
  if (rc != MDB_SUCCESS) return LmdbError(rc, "opening free cursor");
  MDB_val k, v;
  Extent best{0, 0};
  std::size_t seen = 0;
  for (rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
       rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_NEXT)) {
    std::uint64_t off, len;
    if (absl::Status s = ReadFree(k, v, &off, &len); !s.ok()) return s;
    if (len >= min_len && len > best.length) {
      best = Extent{off, len};
      if (min_len > 0) break;  // first fit
    }
    if (++seen == scan) break;
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
    return LmdbError(rc, "reading free space");
  }
  if (best.length == 0) return absl::OkStatus();
  const std::string key = BigEndian64(best.offset);
  MDB_val dk = ToVal(key);
  rc = mdb_del(txn_.get(), core_->free_db(), &dk, nullptr);
  if (rc != MDB_SUCCESS) return LmdbError(rc, "allocating free space");
  *taken = best;
  return absl::OkStatus();
}

absl::StatusOr<std::uint64_t> WriteTxn::Allocate(std::uint64_t len,
                                                 bool* zeroed) {
  if (zeroed != nullptr) *zeroed = false;
  // First fit among free extents; the rest of it stays free.
  std::optional<Extent> e;
  if (absl::Status s = TakeFree(len, 0, &e); !s.ok()) return s;
  if (e) {
    if (e->length > len) {
      const std::string rk = BigEndian64(e->offset + len),
                        rv = BigEndian64(e->length - len);
      MDB_val k2 = ToVal(rk), v2 = ToVal(rv);
      const int rc = mdb_put(txn_.get(), core_->free_db(), &k2, &v2, 0);
      if (rc != MDB_SUCCESS) return LmdbError(rc, "splitting free space");
    }
    fresh_.insert(e->offset);
    return e->offset;
  }
  const std::uint64_t off = space_.high_water;
  absl::Status s = EnsureArena(off + len);
  if (!s.ok()) return s;
  if (zeroed != nullptr) *zeroed = off >= zero_from_;
  space_.high_water = off + len;
  fresh_.insert(off);
  return off;
}

absl::Status WriteTxn::Release(std::uint64_t off, std::uint64_t len) {
  if (fresh_.erase(off) > 0) return AddFree(off, len);
  const std::string key = BigEndian64(txn_id_) + BigEndian64(off);
  const std::string val = BigEndian64(len);
  MDB_val k = ToVal(key), v = ToVal(val);
  return LmdbError(mdb_put(txn_.get(), core_->pending_db(), &k, &v, 0),
                   "recording freed space");
}

}  // namespace ancient::store_internal
