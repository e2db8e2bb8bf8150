// Writes the store the Python tests read (python/tests/test_ancient.py):
//   py_fixture DIR [BIG [MAP]]   BIG: the length of the "big" root (1000);
//                                MAP: entries of "bigmap" (0: none) and
//                                also "words" (the dictionary, word -> i)
// Every frozen kind, with values the tests know by heart.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "store/store.h"

namespace fixture {
enum class Kind : std::uint8_t { kTown = 1, kCity = 2 };
struct City {
  std::string name;
  std::int64_t population = 0;
  double area = 0;
  Kind kind = Kind::kTown;
  std::vector<std::uint32_t> zips;
  std::optional<std::string> mayor;
  std::set<std::string> tags;
  std::pair<float, float> loc;
};
struct Node {
  std::int32_t id = 0;
  std::vector<Node*> out;
};
}  // namespace fixture
ANCIENT_STRUCT(fixture::City, name, population, area, kind, zips, mayor, tags,
               loc)
ANCIENT_STRUCT(fixture::Node, id, out)

namespace {

using fixture::City;

template <class T>
void Share(ancient::WriteBatch& b, const char* key, const T& v) {
  auto s = b.Share(key, v);
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", key, s.status().ToString().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: py_fixture DIR [BIG]\n");
    return 2;
  }
  const std::int64_t big = argc > 2 ? std::atoll(argv[2]) : 1000;
  ancient::StoreOptions o;
  o.durability = ancient::Durability::kNoSync;
  auto store = ancient::Store::Open(argv[1], o);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  auto batch = (*store)->Write();
  if (!batch.ok()) return 1;
  ancient::WriteBatch& b = *batch;

  std::map<std::string, City> cities;
  City& l = cities["Lisbon"];
  l = {"Lisbon",
       545923,
       100.05,
       fixture::Kind::kCity,
       {1000, 1100},
       "Carlos",
       {"capital", "port"},
       {38.7f, -9.1f}};
  City& p = cities["Porto"];
  p = {"Porto", 231800,       41.42, fixture::Kind::kTown,
       {},      std::nullopt, {},    {41.1f, -8.6f}};
  Share(b, "cities", cities);

  std::vector<std::int64_t> ints(1000);
  for (std::int64_t i = 0; i < 1000; ++i) ints[i] = i * 7 - 3;
  Share(b, "ints", ints);
  Share(b, "floats", std::vector<double>{0.5, -1.25, 3e100});
  Share(b, "f32", std::vector<float>{1.5f, -2.0f});
  Share(b, "u8", std::vector<std::uint8_t>{0, 1, 255});
  Share(b, "i16", std::vector<std::int16_t>{-32768, 0, 32767});
  Share(b, "bools", std::vector<bool>{true, false, true});
  Share(b, "empty", std::vector<std::string>{});
  std::unordered_map<std::string, std::int32_t> h;
  for (int i = 0; i < 500; ++i) h["k" + std::to_string(i)] = i * i;
  Share(b, "hash", h);
  std::unordered_map<std::int64_t, std::string> hi;
  for (std::int64_t i = -50; i < 50; ++i) hi[i * 1000003] = std::to_string(i);
  Share(b, "hash_int", hi);
  std::map<char, int> chars{{'a', 1}, {'z', 26}};
  Share(b, "chars", chars);
  std::map<std::int32_t, std::string> by_int{{-5, "minus five"}, {7, "seven"}};
  Share(b, "by_int", by_int);
  Share(b, "tuple", std::make_tuple(std::int8_t{-8}, std::string("t"), 2.5));
  std::vector<std::variant<std::int32_t, std::string, City>> var;
  var.emplace_back(std::int32_t{42});
  var.emplace_back(std::string("str"));
  var.emplace_back(cities["Porto"]);
  Share(b, "variant", var);
  Share(b, "opt_none", std::optional<std::int32_t>());
  Share(b, "opt_some", std::optional<std::int32_t>(9));
  std::vector<std::string> strings{"caf\xc3\xa9", "bad\xff",
                                   std::string("nul\0x", 5)};
  Share(b, "strings", strings);
  std::unordered_set<std::int32_t> hs{3, 1, 4};
  Share(b, "hash_set", hs);

  // A graph: node 0 -> 1 -> 2 -> 0 (a cycle), and node 1 reached twice.
  std::vector<std::unique_ptr<fixture::Node>> nodes;
  for (int i = 0; i < 3; ++i) {
    nodes.push_back(std::make_unique<fixture::Node>());
    nodes.back()->id = i;
  }
  nodes[0]->out = {nodes[1].get(), nodes[1].get()};
  nodes[1]->out = {nodes[2].get()};
  nodes[2]->out = {nodes[0].get()};
  Share(b, "graph", std::vector<fixture::Node*>{nodes[0].get()});

  ancient::Value::Object obj;
  obj["list"] = ancient::Value::Array{1, 2.5, "x", nullptr, true};
  obj["nested"] = ancient::Value::Object{{"k", "v"}};
  Share(b, "value", ancient::Value(obj));

  const std::int64_t map_n = argc > 3 ? std::atoll(argv[3]) : 0;
  if (map_n > 0) {
    std::unordered_map<std::string, std::int64_t> bigmap;
    bigmap.reserve(static_cast<std::size_t>(map_n));
    for (std::int64_t i = 0; i < map_n; ++i) {
      bigmap["key" + std::to_string(i)] = i;
    }
    Share(b, "bigmap", bigmap);
    std::map<std::string, std::int64_t> words;
    std::ifstream in("/usr/share/dict/words");
    std::int64_t i = 0;
    for (std::string w; std::getline(in, w);) words.emplace(w, i++);
    Share(b, "words", words);
  }
  std::vector<std::int64_t> bigv(static_cast<std::size_t>(big));
  for (std::int64_t i = 0; i < big; ++i) bigv[i] = i;
  Share(b, "big", bigv);
  absl::Status s = b.Commit();
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
