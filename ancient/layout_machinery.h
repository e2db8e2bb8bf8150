// Internal: the primary Layout<T> template (an error: no layout for T) and
// the machinery its container specialisations in ancient/layout.h share:
// marking elements and pointees, sequences, sorted and hashed containers,
// pointers.

#ifndef ANCIENT_LAYOUT_MACHINERY_H_
#define ANCIENT_LAYOUT_MACHINERY_H_

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/container/node_hash_set.h"
#include "ancient/frozen.h"
#include "ancient/internal/describer.h"
#include "ancient/internal/mark_context.h"

namespace ancient {

template <class T, class Enable = void>
struct Layout {
  static_assert(sizeof(T) == 0,
                "ancient: no frozen layout for this type; declare structs "
                "with ANCIENT_STRUCT(Type, fields...)");
};

// The frozen layout of heap type T.
template <class T>
using Frozen = typename Layout<std::remove_cv_t<T>>::type;

namespace internal {

// Writes the fields of frozen containers. Only the marker uses it.
struct FrozenAccess {
  // Where a String's pointer is.
  static constexpr std::size_t kStringPointerAt = offsetof(String, data_);
  // With `record` false, the caller records the pointer's slot itself
  // (MarkContext::RecordSlots).
  static void SetString(MarkContext& c, std::uint64_t off,
                        std::uint64_t data_off, std::uint64_t size,
                        bool record = true) {
    if (record) {
      c.StorePointer(off + kStringPointerAt, data_off);
    } else {
      c.WritePointer(off + kStringPointerAt, data_off);
    }
    c.Store(off + offsetof(String, size_), size);
  }
  // Vector, SortedArray: {data_, size_}. A null data pointer when empty.
  template <class F>
  static void SetArray(MarkContext& c, std::uint64_t off,
                       std::uint64_t data_off, std::uint64_t size) {
    if (size != 0) c.StorePointer(off + offsetof(F, data_), data_off);
    c.Store(off + offsetof(F, size_), size);
  }
  template <class F>
  static void SetHashed(MarkContext& c, std::uint64_t off,
                        std::uint64_t data_off, std::uint64_t starts_off,
                        std::uint64_t size, std::uint64_t mask) {
    if (size != 0) c.StorePointer(off + offsetof(F, data_), data_off);
    c.StorePointer(off + offsetof(F, starts_), starts_off);
    c.Store(off + offsetof(F, size_), size);
    c.Store(off + offsetof(F, mask_), mask);
  }
  // Offsets (in the block being written) of a hashed container's entries
  // and bucket starts, from the pointers Mark wrote.
  template <class F>
  static std::uint64_t HashedData(const MarkContext& c, const F& f) {
    return static_cast<std::uint64_t>(reinterpret_cast<const char*>(f.data_) -
                                      c.address(0));
  }
  template <class F>
  static std::uint64_t HashedStartsOffset(const MarkContext& c, const F& f) {
    return static_cast<std::uint64_t>(reinterpret_cast<const char*>(f.starts_) -
                                      c.address(0));
  }
  template <class F>
  static const std::uint64_t* HashedStarts(const F& f) {
    return f.starts_;
  }
  template <class F>
  static std::uint8_t OptionalFlag(const F& f) {
    return f.has_;
  }
  template <class F>
  static std::uint64_t HashedMask(const F& f) {
    return f.mask_;
  }
  template <class F>
  static constexpr std::size_t OptionalValueOffset() {
    return offsetof(F, storage_);
  }
  template <class F>
  static void SetOptionalHas(MarkContext& c, std::uint64_t off) {
    c.Store(off + offsetof(F, has_), std::uint8_t{1});
  }
  template <class F>
  static constexpr std::size_t VariantValueOffset() {
    return offsetof(F, storage_);
  }
  template <class F>
  static void SetVariantIndex(MarkContext& c, std::uint64_t off,
                              std::uint32_t index) {
    c.Store(off + offsetof(F, index_), index);
  }
  template <class F>
  static void SetPtr(MarkContext& c, std::uint64_t off, std::uint64_t target) {
    c.StorePointer(off + offsetof(F, p_), target);
  }
  // Where the pointer that SetPtr wrote at `off` points (while writing).
  template <class F>
  static std::uint64_t PtrTarget(const MarkContext& c, std::uint64_t off) {
    return c.PointerTarget(off + offsetof(F, p_));
  }
};

// True when the frozen form is the heap form, bit for bit.
template <class T>
inline constexpr bool kIsIdentity =
    std::is_same_v<Frozen<T>, T>&& std::is_trivially_copyable_v<T>;

template <class T>
void Describe(Describer& d) {
  Layout<std::remove_cv_t<T>>::Describe(d);
}

template <class... Ts>
void DescribeList(Describer& d) {
  bool first = true;
  ((d.Append(first ? "" : ","), first = false, Describe<Ts>(d)), ...);
}

// The pointee type of a pointer-like element type, or void.
template <class E>
struct PointeeOf {
  using type = void;
};
template <class T>
struct PointeeOf<T*> {
  using type = std::remove_cv_t<T>;
};
template <class T>
struct PointeeOf<std::shared_ptr<T>> {
  using type = T;
};
template <class T, class D>
struct PointeeOf<std::unique_ptr<T, D>> {
  using type = T;
};
template <class E>
inline constexpr bool kIsUniquePtr = false;
template <class T, class D>
inline constexpr bool kIsUniquePtr<std::unique_ptr<T, D>> = true;

template <class E>
const void* RawPointer(const E& e) {
  if constexpr (std::is_pointer_v<E>) {
    return e;
  } else {
    return e.get();
  }
}

// Elements whose only pointer is a string's, at the same place in each:
// strings, and pairs of a string and plain bytes (entries of a map from
// strings to numbers). Mark writes one without recording its slot; At() is
// where its String is.
template <class E>
struct StringSlot {
  static constexpr bool kOnly =
      std::is_same_v<E, std::string> || std::is_same_v<E, std::string_view>;
  static constexpr std::size_t At() { return 0; }
  static void Mark(MarkContext& c, const E& e, std::uint64_t off) {
    Layout<E>::Mark(c, e, off, /*record=*/false);
  }
};
template <class K, class V>
struct StringSlot<std::pair<K, V>> {
  using P = Frozen<std::pair<K, V>>;
  static constexpr bool kOnly =
      std::is_same_v<std::remove_const_t<K>, std::string> && kIsIdentity<V>;
  static constexpr std::size_t At() { return offsetof(P, first); }
  static void Mark(MarkContext& c, const std::pair<K, V>& e,
                   std::uint64_t off) {
    Layout<std::remove_const_t<K>>::Mark(c, e.first, off + offsetof(P, first),
                                         /*record=*/false);
    Layout<V>::Mark(c, e.second, off + offsetof(P, second));
  }
};

// Marking on several threads, arrays of more than twice this many elements
// (that are not plain bytes) are marked as tasks of this many, which any
// worker may take.
inline constexpr std::size_t kSplitElements = 4096;

template <class E, class It>
void MarkElements(MarkContext& c, It it, std::size_t n, std::uint64_t off);

template <class T>
struct PointerLayout;

// An array of pointers is marked in groups of this many: consecutive groups
// whose pointees are all new and placed one after another are one task
// (PointeeChain) that marks a group and queues itself again for the next,
// behind the tasks that group's pointees queued: the queue holds one
// group's work at a time instead of a task per pointee (a million-node
// array: 16 MiB of queue), and each pointee's own tasks run while it is
// still in cache. Not where the mark may go on several threads, whose
// start and sharing of work count tasks.
inline constexpr std::size_t kRunElements = 64;

// The kRunElements pointees of the pointers at `src` (elements of type E),
// new and placed one after another from `off`.
template <class E>
void PointeeRun(MarkContext& c, const void* src, std::uint64_t off) {
  using T = typename PointeeOf<E>::type;
  constexpr std::size_t kAhead = 8;
  const E* p = static_cast<const E*>(src);
  for (std::size_t j = 0; j < kRunElements; ++j) {
    if (j + kAhead < kRunElements)
      __builtin_prefetch(RawPointer(p[j + kAhead]));
    Layout<T>::Mark(c, *static_cast<const T*>(RawPointer(p[j])),
                    off + j * sizeof(Frozen<T>));
  }
}
// ... a few tasks ahead: its first pointees (the rest are fetched as it
// runs).
template <class E>
void PrefetchPointeeRun(const MarkContext&, const void* src, int stage) {
  if (stage != 1) return;
  const E* p = static_cast<const E*>(src);
  for (std::size_t j = 0; j < 8; ++j) __builtin_prefetch(RawPointer(p[j]));
}

// A task: the next group of the RunChain at `src`, its pointees from `off`;
// queues itself again while groups are left.
template <class E>
void PointeeChain(MarkContext& c, const void* src, std::uint64_t off);
template <class E>
void PrefetchPointeeChain(const MarkContext& c, const void* src, int stage) {
  PrefetchPointeeRun<E>(c, static_cast<const MarkContext::RunChain*>(src)->next,
                        stage);
}
template <class E>
void PointeeChain(MarkContext& c, const void* src, std::uint64_t off) {
  using T = typename PointeeOf<E>::type;
  auto* chain = static_cast<MarkContext::RunChain*>(const_cast<void*>(src));
  const E* p = static_cast<const E*>(chain->next);
  PointeeRun<E>(c, p, off);
  if (--chain->groups == 0) return;
  chain->next = p + kRunElements;
  c.Defer<&PointeeChain<E>, &PrefetchPointeeChain<E>>(
      chain, off + kRunElements * sizeof(Frozen<T>));
}

// Places the pointers of group `g` (kRunElements from p + g, fewer where
// `n` ends first) into the array at `off`: sets targets[j] to where pointee
// g + j is placed, and returns bit j set when that pointee is new (its
// contents then the caller's to queue).
template <class E>
std::uint64_t PlaceGroup(MarkContext& c, const E* p, std::size_t n,
                         std::size_t g, std::uint64_t off,
                         std::uint64_t* targets) {
  using T = typename PointeeOf<E>::type;
  using FE = Frozen<E>;
  constexpr std::size_t kAhead = 8;
  const bool probe = c.MayBeShared(&kTypeTag<T>);
  const std::size_t m = std::min(kRunElements, n - g);
  std::uint64_t fresh_bits = 0;
  for (std::size_t j = 0; j < m; ++j) {
    const std::size_t i = g + j;
    if (probe && i + kAhead < n) c.PrefetchIntern(RawPointer(p[i + kAhead]));
    bool fresh = false;
    targets[j] =
        PointerLayout<T>::Place(c, static_cast<const T*>(RawPointer(p[i])),
                                off + i * sizeof(FE), kIsUniquePtr<E>, &fresh);
    fresh_bits |= std::uint64_t{fresh} << j;
  }
  return fresh_bits;
}

// Marks the `n` pointers at `p` into the array at `off` (see kRunElements).
template <class E>
void MarkPointers(MarkContext& c, const E* p, std::size_t n,
                  std::uint64_t off) {
  using T = typename PointeeOf<E>::type;
  const bool runs = !c.parallel_possible();
  std::uint64_t targets[kRunElements];
  // The runs found so far that continue one another: `chained` groups from
  // group `chain_g`, pointees from `chain_off`; queued when one does not.
  std::size_t chain_g = 0, chained = 0;
  std::uint64_t chain_off = 0;
  const auto queue_chain = [&] {
    if (chained == 1) {
      c.Defer<&PointeeRun<E>, &PrefetchPointeeRun<E>>(p + chain_g, chain_off);
    } else if (chained > 1) {
      c.Defer<&PointeeChain<E>, &PrefetchPointeeChain<E>>(
          c.NewChain(p + chain_g, chained), chain_off);
    }
    chained = 0;
  };
  for (std::size_t g = 0; g < n; g += kRunElements) {
    std::uint64_t fresh_bits = PlaceGroup<E>(c, p, n, g, off, targets);
    bool run = runs && n - g >= kRunElements && ~fresh_bits == 0;
    for (std::size_t j = 1; run && j < kRunElements; ++j) {
      run = targets[j] == targets[0] + j * sizeof(Frozen<T>);
    }
    if (run) {
      if (chained != 0 && targets[0] != chain_off + chained * kRunElements *
                                                        sizeof(Frozen<T>)) {
        queue_chain();
      }
      if (chained++ == 0) {
        chain_g = g;
        chain_off = targets[0];
      }
      continue;
    }
    queue_chain();
    for (; fresh_bits != 0; fresh_bits &= fresh_bits - 1) {
      const int j = __builtin_ctzll(fresh_bits);
      c.Defer<&PointerLayout<T>::Pointee>(RawPointer(p[g + j]), targets[j]);
    }
  }
  queue_chain();
}

// Marking on several threads, an array of more than 2 x kSplitElements
// pointers is placed in parts of kSplitElements, tasks that any worker may
// take (SplitPart); the contents of its new pointees are queued only when
// every part is placed, by the worker that places the last. Were each
// part's contents queued at once, a worker done with its parts would walk
// edges into pointees of parts that another worker has yet to place: each
// would be new to it, a task of its own, and its queue a breadth-first walk
// of the graph (a million-node graph on two threads: a million tasks, 16
// MiB). A worker done early waits for the last part (one part's time).
// The contents are queued as one chain per part (SplitContents): a group of
// kRunElements pointees at a time, queued again behind the tasks that group
// queued, so the queues hold a group's work per part, not a task per node.
static_assert(kSplitElements % kRunElements == 0 && kRunElements == 64);
// PointerSplit::fresh words (groups) per part.
inline constexpr std::size_t kWordsPerPart = kSplitElements / kRunElements;

template <class E>
void SplitContents(MarkContext& c, const void* src, std::uint64_t word);

// Queues SplitContents for the first group of part `part`, from group
// `word` on, that has new pointees (if any has).
template <class E>
void QueueContents(MarkContext& c, const MarkContext::PointerSplit* s,
                   std::size_t word, std::size_t part) {
  const std::size_t end = std::min(s->words(), (part + 1) * kWordsPerPart);
  while (word < end && s->fresh[word] == 0) ++word;
  if (word < end) c.Defer<&SplitContents<E>>(s, word);
}

// A task: the contents of the new pointees of group `word` (bits of
// PointerSplit::fresh) of the split at `src`; queues the part's next group
// that has any.
template <class E>
void SplitContents(MarkContext& c, const void* src, std::uint64_t word) {
  using T = typename PointeeOf<E>::type;
  using FE = Frozen<E>;
  constexpr std::size_t kAhead = 8;
  const auto* s = static_cast<const MarkContext::PointerSplit*>(src);
  const E* p = static_cast<const E*>(s->src);
  std::uint64_t bits = s->fresh[word];
  const std::size_t g = word * kRunElements;
  // The pointees kAhead new ones ahead are fetched meanwhile.
  std::uint64_t ahead = bits;
  for (std::size_t k = 0; k < kAhead && ahead != 0; ++k, ahead &= ahead - 1) {
    __builtin_prefetch(RawPointer(p[g + __builtin_ctzll(ahead)]));
  }
  for (; bits != 0; bits &= bits - 1) {
    const std::size_t j = __builtin_ctzll(bits);
    if (ahead != 0) {
      __builtin_prefetch(RawPointer(p[g + __builtin_ctzll(ahead)]));
      ahead &= ahead - 1;
    }
    const std::uint64_t target =
        FrozenAccess::PtrTarget<typename PointerLayout<T>::type>(
            c, s->off + (g + j) * sizeof(FE));
    Layout<T>::Mark(c, *static_cast<const T*>(RawPointer(p[g + j])), target);
  }
  QueueContents<E>(c, s, word + 1, word / kWordsPerPart);
}

// A task: places part `part` of the split at `src`; the last part placed
// queues every part's contents.
template <class E>
void SplitPart(MarkContext& c, const void* src, std::uint64_t part) {
  auto* s = static_cast<MarkContext::PointerSplit*>(const_cast<void*>(src));
  const E* p = static_cast<const E*>(s->src);
  const std::size_t first = part * kSplitElements;
  const std::size_t end = std::min(s->n, first + kSplitElements);
  std::uint64_t targets[kRunElements];
  for (std::size_t g = first; g < end; g += kRunElements) {
    s->fresh[g / kRunElements] = PlaceGroup<E>(c, p, end, g, s->off, targets);
  }
  if (!s->Placed() || !c.writing()) return;
  for (std::size_t k = 0; k * kSplitElements < s->n; ++k) {
    QueueContents<E>(c, s, k * kWordsPerPart, k);
  }
}

// Splits the `n` pointers at `p`, into the array at `off` (see SplitPart).
template <class E>
void SplitPointers(MarkContext& c, const E* p, std::size_t n,
                   std::uint64_t off) {
  const std::size_t parts = (n + kSplitElements - 1) / kSplitElements;
  MarkContext::PointerSplit* s = c.NewPointerSplit(p, off, n, parts);
  for (std::size_t k = 0; k < parts; ++k) c.Defer<&SplitPart<E>>(s, k);
}

// A task: kSplitElements elements from `src` into the array at `off`.
template <class E>
void MarkSplit(MarkContext& c, const void* src, std::uint64_t off) {
  MarkElements<E>(c, static_cast<const E*>(src), kSplitElements, off);
}

// Marks `n` elements, taken from `it` onwards, into the array at `off`.
template <class E, class It>
void MarkElements(MarkContext& c, It it, std::size_t n, std::uint64_t off) {
  using FE = Frozen<E>;
  using Pointee = typename PointeeOf<E>::type;
  if constexpr (kIsUniquePtr<E> && std::contiguous_iterator<It>) {
    // Owned pointees are distinct: room for all of them at once, instead
    // of the table growing (and moving every entry) as they come. (Not
    // again for each part of an array split into tasks.)
    const bool split = n > 2 * kSplitElements && c.parallel_allowed();
    if (c.MayBeShared(&kTypeTag<Pointee>) && (split || !c.parallel_allowed())) {
      c.ReserveInterned(n);
    }
  }
  if constexpr (!kIsIdentity<E> && std::contiguous_iterator<It>) {
    if (n > 2 * kSplitElements && c.parallel_allowed()) [[unlikely]] {
      const E* p = std::to_address(it);
      if constexpr (!std::is_void_v<Pointee>) {
        if (c.parallel_possible()) {
          SplitPointers<E>(c, p, n, off);
          return;
        }
      }
      std::size_t i = 0;
      for (; n - i >= kSplitElements; i += kSplitElements) {
        c.Defer<&MarkSplit<E>>(p + i, off + i * sizeof(FE));
      }
      if (i < n) MarkElements<E>(c, p + i, n - i, off + i * sizeof(FE));
      return;
    }
  }
  if constexpr (kIsIdentity<E> && std::contiguous_iterator<It>) {
    if (c.writing() && n != 0) std::memcpy(c.bytes(off), &*it, n * sizeof(E));
  } else if constexpr (!std::is_void_v<Pointee> &&
                       std::contiguous_iterator<It>) {
    // An array of pointers: their sharing-table slots are fetched a few
    // elements ahead of the lookups (when they are looked up at all).
    MarkPointers<E>(c, std::to_address(it), n, off);
  } else if constexpr (StringSlot<E>::kOnly) {
    // One string's pointer per element, at the same place: the slots are
    // recorded at once, in a loop of their own (cheaper than one at a time).
    for (std::size_t i = 0; i < n; ++i, ++it) {
      StringSlot<E>::Mark(c, *it, off + i * sizeof(FE));
    }
    c.RecordSlots(off + StringSlot<E>::At() + FrozenAccess::kStringPointerAt,
                  sizeof(FE), n);
  } else {
    for (std::size_t i = 0; i < n; ++i, ++it) {
      Layout<E>::Mark(c, *it, off + i * sizeof(FE));
    }
  }
}

// Any range of E that is marked into a Vector<Frozen<E>>.
template <class C, class E>
struct SequenceLayout {
  using type = Vector<Frozen<E>>;
  using Pointee = typename PointeeOf<E>::type;
  static constexpr bool kPointers =
      !std::is_void_v<Pointee> &&
      std::contiguous_iterator<decltype(std::begin(std::declval<const C&>()))>;

