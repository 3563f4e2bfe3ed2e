#include "shm/arena.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "shm/internal/arena_layout.h"
#include "shm/internal/errno_text.h"
#include "shm/internal/futex.h"

namespace jobd::shm {

using internal::ArenaHeader;
using internal::ClassHeader;

namespace {

ArenaHeader* HeaderOf(std::byte* base) { return reinterpret_cast<ArenaHeader*>(base); }

absl::Status ValidateClasses(const std::vector<SizeClass>& classes) {
  if (classes.empty()) return absl::InvalidArgumentError("an arena needs at least one size class");
  if (classes.size() > internal::kMaxClasses) {
    return absl::InvalidArgumentError(
        absl::StrCat(classes.size(), " size classes; at most ", internal::kMaxClasses, " are allowed"));
  }
  uint64_t total = 0;
  for (size_t i = 0; i < classes.size(); ++i) {
    const SizeClass& c = classes[i];
    if (c.slab_size == 0 || c.slab_size % 64 != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("slab size ", c.slab_size, " of class ", i, " must be a positive multiple of 64"));
    }
    if (c.count == 0 || c.count > Handle::kMaxIndex + 1) {
      return absl::InvalidArgumentError(absl::StrCat("class ", i, " (", HumanBytes(c.slab_size), ") has ", c.count,
                                                     " slabs; allowed 1 to ", Handle::kMaxIndex + 1));
    }
    if (i > 0 && c.slab_size <= classes[i - 1].slab_size) {
      return absl::InvalidArgumentError("size classes must be sorted by strictly increasing slab size");
    }
    // Bounds every offset Create computes, so none of them can wrap around.
    constexpr uint64_t kMaxArenaBytes = uint64_t{1} << 46;
    uint64_t bytes = 0;
    if (__builtin_mul_overflow(c.slab_size, uint64_t{c.count}, &bytes) || bytes > kMaxArenaBytes - total) {
      return absl::InvalidArgumentError(
          absl::StrCat("class ", i, " (", HumanBytes(c.slab_size), " x ", c.count, ") takes the arena past ",
                       HumanBytes(kMaxArenaBytes), ", the most allowed"));
    }
    total += bytes;
  }
  return absl::OkStatus();
}

uint64_t ComputeLayout(const std::vector<SizeClass>& classes, std::vector<Arena::ClassLayout>* out);
void ComputeLayoutOf(const std::vector<SizeClass>& classes, std::vector<Arena::ClassLayout>* out) {
  ComputeLayout(classes, out);
}

}  // namespace

Arena::Arena(std::string path, std::byte* base, uint64_t mapped_bytes, std::vector<SizeClass> classes)
    : path_(std::move(path)), base_(base), mapped_bytes_(mapped_bytes), classes_(std::move(classes)) {
  ComputeLayoutOf(classes_, &layout_);
}

Arena::~Arena() {
  if (base_ != nullptr) munmap(base_, mapped_bytes_);
}

namespace {

// Header, every class's state words, then every class's slabs, page-aligned. A pure function
// of the classes, so every process computes the same layout without reading it from the file.
uint64_t ComputeLayout(const std::vector<SizeClass>& classes, std::vector<Arena::ClassLayout>* out) {
  uint64_t offset = internal::AlignUp(sizeof(ArenaHeader), 64);
  out->assign(classes.size(), {});
  for (size_t i = 0; i < classes.size(); ++i) {
    (*out)[i].slab_size = classes[i].slab_size;
    (*out)[i].count = classes[i].count;
    (*out)[i].states_offset = offset;
    offset += uint64_t{classes[i].count} * sizeof(uint64_t);
  }
  offset = internal::AlignUp(offset, internal::kPage);
  for (size_t i = 0; i < classes.size(); ++i) {
    (*out)[i].data_offset = offset;
    offset = internal::AlignUp(offset + uint64_t{classes[i].count} * classes[i].slab_size, internal::kPage);
  }
  return offset;
}

// `base` is all zeros: every state word is (generation 0, free).
void WriteHeader(std::byte* base, const std::vector<Arena::ClassLayout>& layout, uint64_t bytes) {
  ArenaHeader* h = HeaderOf(base);
  h->layout_version = internal::kLayoutVersion;
  h->header_size = sizeof(ArenaHeader);
  h->file_size = bytes;
  h->class_count = static_cast<uint32_t>(layout.size());
  for (size_t i = 0; i < layout.size(); ++i) {
    ClassHeader& ch = h->classes[i];
    ch.slab_size = layout[i].slab_size;
    ch.count = layout[i].count;
    ch.states_offset = layout[i].states_offset;
    ch.data_offset = layout[i].data_offset;
  }
  // The magic goes last: a file with it is complete.
  internal::PublishMagic(h->magic, internal::kMagic);
}

}  // namespace

