// The coordinator's SlabLedger over per-session segments, and the agent's own record of who
// holds what.
//
// A slab in a session's segment is held by the session (its client allocated it: the segment's
// state word says so, and only the session is hurt if that word lies), by the agent for a job
// (recorded HERE, in memory no other process can write), or by a worker writing a response
// (the state word says so; the worker is checked against this record when it answers). So a
// client that rewrites its state words can confuse only its own allocator, never make the agent
// free, hand out or accept a slab a job still holds.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/slab_ledger.h"
#include "shm/segment.h"

namespace jobd::agent {

struct SegmentUsage {
  uint32_t session = 0;
  uint32_t slabs_in_use = 0;
  uint64_t bytes_in_use = 0;
  uint64_t committed_bytes = 0;
  uint64_t segment_bytes = 0;
};

class SegmentLedger final : public coordinator::SlabLedger {
 public:
  void Add(shm::OwnerId session, std::shared_ptr<shm::Segment> segment);
  // Forgets the segment (its memory goes when the last mapping does).
  void Remove(shm::OwnerId session);
  std::shared_ptr<shm::Segment> Get(shm::OwnerId session) const;

  absl::Status Transfer(shm::OwnerId segment, shm::Handle handle, shm::OwnerId from, shm::OwnerId to) override;
  absl::Status Free(shm::OwnerId segment, shm::Handle handle, shm::OwnerId owner) override;
  absl::Status Check(shm::OwnerId segment, shm::Handle handle, uint64_t size, shm::OwnerId owner) const override;

  // Slabs the session holds now: its own plus those its jobs hold.
  uint32_t SlabsOf(shm::OwnerId session) const;
  // Frees whatever a worker that is gone still held, in every segment.
  uint32_t ReclaimWorker(shm::OwnerId worker);
  // Per class, summed over every segment.
  std::vector<shm::ClassOccupancy> Occupancy() const;
  std::vector<SegmentUsage> Usage() const;
  uint64_t CommittedBytes() const;
  size_t size() const;

 private:
  struct Held {
    uint32_t generation = 0;
    shm::OwnerId owner = shm::kNoOwner;
  };
  struct Entry {
    std::shared_ptr<shm::Segment> segment;
    absl::flat_hash_map<uint64_t, Held> held;  // by class << 32 | index
  };
  static uint64_t Key(shm::Handle h) { return (uint64_t{h.size_class()} << 32) | h.index(); }
  absl::Status CheckLocked(const Entry& e, shm::OwnerId segment, shm::Handle h, uint64_t size,
                           shm::OwnerId owner) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::flat_hash_map<shm::OwnerId, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace jobd::agent
