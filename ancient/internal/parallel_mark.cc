#include "ancient/internal/parallel_mark.h"

#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <system_error>

#include "ancient/internal/fatal.h"

namespace ancient::internal {

namespace {

// Address space reserved for a block marked on several threads (nothing is
// committed until used); halved until the kernel gives it.
constexpr std::uint64_t kReserveMax = std::uint64_t{1} << 40;
constexpr std::uint64_t kReserveMin = std::uint64_t{1} << 30;
// Made readable and writable this much at a time.
constexpr std::uint64_t kCommitStep = std::uint64_t{64} << 20;

std::uint64_t AlignUp(std::uint64_t v, std::uint64_t a) {
  return (v + a - 1) & ~(a - 1);
}

// A shard holds the addresses whose hash (PackedAddressTable::Hash) starts
// with its number, so that its slots need not keep those bits; addresses
// that hash does not take (not 8-aligned, past 2^47) by a mix of their own
// (splitmix64's finaliser), kept aside in their shard.
int ShardOf(const void* addr) {
  const std::uint64_t h = PackedAddressTable::Hash(addr);
  if (h != PackedAddressTable::kUnfit) [[likely]]
    return static_cast<int>(h >> SharedMark::kShardHashBits);
  std::uint64_t x = reinterpret_cast<std::uint64_t>(addr);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return static_cast<int>((x ^ (x >> 31)) >> 56);
}

}  // namespace

int DefaultMarkThreads() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    return std::max(1, CPU_COUNT(&set));
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// ---- MarkContext's side -------------------------------------------------

std::uint64_t MarkContext::AllocSlow(std::uint64_t off, std::uint64_t size,
                                     std::uint64_t align) {
  if (shared_ != nullptr) return shared_->Alloc(*this, size, align);
  size_ = off + size;
  Grow();
  return off;
}

std::uint64_t MarkContext::InternShared(const void* addr, const void* tag,
                                        std::uint64_t size, std::uint64_t align,
                                        bool* fresh) {
  return shared_->Intern(*this, addr, tag, size, align, fresh);
}

void MarkContext::PrefetchShared(const void* addr) const {
  shared_->Prefetch(addr);
}

void MarkContext::ReserveShared(std::size_t more) { shared_->Reserve(more); }

MarkContext::PointerSplit* MarkContext::NewPointerSplit(const void* src,
                                                        std::uint64_t off,
                                                        std::size_t n,
                                                        std::size_t parts) {
  SharedMark* m = shared_ != nullptr ? shared_ : switch_to_;
  if (m == nullptr) Fatal("ancient: a pointer split without a SharedMark");
  split_queued_ = true;
  return m->NewPointerSplit(src, off, n, parts);
}

bool MarkContext::parallel_possible() const {
  if (shared_ != nullptr) return true;
  return switch_to_ != nullptr &&
         !(switch_to_->automatic_ &&
           (shareable_ == nullptr || !shareable_->empty()));
}

bool MarkContext::OnTask(std::size_t i, bool stack) {
  const std::size_t waiting = tasks_.size() - i;
  if (shared_ == nullptr) {
    // Alone so far: the others start once there is enough to share.
    // Parts of a split array of pointers are work enough, however few.
    if (waiting < SharedMark::kStartAt && !split_queued_) return true;
    if (!parallel_possible()) {
      switch_to_ = nullptr;  // through the sharing table: one thread
      return true;
    }
    if (switch_to_->automatic_ && size_ < SharedMark::kStartBytes) {
      return true;
    }
    SharedMark* s = std::exchange(switch_to_, nullptr);
    if (!s->Start(*this)) return true;  // no reservation: alone to the end
  }
  if (shared_->failed()) {
    failed_ = true;
    return false;
  }
  // Half of what waits behind this task, from the back, to a worker that
  // has nothing.
  if (waiting > 1 && shared_->hungry()) {
    if (stack) {
      shared_->DonateBottom(*this, waiting / 2);
    } else {
      shared_->Donate(*this, i + 1 + (waiting - 1) / 2);
    }
  }
  return true;
}

void MarkContext::DrainShared() {
  while (shared_->Take(*this)) RunQueue();
  if (this == shared_->first_) shared_->Finish(*this);
}

std::size_t MarkContext::SharedScratchBytes() const {
  // Counted once, by the first worker (it holds the others').
  return shared_ != nullptr && this == shared_->first_
             ? shared_->scratch_bytes()
             : 0;
}

// ---- SharedMark ----------------------------------------------------------

SharedMark::SharedMark(int threads, bool may_fail, bool automatic)
    : threads_(std::max(1, threads)),
      may_fail_(may_fail),
      automatic_(automatic) {
  for (int i = 0; i < kShards; ++i) {
    shards_[i].seen.SetPrefix(kShardBits, i);
    shards_[i].seen.KeepOldSlots();
    peeks_[i].slots.store(shards_[i].seen.slots(), std::memory_order_relaxed);
  }
}

SharedMark::~SharedMark() {
  {
    std::lock_guard<std::mutex> l(pool_mu_);
    done_ = true;
  }
  pool_cv_.notify_all();
  for (std::thread& t : threads_running_) {
    if (t.joinable()) t.join();
  }
  if (base_ != nullptr && room_ == nullptr) munmap(base_, reserved_);
}

bool SharedMark::Start(MarkContext& w0) {
  const std::uint64_t start = AlignUp(w0.size_, kBlockAlignment);
  if (room_ != nullptr) {
    // The block so far is placed by the room; its pointers follow it.
    SharedRoom::Place place;
    if (!room_->Begin(w0.size_, start + kChunk, &place)) {
      // Alone, where the block still is: asked for again, as the room's
      // memory may have moved meanwhile.
      w0.Grow();
      return false;
    }
    base_ = place.base;
    address_ = place.address;
    reserved_ = place.limit;
    committed_.store(start + kChunk, std::memory_order_release);
    w0.base_ = base_;
    w0.MovePointers(address_);
    return StartWorkers(w0, start);
  }
  void* p = MAP_FAILED;
  std::uint64_t len = kReserveMax;
  for (; len >= kReserveMin; len /= 2) {
    p = mmap(nullptr, len, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p != MAP_FAILED) break;
  }
  if (p == MAP_FAILED) return false;
  base_ = static_cast<char*>(p);
  address_ = base_;
  reserved_ = len;
  if (start > reserved_ / 2 || !Commit(start + kChunk)) {
    munmap(base_, reserved_);
    base_ = nullptr;
    return false;
  }
  // The block so far, moved here (its pointers with it).
  std::memcpy(base_, w0.base_, w0.size_);
  w0.base_ = base_;
  w0.MovePointers(base_);
  return StartWorkers(w0, start);
}

bool SharedMark::StartWorkers(MarkContext& w0, std::uint64_t start) {
  w0.capacity_ = AlignUp(start, kChunk);
  if (w0.capacity_ == start) w0.capacity_ += kChunk;
  end_.store(w0.capacity_);
  w0.grow_ = nullptr;
  // Its sharing table, into the shards (with the room it had been asked
  // for: not its capacity, which is up to twice that).
  Reserve(std::max(w0.seen_.size(), w0.reserved_));
  w0.seen_.ForEach([&](const void* addr, std::uint64_t v) {
    shards_[ShardOf(addr)].seen.FindOrInsert(addr, [v] { return v; });
  });
  for (int i = 0; i < kShards; ++i) Publish(i);
  for (const auto& [k, v] : w0.seen_other_) {
    shards_[ShardOf(k.first)].seen_other.emplace(k, v);
  }
  w0.seen_ = {};
  w0.seen_other_ = {};
  types_ = w0.types_;
  w0.shared_ = this;
  w0.paged_bits_ = true;  // its bitmap keeps what it wrote alone
  first_ = &w0;
  // The other workers: they write through the same reservation.
  for (int i = 1; i < threads_; ++i) {
    auto h = std::make_unique<MarkContext>();
    h->base_ = base_;
    h->address_ = address_;
    h->capacity_ = 0;  // the first Alloc takes a chunk
    h->one_pass_ = true;
    h->paged_bits_ = true;
    h->may_fail_ = may_fail_;
    h->shared_ = this;
    h->shareable_ = w0.shareable_;
    helpers_.push_back(std::move(h));
  }
  {
    std::lock_guard<std::mutex> l(pool_mu_);
    workers_ = 1 + static_cast<int>(helpers_.size());
  }
  std::size_t running = 0;
  for (; running < helpers_.size(); ++running) {
    MarkContext* h = helpers_[running].get();
    try {
      threads_running_.emplace_back([h] { h->DrainShared(); });
    } catch (const std::system_error&) {
      break;  // fewer threads than asked: the ones running do the work
    }
  }
  if (running < helpers_.size()) {
    std::lock_guard<std::mutex> l(pool_mu_);
    workers_ = 1 + static_cast<int>(running);
  }
  return true;
}

std::uint64_t SharedMark::CommitEnd(std::uint64_t have, std::uint64_t end,
                                    std::uint64_t reserved) {
  return std::min(reserved,
                  AlignUp(std::max(end, have + have / 4), kCommitStep));
}

bool SharedMark::Commit(std::uint64_t end) {
  if (end <= committed_.load(std::memory_order_acquire)) return true;
  std::lock_guard<std::mutex> l(commit_mu_);
  const std::uint64_t have = committed_.load(std::memory_order_relaxed);
  if (end <= have) return true;
  if (end > MarkContext::kMaxBlockBytes) return false;
  if (room_ != nullptr) {
    // The room grows by its own steps: asked for what is needed.
    std::uint64_t ready = 0;
    if (!room_->Commit(end, &ready)) return false;
    committed_.store(std::min(reserved_, std::max(end, ready)),
                     std::memory_order_release);
    return true;
  }
  if (end > reserved_) return false;
  const std::uint64_t to = CommitEnd(have, end, reserved_);
  if (mprotect(base_ + have, to - have, PROT_READ | PROT_WRITE) != 0) {
    return false;
  }
  if (huge_pages_) madvise(base_ + have, to - have, MADV_HUGEPAGE);
  committed_.store(to, std::memory_order_release);
  return true;
}

void SharedMark::Fail(MarkContext& w) {
  if (!may_fail_) Fatal("ancient::Mark: out of memory");
  failed_.store(true);
  // This worker stops writing; what it runs until it notices measures only.
  w.failed_ = true;
  w.base_ = nullptr;
  w.address_ = nullptr;
  w.capacity_ = ~std::uint64_t{0};
  { std::lock_guard<std::mutex> l(pool_mu_); }
  pool_cv_.notify_all();
}

std::uint64_t SharedMark::Alloc(MarkContext& w, std::uint64_t size,
                                std::uint64_t align) {
  if (align > kBlockAlignment) Fatal("ancient: alignment above 64 bytes");
  if (size >= kSpanMin) {
    // A span of its own: the chunk keeps its room for small objects.
    const std::uint64_t len = AlignUp(size, kBlockAlignment);
    const std::uint64_t off = end_.fetch_add(len);
    if (!Commit(off + len)) {
      Fail(w);
      return 0;
    }
    w.high_ = std::max(w.high_, off + size);
    return off;
  }
  const std::uint64_t off = end_.fetch_add(kChunk);
  if (!Commit(off + kChunk)) {
    Fail(w);
    return 0;
  }
  w.capacity_ = off + kChunk;
  w.size_ = off + size;
  return off;
}

int MarkContext::parallel_threads() const {
  const SharedMark* m = shared_ != nullptr ? shared_ : switch_to_;
  return m != nullptr ? m->threads() : 1;
}

void MarkContext::RunBeside(const std::function<void()>& other,
                            const std::function<void()>& mine) {
  std::thread t;
  try {
    t = std::thread(other);
  } catch (const std::system_error&) {
    other();  // no thread to be had: in turn
  }
  mine();
  if (t.joinable()) t.join();
}

std::uint64_t SharedMark::TypeIndex(MarkContext& w, const void* tag) {
  if (tag == w.last_tag_) return w.last_type_;
  std::lock_guard<std::mutex> l(types_mu_);
  std::size_t i = 0;
  while (i < types_.size() && types_[i] != tag) ++i;
  if (i == types_.size()) types_.push_back(tag);
  w.last_tag_ = tag;
  w.last_type_ = i;
  return i;
}

void SharedMark::Publish(int i) {
  const PackedAddressTable::Word* slots = shards_[i].seen.slots();
  if (peeks_[i].slots.load(std::memory_order_relaxed) == slots) return;
  peeks_[i].slots.store(slots, std::memory_order_release);
}

void SharedMark::Prefetch(const void* addr) {
  // On big graphs the lookup that follows is otherwise a cache miss, taken
  // while holding the shard's lock. Acquire (free on x86): the slots'
  // capacity word is read.
  const int shard = ShardOf(addr);
  PackedAddressTable::PrefetchIn(
      peeks_[shard].slots.load(std::memory_order_acquire), kShardHashBits,
      addr);
}

MarkContext::PointerSplit* SharedMark::NewPointerSplit(const void* src,
                                                       std::uint64_t off,
                                                       std::size_t n,
                                                       std::size_t parts) {
  std::lock_guard<std::mutex> l(splits_mu_);
  return &splits_.emplace_back(src, off, n, parts);
}

void SharedMark::Reserve(std::size_t more) {
  // Spread evenly by the hash's top bits: a shard's share of n objects
  // varies by about sqrt(n / 256), so a thirty-second more and 64 (three
  // times that at a million objects) leave few shards to grow; an eighth
  // more had cost 9% of the table for nothing.
  const std::size_t each = more / kShards + more / kShards / 32 + 64;
  for (int i = 0; i < kShards; ++i) {
    Shard& s = shards_[i];
    std::lock_guard<SpinLock> l(s.mu);
    s.seen.Reserve(s.seen.size() + each);
    Publish(i);
  }
}

std::uint64_t SharedMark::Intern(MarkContext& w, const void* addr,
                                 const void* tag, std::uint64_t size,
                                 std::uint64_t align, bool* fresh) {
  const std::uint64_t type = TypeIndex(w, tag);
  const int shard = ShardOf(addr);
  Shard& s = shards_[shard];
  if (type < MarkContext::kSeenTypes) [[likely]] {
    // Seen before, as most pointers of a big graph are: found without the
    // shard's lock (see Peek); anything else is asked again under it.
    std::uint64_t v, off;
    if (PackedAddressTable::FindUnlocked(
            peeks_[shard].slots.load(std::memory_order_acquire), kShardHashBits,
            addr, &v) &&
        MarkContext::SeenAs(v, type, &off, fresh)) {
      return off;
    }
    std::lock_guard<SpinLock> l(s.mu);
    if (MarkContext::InternSeen(
            s.seen, addr, type, [&] { return w.Alloc(size, align); }, &off,
            fresh)) {
      if (*fresh) Publish(shard);  // the slots, when they grew
      return off;
    }
  }
  // An object of another type at an address seen, or of a type past the
  // table's few.
  std::lock_guard<SpinLock> l(s.mu);
  auto [other, inserted] = s.seen_other.try_emplace(std::pair(addr, tag));
  if (inserted) other->second = w.Alloc(size, align);
  *fresh = inserted;
  return other->second;
}

void SharedMark::Donate(MarkContext& w, std::size_t from) {
  Batch b;
  b.tasks.assign(w.tasks_.begin() + static_cast<std::ptrdiff_t>(from),
                 w.tasks_.end());
  w.tasks_.resize(from);
  w.stage1_ = std::min(w.stage1_, from);
  w.stage2_ = std::min(w.stage2_, from);
  Give(std::move(b));
}

void SharedMark::Give(Batch b) {
  {
    std::lock_guard<std::mutex> l(pool_mu_);
    pool_.push_back(std::move(b));
    hungry_.store(idle_ > static_cast<int>(pool_.size()),
                  std::memory_order_relaxed);
  }
  pool_cv_.notify_one();
}

void SharedMark::DonateBottom(MarkContext& w, std::size_t count) {
  Batch b;
  const auto end = w.tasks_.begin() + static_cast<std::ptrdiff_t>(count);
  b.tasks.assign(w.tasks_.begin(), end);
  w.tasks_.erase(w.tasks_.begin(), end);
  Give(std::move(b));
}

bool SharedMark::Take(MarkContext& w) {
  std::unique_lock<std::mutex> l(pool_mu_);
  ++idle_;
  for (;;) {
    if (done_ || failed()) {
      hungry_.store(false, std::memory_order_relaxed);
      done_ = true;
      l.unlock();
      pool_cv_.notify_all();
      return false;
    }
    if (!pool_.empty()) {
      --idle_;
      Batch b = std::move(pool_.back());
      pool_.pop_back();
      hungry_.store(idle_ > static_cast<int>(pool_.size()),
                    std::memory_order_relaxed);
      l.unlock();
      w.NoteTaskCapacity();
      w.tasks_ = std::move(b.tasks);
      return true;
    }
    if (idle_ == workers_) {  // every worker waits, nothing is left
      done_ = true;
      continue;
    }
    hungry_.store(true, std::memory_order_relaxed);
    pool_cv_.wait(l);
  }
}

void SharedMark::Finish(MarkContext& w0) {
  // A worker's slot-bit pages are grouped by chunks (MarkContext::BitPage).
  static_assert(MarkContext::kGroupPages * MarkContext::kBitPageWords * 512 ==
                kChunk);
  for (std::thread& t : threads_running_) t.join();
  threads_running_.clear();
  if (failed()) w0.failed_ = true;
  std::uint64_t size = std::max(w0.size_, w0.high_);
  for (const auto& h : helpers_) {
    size = std::max({size, h->size_, h->high_});
    // Its slot-bit pages move into the first worker's set (whole groups
    // where the first has none; else page by page, ORed into a page there
    // and freed where the first has one).
    auto& mine = w0.bit_groups_;
    if (h->bit_groups_.size() > mine.size()) mine.resize(h->bit_groups_.size());
    for (std::size_t g = 0; g < h->bit_groups_.size(); ++g) {
      auto& theirs = h->bit_groups_[g];
      if (theirs == nullptr) continue;
      if (mine[g] == nullptr) {
        mine[g] = std::move(theirs);
        continue;
      }
      for (std::size_t p = 0; p < MarkContext::kGroupPages; ++p) {
        auto& from = theirs->pages[p];
        auto& to = mine[g]->pages[p];
        if (from == nullptr) continue;
        if (to == nullptr) {
          to = std::move(from);
          continue;
        }
        for (std::size_t i = 0; i < MarkContext::kBitPageWords; ++i) {
          to[i] |= from[i];
        }
      }
      theirs.reset();
    }
  }
  w0.size_ = size;
  w0.capacity_ = std::max(w0.capacity_, size);
}

void* SharedMark::Release(std::uint64_t size, std::size_t* mapped) {
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  const std::uint64_t keep = AlignUp(std::max<std::uint64_t>(size, 1), page);
  if (keep < reserved_) munmap(base_ + keep, reserved_ - keep);
  *mapped = keep;
  void* out = base_;
  base_ = nullptr;
  reserved_ = 0;
  return out;
}

std::size_t SharedMark::scratch_bytes() const {
  std::size_t n = 0;
  for (const Shard& s : shards_) {
    n += s.seen.bytes() +
         s.seen_other.capacity() *
             (sizeof(std::pair<std::pair<const void*, const void*>,
                               std::uint64_t>) +
              1);
  }
  for (const auto& h : helpers_) n += h->scratch_bytes();
  for (const MarkContext::PointerSplit& s : splits_) {
    n += sizeof s + s.words() * sizeof(std::uint64_t);
  }
  return n;
}

}  // namespace ancient::internal
