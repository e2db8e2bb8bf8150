// A big map shared as shards: separate roots chosen by key hash, read as
// one map. Changing one key re-shares one shard, so a version of a
// repository (replica/replica.h) moves one shard, not the map.
//
//   producer:  ancient::Sharded<std::unordered_map<std::string, Rec>> m(256);
//              m.insert_or_assign("k", rec);             // marks a shard
//              auto batch = store->Write();
//              m.Share(*batch, "dict");                   // changed shards
//              batch->Commit();
//   reader:    auto snap = store->Read();
//              auto dict = ancient::ShardedView<Map>::Open(*snap, "dict");
//              const Frozen<Rec>* r = dict->get("k");     // or nullptr
//
// Roots: KEY holds the shard count and the number of entries (a
// std::vector<std::uint64_t> {kShardedMagic, shards, entries}); shard i is
// at KEY + "/shard/" + i (five digits), of the map's own type, so each is an
// ordinary root (ancientctl, Python, conversions read it). A key's shard is
// a fixed function of ancient::StableHash (ShardOfHash: the same in every
// process and release), mixed apart from the bits a frozen hash map uses
// for buckets.

#ifndef ANCIENT_STORE_SHARDED_H_
#define ANCIENT_STORE_SHARDED_H_

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "ancient/hash.h"
#include "store/store.h"

namespace ancient {

inline constexpr std::uint64_t kShardedMagic = 0x414e43534841524dULL;
// The most shards a map may have.
inline constexpr int kMaxShards = 1 << 16;

// The shard of a key whose StableHash is `hash`: the hash mixed apart from
// the low bits hash maps use for buckets, then mapped onto [0, shards) by
// a multiply (no division). Fixed: stored maps depend on it.
inline std::size_t ShardOfHash(std::uint64_t hash, std::size_t shards) {
  const std::uint64_t m = internal::Mix64(hash ^ 0x2545f4914f6cdd1dULL);
  return static_cast<std::size_t>(
      (static_cast<unsigned __int128>(m) * shards) >> 64);
}
// The shard of a key (heap or frozen, or any query type that hashes alike).
template <class Q>
std::size_t ShardOf(const Q& key, std::size_t shards) {
  return ShardOfHash(StableHash(key), shards);
}

// The key of shard `i` of the map at `key`.
inline std::string ShardKey(std::string_view key, std::size_t i) {
  return absl::StrFormat("%s/shard/%05d", key, i);
}

// A heap map kept as shards (each a `Map`: std::map, std::unordered_map, or
// any map type ancient freezes), remembering which shards changed since
// they were last shared. Not thread-safe.
template <class Map>
class Sharded {
 public:
  using key_type = typename Map::key_type;
  using mapped_type = typename Map::mapped_type;

  // `shards` in [1, kMaxShards]; fixed for the map's life (a reader finds
  // keys by it). Choose it so that a shard is a small part of the map: the
  // unit a change moves.
  explicit Sharded(int shards)
      : shards_(static_cast<std::size_t>(std::clamp(shards, 1, kMaxShards))),
        dirty_(shards_.size(), true) {}
  // The entries of `map`, sharded (copied).
  static Sharded From(const Map& map, int shards) {
    Sharded s(shards);
    for (const auto& [k, v] : map) s.shard_for(k).emplace(k, v);
    return s;
  }

  std::size_t shard_count() const { return shards_.size(); }
  std::size_t size() const {
    std::size_t n = 0;
    for (const Map& m : shards_) n += m.size();
    return n;
  }
  const Map& shard(std::size_t i) const { return shards_[i]; }
  // The shard holding `key`, marked changed (for changes in place).
  template <class Q>
  Map& shard_for(const Q& key) {
    const std::size_t i = ShardOf(key, shards_.size());
    dirty_[i] = true;
    return shards_[i];
  }
  template <class Q>
  const mapped_type* get(const Q& key) const {
    const Map& m = shards_[ShardOf(key, shards_.size())];
    auto it = m.find(key);
    return it == m.end() ? nullptr : &it->second;
  }
  template <class K, class V>
  void insert_or_assign(K&& key, V&& value) {
    Map& m = shard_for(key);
    m.insert_or_assign(std::forward<K>(key), std::forward<V>(value));
  }
  // Erases `key`; true if it was there (only then is its shard changed).
  template <class Q>
  bool erase(const Q& key) {
    const std::size_t i = ShardOf(key, shards_.size());
    if (shards_[i].erase(key) == 0) return false;
    dirty_[i] = true;
    return true;
  }
  // Shards changed since the last successful Share (all, at first).
  std::size_t changed_shards() const {
    return static_cast<std::size_t>(
        std::count(dirty_.begin(), dirty_.end(), true));
  }

  // Shares the changed shards at KEY's shard keys, and KEY's index (the
  // shard count and the number of entries), in `batch`; they become
  // visible at its commit. The shards count as shared once this returns
  // (call MarkAllChanged() if the batch is then not committed). A store
  // that holds another map at KEY (another shard count) is overwritten
  // shard by shard: share to a fresh key, or delete the old shards first.
  // Errors: WriteBatch::Share's, naming the shard's key.
  absl::Status Share(WriteBatch& batch, std::string_view key) {
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      if (!dirty_[i]) continue;
      absl::StatusOr<ShareInfo> info =
          batch.Share(ShardKey(key, i), shards_[i]);
      if (!info.ok()) return info.status();
    }
    absl::StatusOr<ShareInfo> info = batch.Share(
        key, std::vector<std::uint64_t>{kShardedMagic, shards_.size(), size()});
    if (!info.ok()) return info.status();
    std::fill(dirty_.begin(), dirty_.end(), false);
    return absl::OkStatus();
  }
  void MarkAllChanged() { std::fill(dirty_.begin(), dirty_.end(), true); }

