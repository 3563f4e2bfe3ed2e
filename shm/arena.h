// The arena: one shared-memory file cut into slabs of fixed size classes.
//
// Any process can map it. Allocation is lock-free and needs no other process: claiming a
// slab and recording its owner is one compare-and-swap on the slab's state word, so a process
// killed at any instruction leaves every slab either free or owned by someone named. The
// agent is the authority on owners: it reclaims the slabs of owners that are gone.
//
// Thread safety: every method may be called from any thread of any process that has the arena
// mapped. Payload bytes are never touched by the arena itself.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shm/handle.h"
#include "shm/size_classes.h"

namespace jobd::shm {

struct ArenaOptions {
  std::string path;                // file to create; an existing file there is replaced
  std::vector<SizeClass> classes;  // validated again by Create
  mode_t mode = 0600;              // 0640 to let the owner's group map it read-only
};

// A slab just allocated: its handle and its bytes, mapped in this process.
struct Allocation {
  Handle handle;
  std::span<std::byte> data;  // the whole slab: data.size() is the slab size
  uint32_t size_class = 0;    // the class it came from
  bool fell_back = false;     // true when the smallest fitting class was full
};

struct ClassOccupancy {
  uint64_t slab_size = 0;
  uint32_t total = 0;
  uint32_t in_use = 0;
  uint64_t bytes_in_use = 0;     // in_use * slab_size
  uint64_t acquire_failures = 0;  // allocations that found this class and every larger one full
};

class Arena {
 public:
  // Creates the file (replacing any old one), sizes it, maps it, writes the header.
  // Errors: InvalidArgument for bad options, Internal/FailedPrecondition with errno text for
  // file-system failures.
  static absl::StatusOr<std::unique_ptr<Arena>> Create(const ArenaOptions& options);

  // Maps an existing arena. Refuses with FailedPrecondition and a message that says which:
  // not an arena (bad magic), another layout version, a header size mismatch, a file shorter
  // than the header says, a class table that is inconsistent.
  static absl::StatusOr<std::unique_ptr<Arena>> Attach(const std::string& path);

  // The bytes an arena of these classes takes (a multiple of the page size).
  static absl::StatusOr<uint64_t> BytesFor(const std::vector<SizeClass>& classes);
  // Writes a fresh arena into `fd` at `offset` (page-aligned; the file is already long enough
  // and all zeros there) and maps it. For segments the agent creates in a memfd.
  static absl::StatusOr<std::unique_ptr<Arena>> CreateInFile(int fd, uint64_t offset,
                                                             const std::vector<SizeClass>& classes);
  // Maps the arena another process wrote into `fd` at `offset`. The layout comes from
  // `classes`, which the caller got from a party it trusts (the agent), never from the header a
  // peer can rewrite; the header must still match it, or the arena is refused.
  static absl::StatusOr<std::unique_ptr<Arena>> AttachToFile(int fd, uint64_t offset,
                                                             const std::vector<SizeClass>& classes);

  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  ~Arena();  // unmaps; the file stays (see Unlink)

  // Removes the file from the file system; existing mappings stay valid.
  absl::Status Unlink();

  // Takes a free slab of the smallest class whose slab_size >= size, falling back to larger
  // classes when that one is full, and records `owner` in the same atomic step. Within a
  // class, the lowest free slab as far as a shared hint tells: freed slabs are reused first.
  // Errors: InvalidArgument when size exceeds the largest class (the message names both
  // sizes) or owner is kNoOwner; ResourceExhausted when that class and every larger one are
  // full (counted in acquire_failures of the smallest fitting class).
  absl::StatusOr<Allocation> Allocate(uint64_t size, OwnerId owner);

  // As Allocate, but when the arena is full waits up to `max_wait` for a slab to be freed
  // (a futex in the arena, not polling). max_wait of zero is Allocate.
  absl::StatusOr<Allocation> AllocateWait(uint64_t size, OwnerId owner, absl::Duration max_wait);

  // Frees a slab held by `owner`. Errors: InvalidArgument (unknown class, index out of range,
  // null handle), FailedPrecondition (stale generation, or already free: a double free),
  // PermissionDenied (held by another owner; the message names both).
  absl::Status Free(Handle handle, OwnerId owner);

  // Moves a slab from one owner to another in one atomic step. Errors as for Free.
  absl::Status Transfer(Handle handle, OwnerId from, OwnerId to);

  // Validates a handle (class, index, generation current, not free) and that `size` fits in
  // the slab; returns the first `size` bytes. With expected_owner != kNoOwner it also checks
  // the owner. Errors as for Free, plus OutOfRange when size exceeds the slab.
  absl::StatusOr<std::span<std::byte>> Resolve(Handle handle, uint64_t size,
                                               OwnerId expected_owner = kNoOwner) const;

  // The current owner of a live handle; errors as for Free.
  absl::StatusOr<OwnerId> OwnerOf(Handle handle) const;

  // How many slabs `owner` holds now. O(slabs), lock-free.
  uint32_t CountOwnedBy(OwnerId owner) const;

  // Frees every slab held by `owner`; returns how many. For owners that are gone.
  uint32_t ReclaimOwner(OwnerId owner);

  // Exact, lock-free, O(slabs): reads every state word.
  std::vector<ClassOccupancy> Occupancy() const;
  uint32_t SlabsInUse() const;

  const std::vector<SizeClass>& classes() const { return classes_; }
  const std::string& path() const { return path_; }
  uint64_t mapped_bytes() const { return mapped_bytes_; }

  // Where a class lives, in this process's own memory: computed once from the classes and
  // never read back from the shared header, which any process mapping the arena can rewrite.
  struct ClassLayout {
    uint64_t slab_size = 0;
    uint32_t count = 0;
    uint64_t states_offset = 0;
    uint64_t data_offset = 0;
  };

 private:
  Arena(std::string path, std::byte* base, uint64_t mapped_bytes, std::vector<SizeClass> classes);
  // The slab `index` of `size_class` was just freed: allocations start scanning there if it is
  // below where they started (lowest free first; see Allocate).
  void LowerFreeHint(uint32_t size_class, uint32_t index);

  std::string path_;
  std::byte* base_ = nullptr;
  uint64_t mapped_bytes_ = 0;
  std::vector<SizeClass> classes_;
  std::vector<ClassLayout> layout_;
};

}  // namespace jobd::shm
