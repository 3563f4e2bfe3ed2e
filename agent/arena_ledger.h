// The coordinator's SlabLedger, backed by the real arena.
#pragma once

#include "coordinator/slab_ledger.h"
#include "shm/arena.h"

namespace jobd::agent {

class ArenaLedger final : public coordinator::SlabLedger {
 public:
  explicit ArenaLedger(shm::Arena& arena) : arena_(arena) {}
  absl::Status Transfer(shm::Handle handle, shm::OwnerId from, shm::OwnerId to) override {
    return arena_.Transfer(handle, from, to);
  }
  absl::Status Free(shm::Handle handle, shm::OwnerId owner) override { return arena_.Free(handle, owner); }
  absl::Status Check(shm::Handle handle, uint64_t size, shm::OwnerId owner) const override {
    return arena_.Resolve(handle, size, owner).status();
  }

 private:
  shm::Arena& arena_;
};

}  // namespace jobd::agent
