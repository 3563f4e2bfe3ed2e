#include "agent/segment_ledger.h"

#include "absl/strings/str_cat.h"

namespace jobd::agent {

namespace {

std::string Name(shm::Handle h) { return absl::StrCat(h.size_class(), "/", h.index()); }

}  // namespace

void SegmentLedger::Add(shm::OwnerId session, std::shared_ptr<shm::Segment> segment) {
  absl::MutexLock lock(&mu_);
  entries_[session].segment = std::move(segment);
}

void SegmentLedger::Remove(shm::OwnerId session) {
  absl::MutexLock lock(&mu_);
  entries_.erase(session);
}

std::shared_ptr<shm::Segment> SegmentLedger::Get(shm::OwnerId session) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = entries_.find(session);
  return it == entries_.end() ? nullptr : it->second.segment;
}

absl::Status SegmentLedger::CheckLocked(const Entry& e, shm::OwnerId segment, shm::Handle h, uint64_t size,
                                        shm::OwnerId owner) const {
  auto held = e.held.find(Key(h));
  if (owner == shm::kAgentOwner) {
    if (held == e.held.end() || held->second.generation != h.generation()) {
      return absl::FailedPreconditionError(absl::StrCat("slab ", Name(h), " is not held for a job"));
    }
    // The record is the truth; the state word's size check still applies.
    absl::StatusOr<std::span<std::byte>> view = e.segment->arena()->Resolve(h, size);
    return view.status().code() == absl::StatusCode::kOutOfRange ? view.status() : absl::OkStatus();
  }
  if (held != e.held.end()) {
    return absl::PermissionDeniedError(absl::StrCat("slab ", Name(h), " of session ", segment,
                                                    " is held by one of its jobs, not by owner ", owner));
  }
  return e.segment->arena()->Resolve(h, size, owner).status();
}

absl::Status SegmentLedger::Check(shm::OwnerId segment, shm::Handle h, uint64_t size, shm::OwnerId owner) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = entries_.find(segment);
  if (it == entries_.end() || it->second.segment->arena() == nullptr) {
    return absl::NotFoundError(absl::StrCat("session ", segment, " has no segment"));
  }
  return CheckLocked(it->second, segment, h, size, owner);
}

absl::Status SegmentLedger::Transfer(shm::OwnerId segment, shm::Handle h, shm::OwnerId from, shm::OwnerId to) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(segment);
  if (it == entries_.end() || it->second.segment->arena() == nullptr) {
    return absl::NotFoundError(absl::StrCat("session ", segment, " has no segment"));
  }
  Entry& e = it->second;
  shm::Arena& arena = *e.segment->arena();
  if (absl::Status s = CheckLocked(e, segment, h, 0, from); !s.ok()) return s;
  if (to == shm::kAgentOwner) {
    // The state word is moved too, so that the client's allocator leaves the slab alone; if
    // the client raced us on its own word, the job is refused and nothing is recorded.
    if (absl::Status s = arena.Transfer(h, from, to); !s.ok()) return s;
    e.held[Key(h)] = {h.generation(), to};
    return absl::OkStatus();
  }
  if (from == shm::kAgentOwner) {
    e.held.erase(Key(h));
    // Best effort on the word: the record no longer names the slab, whatever the word says.
    (void)arena.Transfer(h, from, to);
    return absl::OkStatus();
  }
  return arena.Transfer(h, from, to);
}

absl::Status SegmentLedger::Free(shm::OwnerId segment, shm::Handle h, shm::OwnerId owner) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(segment);
  if (it == entries_.end() || it->second.segment->arena() == nullptr) {
    return absl::NotFoundError(absl::StrCat("session ", segment, " has no segment"));
  }
  Entry& e = it->second;
  if (owner == shm::kAgentOwner) {
    auto held = e.held.find(Key(h));
    if (held == e.held.end() || held->second.generation != h.generation()) {
      return absl::FailedPreconditionError(absl::StrCat("slab ", Name(h), " is not held for a job"));
    }
    e.held.erase(held);
    (void)e.segment->arena()->Free(h, owner);
    return absl::OkStatus();
  }
  if (e.held.contains(Key(h))) {
    return absl::PermissionDeniedError(absl::StrCat("slab ", Name(h), " is held by a job, not by owner ", owner));
  }
  return e.segment->arena()->Free(h, owner);
}

uint32_t SegmentLedger::SlabsOf(shm::OwnerId session) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = entries_.find(session);
  if (it == entries_.end() || it->second.segment->arena() == nullptr) return 0;
  return it->second.segment->arena()->CountOwnedBy(session) + static_cast<uint32_t>(it->second.held.size());
}

uint32_t SegmentLedger::ReclaimWorker(shm::OwnerId worker) {
  absl::ReaderMutexLock lock(&mu_);
  uint32_t freed = 0;
  for (auto& [id, e] : entries_) {
    if (e.segment->arena() != nullptr) freed += e.segment->arena()->ReclaimOwner(worker);
  }
  return freed;
}

std::vector<shm::ClassOccupancy> SegmentLedger::Occupancy() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<shm::ClassOccupancy> sum;
  for (const auto& [id, e] : entries_) {
    if (e.segment->arena() == nullptr) continue;
    std::vector<shm::ClassOccupancy> one = e.segment->arena()->Occupancy();
    if (sum.empty()) {
      sum = one;
      continue;
    }
    for (size_t c = 0; c < sum.size() && c < one.size(); ++c) {
      sum[c].total += one[c].total;
      sum[c].in_use += one[c].in_use;
      sum[c].bytes_in_use += one[c].bytes_in_use;
      sum[c].acquire_failures += one[c].acquire_failures;
    }
  }
  return sum;
}

std::vector<SegmentUsage> SegmentLedger::Usage() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<SegmentUsage> out;
  for (const auto& [id, e] : entries_) {
    SegmentUsage u;
    u.session = id;
    u.segment_bytes = e.segment->bytes();
    u.committed_bytes = e.segment->CommittedBytes();
    if (e.segment->arena() != nullptr) {
      for (const shm::ClassOccupancy& c : e.segment->arena()->Occupancy()) {
        u.slabs_in_use += c.in_use;
        u.bytes_in_use += c.bytes_in_use;
      }
    }
    out.push_back(u);
  }
  return out;
}

uint64_t SegmentLedger::CommittedBytes() const {
  absl::ReaderMutexLock lock(&mu_);
  uint64_t total = 0;
  for (const auto& [id, e] : entries_) total += e.segment->CommittedBytes();
  return total;
}

size_t SegmentLedger::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace jobd::agent
