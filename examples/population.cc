// Two processes sharing a map through a store:
//   population write DIR          shares a map of city populations
//   population read DIR CITY      (another process) reads one, in place
#include <cstdint>
#include <iostream>
#include <map>
#include <string>

#include "store/store.h"

int Fail(const absl::Status& s) {
  std::cerr << "population: " << s << "\n";
  return 1;
}

int Write(const std::string& dir) {
  auto store = ancient::Store::Open(dir);  // creates it if missing
  if (!store.ok()) return Fail(store.status());
  std::map<std::string, std::int64_t> population = {
      {"Lisbon", 545923}, {"Porto", 231800}, {"Braga", 193333}};
  auto info = (*store)->Share("population", population);
  if (!info.ok()) return Fail(info.status());
  std::cout << "shared " << info->size_bytes << " bytes\n";
  return 0;
}

int Read(const std::string& dir, const std::string& city) {
  ancient::StoreOptions options;
  options.read_only = true;  // the arena is mapped PROT_READ
  auto store = ancient::Store::Open(dir, options);
  if (!store.ok()) return Fail(store.status());
  auto root = (*store)->Get<std::map<std::string, std::int64_t>>("population");
  if (!root.ok()) return Fail(root.status());  // NotFound, wrong type, ...
  const std::int64_t* n = (*root)->get(city);  // a string_view lookup
  if (n == nullptr) return Fail(absl::NotFoundError("no city " + city));
  std::cout << city << ": " << *n << "\n";
  return 0;
}

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "write" && argc == 3) return Write(argv[2]);
  if (mode == "read" && argc == 4) return Read(argv[2], argv[3]);
  std::cerr << "usage: population write DIR | population read DIR CITY\n";
  return 2;
}
