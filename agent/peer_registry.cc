#include "agent/peer_registry.h"

#include <algorithm>

namespace jobd::agent {

namespace {

template <typename Map, typename Pred>
void EraseIf(Map& map, Pred pred) {
  for (auto it = map.begin(); it != map.end();) {
    auto next = std::next(it);
    if (pred(*it)) map.erase(it);
    it = next;
  }
}

}  // namespace

size_t PeerRegistry::SessionCount() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

void PeerRegistry::AddSession(std::shared_ptr<SessionConn> session) {
  absl::MutexLock lock(&mu_);
  const coordinator::SessionId id = session->id;
  sessions_[id] = std::move(session);
}

void PeerRegistry::AddWorker(std::shared_ptr<WorkerConn> worker) {
  absl::MutexLock lock(&mu_);
  const coordinator::WorkerId id = worker->id;
  workers_[id] = std::move(worker);
}

void PeerRegistry::RemoveSession(coordinator::SessionId id) {
  absl::MutexLock lock(&mu_);
  sessions_.erase(id);
  EraseIf(tokens_, [&](const auto& t) { return !t.second.worker && t.second.id == id; });
}

bool PeerRegistry::RemoveWorker(coordinator::WorkerId id) {
  absl::MutexLock lock(&mu_);
  EraseIf(tokens_, [&](const auto& t) { return t.second.worker && t.second.id == id; });
  return workers_.erase(id) > 0;
}

std::shared_ptr<SessionConn> PeerRegistry::FindSession(coordinator::SessionId id) const {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

std::shared_ptr<WorkerConn> PeerRegistry::FindWorker(coordinator::WorkerId id) const {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(id);
  return it == workers_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<WorkerConn>> PeerRegistry::Workers() const {
  std::vector<std::shared_ptr<WorkerConn>> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, w] : workers_) out.push_back(w);
  return out;
}

std::vector<std::shared_ptr<WorkerConn>> PeerRegistry::LeasedWorkers() const {
  std::vector<std::shared_ptr<WorkerConn>> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, w] : workers_) {
    if (w->leased_to.load() != 0) out.push_back(w);
  }
  return out;
}

std::shared_ptr<WorkerConn> PeerRegistry::WorkerLeasedTo(coordinator::SessionId session) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, w] : workers_) {
    if (w->leased_to.load() == session) return w;
  }
  return nullptr;
}

void PeerRegistry::Attached(std::vector<std::shared_ptr<SessionConn>>& sessions,
                            std::vector<std::shared_ptr<WorkerConn>>& workers) const {
  sessions.clear();
  workers.clear();
  absl::MutexLock lock(&mu_);
  for (const auto& [id, s] : sessions_) {
    if (s->attached.load()) sessions.push_back(s);
  }
  for (const auto& [id, w] : workers_) {
    if (w->attached.load()) workers.push_back(w);
  }
}

void PeerRegistry::AddToken(const std::string& token, PendingPeer peer) {
  absl::MutexLock lock(&mu_);
  tokens_[token] = peer;
}

std::optional<PendingPeer> PeerRegistry::TakeToken(const std::string& token) {
  absl::MutexLock lock(&mu_);
  auto it = tokens_.find(token);
  if (it == tokens_.end()) return std::nullopt;
  PendingPeer peer = it->second;
  tokens_.erase(it);
  return peer;
}

std::vector<PendingPeer> PeerRegistry::TakeExpiredTokens(absl::Time now) {
  std::vector<PendingPeer> expired;
  absl::MutexLock lock(&mu_);
  EraseIf(tokens_, [&](const auto& t) {
    if (t.second.until >= now) return false;
    expired.push_back(t.second);
    return true;
  });
  return expired;
}

std::optional<absl::Time> PeerRegistry::NextTokenExpiry() const {
  absl::MutexLock lock(&mu_);
  std::optional<absl::Time> next;
  for (const auto& [token, p] : tokens_) next = next.has_value() ? std::min(*next, p.until) : p.until;
  return next;
}

void PeerRegistry::SetUid(coordinator::SessionId session, uint32_t uid) {
  absl::MutexLock lock(&mu_);
  session_uid_[session] = uid;
}

size_t PeerRegistry::LiveJobsOfUid(uint32_t uid) const {
  absl::MutexLock lock(&mu_);
  auto it = uid_jobs_.find(uid);
  return it == uid_jobs_.end() ? 0 : it->second;
}

bool PeerRegistry::LeasedToUidLocked(const WorkerConn& worker, uint32_t uid) const {
  const coordinator::SessionId session = worker.leased_to.load();
  if (session == 0) return false;
  auto it = session_uid_.find(session);
  return it != session_uid_.end() && it->second == uid;
}

size_t PeerRegistry::LeasesOfUid(uint32_t uid) const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [id, w] : workers_) n += LeasedToUidLocked(*w, uid);
  return n;
}

std::vector<std::shared_ptr<WorkerConn>> PeerRegistry::LeasedWorkersOfUid(uint32_t uid) const {
  std::vector<std::shared_ptr<WorkerConn>> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, w] : workers_) {
    if (LeasedToUidLocked(*w, uid)) out.push_back(w);
  }
  return out;
}

void PeerRegistry::JobAccepted(uint32_t uid) {
  absl::MutexLock lock(&mu_);
  ++uid_jobs_[uid];
}

void PeerRegistry::JobEnded(coordinator::SessionId session) {
  absl::MutexLock lock(&mu_);
  auto uid = session_uid_.find(session);
  if (uid == session_uid_.end()) return;
  auto n = uid_jobs_.find(uid->second);
  if (n != uid_jobs_.end() && n->second > 0 && --n->second == 0) uid_jobs_.erase(n);
}

void PeerRegistry::Linger(coordinator::SessionId session) {
  absl::MutexLock lock(&mu_);
  lingering_.insert(session);
}

bool PeerRegistry::HasLingering() const {
  absl::MutexLock lock(&mu_);
  return !lingering_.empty();
}

std::vector<coordinator::SessionId> PeerRegistry::TakeReleasable(
    const std::function<size_t(coordinator::SessionId)>& live_jobs) {
  std::vector<coordinator::SessionId> done;
  absl::MutexLock lock(&mu_);
  for (coordinator::SessionId id : lingering_) {
    if (live_jobs(id) != 0) continue;
    // A leased worker may still be answering a lane job into the segment.
    bool leased = false;
    for (const auto& [wid, w] : workers_) leased |= w->leased_to.load() == id;
    if (!leased) done.push_back(id);
  }
  for (coordinator::SessionId id : done) {
    lingering_.erase(id);
    session_uid_.erase(id);
  }
  return done;
}

}  // namespace jobd::agent
