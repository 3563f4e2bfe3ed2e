// Idle workers by the job types they handle, so that a new job finds a worker at once.
// Within a type the most recently idle worker is picked: it is the one most likely still
// awake (warm caches, not paged out). Internal to coordinator/.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "coordinator/job.h"

namespace jobd::coordinator::internal {

class IdlePool {
 public:
  // Returns the ticket Remove needs.
  uint64_t Add(WorkerId worker, const absl::flat_hash_set<std::string>& types) {
    const uint64_t ticket = next_ticket_++;
    // Tickets only grow, so appending keeps each type's list in ticket order.
    for (const std::string& t : types) by_type_[t].push_back({ticket, worker});
    ++size_;
    return ticket;
  }

  void Remove(WorkerId worker, const absl::flat_hash_set<std::string>& types, uint64_t ticket) {
    const std::pair<uint64_t, WorkerId> entry{ticket, worker};
    bool removed = false;
    for (const std::string& t : types) {
      auto it = by_type_.find(t);
      if (it == by_type_.end()) continue;
      std::vector<std::pair<uint64_t, WorkerId>>& idle = it->second;
      auto at = std::lower_bound(idle.begin(), idle.end(), entry);
      if (at != idle.end() && *at == entry) {
        idle.erase(at);
        removed = true;
      }
    }
    if (removed) --size_;
  }

  // 0 when no idle worker handles `type`.
  WorkerId Pick(const std::string& type) const {
    auto it = by_type_.find(type);
    if (it == by_type_.end() || it->second.empty()) return 0;
    return it->second.back().second;
  }

  size_t size() const { return size_; }

 private:
  // Per type its idle workers, oldest ticket first. A list keeps its capacity when it empties
  // (the types are the workers' own, a bounded set), so a worker going idle and busy again, once
  // per job, allocates nothing: a node per type per idle spell did (21 per job for a worker of
  // 21 types).
  absl::flat_hash_map<std::string, std::vector<std::pair<uint64_t, WorkerId>>> by_type_;
  uint64_t next_ticket_ = 1;
  size_t size_ = 0;
};

}  // namespace jobd::coordinator::internal
