// Idle workers by the job types they handle, so that a new job finds a worker in O(log n).
// Within a type the most recently idle worker is picked: it is the one most likely still
// awake (warm caches, not paged out). Internal to coordinator/.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "coordinator/job.h"

namespace jobd::coordinator::internal {

class IdlePool {
 public:
  // Returns the ticket Remove needs.
  uint64_t Add(WorkerId worker, const absl::flat_hash_set<std::string>& types) {
    const uint64_t ticket = next_ticket_++;
    for (const std::string& t : types) by_type_[t].insert({ticket, worker});
    ++size_;
    return ticket;
  }

  void Remove(WorkerId worker, const absl::flat_hash_set<std::string>& types, uint64_t ticket) {
    bool removed = false;
    for (const std::string& t : types) {
      auto it = by_type_.find(t);
      if (it == by_type_.end()) continue;
      removed |= it->second.erase({ticket, worker}) > 0;
      if (it->second.empty()) by_type_.erase(it);
    }
    if (removed) --size_;
  }

  // 0 when no idle worker handles `type`.
  WorkerId Pick(const std::string& type) const {
    auto it = by_type_.find(type);
    if (it == by_type_.end() || it->second.empty()) return 0;
    return it->second.rbegin()->second;
  }

  size_t size() const { return size_; }

 private:
  absl::flat_hash_map<std::string, std::set<std::pair<uint64_t, WorkerId>>> by_type_;
  uint64_t next_ticket_ = 1;
  size_t size_ = 0;
};

}  // namespace jobd::coordinator::internal
