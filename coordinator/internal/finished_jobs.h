// The last N ended jobs, for Status after the end. Every job that ends is written here, on the
// agent's path of every job; a lookup comes only from an operator's Status. So an end writes
// the next slot of a ring (no hashing, no allocation once the ring is full, for a type name
// that fits in the string it replaces) and a lookup scans the ids, newest first: 10,000 ids are
// 80 KB, a few microseconds, beside a gRPC call's tens.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "coordinator/coordinator.h"

namespace jobd::coordinator::internal {

class FinishedJobs {
 public:
  explicit FinishedJobs(size_t capacity) : capacity_(capacity) {}

  // Forgets the oldest once `capacity` are held. With capacity 0, remembers nothing.
  void Remember(const JobStatus& st) {
    if (capacity_ == 0) return;
    if (ids_.size() < capacity_) {
      ids_.push_back(st.id);
      statuses_.push_back(st);
      return;
    }
    ids_[next_] = st.id;
    JobStatus& slot = statuses_[next_];
    slot.id = st.id;
    slot.type.assign(st.type);  // keeps the slot's buffer
    slot.state = st.state;
    slot.outcome = st.outcome;
    slot.attempt = st.attempt;
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
  size_t capacity_;
  size_t next_ = 0;            // the slot the next end overwrites, once full
  std::vector<JobId> ids_;     // apart from the statuses, so a lookup reads 8 bytes a job
  std::vector<JobStatus> statuses_;
};

}  // namespace jobd::coordinator::internal