 private:
  std::vector<Map> shards_;
  std::vector<bool> dirty_;
};

// A sharded map as one read-only map, as of a Snapshot (which it holds:
// what it returns stays valid while it lives). Lookups cost one hash more
// than the unsplit map for sorted maps, none for hash maps (the hash that
// picks the shard is reused in it). Cheap to copy (shares the snapshot).
template <class Map>
class ShardedView {
 public:
  using Shard = Frozen<Map>;
  using value_type = typename Shard::value_type;

  // The map at `key` of `snapshot` (Sharded::Share wrote it).
  // Errors: NotFound (no key, or a shard missing, naming it);
  //   FailedPrecondition (KEY is not a sharded map's index, or a shard is
  //   of another type); DataLoss (a damaged root); Snapshot::Get's.
  static absl::StatusOr<ShardedView> Open(const Snapshot& snapshot,
                                          std::string_view key) {
    absl::StatusOr<const Frozen<std::vector<std::uint64_t>>*> index =
        snapshot.Get<std::vector<std::uint64_t>>(key);
    if (!index.ok()) return index.status();
    const auto& ix = **index;
    if (ix.size() != 3 || ix[0] != kShardedMagic || ix[1] == 0 ||
        ix[1] > kMaxShards) {
      return absl::FailedPreconditionError(
          absl::StrFormat("key '%s' is not the index of a sharded map", key));
    }
    ShardedView view(snapshot, ix[2]);
    view.shards_.reserve(ix[1]);
    for (std::uint64_t i = 0; i < ix[1]; ++i) {
      const std::string k = ShardKey(key, i);
      absl::StatusOr<const Shard*> s = snapshot.Get<Map>(k);
      if (!s.ok()) {
        return absl::Status(
            s.status().code(),
            absl::StrFormat("sharded map '%s': %s", key, s.status().message()));
      }
      view.shards_.push_back(*s);
    }
    return view;
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::size_t shard_count() const { return shards_.size(); }
  const Shard& shard(std::size_t i) const { return *shards_[i]; }

  // The value for `key`, or nullptr.
  template <class Q>
  auto get(const Q& key) const
      -> decltype(std::declval<const Shard&>().get(key)) {
    return shards_[ShardOf(key, shards_.size())]->get(key);
  }
  template <class Q>
  bool contains(const Q& key) const {
    return shards_[ShardOf(key, shards_.size())]->contains(key);
  }

  // Every entry, shard by shard (in each, in the shard's order).
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = ShardedView::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;
    const_iterator() = default;
    reference operator*() const { return *it_; }
    pointer operator->() const { return it_; }
    const_iterator& operator++() {
      ++it_;
      Settle();
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const const_iterator& o) const {
      return shard_ == o.shard_ && it_ == o.it_;
    }

   private:
    friend class ShardedView;
    const_iterator(const ShardedView* v, std::size_t shard, pointer it)
        : view_(v), shard_(shard), it_(it) {
      Settle();
    }
    // Past the end of a shard: to the first entry of the next non-empty
    // one, or the end.
    void Settle() {
      while (shard_ < view_->shards_.size() &&
             it_ == view_->shards_[shard_]->end()) {
        ++shard_;
        it_ = shard_ < view_->shards_.size() ? view_->shards_[shard_]->begin()
                                             : nullptr;
      }
    }
    const ShardedView* view_ = nullptr;
    std::size_t shard_ = 0;
    pointer it_ = nullptr;
  };
  const_iterator begin() const {
    return const_iterator(this, 0,
                          shards_.empty() ? nullptr : shards_[0]->begin());
  }
  const_iterator end() const {
    return const_iterator(this, shards_.size(), nullptr);
  }
  // The entry for `key`, or end().
  template <class Q>
  const_iterator find(const Q& key) const {
    std::size_t i;
    const value_type* it = Locate(key, &i);
    if (it == shards_[i]->end()) return end();
    return const_iterator(this, i, it);
  }

 private:
  // The entry for `key` in its shard (*shard), or that shard's end(). The
  // key is hashed once: a hashed shard reuses the hash that chose it.
  template <class Q>
  const value_type* Locate(const Q& key, std::size_t* shard) const {
    const std::uint64_t h = StableHash(key);
    *shard = ShardOfHash(h, shards_.size());
    const Shard& s = *shards_[*shard];
    if constexpr (requires { s.find(key, h); }) {
      return s.find(key, h);
    } else {
      return s.find(key);
    }
  }
  ShardedView(const Snapshot& snapshot, std::uint64_t size)
      : snapshot_(snapshot), size_(size) {}
  Snapshot snapshot_;
  std::uint64_t size_;
  std::vector<const Shard*> shards_;
};

}  // namespace ancient

#endif  // ANCIENT_STORE_SHARDED_H_