absl::StatusOr<uint64_t> Arena::BytesFor(const std::vector<SizeClass>& classes) {
  if (absl::Status s = ValidateClasses(classes); !s.ok()) return s;
  std::vector<ClassLayout> layout;
  return ComputeLayout(classes, &layout);
}

absl::StatusOr<std::unique_ptr<Arena>> Arena::Create(const ArenaOptions& options) {
  if (absl::Status s = ValidateClasses(options.classes); !s.ok()) return s;
  if (options.path.empty()) return absl::InvalidArgumentError("arena path is empty");
  std::vector<ClassLayout> layout;
  const uint64_t file_size = ComputeLayout(options.classes, &layout);

  if (unlink(options.path.c_str()) != 0 && errno != ENOENT) {
    return absl::FailedPreconditionError(internal::ErrnoText("cannot replace " + options.path));
  }
  const int fd = open(options.path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, options.mode);
  if (fd < 0) return absl::FailedPreconditionError(internal::ErrnoText("cannot create arena " + options.path));
  // The umask must not loosen or tighten what the caller asked for.
  if (fchmod(fd, options.mode) != 0 || ftruncate(fd, static_cast<off_t>(file_size)) != 0) {
    const std::string err = internal::ErrnoText("cannot size arena " + options.path);
    close(fd);
    unlink(options.path.c_str());
    return absl::FailedPreconditionError(err);
  }
  void* base = mmap(nullptr, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    unlink(options.path.c_str());
    return absl::FailedPreconditionError(internal::ErrnoText("cannot map arena " + options.path));
  }
  WriteHeader(static_cast<std::byte*>(base), layout, file_size);
  return std::unique_ptr<Arena>(
      new Arena(options.path, static_cast<std::byte*>(base), file_size, options.classes));
}

absl::StatusOr<std::unique_ptr<Arena>> Arena::CreateInFile(int fd, uint64_t offset,
                                                           const std::vector<SizeClass>& classes) {
  if (absl::Status s = ValidateClasses(classes); !s.ok()) return s;
  if (offset % internal::kPage != 0) return absl::InvalidArgumentError("an arena starts on a page boundary");
  std::vector<ClassLayout> layout;
  const uint64_t bytes = ComputeLayout(classes, &layout);
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (base == MAP_FAILED) return absl::ResourceExhaustedError(internal::ErrnoText("cannot map a new arena"));
  WriteHeader(static_cast<std::byte*>(base), layout, bytes);
  return std::unique_ptr<Arena>(new Arena("", static_cast<std::byte*>(base), bytes, classes));
}

