// PackedAddressTable, one thread's sharing table in 8-byte slots: every
// address inserted is found with its value, whatever the addresses' pattern,
// across growth and moves, including what its slots cannot hold (keys not
// 8-aligned or past 2^47, long probes, big values), which it keeps aside.

#include "ancient/internal/packed_address_table.h"

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gtest/gtest.h"

namespace ancient::internal {
namespace {

const void* Addr(std::uint64_t a) { return reinterpret_cast<const void*>(a); }

using Reference = std::unordered_map<std::uint64_t, std::uint64_t>;

// Inserts `addrs` in order (repeats included) into `t` with values from
// `value_of` (called once per new address), checking each answer against
// `want`, then finds every address of `want`.
template <class V>
void InsertAndCheck(PackedAddressTable& t,
                    const std::vector<std::uint64_t>& addrs, Reference& want,
                    V value_of) {
  for (const std::uint64_t a : addrs) {
    int made = 0;
    const auto [v, inserted] = t.FindOrInsert(Addr(a), [&] {
      ++made;
      return value_of(a);
    });
    const auto [it, fresh] = want.try_emplace(a, 0);
    ASSERT_EQ(inserted, fresh) << "address " << a;
    ASSERT_EQ(made, fresh ? 1 : 0) << "address " << a;
    if (fresh) it->second = v;
    ASSERT_EQ(v, it->second) << "address " << a;
    ASSERT_EQ(t.size(), want.size());
    ASSERT_LE((t.size() - t.side_size()) * PackedAddressTable::kLoadDen,
              t.capacity() * PackedAddressTable::kLoadNum)
        << "fuller than the load limit";
  }
  for (const auto& [a, v] : want) {
    std::uint64_t found = ~v;
    ASSERT_TRUE(t.Find(Addr(a), &found)) << "address " << a;
    EXPECT_EQ(found, v) << "address " << a;
  }
  std::size_t seen = 0;
  t.ForEach([&](const void* key, std::uint64_t value) {
    ++seen;
    const auto it = want.find(reinterpret_cast<std::uintptr_t>(key));
    ASSERT_NE(it, want.end()) << "address " << key;
    EXPECT_EQ(value, it->second) << "address " << key;
  });
  EXPECT_EQ(seen, want.size()) << "each entry once";
}

std::uint64_t Counter(std::uint64_t) {
  static std::uint64_t next = 0;
  return next++;
}

TEST(PackedAddressTable, EmptyFindsNothing) {
  PackedAddressTable t;
  std::uint64_t v = 7;
  EXPECT_FALSE(t.Find(Addr(64), &v));
  EXPECT_FALSE(t.Find(Addr(65), &v));
  EXPECT_EQ(v, 7u);
  t.Prefetch(Addr(64));  // harmless without slots
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.bytes(), 0u);
}

TEST(PackedAddressTable, HashLosesNothing) {
  std::mt19937_64 rng(3);
  for (int i = 0; i < 100000; ++i) {
    const std::uint64_t a = (rng() & ((std::uint64_t{1} << 47) - 1)) & ~7ull;
    const std::uint64_t h = PackedAddressTable::Hash(Addr(a));
    ASSERT_LE(h, PackedAddressTable::kHashMask);
    ASSERT_EQ(PackedAddressTable::Unhash(h), Addr(a));
  }
  EXPECT_EQ(PackedAddressTable::Hash(Addr(9)), PackedAddressTable::kUnfit);
  EXPECT_EQ(PackedAddressTable::Hash(Addr(std::uint64_t{1} << 47)),
            PackedAddressTable::kUnfit);
}

TEST(PackedAddressTable, ConsecutiveObjectsGrowingFromEmpty) {
  // As malloc hands out nodes of one size: 48 bytes apart, from several
  // starting points (the slots' low bits depend on where the hash lands).
  for (const std::uint64_t start :
       {0x1000ull, 0x55555555a2b0ull, 0x7ffff7a00010ull}) {
    PackedAddressTable t;
    Reference want;
    std::vector<std::uint64_t> addrs;
    for (std::uint64_t i = 0; i < 200000; ++i) addrs.push_back(start + 48 * i);
    InsertAndCheck(t, addrs, want, Counter);
    EXPECT_EQ(t.side_size(), 0u);
    EXPECT_EQ(t.bytes(), (t.capacity() + 1) * 8) << "and the capacity word";
  }
}

TEST(PackedAddressTable, RandomAddressesWithRepeatsAndLongProbes) {
  // Random addresses cluster: about one in 3,000 would probe past the
  // slots' 62 and is kept aside.
  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> addrs;
  for (int i = 0; i < 400000; ++i) {
    addrs.push_back((rng() & ((std::uint64_t{1} << 47) - 1)) & ~7ull);
    if (i % 3 == 0) addrs.push_back(addrs[rng() % addrs.size()]);
  }
  PackedAddressTable t;
  Reference want;
  InsertAndCheck(t, addrs, want, Counter);
}

TEST(PackedAddressTable, AddressesItsSlotsCannotSayAreKeptAside) {
  PackedAddressTable t;
  Reference want;
  std::vector<std::uint64_t> addrs;
  for (std::uint64_t i = 0; i < 5000; ++i) {
    addrs.push_back(0x10000 + 16 * i);                  // fits
    addrs.push_back(0x90001 + 24 * i);                  // not 8-aligned
    addrs.push_back((std::uint64_t{1} << 47) + 8 * i);  // past 2^47
    addrs.push_back(~std::uint64_t{0} - 8 * i);         // the kernel's half
  }
  InsertAndCheck(t, addrs, want, Counter);
  EXPECT_EQ(t.side_size(), 15000u);
  EXPECT_EQ(t.size(), 20000u);
}

TEST(PackedAddressTable, ProbesPastTheSlotsReachGoAsideAndComeBack) {
  PackedAddressTable t;
  t.Reserve(1000);
  const std::size_t capacity = t.capacity();
  // 200 addresses whose hashes share one home slot: the first 63 probe
  // from it, the rest would probe further and go aside.
  const std::uint64_t lo =
      ((std::uint64_t{5} << PackedAddressTable::kHashBits) + capacity - 1) /
      capacity;
  std::vector<std::uint64_t> addrs;
  for (std::uint64_t k = 0; k < 200; ++k) {
    addrs.push_back(
        reinterpret_cast<std::uintptr_t>(PackedAddressTable::Unhash(lo + k)));
  }
  Reference want;
  InsertAndCheck(t, addrs, want, Counter);
  EXPECT_EQ(t.capacity(), capacity);
  EXPECT_EQ(t.side_size(), 200u - 63u);
  // Growing past the reserve rehashes them all: still found, each once.
  std::vector<std::uint64_t> more;
  for (std::uint64_t i = 0; i < 20000; ++i) more.push_back(0x40000 + 8 * i);
  InsertAndCheck(t, more, want, Counter);
  EXPECT_GT(t.capacity(), capacity);
  InsertAndCheck(t, addrs, want, Counter);  // repeats: found, not made
}

TEST(PackedAddressTable, ValuesTooBigForASlotAreKeptAside) {
  PackedAddressTable t;
  t.Reserve(100);
  const std::uint64_t max = t.max_packed_value();
  Reference want;
  std::vector<std::uint64_t> addrs;
  for (std::uint64_t i = 0; i < 60; ++i) addrs.push_back(0x2000 + 8 * i);
  // Every fourth value past what a slot holds; 0 and the largest that
  // fits among the rest.
  InsertAndCheck(t, addrs, want, [&](std::uint64_t a) -> std::uint64_t {
    const std::uint64_t i = (a - 0x2000) / 8;
    if (i == 0) return 0;
    if (i == 1) return max;
    if (i == 2) return ~std::uint64_t{0};
    return i % 4 == 0 ? max + i : i;
  });
  EXPECT_EQ(t.side_size(), 15u);  // i = 4, 8, ..., 56, and i = 2
  // Growth makes room for bigger values in the slots.
  std::vector<std::uint64_t> more;
  for (std::uint64_t i = 0; i < 100000; ++i) more.push_back(0x900000 + 8 * i);
  InsertAndCheck(t, more, want, Counter);
  EXPECT_GT(t.max_packed_value(), max);
  EXPECT_LT(t.side_size(), 15u);
}

TEST(PackedAddressTable, ReservedRoomIsNotOutgrown) {
  PackedAddressTable t;
  t.Reserve(100000);
  const std::size_t capacity = t.capacity();
  EXPECT_GE(capacity * PackedAddressTable::kLoadNum,
            100000u * PackedAddressTable::kLoadDen);
  for (std::uint64_t i = 0; i < 100000; ++i) {
    t.FindOrInsert(Addr(0x1000 + 64 * i), [&] { return i; });
  }
  EXPECT_EQ(t.capacity(), capacity);
  EXPECT_EQ(t.bytes(), (capacity + 1) * 8)
      << "half of AddressTable's 16 a slot, and the capacity word";
}

TEST(PackedAddressTable, ReadersWithoutTheLockFindPublishedValuesAcrossGrowth) {
  // What the parallel mark's readers do: look up in slots published
  // earlier, while the table has grown since.
  PackedAddressTable t;
  t.KeepOldSlots();
  constexpr int kBits = PackedAddressTable::kHashBits;
  std::vector<const PackedAddressTable::Word*> copies;
  for (std::uint64_t i = 1; i <= 200000; ++i) {
    ASSERT_TRUE(t.FindOrInsert(Addr(i * 32), [&] { return i; }).second);
    if (copies.empty() || copies.back() != t.slots()) {
      copies.push_back(t.slots());
    }
  }
  ASSERT_GT(copies.size(), 10u) << "the table should have grown many times";
  for (std::uint64_t i = 1; i <= 200000; i += 7) {
    std::uint64_t v = 0;
    ASSERT_TRUE(
        PackedAddressTable::FindUnlocked(t.slots(), kBits, Addr(i * 32), &v))
        << "address " << i * 32;
    ASSERT_EQ(v, i);
    ASSERT_FALSE(PackedAddressTable::FindUnlocked(t.slots(), kBits,
                                                  Addr(i * 32 + 8), &v));
    // Old slots stay readable (ASan would name a read of freed memory):
    // they answer the value or "not there", never another value.
    for (const PackedAddressTable::Word* slots : copies) {
      v = 0;
      if (PackedAddressTable::FindUnlocked(slots, kBits, Addr(i * 32), &v)) {
        ASSERT_EQ(v, i) << "address " << i * 32;
      }
    }
  }
}

TEST(PackedAddressTable, AShardKeepsItsKeysInSlotsAndOthersAside) {
  // A shard of 256 (SetPrefix(8, n)): keys whose hash starts with n go in
  // its slots, which drop those 8 bits; any other key is kept aside.
  constexpr int kShardBits = 8;
  constexpr int kBits = PackedAddressTable::kHashBits - kShardBits;
  std::mt19937_64 rng(11);
  for (const std::uint64_t shard : {0ull, 1ull, 77ull, 255ull}) {
    PackedAddressTable t;
    t.SetPrefix(kShardBits, shard);
    Reference want;
    std::vector<std::uint64_t> mine, others;
    for (int i = 0; i < 30000; ++i) {
      const std::uint64_t low = rng() & ((std::uint64_t{1} << kBits) - 1);
      mine.push_back(reinterpret_cast<std::uintptr_t>(
          PackedAddressTable::Unhash((shard << kBits) | low)));
      if (i % 100 == 0) {
        others.push_back(reinterpret_cast<std::uintptr_t>(
            PackedAddressTable::Unhash(((shard ^ 1) << kBits) | low)));
      }
    }
    InsertAndCheck(t, mine, want, Counter);
    const std::size_t aside = t.side_size();
    EXPECT_LT(aside, 100u) << "only probes past the slots' reach";
    InsertAndCheck(t, others, want, Counter);
    EXPECT_EQ(t.side_size(), aside + others.size());
    std::size_t found = 0;
    for (const std::uint64_t a : mine) {
      std::uint64_t v = 0;
      if (PackedAddressTable::FindUnlocked(t.slots(), kBits, Addr(a), &v)) {
        ++found;
        ASSERT_EQ(v, want[a]) << "address " << a;
      }
    }
    EXPECT_EQ(found, mine.size() - aside) << "shard " << shard;
  }
}

TEST(PackedAddressTable, ReadersOnOtherThreadsWhileOneWrites) {
  // One writer inserts and publishes its slots after each growth (as
  // SharedMark does under a shard's lock); readers look up what was
  // published. Run under TSan by the sanitizer suite.
  constexpr std::uint64_t kKeys = 300000;
  constexpr int kBits = PackedAddressTable::kHashBits;
  PackedAddressTable t;
  t.KeepOldSlots();
  std::atomic<const PackedAddressTable::Word*> published{t.slots()};
  std::atomic<std::uint64_t> inserted{0};
  std::atomic<bool> wrong{false};
  std::atomic<std::uint64_t> found{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937_64 rng(r);
      std::uint64_t hits = 0;
      while (true) {
        const std::uint64_t n = inserted.load(std::memory_order_acquire);
        const PackedAddressTable::Word* slots =
            published.load(std::memory_order_acquire);
        if (n != 0) {
          const std::uint64_t i = 1 + rng() % n;
          std::uint64_t v = 0;
          if (PackedAddressTable::FindUnlocked(slots, kBits, Addr(i * 48),
                                               &v)) {
            if (v != i * 3) wrong = true;
            ++hits;
          }
        }
        if (n == kKeys) break;
      }
      found += hits;
    });
  }
  for (std::uint64_t i = 1; i <= kKeys; ++i) {
    t.FindOrInsert(Addr(i * 48), [&] { return i * 3; });
    if (published.load(std::memory_order_relaxed) != t.slots()) {
      published.store(t.slots(), std::memory_order_release);
    }
    inserted.store(i, std::memory_order_release);
  }
  for (std::thread& th : readers) th.join();
  EXPECT_FALSE(wrong) << "a reader found another value than was inserted";
  EXPECT_GT(found, 0u);
}

TEST(PackedAddressTable, MovedTableKeepsItsEntriesAndLeavesAnEmptyOne) {
  PackedAddressTable a;
  Reference want;
  std::vector<std::uint64_t> addrs;
  for (std::uint64_t i = 0; i < 1000; ++i) addrs.push_back(0x8000 + 24 * i);
  addrs.push_back(0x8001);  // one aside
  InsertAndCheck(a, addrs, want, Counter);
  PackedAddressTable b = std::move(a);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.bytes(), 0u);
  std::uint64_t v;
  EXPECT_FALSE(a.Find(Addr(0x8000), &v));
  InsertAndCheck(b, addrs, want, Counter);
  a = std::move(b);
  InsertAndCheck(a, addrs, want, Counter);
}

}  // namespace
}  // namespace ancient::internal
