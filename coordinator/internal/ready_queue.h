// The queue of jobs ready to run, split by type and priority so that a worker finds its next
// job in O(types it handles * log n) and a job leaves the queue in O(log n), however many jobs
// of other types wait. Internal to coordinator/.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "coordinator/job.h"

namespace jobd::coordinator::internal {

class ReadyQueue {
 public:
  struct Entry {
    JobId id = 0;
    uint64_t seq = 0;  // enqueue order across all types: FIFO within a priority
    absl::Time enqueued_at;
  };

  void Push(const std::string& type, Priority priority, const Entry& e) {
    TypeQueue& q = types_[type];
    q.levels[Level(priority)].emplace(e.seq, e);
    ++q.size;
    ++size_;
  }

  // `seq` is the one Push was given; a no-op for an entry that is not there.
  void Remove(const std::string& type, Priority priority, uint64_t seq) {
    auto t = types_.find(type);
    if (t == types_.end() || t->second.levels[Level(priority)].erase(seq) == 0) return;
    --size_;
    if (--t->second.size == 0) types_.erase(t);
  }

  // The job a worker handling `types` should run next: the best priority, then the oldest.
  // The caller removes it.
  struct Pick {
    std::string type;
    Priority priority;
    Entry entry;
  };
  std::optional<Pick> Best(const absl::flat_hash_set<std::string>& worker_types) const {
    std::optional<Pick> best;
    for (const std::string& type : worker_types) {
      auto t = types_.find(type);
      if (t == types_.end()) continue;
      for (int level = 0; level < kPriorityLevels; ++level) {
        const auto& q = t->second.levels[level];
        if (q.empty()) continue;
        const Entry& head = q.begin()->second;
        if (!best || level < Level(best->priority) ||
            (level == Level(best->priority) && head.seq < best->entry.seq)) {
          best = Pick{type, static_cast<Priority>(level), head};
        }
        break;  // a lower level of this type cannot beat its own higher one
      }
    }
    return best;
  }

  size_t size() const { return size_; }
  // Jobs of `type` queued, at every priority.
  size_t CountOf(const std::string& type) const {
    auto t = types_.find(type);
    return t == types_.end() ? 0 : t->second.size;
  }

  std::map<std::string, size_t> DepthByType() const {
    std::map<std::string, size_t> out;
    for (const auto& [type, q] : types_) out[type] = q.size;
    return out;
  }

  // O(types): for introspection, not for the event path.
  std::optional<absl::Time> OldestEnqueuedAt() const {
    std::optional<absl::Time> oldest;
    for (const auto& [type, q] : types_) {
      for (const auto& level : q.levels) {
        if (level.empty()) continue;
        const absl::Time t = level.begin()->second.enqueued_at;
        if (!oldest || t < *oldest) oldest = t;
      }
    }
    return oldest;
  }

 private:
  static int Level(Priority p) { return static_cast<int>(p); }
  struct TypeQueue {
    std::map<uint64_t, Entry> levels[kPriorityLevels];
    size_t size = 0;
  };
  std::map<std::string, TypeQueue> types_;  // only types with queued jobs
  size_t size_ = 0;
};

}  // namespace jobd::coordinator::internal
