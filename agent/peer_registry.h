// Who the agent is talking to: the open sessions and workers by id, the one-time tokens of
// peers that have not yet picked up their segment, the live jobs each uid has across its
// sessions (--max-jobs-per-uid), and the closed sessions whose segments wait for their last job.
// Pure bookkeeping under one lock: no I/O, no coordinator. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/peers.h"

namespace jobd::agent {

// A token handed out in a welcome, waiting for its peer on the side socket.
struct PendingPeer {
  bool worker = false;
  uint32_t id = 0;
  absl::Time until;  // the peer is ended if it has not come by then
};

class PeerRegistry {
 public:
  // ---- sessions and workers
  size_t SessionCount() const;
  void AddSession(std::shared_ptr<SessionConn> session);
  void AddWorker(std::shared_ptr<WorkerConn> worker);
  // Forget the peer and its unused token. RemoveWorker: false when it was not registered.
  void RemoveSession(coordinator::SessionId id);
  bool RemoveWorker(coordinator::WorkerId id);
  std::shared_ptr<SessionConn> FindSession(coordinator::SessionId id) const;
  std::shared_ptr<WorkerConn> FindWorker(coordinator::WorkerId id) const;
  std::vector<std::shared_ptr<WorkerConn>> Workers() const;
  // The workers leased to any session now, or to `session`.
  std::vector<std::shared_ptr<WorkerConn>> LeasedWorkers() const;
  std::shared_ptr<WorkerConn> WorkerLeasedTo(coordinator::SessionId session) const;
  // The peers that have their segment (the pump drains only those).
  void Attached(std::vector<std::shared_ptr<SessionConn>>& sessions,
                std::vector<std::shared_ptr<WorkerConn>>& workers) const;
  // Bumped when an attached peer comes or goes: the pump re-reads Attached when it changes.
  uint64_t epoch() const { return epoch_.load(std::memory_order_acquire); }
  void Bump() { epoch_.fetch_add(1, std::memory_order_acq_rel); }

  // ---- side-socket tokens
  void AddToken(const std::string& token, PendingPeer peer);
  // The peer a token stands for, once: a used or unknown token gives nullopt.
  std::optional<PendingPeer> TakeToken(const std::string& token);
  // Tokens whose peer did not come by `now`, removed.
  std::vector<PendingPeer> TakeExpiredTokens(absl::Time now);
  std::optional<absl::Time> NextTokenExpiry() const;

  // ---- live jobs per uid
  // The session's uid, known once it attached; kept while its jobs live.
  void SetUid(coordinator::SessionId session, uint32_t uid);
  size_t LiveJobsOfUid(uint32_t uid) const;
  // Workers leased to the uid's sessions. The quota counts each as a live job: a leased worker
  // serves only that session, and its lane jobs never pass the agent to be counted one by one.
  size_t LeasesOfUid(uint32_t uid) const;
  // Those workers (to take back the idle ones when the uid is at its quota).
  std::vector<std::shared_ptr<WorkerConn>> LeasedWorkersOfUid(uint32_t uid) const;
  void JobAccepted(uint32_t uid);
  // Every accepted job ends once: its uid's count goes down.
  void JobEnded(coordinator::SessionId session);

  // ---- segments of closed sessions
  void Linger(coordinator::SessionId session);
  bool HasLingering() const;
  // The lingering sessions whose segments may go now: no live job (`live_jobs` says) and no
  // worker leased to them. They stop lingering and their uid is forgotten.
  std::vector<coordinator::SessionId> TakeReleasable(const std::function<size_t(coordinator::SessionId)>& live_jobs);

 private:
  bool LeasedToUidLocked(const WorkerConn& worker, uint32_t uid) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  mutable absl::Mutex mu_;
  absl::flat_hash_map<coordinator::SessionId, std::shared_ptr<SessionConn>> sessions_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<coordinator::WorkerId, std::shared_ptr<WorkerConn>> workers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, PendingPeer> tokens_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint32_t, size_t> uid_jobs_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<coordinator::SessionId, uint32_t> session_uid_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<coordinator::SessionId> lingering_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> epoch_{0};
};

}  // namespace jobd::agent