absl::StatusOr<std::unique_ptr<Arena>> Arena::AttachToFile(int fd, uint64_t offset,
                                                           const std::vector<SizeClass>& classes) {
  if (absl::Status s = ValidateClasses(classes); !s.ok()) return s;
  if (offset % internal::kPage != 0) return absl::InvalidArgumentError("an arena starts on a page boundary");
  std::vector<ClassLayout> layout;
  const uint64_t bytes = ComputeLayout(classes, &layout);
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < offset + bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("the shared memory is too short for an arena of ", bytes, " bytes at offset ", offset));
  }
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (base == MAP_FAILED) return absl::ResourceExhaustedError(internal::ErrnoText("cannot map the arena"));
  const ArenaHeader* h = HeaderOf(static_cast<std::byte*>(base));
  // Read once, to refuse a segment its owner has already broken; never relied on afterwards.
  bool same = internal::MagicIs(h->magic, internal::kMagic) &&
              h->layout_version == internal::kLayoutVersion && h->class_count == layout.size();
  for (size_t i = 0; same && i < layout.size(); ++i) {
    const ClassHeader& ch = h->classes[i];
    same = ch.slab_size == layout[i].slab_size && ch.count == layout[i].count &&
           ch.states_offset == layout[i].states_offset && ch.data_offset == layout[i].data_offset;
  }
  if (!same) {
    munmap(base, bytes);
    return absl::FailedPreconditionError("the arena's header does not match the layout the agent gave");
  }
  return std::unique_ptr<Arena>(new Arena("", static_cast<std::byte*>(base), bytes, classes));
}

absl::StatusOr<std::unique_ptr<Arena>> Arena::Attach(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("no arena at ", path));
    return absl::PermissionDeniedError(internal::ErrnoText("cannot open arena " + path));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const std::string err = internal::ErrnoText("cannot stat " + path);
    close(fd);
    return absl::FailedPreconditionError(err);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < sizeof(ArenaHeader)) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(
        path, " is not a jobd arena: ", size, " bytes is shorter than the ", sizeof(ArenaHeader), "-byte header"));
  }
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) return absl::FailedPreconditionError(internal::ErrnoText("cannot map arena " + path));
  auto refuse = [&](std::string why) {
    munmap(base, size);
    return absl::FailedPreconditionError(absl::StrCat("cannot attach ", path, ": ", why));
  };
  const ArenaHeader* h = HeaderOf(static_cast<std::byte*>(base));
  // Pairs with the release in Create: the magic is written last, so the rest is complete.
  if (!internal::MagicIs(h->magic, internal::kMagic)) return refuse("not a jobd arena (bad magic)");
  if (h->layout_version != internal::kLayoutVersion) {
    return refuse(absl::StrCat("arena layout version ", h->layout_version, ", this build reads version ",
                               internal::kLayoutVersion));
  }
  if (h->header_size != sizeof(ArenaHeader)) {
    return refuse(absl::StrCat("header size ", h->header_size, ", this build expects ", sizeof(ArenaHeader)));
  }
  if (h->file_size > size) {
    return refuse(absl::StrCat("truncated: the file is ", size, " bytes, its header says ", h->file_size));
  }
  if (h->file_size != size) {
    return refuse(absl::StrCat("the file is ", size, " bytes, its header says ", h->file_size));
  }
  if (h->class_count == 0 || h->class_count > internal::kMaxClasses) {
    return refuse(absl::StrCat("class count ", h->class_count, " is out of range 1..", internal::kMaxClasses));
  }
  std::vector<SizeClass> classes;
  for (uint32_t i = 0; i < h->class_count; ++i) {
    const ClassHeader& ch = h->classes[i];
    classes.push_back({ch.slab_size, ch.count});
    // Written so that no sum or product can wrap around, whatever the header says.
    const bool states_fit = ch.states_offset >= sizeof(ArenaHeader) && ch.states_offset <= size &&
                            ch.states_offset % sizeof(uint64_t) == 0 &&
                            uint64_t{ch.count} <= (size - ch.states_offset) / sizeof(uint64_t);
    const bool data_fit = ch.data_offset >= ch.states_offset && ch.data_offset <= size && ch.slab_size > 0 &&
                          ch.slab_size <= size && uint64_t{ch.count} <= (size - ch.data_offset) / ch.slab_size;
    if (!states_fit || !data_fit) return refuse(absl::StrCat("class ", i, " lies outside the file"));
    // A state array that ran into slab bytes would let a payload write forge ownership.
    if (ch.data_offset % internal::kPage != 0 || ch.data_offset - ch.states_offset < uint64_t{ch.count} * 8) {
      return refuse(absl::StrCat("class ", i, ": slab data at offset ", ch.data_offset,
                                 " is not page-aligned after its state words at ", ch.states_offset));
    }
  }
  if (absl::Status s = ValidateClasses(classes); !s.ok()) return refuse(std::string(s.message()));
  // From here on only the layout computed from the classes counts, and the header must agree.
  std::vector<ClassLayout> layout;
  if (ComputeLayout(classes, &layout) != size) return refuse("the file size does not match its class table");
  for (uint32_t i = 0; i < h->class_count; ++i) {
    if (h->classes[i].states_offset != layout[i].states_offset || h->classes[i].data_offset != layout[i].data_offset) {
      return refuse(absl::StrCat("class ", i, "'s offsets do not match the layout of its class table"));
    }
  }
  return std::unique_ptr<Arena>(new Arena(path, static_cast<std::byte*>(base), size, std::move(classes)));
}

