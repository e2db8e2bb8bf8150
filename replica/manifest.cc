#include "replica/manifest.h"

#include <xxhash.h>

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "ancient/type_id.h"
#include "store/strings.h"

namespace ancient::replica_internal {

using store_internal::Cat;
namespace {

constexpr char kManifestHeader1[] = "ancient-manifest 1";
constexpr char kManifestHeader2[] = "ancient-manifest 2";

std::string HexEncode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out += absl::StrFormat("%02x", c);
  return out;
}

bool HexDecode(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int v = 0;
    for (char c : hex.substr(i, 2)) {
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else
        return false;
    }
    out->push_back(static_cast<char>(v));
  }
  return true;
}

bool IsObjectName(std::string_view s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::string ObjectName(const void* bytes, std::size_t size) {
  const XXH128_hash_t h = XXH3_128bits(bytes, size);
  return absl::StrFormat("%016x%016x", h.high64, h.low64);
}

std::uint64_t Manifest::bytes() const {
  std::uint64_t n = 0;
  for (const File& f : files) n += f.sum.size;
  for (const ObjectRoot& r : objects) n += r.object_size();
  return n;
}

std::string EncodeManifest(const Manifest& m) {
  if (m.format == 2) {
    std::string out = Cat(kManifestHeader2, "\n", "version ", m.version, "\n",
                          "new_bytes ", m.new_bytes, "\n");
    for (const auto& [id, description] : m.types) {
      out += absl::StrFormat("type %016x %s\n", id, HexEncode(description));
    }
    for (const ObjectRoot& r : m.objects) {
      out += absl::StrFormat("root %s %016x %d %d %s %016x %s\n",
                             HexEncode(r.key), r.type_id, r.graph_size,
                             r.reloc_size, r.object, r.source, r.type_name);
    }
    return out;
  }
  std::string out = Cat(kManifestHeader1, "\n", "version ", m.version, "\n");
  for (const auto& f : m.files) {
    out +=
        absl::StrFormat("file %s %d %016x\n", f.name, f.sum.size, f.sum.hash);
  }
  for (const auto& r : m.roots) {
    out += absl::StrFormat("root %s %016x %d %s\n", HexEncode(r.key), r.type_id,
                           r.size_bytes, r.type_name);
  }
  return out;
}

absl::StatusOr<Manifest> DecodeManifest(const std::string& text,
                                        const std::string& path) {
  Manifest m;
  auto bad = [&](std::string_view line) {
    return absl::DataLossError(
        Cat("bad manifest ", path, ": '", line.substr(0, 80), "'"));
  };
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  if (lines.empty() ||
      (lines[0] != kManifestHeader1 && lines[0] != kManifestHeader2)) {
    return bad(lines.empty() ? "" : lines[0]);
  }
  m.format = lines[0] == kManifestHeader1 ? 1 : 2;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty()) continue;
    std::vector<std::string> f = absl::StrSplit(
        line, absl::MaxSplits(' ', m.format == 1 || line[0] != 'r' ? 4 : 7));
    if (f[0] == "version" && f.size() == 2) {
      if (!absl::SimpleAtoi(f[1], &m.version)) return bad(line);
    } else if (m.format == 2) {
      if (f[0] == "new_bytes" && f.size() == 2) {
        if (!absl::SimpleAtoi(f[1], &m.new_bytes)) return bad(line);
      } else if (f[0] == "type" && f.size() == 3) {
        std::uint64_t id;
        std::string description;
        if (!absl::SimpleHexAtoi(f[1], &id) || !HexDecode(f[2], &description)) {
          return bad(line);
        }
        // A description is what its type id hashes: another type's would
        // have objects checked by, and recorded under, a type they are not.
        if (!description.empty() && TypeIdOf(description) != id) {
          return absl::DataLossError(absl::StrFormat(
              "%s: the description of type %016x is not the one its id "
              "names (it hashes to %016x)",
              path, id, TypeIdOf(description)));
        }
        m.types[id] = std::move(description);
      } else if (f[0] == "root" && f.size() == 8) {
        ObjectRoot r;
        if (!HexDecode(f[1], &r.key) || r.key.empty() ||
            !absl::SimpleHexAtoi(f[2], &r.type_id) ||
            !absl::SimpleAtoi(f[3], &r.graph_size) ||
            !absl::SimpleAtoi(f[4], &r.reloc_size) || !IsObjectName(f[5]) ||
            !absl::SimpleHexAtoi(f[6], &r.source) ||
            r.graph_size > (std::uint64_t{1} << 50) ||
            r.reloc_size > (std::uint64_t{1} << 50)) {
          return bad(line);
        }
        r.object = f[5];
        r.type_name = f[7];
        if (!m.types.contains(r.type_id)) return bad(line);
        m.objects.push_back(std::move(r));
      } else {
        return bad(line);
      }
    } else if (f[0] == "file" && f.size() == 4) {
      Manifest::File file{f[1], {}};
      if (!absl::SimpleAtoi(f[2], &file.sum.size) ||
          !absl::SimpleHexAtoi(f[3], &file.sum.hash) ||
          file.name.find('/') != std::string::npos) {
        return bad(line);
      }
      m.files.push_back(std::move(file));
    } else if (f[0] == "root" && f.size() == 5) {
      RootInfo r;
      if (!HexDecode(f[1], &r.key) || !absl::SimpleHexAtoi(f[2], &r.type_id) ||
          !absl::SimpleAtoi(f[3], &r.size_bytes)) {
        return bad(line);
      }
      r.type_name = f[4];
      m.roots.push_back(std::move(r));
    } else {
      return bad(line);
    }
  }
  if (m.version == 0) return bad("(no version)");
  if (m.format == 2) return m;
  for (const char* name : kVersionFiles) {
    if (std::none_of(m.files.begin(), m.files.end(),
                     [&](const Manifest::File& f) { return f.name == name; })) {
      return absl::DataLossError(
          Cat("bad manifest ", path, ": no '", name, "' listed"));
    }
  }
  if (m.version == 0) return bad("(no version)");
  return m;
}

}  // namespace ancient::replica_internal
