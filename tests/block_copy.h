// Test helper: a relocated copy of a marked block.

#ifndef ANCIENT_TESTS_BLOCK_COPY_H_
#define ANCIENT_TESTS_BLOCK_COPY_H_

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

#include "ancient/ancient.h"

namespace ancient_test {

// A writable copy of a marked block at another address, relocated by its
// record (a failure of the test if the record does not apply): to damage,
// or to check that the record names every pointer slot (a slot it misses
// still points into the original, outside the copy).
class BlockCopy {
 public:
  template <class T>
  explicit BlockCopy(const ancient::Ancient<T>& a)
      : size_(a.size_bytes()),
        p_(static_cast<char*>(::operator new (size_, std::align_val_t{64}))) {
    std::memcpy(p_, a.data(), size_);
    EXPECT_TRUE(
        ancient::RelocateBlock(p_, size_, a.relocations(),
                               reinterpret_cast<std::uintptr_t>(a.data()))
            .ok());
  }
  BlockCopy(const BlockCopy&) = delete;
  BlockCopy& operator=(const BlockCopy&) = delete;
  ~BlockCopy() { ::operator delete (p_, std::align_val_t{64}); }
  char* data() { return p_; }
  std::uint64_t size() const { return size_; }
  template <class V>
  void Put(std::size_t at, V v) {
    std::memcpy(p_ + at, &v, sizeof v);
  }
  template <class V>
  V GetAt(std::size_t at) const {
    V v;
    std::memcpy(&v, p_ + at, sizeof v);
    return v;
  }

 private:
  std::uint64_t size_;
  char* p_;
};

}  // namespace ancient_test

#endif  // ANCIENT_TESTS_BLOCK_COPY_H_
