// The sharing table's pages (PackedAddressTable's, allocated as
// AddressTable's are) are written when it is made, so its lookups never map
// the zero page for its inserts to copy. A test binary of its own: in a
// process where other tests freed big blocks, the heap could serve a table
// from memory it had written already, and hide what this test looks for.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "ancient/internal/packed_address_table.h"
#include "gtest/gtest.h"

namespace ancient::internal {
namespace {

const void* Addr(std::uint64_t a) { return reinterpret_cast<const void*>(a); }

// Whether each page of [p, p + bytes) is present and mapped by this
// process alone (not the shared zero page a read maps), from
// /proc/self/pagemap (bits 63 and 56; readable without privileges).
std::vector<bool> PagesWritten(const void* p, std::size_t bytes) {
  const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto first = reinterpret_cast<std::uintptr_t>(p) / page;
  const auto last = (reinterpret_cast<std::uintptr_t>(p) + bytes - 1) / page;
  std::vector<std::uint64_t> entries(last - first + 1);
  const int fd = open("/proc/self/pagemap", O_RDONLY);
  EXPECT_GE(fd, 0) << "/proc/self/pagemap";
  const ssize_t want = static_cast<ssize_t>(entries.size() * 8);
  EXPECT_EQ(pread(fd, entries.data(), want, static_cast<off_t>(first * 8)),
            want);
  close(fd);
  std::vector<bool> out;
  for (const std::uint64_t e : entries) {
    out.push_back((e >> 63 & 1) != 0 && (e >> 56 & 1) != 0);
  }
  return out;
}

TEST(SharingTable, ABigTableIsWrittenBeforeItsFirstLookup) {
  // A lookup reads its slot before an insert writes it: on a page never
  // written, the read maps the shared zero page and the write then copies
  // it, a second fault whose flush interrupts the process's other cores.
  void* probe = mmap(nullptr, 4096, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(probe, MAP_FAILED);
  const bool populate = madvise(probe, 4096, MADV_POPULATE_WRITE) == 0;
  munmap(probe, 4096);
  if (!populate) GTEST_SKIP() << "kernel without MADV_POPULATE_WRITE (5.14+)";
  PackedAddressTable t;
  t.Reserve(1 << 20);
  const std::size_t bytes = t.capacity() * sizeof(PackedAddressTable::Word);
  const std::vector<bool> written = PagesWritten(t.slots(), bytes);
  EXPECT_EQ(std::count(written.begin(), written.end(), false), 0)
      << written.size() << " pages of slots";
  // The same after a growth (a table of its own again).
  const std::size_t reserved = t.capacity();
  for (std::uint64_t i = 1; i <= reserved; ++i) {
    t.FindOrInsert(Addr(i * 16), [&] { return i; });
  }
  ASSERT_GT(t.capacity(), reserved);
  const std::vector<bool> grown =
      PagesWritten(t.slots(), t.capacity() * sizeof(PackedAddressTable::Word));
  EXPECT_EQ(std::count(grown.begin(), grown.end(), false), 0)
      << grown.size() << " pages of slots";
}

TEST(SharingTable, SmallTablesAreWrittenBeforeTheirFirstLookupToo) {
  // Tables under 1 MiB come from the heap (the parallel mark's 256 shards
  // are such tables), fresh from its top in this process.
  for (const std::size_t entries : {20000, 40000}) {
    PackedAddressTable t;
    t.Reserve(entries);
    ASSERT_LT(t.bytes(), std::size_t{1} << 20);
    const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    // Whole pages inside the slots (the heap's own words may share the
    // first and last).
    const auto from = reinterpret_cast<std::uintptr_t>(t.slots());
    const std::uintptr_t begin = (from + page - 1) & ~(page - 1);
    const std::uintptr_t end =
        (from + t.capacity() * sizeof(PackedAddressTable::Word)) & ~(page - 1);
    ASSERT_LT(begin, end);
    const std::vector<bool> written =
        PagesWritten(reinterpret_cast<const void*>(begin), end - begin);
    EXPECT_EQ(std::count(written.begin(), written.end(), false), 0)
        << written.size() << " pages of slots, " << entries << " entries";
  }
}

}  // namespace
}  // namespace ancient::internal
