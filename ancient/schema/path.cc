// Path steps (JsonOptions::path) over a graph, by schema.

#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "ancient/schema/check.h"
#include "ancient/schema/nodes.h"

namespace ancient::schema_internal {
namespace {

// Whether the key at `off` (of node `key`) is the one `text` names.
absl::StatusOr<bool> KeyIs(const Nodes& nodes, const View& v, int key,
                           std::uint64_t off, std::string_view text) {
  const Node& k = nodes[key];
  switch (k.op) {
    case Op::kString:
      return v.Bytes(off) == text;
    case Op::kChar:
      return text.size() == 1 && *v.at(off) == text[0];
    case Op::kBool:
      return (text == "true" || text == "false") &&
             (v.Load<std::uint8_t>(off) == 1) == (text == "true");
    case Op::kSigned:
    case Op::kUnsigned: {
      std::int64_t s;
      std::uint64_t u;
      const bool is_s = absl::SimpleAtoi(schema_internal::Av(text), &s);
      const bool is_u = absl::SimpleAtoi(schema_internal::Av(text), &u);
      if (!is_s && !is_u) break;
      return k.op == Op::kSigned ? is_s && v.Signed(off, k.size) == s
                                 : is_u && v.Unsigned(off, k.size) == u;
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrFormat("a path cannot name keys of type %s", k.expression));
  }
  return absl::InvalidArgumentError(
      absl::StrFormat("'%s' is not a key of type %s", text, k.expression));
}

}  // namespace

absl::Status Step(const Nodes& nodes, const View& v, std::string_view path,
                  int* node, std::uint64_t* off) {
  if (path.empty()) return absl::OkStatus();
  std::string done;
  for (absl::string_view part :
       absl::StrSplit(schema_internal::Av(path), '.')) {
    const std::string where = done.empty() ? "the root" : "`" + done + "`";
    // Through pointers, optionals and variants to something with parts.
    for (;;) {
      const Node& n = nodes[*node];
      if (n.op == Op::kPtr) {
        const auto p = v.Load<std::uint64_t>(*off);
        if (p == 0) return absl::NotFoundError("null pointer at " + where);
        const Node& e = nodes[n.args[0]];
        v.Range(p, 1, e.size, e.align, off);
        *node = n.args[0];
      } else if (n.op == Op::kOptional) {
        if (v.Load<std::uint8_t>(*off + nodes[n.args[0]].size) == 0) {
          return absl::NotFoundError("empty optional at " + where);
        }
        *node = n.args[0];
      } else if (n.op == Op::kVariant) {
        *node = n.args[v.Load<std::uint32_t>(*off + n.offsets[0])];
      } else {
        break;
      }
    }
    const Node& n = nodes[*node];
    auto missing = [&] {
      return absl::NotFoundError(absl::StrFormat("%s (a %s) has no part '%s'",
                                                 where, n.expression, part));
    };
    std::uint64_t index = 0;
    const bool numeric = absl::SimpleAtoi(part, &index);
    int elems = -1;  // for arrays and maps: the element node
    std::uint64_t count = 0, data = 0;
    switch (n.op) {
      case Op::kStruct: {
        std::size_t k = 0;
        while (k < n.names.size() && n.names[k] != part) ++k;
        if (k == n.names.size()) return missing();
        *off += n.offsets[k];
        *node = n.args[k];
        break;
      }
      case Op::kPair:
      case Op::kTuple:
        if (!numeric || index >= n.args.size()) return missing();
        *off += n.offsets[index];
        *node = n.args[index];
        break;
      case Op::kValue: {
        const auto type = v.Load<std::uint32_t>(*off + kValueIndexAt);
        if (type != 5 && type != 6) {
          return absl::InvalidArgumentError(where +
                                            " is a value without parts");
        }
        elems = type == 5 ? *node : n.args[1];
        break;
      }
      case Op::kVector:
      case Op::kMap:
      case Op::kHashMap:
        elems = n.args[0];
        break;
      default:
        return absl::InvalidArgumentError(absl::StrFormat(
            "%s is a %s: a path cannot name its parts", where, n.expression));
    }
    if (elems >= 0) {
      const Node& e = nodes[elems];
      count = v.Load<std::uint64_t>(*off + (n.op == Op::kHashMap ? 16 : 8));
      if (count != 0)
        v.Range(v.Load<std::uint64_t>(*off), count, e.size, e.align, &data);
      const bool is_map = n.op == Op::kMap || n.op == Op::kHashMap ||
                          (n.op == Op::kValue && elems != *node);
      if (!is_map) {  // an array
        if (!numeric || index >= count) return missing();
        *off = data + index * e.size;
        *node = elems;
      } else {
        std::uint64_t k = 0;
        for (; k < count; ++k) {
          absl::StatusOr<bool> is =
              KeyIs(nodes, v, e.args[0], data + k * e.size,
                    std::string_view(part.data(), part.size()));
          if (!is.ok()) return is.status();
          if (*is) break;
        }
        if (k == count) return missing();
        *off = data + k * e.size + e.offsets[1];
        *node = e.args[1];
      }
    }
    done = done.empty() ? std::string(part) : absl::StrCat(done, ".", part);
  }
  return absl::OkStatus();
}

}  // namespace ancient::schema_internal