absl::Status Arena::Unlink() {
  if (unlink(path_.c_str()) != 0 && errno != ENOENT) return absl::InternalError(internal::ErrnoText("cannot remove " + path_));
  return absl::OkStatus();
}

namespace {

struct SlabRefs {
  std::atomic_ref<uint64_t> state;
  std::byte* data;
  uint64_t slab_size;
};

}  // namespace

// Finds the state word of a handle, or says why the handle names no slab. Only the private
// layout is consulted: whatever the shared header says, the result lies inside the mapping.
ABSL_ATTRIBUTE_HOT
static absl::StatusOr<SlabRefs> Locate(std::byte* base, const std::vector<Arena::ClassLayout>& layout, Handle h) {
  if (h.is_null()) return absl::InvalidArgumentError("null slab handle");
  if (h.size_class() >= layout.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("handle names size class ", h.size_class(), "; the arena has ", layout.size(), " classes"));
  }
  const Arena::ClassLayout& ch = layout[h.size_class()];
  if (h.index() >= ch.count) {
    return absl::InvalidArgumentError(absl::StrCat("index ", h.index(), " out of range for class ", h.size_class(),
                                                   " (", HumanBytes(ch.slab_size), ", ", ch.count, " slabs)"));
  }
  auto* words = reinterpret_cast<uint64_t*>(base + ch.states_offset);
  return SlabRefs{std::atomic_ref<uint64_t>(words[h.index()]), base + ch.data_offset + h.index() * ch.slab_size,
                  ch.slab_size};
}

// Checks that state `s` is the live slab `h` names, held by `owner` (kNoOwner: anyone).
ABSL_ATTRIBUTE_HOT
static absl::Status CheckState(Handle h, uint64_t s, OwnerId owner) {
  const uint32_t gen = internal::StateGeneration(s);
  if (gen != h.generation()) {
    return absl::FailedPreconditionError(absl::StrCat("stale handle: generation ", h.generation(), ", slab ",
                                                      h.size_class(), "/", h.index(), " is at generation ", gen));
  }
  if (internal::StateOwner(s) == kNoOwner) {
    return absl::FailedPreconditionError(
        absl::StrCat("slab ", h.size_class(), "/", h.index(), " is free (a double free or a use after free)"));
  }
  if (owner != kNoOwner && internal::StateOwner(s) != owner) {
    return absl::PermissionDeniedError(absl::StrCat("slab ", h.size_class(), "/", h.index(), " is held by owner ",
                                                    internal::StateOwner(s), ", not ", owner));
  }
  return absl::OkStatus();
}

