// Two releases of one program's types, for the tests of reading roots
// written by one release with the other (evolution_test, evolution_helper).
// Release 2 reorders City's fields, adds two with defaults and drops one;
// each reads the other's.

#ifndef ANCIENT_TESTS_EVOLUTION_TYPES_H_
#define ANCIENT_TESTS_EVOLUTION_TYPES_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ancient/ancient.h"

// Release 1's City; release 2's, which the release-2 program calls by the
// same name (it changed the struct), and this file also gives as
// geo2::City (moved to another namespace) for tests that hold both.
#define EVOLUTION_CITY_V1            \
  struct City {                      \
    std::string name;                \
    std::int64_t population = 0;     \
    std::string mayor;               \
    std::vector<std::uint32_t> zips; \
  };
#define EVOLUTION_CITY_V2            \
  struct City {                      \
    std::vector<std::uint32_t> zips; \
    std::string name;                \
    std::int32_t founded = 1143;     \
    std::int64_t population = 0;     \
    std::string motto = "none";      \
  };

#if !defined(EVOLUTION_RELEASE) || EVOLUTION_RELEASE == 1
namespace geo {
EVOLUTION_CITY_V1
}  // namespace geo
ANCIENT_STRUCT(geo::City, name, population, mayor, zips)
#else
namespace geo {
EVOLUTION_CITY_V2
}  // namespace geo
ANCIENT_STRUCT(geo::City, zips, name, founded, population, motto)
#endif

#if !defined(EVOLUTION_RELEASE)
namespace geo2 {
EVOLUTION_CITY_V2
}  // namespace geo2
ANCIENT_STRUCT(geo2::City, zips, name, founded, population, motto)
#endif

namespace evolution {
#if !defined(EVOLUTION_RELEASE)
using V1 = std::map<std::string, geo::City>;
using V2 = std::map<std::string, geo2::City>;
#else
using Mine = std::map<std::string, geo::City>;  // this release's
#endif

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
