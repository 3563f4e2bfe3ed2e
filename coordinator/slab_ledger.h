// The coordinator's view of slab ownership: a tiny interface over the arena, so the
// coordinator stays pure and its tests can use a map (tests/fakes/fake_slab_ledger.h).
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "shm/handle.h"

namespace jobd::coordinator {

// Every session has memory of its own (a segment): a slab is named by the session whose segment
// holds it (`segment`, the session id) and its handle there. A job's slabs all live in the
// segment of the session that submitted it.
class SlabLedger {
 public:
  virtual ~SlabLedger() = default;
  // Same contracts and error codes as shm::Arena::Transfer / Free / Resolve, plus NotFound for
  // a segment that does not exist.
  virtual absl::Status Transfer(shm::OwnerId segment, shm::Handle handle, shm::OwnerId from, shm::OwnerId to) = 0;
  virtual absl::Status Free(shm::OwnerId segment, shm::Handle handle, shm::OwnerId owner) = 0;
  virtual absl::Status Check(shm::OwnerId segment, shm::Handle handle, uint64_t size, shm::OwnerId owner) const = 0;
};

}  // namespace jobd::coordinator