// Called after a seq_cst free (see AllocateWait). A waiter killed while waiting leaves the
// count above zero: frees then pay one futex syscall each, which is slower but still correct.
ABSL_ATTRIBUTE_HOT
static void WakeWaiters(std::byte* base) {
  ArenaHeader* h = HeaderOf(base);
  if (h->waiters.load(std::memory_order_seq_cst) > 0) {
    h->free_epoch.fetch_add(1, std::memory_order_seq_cst);
    internal::FutexWakeAll(&h->free_epoch);
  }
}

ABSL_ATTRIBUTE_HOT
absl::StatusOr<Allocation> Arena::Allocate(uint64_t size, OwnerId owner) {
  if (owner == kNoOwner) return absl::InvalidArgumentError("cannot allocate for owner 0 (it means free)");
  size_t first = 0;
  while (first < classes_.size() && classes_[first].slab_size < size) ++first;
  if (first == classes_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("payload of ", size, " bytes exceeds the largest slab class (",
                                                   HumanBytes(classes_.back().slab_size), " = ",
                                                   classes_.back().slab_size, " bytes)"));
  }
  ArenaHeader* h = HeaderOf(base_);
  for (size_t c = first; c < classes_.size(); ++c) {
    const ClassLayout& ch = layout_[c];
    auto* words = reinterpret_cast<uint64_t*>(base_ + ch.states_offset);
    const uint32_t count = ch.count;
    // Lowest free first: the scan starts at a hint of the lowest slab that may be free, which
    // frees lower and claims raise, so a session's few jobs in flight keep reusing the same
    // slabs. Those are warm in every cache and already in the page tables of each process that
    // maps the segment; a cursor that went round the class (as before) met a cold slab on every
    // job, and a page fault in the writer and the reader on each slab's first use. The hint is
    // shared and may hold anything (the modulo of our own count bounds it); it only decides
    // where the scan starts, which covers the whole class either way.
    std::atomic<uint64_t>& hint = h->classes[c].free_hint;
    const uint64_t seen = hint.load(std::memory_order_relaxed);
    uint32_t i = static_cast<uint32_t>(seen % count);
    for (uint32_t n = 0; n < count; ++n, i = (i + 1 == count ? 0 : i + 1)) {
      std::atomic_ref<uint64_t> state(words[i]);
      // seq_cst (a plain load on x86) so that AllocateWait's Dekker pattern with Free holds on
      // the atomics themselves, which ThreadSanitizer can check (it does not model fences).
      uint64_t s = state.load(std::memory_order_seq_cst);
      if (internal::StateOwner(s) != kNoOwner) continue;
      uint32_t gen = internal::StateGeneration(s) + 1;
      if (gen == 0) gen = 1;  // a valid handle is never all zeros
      // The claim and the owner's name are this one CAS: a crash on either side of it leaves
      // the slab free or owned by someone named.
      if (state.compare_exchange_strong(s, internal::MakeState(gen, owner), std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
        // Past the slabs this scan found taken, unless someone moved the hint meanwhile (a free
        // below it must win). A scan that wrapped round leaves the hint where it was.
        uint64_t expected = seen;
        if (i >= seen % count) hint.compare_exchange_strong(expected, uint64_t{i} + 1, std::memory_order_relaxed);
        Allocation a;
        a.handle = Handle::Make(static_cast<uint32_t>(c), i, gen);
        a.data = std::span<std::byte>(base_ + ch.data_offset + uint64_t{i} * ch.slab_size, ch.slab_size);
        a.size_class = static_cast<uint32_t>(c);
        a.fell_back = c != first;
        return a;
      }
    }
  }
  h->classes[first].acquire_failures.fetch_add(1, std::memory_order_relaxed);
  return absl::ResourceExhaustedError(absl::StrCat("arena full: no free slab of ", HumanBytes(classes_[first].slab_size),
                                                   " or larger for ", size, " bytes (classes ",
                                                   HumanBytes(classes_[first].slab_size), "..",
                                                   HumanBytes(classes_.back().slab_size), " all in use)"));
}