  static void Mark(MarkContext& c, const C& src, std::uint64_t off) {
    const std::size_t n = src.size();
    using FE = Frozen<E>;
    const std::uint64_t data = c.Alloc(n * sizeof(FE), alignof(FE));
    FrozenAccess::SetArray<type>(c, off, data, n);
    if (n == 0) return;
    if constexpr (kIsIdentity<E> &&
                  std::contiguous_iterator<decltype(std::begin(src))>) {
      // Plain bytes: copied now, while the destination is in cache (no
      // task: nothing to recurse into).
      MarkElements<E>(c, std::begin(src), n, data);
    } else if constexpr (kPointers) {
      if (c.MayBeShared(&kTypeTag<Pointee>)) {
        c.Defer<&Contents, &Prefetch>(&src, data);
      } else {
        c.Defer<&Contents>(&src, data);
      }
    } else {
      c.Defer<&Contents>(&src, data);
    }
  }
  // An array of pointers, a few tasks ahead: its elements, then the table
  // slots Contents will look them up in (the first few).
  static void Prefetch(const MarkContext& c, const void* src, int stage) {
    const C& v = *static_cast<const C*>(src);
    const E* p = std::to_address(std::begin(v));
    if (stage == 1) {
      __builtin_prefetch(p);
      return;
    }
    const std::size_t n = std::min<std::size_t>(v.size(), 8);
    for (std::size_t i = 0; i < n; ++i) c.PrefetchIntern(RawPointer(p[i]));
  }
  static void Contents(MarkContext& c, const void* src, std::uint64_t off) {
    const C& v = *static_cast<const C*>(src);
    MarkElements<E>(c, std::begin(v), v.size(), off);
  }
  static void Describe(Describer& d) {
    d.Append("vector<");
    internal::Describe<E>(d);
    d.Append(">");
  }
};

// Sorted containers: std::map, std::set, absl::btree_*. Frozen lookups
// binary-search with operator<, so the source must be ordered by it.
template <class C, class E, class F, const char* kName>
struct SortedLayout {
  static_assert(std::is_same_v<typename C::key_compare,
                               std::less<typename C::key_type>> ||
                    std::is_same_v<typename C::key_compare, std::less<>>,
                "ancient: sorted containers must use std::less (frozen lookups "
                "binary-search with operator<); copy into one that does");
  using type = F;
  static void Mark(MarkContext& c, const C& src, std::uint64_t off) {
    const std::size_t n = src.size();
    using FE = typename F::value_type;
    const std::uint64_t data = c.Alloc(n * sizeof(FE), alignof(FE));
    FrozenAccess::SetArray<F>(c, off, data, n);
    if (n != 0) c.Defer<&Contents>(&src, data);
  }
  static void Contents(MarkContext& c, const void* src, std::uint64_t off) {
    const C& v = *static_cast<const C*>(src);
    MarkElements<E>(c, v.begin(), v.size(), off);
  }
  static void Describe(Describer& d);
};

// Starts fetching the out-of-line bytes of `x` (a string's or vector's
// elements, those of a pair's members), which marking it will read.
template <class X>
void PrefetchData(const X& x) {
  if constexpr (PairLike<X>) {
    PrefetchData(x.first);
    PrefetchData(x.second);
  } else if constexpr (requires { std::data(x); }) {
    __builtin_prefetch(std::data(x));
  }
}

// Whether C is a node-based container with a bucket interface
// (std::unordered_*): its entries can be reached bucket by bucket.
template <class C>
concept HasLocalIterators = requires(const C& c, std::size_t b) {
  typename C::const_local_iterator;
  { c.bucket_count() } -> std::convertible_to<std::size_t>;
  c.cbegin(b) != c.cend(b);
};

// The number of entries from which ForEachEntry walks buckets in lanes, and
// PlaceByBucket on two threads: past the caches, where a node's miss is what
// each step costs.
inline constexpr std::size_t kLaneWalkFrom = std::size_t{1} << 16;

// Calls f(e) for each entry e in buckets [first, last) of a
// std::unordered_* container, walking kLanes buckets at a time, a step of
// each in turn. The container is one linked list in iteration order, its
// nodes far apart in memory: walked in that order, each step waits for the
// last node's cache miss; walked in lanes, as many misses are in flight at
// once (1.6x faster for 4M string-keyed nodes, measured). The order is not
// the iteration's, but is fixed by the container's buckets and contents.
template <class C, class F>
void ForEachInBuckets(const C& src, std::size_t first, std::size_t last,
                      F&& f) {
  constexpr int kLanes = 8;
  using It = typename C::const_local_iterator;
  std::size_t next = first;
  It at[kLanes];
  std::size_t bucket[kLanes];
  // Points lane l at the next bucket with entries; false past the last.
  auto refill = [&](int l) {
    for (; next < last; ++next) {
      It it = src.cbegin(next);
      if (it != src.cend(next)) {
        at[l] = it;
        bucket[l] = next++;
        return true;
      }
    }
    return false;
  };
  bool live[kLanes];
  int lanes = 0;
  for (int l = 0; l < kLanes; ++l) lanes += live[l] = refill(l);
  while (lanes > 0) {
    for (int l = 0; l < kLanes; ++l) {
      if (!live[l]) continue;
      f(*at[l]);
      if (++at[l] == src.cend(bucket[l]) && !(live[l] = refill(l))) --lanes;
    }
  }
}

// Calls f(e) for every entry e of `src`: a std::unordered_* container of at
// least kLaneWalkFrom entries by ForEachInBuckets, others in their order.
template <class C, class F>
void ForEachEntry(const C& src, F&& f) {
  if constexpr (HasLocalIterators<C>) {
    if (src.size() >= kLaneWalkFrom) {
      ForEachInBuckets(src, 0, src.bucket_count(), f);
      return;
    }
  }
  for (const auto& e : src) f(e);
}

// Hashed containers: std::unordered_*, absl::flat_hash_*, absl::node_hash_*.
template <class C, class E, class F, const char* kName>
struct HashedLayout {
  using type = F;
  using FE = typename F::value_type;

