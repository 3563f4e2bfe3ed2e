// A per-worker environment (amphp's): values that persist between jobs in one worker process,
// each with a time to live, for connections and caches. One per process; handlers run one at a
// time, so it needs no lock.
//
//   auto* conn = job.env().Get<DbConnection>("db");
//   if (conn == nullptr) conn = job.env().Put("db", std::make_shared<DbConnection>(), absl::Minutes(5));
#pragma once

#include <any>
#include <map>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "shm/wall_clock.h"

namespace jobd::client {

class WorkerEnv {
 public:
  // The value under `key` if it is there, of type T, and not expired; else nullptr.
  template <typename T>
  T* Get(const std::string& key) {
    auto it = values_.find(key);
    if (it == values_.end()) return nullptr;
    if (it->second.expires <= shm::WallNow()) {
      values_.erase(it);
      return nullptr;
    }
    auto* p = std::any_cast<std::shared_ptr<T>>(&it->second.value);
    return p == nullptr ? nullptr : p->get();
  }

  // Stores `value` under `key` for `ttl` (InfiniteDuration: for the life of the worker).
  template <typename T>
  T* Put(const std::string& key, std::shared_ptr<T> value, absl::Duration ttl = absl::InfiniteDuration()) {
    T* raw = value.get();
    values_[key] = Entry{std::any(std::move(value)), ttl == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                                                      : shm::WallNow() + ttl};
    return raw;
  }

  void Erase(const std::string& key) { values_.erase(key); }
  // Drops expired values; the worker calls it between jobs.
  void Expire() {
    if (values_.empty()) return;  // most workers keep nothing: no clock read
    const absl::Time now = shm::WallNow();
    for (auto it = values_.begin(); it != values_.end();) {
      it = it->second.expires <= now ? values_.erase(it) : std::next(it);
    }
  }
  size_t size() const { return values_.size(); }

 private:
  struct Entry {
    std::any value;
    absl::Time expires;
  };
  std::map<std::string, Entry> values_;
};

}  // namespace jobd::client