ABSL_ATTRIBUTE_HOT
absl::StatusOr<Allocation> Arena::AllocateWait(uint64_t size, OwnerId owner, absl::Duration max_wait) {
  absl::StatusOr<Allocation> a = Allocate(size, owner);
  if (a.ok() || a.status().code() != absl::StatusCode::kResourceExhausted || max_wait <= absl::ZeroDuration()) {
    return a;
  }
  ArenaHeader* h = HeaderOf(base_);
  const absl::Time deadline = absl::Now() + max_wait;
  // With the seq_cst free in Free, this is Dekker's pattern: either the freer sees our waiters
  // count and wakes us, or our scan below (seq_cst loads) sees its free slab. Never neither.
  h->waiters.fetch_add(1, std::memory_order_seq_cst);
  while (true) {
    const uint32_t epoch = h->free_epoch.load(std::memory_order_seq_cst);
    a = Allocate(size, owner);  // after announcing ourselves, so a free in between is not missed
    if (a.ok() || a.status().code() != absl::StatusCode::kResourceExhausted) break;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      a = absl::ResourceExhaustedError(absl::StrCat(a.status().message(), "; waited ",
                                                    absl::FormatDuration(max_wait), " for a free slab"));
      break;
    }
    // Capped so that an absurd max_wait never becomes an out-of-range timespec.
    internal::FutexWait(&h->free_epoch, epoch, std::min(left, absl::Hours(1)));
  }
  h->waiters.fetch_sub(1, std::memory_order_seq_cst);
  return a;
}

ABSL_ATTRIBUTE_HOT
absl::Status Arena::Free(Handle handle, OwnerId owner) {
  if (owner == kNoOwner) return absl::InvalidArgumentError("cannot free as owner 0 (it means free); name the holder");
  absl::StatusOr<SlabRefs> slab = Locate(base_, layout_, handle);
  if (!slab.ok()) return slab.status();
  uint64_t s = slab->state.load(std::memory_order_relaxed);
  do {
    if (absl::Status st = CheckState(handle, s, owner); !st.ok()) return st;
  } while (!slab->state.compare_exchange_weak(s, internal::MakeState(handle.generation(), kNoOwner),
                                              std::memory_order_seq_cst, std::memory_order_relaxed));
  LowerFreeHint(handle.size_class(), handle.index());
  WakeWaiters(base_);
  return absl::OkStatus();
}

ABSL_ATTRIBUTE_HOT
void Arena::LowerFreeHint(uint32_t size_class, uint32_t index) {
  std::atomic<uint64_t>& hint = HeaderOf(base_)->classes[size_class].free_hint;
  const uint32_t count = layout_[size_class].count;
  // A few tries at most: a peer that rewrites the hint without end must not hold a free here.
  uint64_t seen = hint.load(std::memory_order_relaxed);
  for (int tries = 0; tries < 4 && index < seen % count; ++tries) {
    if (hint.compare_exchange_weak(seen, index, std::memory_order_relaxed)) return;
  }
}

ABSL_ATTRIBUTE_HOT
absl::Status Arena::Transfer(Handle handle, OwnerId from, OwnerId to) {
  if (from == kNoOwner || to == kNoOwner) {
    return absl::InvalidArgumentError("transfer needs two owners; owner 0 means free");
  }
  absl::StatusOr<SlabRefs> slab = Locate(base_, layout_, handle);
  if (!slab.ok()) return slab.status();
  uint64_t s = slab->state.load(std::memory_order_relaxed);
  do {
    if (absl::Status st = CheckState(handle, s, from); !st.ok()) return st;
  } while (!slab->state.compare_exchange_weak(s, internal::MakeState(handle.generation(), to),
                                              std::memory_order_acq_rel, std::memory_order_relaxed));
  return absl::OkStatus();
}