  static std::uint64_t BucketCount(std::size_t n) {
    std::uint64_t b = 1;
    while (b < n) b <<= 1;
    return b;
  }
  template <class Elem>
  static std::uint64_t HashOf(const Elem& e) {
    if constexpr (PairLike<Elem>) {
      return StableHash(e.first);
    } else {
      return StableHash(e);
    }
  }

  // Whether a container with this mask has buckets that fit 32 bits (every
  // container of fewer than 2^32 entries).
  static bool Buckets32(std::uint64_t mask) { return mask <= 0xffffffffu; }

  // One pass: Mark hashes each entry once and sorts the entries by bucket
  // in the block itself, each entry's slot holding the address of its
  // source until Contents writes the entry there. Contents then walks the
  // slots in order, fetching sources ahead: the block is written
  // sequentially, and the source is traversed once, not twice. Needs slots
  // that hold a pointer, and buckets that fit 32 bits.
  using Source =
      std::remove_reference_t<decltype(*std::begin(std::declval<const C&>()))>;
  static constexpr bool kStashable =
      sizeof(FE) >= sizeof(void*) && alignof(FE) >= alignof(void*);
  static bool Stashed(const MarkContext& c, std::uint64_t mask) {
    return kStashable && c.writing() && c.one_pass() && Buckets32(mask);
  }
  static void PlaceByBucket(MarkContext& c, const C& src, std::uint64_t* s,
                            std::uint64_t data, std::uint64_t buckets) {
    const std::size_t n = src.size();
    const void** from = nullptr;
    std::uint32_t* bucket = nullptr;
    c.HashScratch(n, &from, &bucket);
    const std::uint64_t mask = buckets - 1;
    // Entry e's source and bucket, into the scratch at `at`.
    const auto take = [&](const Source& e, std::size_t at) {
      from[at] = &e;
      bucket[at] = static_cast<std::uint32_t>(HashOf(e) & mask);
    };
    std::size_t i = 0;
    bool two = false;
    if constexpr (HasLocalIterators<C>) {
      if (n >= kLaneWalkFrom && c.parallel_threads() > 1) {
        // Two walkers, each with its own misses in flight: this thread the
        // source's first half of buckets, filling the scratch from the
        // front, another the second half, filling it from the back. Every
        // entry is in one bucket: they meet.
        const std::size_t all = src.bucket_count();
        std::size_t back = n;
        MarkContext::RunBeside(
            [&] {
              ForEachInBuckets(src, all / 2, all,
                               [&](const Source& e) { take(e, --back); });
            },
            [&] {
              ForEachInBuckets(src, 0, all / 2,
                               [&](const Source& e) { take(e, i++); });
            });
        two = true;
      }
    }
    if (!two) ForEachEntry(src, [&](const Source& e) { take(e, i++); });
    // A counting sort by our bucket; on two threads, each step split by
    // bucket range (each thread its own counts and slots).
    const auto split = [&](const auto& step) {
      if (two) {
        MarkContext::RunBeside([&] { step(buckets / 2, buckets); },
                               [&] { step(0, buckets / 2); });
      } else {
        step(0, buckets);
      }
    };
    split([&](std::uint64_t lo, std::uint64_t hi) {
      for (std::size_t j = 0; j < n; ++j) {
        if (bucket[j] >= lo && bucket[j] < hi) ++s[bucket[j] + 1];
      }
    });
    for (std::uint64_t b = 0; b < buckets; ++b) s[b + 1] += s[b];
    // s[b + 1] is where bucket b ends; filled backwards, so that each
    // bucket keeps the order the scratch holds its entries in, it ends up
    // where bucket b starts.
    char* const slots = c.bytes(data);
    split([&](std::uint64_t lo, std::uint64_t hi) {
      for (std::size_t j = n; j-- > 0;) {
        if (bucket[j] < lo || bucket[j] >= hi) continue;
        const std::uint64_t pos = --s[bucket[j] + 1];
        std::memcpy(slots + pos * sizeof(FE), &from[j], sizeof(void*));
      }
    });
    std::memmove(s, s + 1, buckets * sizeof(std::uint64_t));
    s[buckets] = n;
  }
  static const Source* StashAt(const MarkContext& c, std::uint64_t slot) {
    const Source* p;
    std::memcpy(&p, c.bytes(slot), sizeof p);
    return p;
  }
  static void WriteStashed(MarkContext& c, std::uint64_t data, std::size_t n) {
    constexpr std::size_t kAhead = 8;
    for (std::size_t j = 0; j < n; ++j) {
      // The source entry 8 slots ahead, then (once it has arrived) what it
      // points to, 4 ahead.
      if (j + kAhead < n)
        __builtin_prefetch(StashAt(c, data + (j + kAhead) * sizeof(FE)));
      if (j + kAhead / 2 < n) {
        PrefetchData(*StashAt(c, data + (j + kAhead / 2) * sizeof(FE)));
      }
      const std::uint64_t slot = data + j * sizeof(FE);
      const Source* e = StashAt(c, slot);
      std::memset(c.bytes(slot), 0, sizeof(void*));  // the block's zeros
      Layout<E>::Mark(c, *e, slot);
    }
  }

