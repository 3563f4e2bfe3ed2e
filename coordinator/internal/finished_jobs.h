// The last N ended jobs, for Status after the end. Every job that ends is written here, on the
// agent's path of every job; a lookup comes only from an operator's Status. So an end writes
// the next slot of a ring (no hashing, no allocation once the ring is full, for a type name
// that fits in the string it replaces) and a lookup scans the ids, newest first: 10,000 ids are
// 80 KB, a few microseconds, beside a gRPC call's tens.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "coordinator/coordinator.h"

namespace jobd::coordinator::internal {

class FinishedJobs {
 public:
  explicit FinishedJobs(size_t capacity) : capacity_(capacity) {}

  // Forgets the oldest once `capacity` are held. With capacity 0, remembers nothing. Takes the
  // fields rather than a JobStatus so that the caller copies no type name to call it.
  void Remember(JobId id, std::string_view type, JobState state, Outcome outcome, uint32_t attempt) {
    if (capacity_ == 0) return;
    if (ids_.size() < capacity_) {
      ids_.push_back(id);
      statuses_.emplace_back();
      Fill(statuses_.back(), id, type, state, outcome, attempt);
      return;
    }
    ids_[next_] = id;
    Fill(statuses_[next_], id, type, state, outcome, attempt);
    next_ = next_ + 1 == capacity_ ? 0 : next_ + 1;
  }

  // The latest end remembered for `id` (an id may be reused once its job has ended).
  std::optional<JobStatus> Find(JobId id) const {
    const size_t n = ids_.size();
    size_t i = n < capacity_ ? n : next_;  // one past the newest
    for (size_t k = 0; k < n; ++k) {
      i = i == 0 ? n - 1 : i - 1;
      if (ids_[i] == id) return statuses_[i];
    }
    return std::nullopt;
  }

  size_t size() const { return ids_.size(); }

 private:
  static void Fill(JobStatus& slot, JobId id, std::string_view type, JobState state, Outcome outcome,
                   uint32_t attempt) {
    slot.id = id;
    slot.type.assign(type);  // keeps the slot's buffer
    slot.state = state;
    slot.outcome = outcome;
    slot.attempt = attempt;
  }

  size_t capacity_;
  size_t next_ = 0;            // the slot the next end overwrites, once full
  std::vector<JobId> ids_;     // apart from the statuses, so a lookup reads 8 bytes a job
  std::vector<JobStatus> statuses_;
};

}  // namespace jobd::coordinator::internal
