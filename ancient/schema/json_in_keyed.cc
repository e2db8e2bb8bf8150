// JsonGraphBuilder's Values, maps and sets (see json_builder.h).

#include <algorithm>
#include <numeric>

#include "ancient/schema/json_builder.h"

namespace ancient {

absl::Status JsonGraphBuilder::PutValue(int value, const Json& j,
                                        std::uint64_t off, const Where& w) {
  std::uint32_t type;
  switch (j.type()) {
    case Json::value_t::null:
      type = 0;
      break;
    case Json::value_t::boolean:
      type = 1;
      g_->Store<std::uint8_t>(off, j.get<bool>());
      break;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      if (const auto v = SignedOf(j)) {
        type = 2;
        g_->Store(off, *v);
      } else {
        type = 3;
        g_->Store(off, j.get<double>());
      }
      break;
    case Json::value_t::number_float:
      type = 3;
      g_->Store(off, j.get<double>());
      break;
    case Json::value_t::string:
      type = 4;
      g_->PutBytes(off, j.get_ref<const std::string&>());
      break;
    case Json::value_t::array:
    case Json::value_t::object:
      type = j.is_array() ? 5 : 6;
      if (!j.empty()) {
        Task t = Queue(value, &j, off, w);
        (j.is_array() ? t.value_array : t.value_object) = true;
        tasks_.push_back(std::move(t));
      }
      break;
    default:
      return Bad(w, "a JSON value", j);
  }
  g_->Store<std::uint32_t>(off + schema_internal::kValueIndexAt, type);
  return absl::OkStatus();
}

absl::Status JsonGraphBuilder::ValueArray(int value, const Json& j,
                                          std::uint64_t off, const Where& w) {
  const Node& e = n_[value];
  const std::uint64_t data = g_->Alloc(j.size() * e.size, e.align);
  g_->StorePointer(off, data);
  g_->Store<std::uint64_t>(off + 8, j.size());
  for (std::size_t k = 0; k < j.size(); ++k) {
    const Where at{&w, {}, k};
    absl::Status s = PutValue(value, j[k], data + k * e.size, at);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status JsonGraphBuilder::ValueObject(int value, const Json& j,
                                           std::uint64_t off, const Where& w) {
  const Node& e = n_[n_[value].args[1]];  // the entry: pair<string, value>
  const std::uint64_t data = g_->Alloc(j.size() * e.size, e.align);
  g_->StorePointer(off, data);
  g_->Store<std::uint64_t>(off + 8, j.size());
  std::uint64_t at = data;
  for (const auto& [k, v] : j.items()) {
    g_->PutBytes(at, k);
    const Where kw{&w, k, 0};
    absl::Status s = PutValue(value, v, at + e.offsets[1], kw);
    if (!s.ok()) return s;
    at += e.size;
  }
  return absl::OkStatus();
}

bool JsonGraphBuilder::SortKey(int node, const Json* j, const std::string* name,
                               std::vector<Scalar>* out) const {
  const Node& n = n_[node];
  switch (n.op) {
    case Op::kString: {
      if (name != nullptr) {
        out->emplace_back(*name);
        return true;
      }
      std::optional<std::string> s = StringOf(*j);
      if (!s) return false;
      out->emplace_back(std::move(*s));
      return true;
    }
    case Op::kChar: {
      const std::string* s =
          name != nullptr
              ? name
              : (j->is_string() ? &j->get_ref<const std::string&>() : nullptr);
      std::optional<std::int64_t> c =
          s == nullptr ? SignedOf(*j) : std::optional<std::int64_t>();
      if (s != nullptr && s->size() == 1) c = (*s)[0];
      if (!c) return false;
      out->emplace_back(
          static_cast<std::int64_t>(static_cast<signed char>(*c)));
      return true;
    }
    case Op::kBool:
      if (name != nullptr || !j->is_boolean()) return false;
      out->emplace_back(std::int64_t{j->get<bool>()});
      return true;
    case Op::kSigned:
      if (name != nullptr || !SignedOf(*j)) return false;
      out->emplace_back(*SignedOf(*j));
      return true;
    case Op::kUnsigned:
      if (name != nullptr || !j->is_number_unsigned()) return false;
      out->emplace_back(j->get<std::uint64_t>());
      return true;
    case Op::kFloat:
      if (name != nullptr || !j->is_number()) return false;
      out->emplace_back(j->get<double>());
      return true;
    case Op::kPair:
    case Op::kTuple:
      if (name != nullptr || !j->is_array() || j->size() != n.args.size()) {
        return false;
      }
      for (std::size_t k = 0; k < n.args.size(); ++k) {
        if (!SortKey(n.args[k], &(*j)[k], nullptr, out)) return false;
      }
      return true;
    default:
      return false;
  }
}

std::optional<std::uint64_t> JsonGraphBuilder::HashKey(
    int node, const Json* j, const std::string* name) const {
  const Node& n = n_[node];
  std::vector<Scalar> k;
  switch (n.op) {
    case Op::kString:
    case Op::kChar:
    case Op::kBool:
    case Op::kSigned:
    case Op::kUnsigned:
    case Op::kFloat: {
      if (!SortKey(node, j, name, &k)) return std::nullopt;
      if (const auto* s = std::get_if<std::string>(&k[0])) {
        return StableHash(std::string_view(*s));
      }
      if (const auto* i = std::get_if<std::int64_t>(&k[0])) {
        return internal::Mix64(static_cast<std::uint64_t>(*i));
      }
      if (const auto* u = std::get_if<std::uint64_t>(&k[0])) {
        return internal::Mix64(*u);
      }
      return StableHash(std::get<double>(k[0]));
    }
    case Op::kPair:
    case Op::kTuple: {
      if (!j->is_array() || j->size() != n.args.size()) return std::nullopt;
      std::uint64_t acc = internal::kHashSeed;
      for (std::size_t i = 0; i < n.args.size(); ++i) {
        const auto h = HashKey(n.args[i], &(*j)[i], nullptr);
        if (!h) return std::nullopt;
        acc = internal::Combine(acc, *h);
      }
      return acc;
    }
    default:
      return std::nullopt;
  }
}

absl::Status JsonGraphBuilder::PutKeyed(int node, const Json& j,
                                        std::uint64_t off, const Where& w) {
  const Node& n = n_[node];
  const bool is_map = n.op == Op::kMap || n.op == Op::kHashMap;
  const bool hashed = n.op == Op::kHashSet || n.op == Op::kHashMap;
  const int elem = n.args[0];  // the entry pair, or the set's key
  const int key = is_map ? n.args[1] : elem;
  std::vector<Entry> entries;
  entries.reserve(j.size());
  if (is_map && j.is_object() &&
      (n_[key].op == Op::kString || n_[key].op == Op::kChar)) {
    for (const auto& [k, v] : j.items()) entries.push_back({nullptr, &k, &v});
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) {
      const Json& e = j[i];
      if (!is_map) {
        entries.push_back({&e, nullptr, nullptr});
      } else if (e.is_array() && e.size() == 2) {
        entries.push_back({&e[0], nullptr, &e[1]});
      } else {
        return Bad(Where{&w, {}, i}, "a [key, value] pair", e);
      }
    }
  } else {
    return Bad(
        w, is_map ? "an object or an array of [key, value] pairs" : "an array",
        j);
  }
  // Sorted by key where the order is known (and checked for duplicates).
  std::vector<std::vector<Scalar>> keys(entries.size());
  bool ordered = true;
  for (std::size_t i = 0; i < entries.size() && ordered; ++i) {
    ordered = SortKey(key, entries[i].key, entries[i].name, &keys[i]);
  }
  std::vector<std::size_t> order(entries.size());
  std::iota(order.begin(), order.end(), 0);
  if (ordered) {
    std::vector<std::size_t> sorted = order;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [&](auto a, auto b) { return keys[a] < keys[b]; });
    for (std::size_t i = 1; i < sorted.size(); ++i) {
      if (keys[sorted[i - 1]] == keys[sorted[i]]) {
        return absl::InvalidArgumentError(absl::StrCat(
            Path(Where{&w, {}, sorted[i]}), ": a key given twice"));
      }
    }
    if (!hashed) order = std::move(sorted);
  }
  const Node& e = n_[elem];
  const std::uint64_t count = entries.size();
  const std::uint64_t data = g_->Alloc(count * e.size, e.align);
  // Where each entry goes: its index, or for hash containers its slot.
  std::vector<std::uint64_t> slot(count);
  if (!hashed) {
    for (std::uint64_t i = 0; i < count; ++i) slot[order[i]] = i;
    if (count != 0) g_->StorePointer(off, data);
    g_->Store<std::uint64_t>(off + 8, count);
  } else {
    std::uint64_t buckets = 1;
    while (buckets < count) buckets <<= 1;
    const std::uint64_t starts = g_->Alloc((buckets + 1) * 8, 8);
    std::vector<std::uint64_t> bucket(count), fill(buckets + 1, 0);
    for (std::uint64_t i = 0; i < count; ++i) {
      const auto h = HashKey(key, entries[i].key, entries[i].name);
      if (!h) {
        return absl::InvalidArgumentError(absl::StrCat(Path(Where{&w, {}, i}),
                                                       ": not a key of type ",
                                                       n_[key].expression));
      }
      bucket[i] = *h & (buckets - 1);
      ++fill[bucket[i] + 1];
    }
    for (std::uint64_t b = 0; b < buckets; ++b) fill[b + 1] += fill[b];
    for (std::uint64_t b = 0; b <= buckets; ++b) {
      g_->Store(starts + 8 * b, fill[b]);
    }
    for (std::uint64_t i = 0; i < count; ++i) slot[i] = fill[bucket[i]]++;
    if (count != 0) g_->StorePointer(off, data);
    g_->StorePointer(off + 8, starts);
    g_->Store<std::uint64_t>(off + 16, count);
    g_->Store<std::uint64_t>(off + 24, buckets - 1);
  }
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t at = data + slot[i] * e.size;
    const Entry& en = entries[i];
    const Where ew = en.name ? Where{&w, *en.name, 0} : Where{&w, {}, i};
    absl::Status s;
    if (en.name != nullptr) {  // an object member: its name is the key
      if (n_[key].op == Op::kChar) {
        if (en.name->size() != 1) return Bad(ew, "a one-byte key", *en.value);
        g_->Store(at, (*en.name)[0]);
      } else {
        g_->PutBytes(at, *en.name);
      }
    } else {
      s = Put(key, *en.key, at, ew);
    }
    if (s.ok() && is_map) s = Put(n.args[2], *en.value, at + e.offsets[1], ew);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace ancient
