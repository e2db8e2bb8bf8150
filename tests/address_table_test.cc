// AddressTable, Mark's sharing table: every address inserted is found with
// its value, whatever the addresses' pattern, across growth and moves.

#include "ancient/internal/address_table.h"

#include <cstdint>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace ancient::internal {
namespace {

const void* Addr(std::uint64_t a) { return reinterpret_cast<const void*>(a); }

// Inserts `addrs` in order (repeats included) into `t`, checking each
// answer against a reference map, then finds every one.
void InsertAndCheck(AddressTable& t, const std::vector<std::uint64_t>& addrs) {
  std::unordered_map<std::uint64_t, std::uint64_t> want;
  for (const std::uint64_t a : addrs) {
    auto [slot, inserted] = t.TryEmplace(Addr(a));
    ASSERT_EQ(slot->key, Addr(a));
    const auto [it, fresh] = want.try_emplace(a, want.size() + 1);
    ASSERT_EQ(inserted, fresh) << "address " << a;
    if (inserted) {
      EXPECT_EQ(slot->value, 0u);
      slot->value = it->second;
    } else {
      EXPECT_EQ(slot->value, it->second) << "address " << a;
    }
    ASSERT_EQ(t.size(), want.size());
    ASSERT_LE(t.size() * 4, t.capacity() * 3) << "more than 3/4 full";
  }
  for (const auto& [a, v] : want) {
    const std::uint64_t* found = t.Find(Addr(a));
    ASSERT_NE(found, nullptr) << "address " << a;
    EXPECT_EQ(*found, v) << "address " << a;
  }
  std::size_t seen = 0;
  t.ForEach([&](const void* key, std::uint64_t value) {
    ++seen;
    const auto it = want.find(reinterpret_cast<std::uintptr_t>(key));
    ASSERT_NE(it, want.end());
    EXPECT_EQ(value, it->second);
  });
  EXPECT_EQ(seen, want.size());
}

TEST(AddressTable, EmptyFindsNothing) {
  AddressTable t;
  EXPECT_EQ(t.Find(Addr(64)), nullptr);
  t.Prefetch(Addr(64));  // harmless without slots
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.bytes(), 0u);
}

TEST(AddressTable, ConsecutiveObjectsGrowingFromEmpty) {
  // Objects allocated one after another, 8 to 4096 bytes apart.
  for (const std::uint64_t stride : {8, 16, 32, 4096}) {
    AddressTable t;
    std::vector<std::uint64_t> addrs;
    for (std::uint64_t i = 0; i < 100000; ++i) {
      addrs.push_back(0x7f0000000000 + i * stride);
    }
    InsertAndCheck(t, addrs);
    EXPECT_EQ(t.Find(Addr(0x7f0000000000 + 100000 * stride)), nullptr);
  }
}

TEST(AddressTable, RandomAddressesWithRepeats) {
  std::mt19937_64 rng(7);
  std::vector<std::uint64_t> addrs;
  for (int i = 0; i < 200000; ++i) addrs.push_back((rng() % 50000 + 1) * 16);
  AddressTable t;
  InsertAndCheck(t, addrs);
  EXPECT_LE(t.size(), 50000u);
}

TEST(AddressTable, ReservedRoomIsNotOutgrown) {
  AddressTable t;
  t.Reserve(1000000);
  const std::size_t capacity = t.capacity();
  // Room for a million at 3/4 load: 4/3 of a million slots, not 2^21.
  EXPECT_GE(capacity * 3, 1000000u * 4);
  EXPECT_LT(capacity, 1400000u);
  std::vector<std::uint64_t> addrs;
  for (std::uint64_t i = 1; i <= 1000000; ++i) addrs.push_back(i * 48);
  InsertAndCheck(t, addrs);
  // Looking up what is there, when full, does not grow it either.
  for (std::uint64_t i = 1; i <= 1000000; i += 1000) {
    EXPECT_FALSE(t.TryEmplace(Addr(i * 48)).second);
  }
  EXPECT_EQ(t.capacity(), capacity);
  EXPECT_EQ(t.bytes(), capacity * sizeof(AddressTable::Slot));
}

TEST(AddressTable, MovedTableKeepsItsEntriesAndLeavesAnEmptyOne) {
  AddressTable a;
  for (std::uint64_t i = 1; i <= 1000; ++i)
    a.TryEmplace(Addr(i * 16)).first->value = i;
  AddressTable b = std::move(a);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.Find(Addr(16)), nullptr);
  ASSERT_EQ(b.size(), 1000u);
  for (std::uint64_t i = 1; i <= 1000; ++i) {
    ASSERT_NE(b.Find(Addr(i * 16)), nullptr);
    EXPECT_EQ(*b.Find(Addr(i * 16)), i);
  }
  a = std::move(b);
  EXPECT_EQ(a.size(), 1000u);
  EXPECT_TRUE(a.TryEmplace(Addr(1001 * 16)).second);
}

}  // namespace
}  // namespace ancient::internal
