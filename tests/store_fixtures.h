// What the store's single-process tests share (store_test,
// store_records_test): a struct type, opening a store or failing the test,
// small no-sync options.

#ifndef ANCIENT_TESTS_STORE_FIXTURES_H_
#define ANCIENT_TESTS_STORE_FIXTURES_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "store/store.h"

namespace store_types {
struct Entry {
  std::string word;
  std::int64_t count;
  std::vector<std::string> tags;
};
}  // namespace store_types
ANCIENT_STRUCT(store_types::Entry, word, count, tags);

namespace store_fixtures {

inline std::unique_ptr<ancient::Store> OpenOrDie(
    const std::string& dir, const ancient::StoreOptions& opts = {}) {
  auto s = ancient::Store::Open(dir, opts);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

inline ancient::StoreOptions Small() {
  ancient::StoreOptions o;
  o.max_size = std::size_t{1} << 30;
  o.durability = ancient::Durability::kNoSync;
  return o;
}

}  // namespace store_fixtures

#endif  // ANCIENT_TESTS_STORE_FIXTURES_H_
