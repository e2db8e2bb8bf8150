#include "store/manifest.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "store/strings.h"

namespace ancient::store_internal {
namespace {

constexpr char kManifestHeader[] = "ancient-manifest 1";

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

}  // namespace

std::string EncodeManifest(const Manifest& m) {
  std::string out = Cat(kManifestHeader, "\n", "version ", m.version, "\n");
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
  if (lines.empty() || lines[0] != kManifestHeader) {
    return bad(lines.empty() ? "" : lines[0]);
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty()) continue;
    std::vector<std::string> f = absl::StrSplit(line, absl::MaxSplits(' ', 4));
    if (f[0] == "version" && f.size() == 2) {
      if (!absl::SimpleAtoi(f[1], &m.version)) return bad(line);
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

}  // namespace ancient::store_internal