  static void Mark(MarkContext& c, const C& src, std::uint64_t off) {
    const std::size_t n = src.size();
    const std::uint64_t buckets = BucketCount(n);
    const std::uint64_t data = c.Alloc(n * sizeof(FE), alignof(FE));
    const std::uint64_t starts =
        c.Alloc((buckets + 1) * sizeof(std::uint64_t), alignof(std::uint64_t));
    FrozenAccess::SetHashed<F>(c, off, data, starts, n, buckets - 1);
    if (c.writing()) {
      // Counting sort of the entries by bucket: starts[b] is where bucket b
      // begins. One pass places the entries too (PlaceByBucket); otherwise
      // (the writing pass of two, which must allocate in the measuring
      // pass's order) Contents writes them in the source's iteration order
      // at the slots the starts give, hashing each key again.
      std::uint64_t* s = c.At<std::uint64_t>(starts);
      if (Stashed(c, buckets - 1)) {
        PlaceByBucket(c, src, s, data, buckets);
      } else {
        for (const auto& e : src) ++s[(HashOf(e) & (buckets - 1)) + 1];
        for (std::uint64_t b = 0; b < buckets; ++b) s[b + 1] += s[b];
      }
    }
    if (n != 0) c.Defer<&Contents>(&src, off);
  }
  static void StashedSplit(MarkContext& c, const void*, std::uint64_t off) {
    WriteStashed(c, off, kSplitElements);
  }
  static void Contents(MarkContext& c, const void* src, std::uint64_t off) {
    const C& v = *static_cast<const C*>(src);
    if (!c.writing()) {
      for (const auto& e : v) Layout<E>::Mark(c, e, 0);
      return;
    }
    // Reads back the header that Mark wrote, then fills each bucket.
    const F& f = *c.At<F>(off);
    const std::uint64_t data = FrozenAccess::HashedData(c, f);
    const std::uint64_t mask = f.bucket_count() - 1;
    const std::uint64_t* starts =
        c.At<std::uint64_t>(FrozenAccess::HashedStartsOffset(c, f));
    if (Stashed(c, mask)) {
      const std::size_t n = v.size();
      std::size_t j = 0;
      if (n > 2 * kSplitElements && c.parallel_allowed()) {
        // On several threads: the entries as tasks of kSplitElements.
        for (; n - j >= kSplitElements; j += kSplitElements) {
          c.Defer<&StashedSplit>(src, data + j * sizeof(FE));
        }
      }
      WriteStashed(c, data + j * sizeof(FE), n - j);
      return;
    }
    std::vector<std::uint64_t> fill(starts, starts + mask + 1);
    for (const auto& e : v) {
      const std::uint64_t slot = fill[HashOf(e) & mask]++;
      Layout<E>::Mark(c, e, data + slot * sizeof(FE));
    }
  }
  static void Describe(Describer& d);
};

inline constexpr char kMapName[] = "map";
inline constexpr char kSetName[] = "set";
inline constexpr char kHashMapName[] = "hash_map";
inline constexpr char kHashSetName[] = "hash_set";

// Whether a container's name is a map's (its elements are entries). By the
// characters: comparing the arrays' addresses is not a constant expression
// under -fsanitize=address.
constexpr bool IsMapName(const char* name) {
  return std::string_view(name) == "map" ||
         std::string_view(name) == "hash_map";
}

// "name<K,V>" for maps (E their entry pair), "name<K>" for sets (E their
// key, which may be a pair: "set<pair<K,V>>").
template <class E, bool kEntries>
void DescribeContainer(Describer& d, const char* name) {
  d.Append(name);
  d.Append("<");
  if constexpr (kEntries) {
    DescribeList<std::remove_const_t<typename E::first_type>,
                 typename E::second_type>(d);
  } else {
    internal::Describe<E>(d);
  }
  d.Append(">");
}

template <class C, class E, class F, const char* kName>
void SortedLayout<C, E, F, kName>::Describe(Describer& d) {
  DescribeContainer<E, IsMapName(kName)>(d, kName);
}

template <class C, class E, class F, const char* kName>
void HashedLayout<C, E, F, kName>::Describe(Describer& d) {
  DescribeContainer<E, IsMapName(kName)>(d, kName);
}

template <class T>
struct PointerLayout {
  using type = Ptr<Frozen<T>>;
  // `owned`: a unique_ptr, whose pointee no other owner shares; only a raw
  // or shared pointer elsewhere in the graph could reach it too.
  static void Mark(MarkContext& c, const T* p, std::uint64_t off,
                   bool owned = false) {
    bool fresh = false;
    const std::uint64_t target = Place(c, p, off, owned, &fresh);
    if (fresh) c.Defer<&Pointee>(p, target);
  }
  // Writes the pointer at `off`: returns where its pointee is, and sets
  // *fresh when the pointee is new (then its contents are the caller's to
  // queue). A null pointer stays null (the block is zero-filled).
  static std::uint64_t Place(MarkContext& c, const T* p, std::uint64_t off,
                             bool owned, bool* fresh) {
    if (p == nullptr) {
      *fresh = false;
      return 0;
    }
    using FT = Frozen<T>;
    *fresh = true;
    const std::uint64_t target =
        owned && !c.MayBeShared(&kTypeTag<T>)
            ? c.Fresh(sizeof(FT), alignof(FT))
            : c.Intern(p, &kTypeTag<T>, sizeof(FT), alignof(FT), fresh);
    FrozenAccess::SetPtr<type>(c, off, target);
    return target;
  }
  static void Pointee(MarkContext& c, const void* src, std::uint64_t off) {
    Layout<T>::Mark(c, *static_cast<const T*>(src), off);
  }
  // Any pointer but a unique_ptr may share its pointee: noted as such.
  static void Describe(Describer& d) {
    d.NoteShareable(&kTypeTag<T>);
    DescribeOwned(d);
  }
  static void DescribeOwned(Describer& d) {
    d.Append("ptr<");
    internal::Describe<T>(d);
    d.Append(">");
  }
};

}  // namespace internal

}  // namespace ancient

#endif  // ANCIENT_LAYOUT_MACHINERY_H_
