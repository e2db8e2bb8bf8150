// Two releases of one program's types, for the tests of reading roots
// written by one release with the other (evolution_test, evolution_helper).
// Release 2 reorders City's fields, adds two with defaults, widens zips'
// elements and renames the struct's namespace; both read each other.

#ifndef ANCIENT_TESTS_EVOLUTION_TYPES_H_
#define ANCIENT_TESTS_EVOLUTION_TYPES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ancient/ancient.h"

namespace geo {
struct City {
  std::string name;
  std::int64_t population = 0;
  std::string mayor;
  std::vector<std::uint32_t> zips;
};
}  // namespace geo
ANCIENT_STRUCT(geo::City, name, population, mayor, zips)

namespace geo2 {
struct City {
  std::vector<std::uint32_t> zips;
  std::string name;
  std::int32_t founded = 1143;
  std::int64_t population = 0;
  std::string motto = "none";
};
}  // namespace geo2
ANCIENT_STRUCT(geo2::City, zips, name, founded, population, motto)

namespace evolution {
using V1 = std::map<std::string, geo::City>;
using V2 = std::map<std::string, geo2::City>;

// The same n cities in either release: city i has population i * 1000.
template <class Map>
Map Cities(int n) {
  Map m;
  for (int i = 0; i < n; ++i) {
    auto& c = m["city" + std::to_string(i)];
    c.name = "City " + std::to_string(i);
    c.population = std::int64_t{i} * 1000;
    c.zips = {static_cast<std::uint32_t>(i), 70000};
  }
  return m;
}
}  // namespace evolution

#endif  // ANCIENT_TESTS_EVOLUTION_TYPES_H_