ABSL_ATTRIBUTE_HOT
absl::StatusOr<std::span<std::byte>> Arena::Resolve(Handle handle, uint64_t size, OwnerId expected_owner) const {
  absl::StatusOr<SlabRefs> slab = Locate(base_, layout_, handle);
  if (!slab.ok()) return slab.status();
  if (absl::Status st = CheckState(handle, slab->state.load(std::memory_order_acquire), expected_owner); !st.ok()) {
    return st;
  }
  if (size > slab->slab_size) {
    return absl::OutOfRangeError(absl::StrCat("size ", size, " exceeds the ", HumanBytes(slab->slab_size),
                                              " slab of class ", handle.size_class()));
  }
  return std::span<std::byte>(slab->data, size);
}

ABSL_ATTRIBUTE_HOT
absl::StatusOr<OwnerId> Arena::OwnerOf(Handle handle) const {
  absl::StatusOr<SlabRefs> slab = Locate(base_, layout_, handle);
  if (!slab.ok()) return slab.status();
  const uint64_t s = slab->state.load(std::memory_order_acquire);
  if (absl::Status st = CheckState(handle, s, kNoOwner); !st.ok()) return st;
  return internal::StateOwner(s);
}

uint32_t Arena::ReclaimOwner(OwnerId owner) {
  if (owner == kNoOwner) return 0;
  uint32_t freed = 0;
  for (size_t c = 0; c < classes_.size(); ++c) {
    const ClassLayout& ch = layout_[c];
    auto* words = reinterpret_cast<uint64_t*>(base_ + ch.states_offset);
    for (uint32_t i = 0; i < ch.count; ++i) {
      std::atomic_ref<uint64_t> state(words[i]);
      uint64_t s = state.load(std::memory_order_relaxed);
      while (internal::StateOwner(s) == owner) {
        if (state.compare_exchange_weak(s, internal::MakeState(internal::StateGeneration(s), kNoOwner),
                                        std::memory_order_seq_cst, std::memory_order_relaxed)) {
          ++freed;
          LowerFreeHint(static_cast<uint32_t>(c), i);
          break;
        }
      }
    }
  }
  if (freed > 0) WakeWaiters(base_);
  return freed;
}

uint32_t Arena::CountOwnedBy(OwnerId owner) const {
  uint32_t n = 0;
  for (size_t c = 0; c < classes_.size(); ++c) {
    const ClassLayout& ch = layout_[c];
    auto* words = reinterpret_cast<uint64_t*>(base_ + ch.states_offset);
    for (uint32_t i = 0; i < ch.count; ++i) {
      n += internal::StateOwner(std::atomic_ref<uint64_t>(words[i]).load(std::memory_order_relaxed)) == owner;
    }
  }
  return n;
}

std::vector<ClassOccupancy> Arena::Occupancy() const {
  std::vector<ClassOccupancy> out;
  const ArenaHeader* h = HeaderOf(base_);
  for (size_t c = 0; c < classes_.size(); ++c) {
    const ClassLayout& ch = layout_[c];
    auto* words = reinterpret_cast<uint64_t*>(base_ + ch.states_offset);
    ClassOccupancy o;
    o.slab_size = ch.slab_size;
    o.total = ch.count;
    for (uint32_t i = 0; i < ch.count; ++i) {
      o.in_use += internal::StateOwner(std::atomic_ref<uint64_t>(words[i]).load(std::memory_order_relaxed)) != 0;
    }
    o.bytes_in_use = uint64_t{o.in_use} * ch.slab_size;
    o.acquire_failures = h->classes[c].acquire_failures.load(std::memory_order_relaxed);
    out.push_back(o);
  }
  return out;
}

uint32_t Arena::SlabsInUse() const {
  uint32_t n = 0;
  for (const ClassOccupancy& o : Occupancy()) n += o.in_use;
  return n;
}

}  // namespace jobd::shm
