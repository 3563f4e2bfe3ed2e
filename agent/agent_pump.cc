// The agent's pump thread: drains every peer's up ring, flushes backlogs, and takes side-socket
// handshakes. One thread serves every channel, so a message costs no thread hop inside the
// agent. It spins briefly when messages are flowing, then says so in the beacon and sleeps in
// epoll on the peers' wake eventfds: idle, it makes no system call at all.
#include <errno.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/agent.h"
#include "agent/log_text.h"
#include "proto/side_records.h"
#include "shm/doorbell.h"
#include "shm/spin_policy.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {

namespace {

// At most this many messages from one channel per round, so one busy peer cannot starve the rest.
constexpr int kBatch = 64;

// Copies the message out of shared memory before parsing: the peer could change the bytes
// while the parser reads them.
template <typename Message>
absl::StatusOr<bool> PopMessage(shm::MessageRing& ring, std::string& scratch, Message& out, bool& parsed) {
  absl::StatusOr<bool> popped = ring.TryPop([&](std::span<const std::byte> bytes) {
    scratch.assign(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  });
  if (popped.ok() && *popped) parsed = out.ParseFromString(scratch);
  return popped;
}

// Pops up to kBatch messages from a peer's up ring and hands each to `handle`. A ring the peer
// broke, or a message that does not parse, ends that peer's stream (and so its session or its
// worker process); nothing else is touched.
template <typename Conn, typename Message, typename Handle>
bool DrainChannel(Conn& conn, const char* what, Handle handle, bool even_closed = false) {
  if ((!even_closed && conn.closed.load(std::memory_order_relaxed)) || conn.channel->broken()) return false;
  static thread_local std::string scratch;
  Message msg;
  int n = 0;
  for (; n < kBatch; ++n) {
    bool parsed = false;
    absl::StatusOr<bool> popped = PopMessage(conn.channel->up(), scratch, msg, parsed);
    if (popped.ok() && !*popped) break;
    if (!popped.ok() || !parsed) {
      const absl::Status why =
          popped.ok() ? absl::InvalidArgumentError("a malformed control message on its channel")
                      : popped.status();
      spdlog::warn("{} {}: {}; ending it", what, conn.id, why.ToString());
      conn.channel->Break(why);
      conn.stream.Abort();
      return true;
    }
    handle(msg);
  }
  return n > 0;
}

}  // namespace

bool Agent::DrainSession(SessionConn& session) {
  return DrainChannel<SessionConn, pb::ClientMessage>(session, "session", [&](const pb::ClientMessage& msg) {
    switch (msg.msg_case()) {
      case pb::ClientMessage::kSubmit: HandleSubmit(session, msg.submit()); break;
      case pb::ClientMessage::kCancel: HandleCancel(session, msg.cancel()); break;
      default:
        spdlog::warn("session {}: ignored a channel message of kind {}", session.id, static_cast<int>(msg.msg_case()));
    }
  });
}

bool Agent::DrainWorker(WorkerConn& worker) {
  absl::MutexLock lock(&worker.drain_mu);
  return DrainChannel<WorkerConn, pb::WorkerMessage>(worker, "worker", [&](const pb::WorkerMessage& msg) {
    switch (msg.msg_case()) {
      case pb::WorkerMessage::kResult: HandleResult(worker, msg.result()); break;
      case pb::WorkerMessage::kLaneReport: HandleLaneReport(worker, msg.lane_report()); break;
      case pb::WorkerMessage::kLeaseReleased: HandleLeaseReleased(worker, msg.lease_released()); break;
      default: break;
    }
  });
}

void Agent::DrainReportsOfClosedWorker(WorkerConn& worker) {
  absl::MutexLock lock(&worker.drain_mu);
  DrainChannel<WorkerConn, pb::WorkerMessage>(
      worker, "worker",
      [&](const pb::WorkerMessage& msg) {
        if (msg.has_lane_report()) HandleLaneReport(worker, msg.lane_report());
      },
      /*even_closed=*/true);
}

// A peer presents its one-time token; the agent answers with its segment, its wake eventfd
// and the beacon, and learns from the kernel who the peer is.
void Agent::ServeHandshake(SideSocket::Presented presented) {
  shm::UniqueFd conn = std::move(presented.conn);
  const std::string& token = presented.token;
  const std::optional<PendingPeer> pending = peers_.TakeToken(token);
  if (!pending.has_value()) {
    spdlog::warn("side socket: a peer presented an unknown or used token; closed");
    return;
  }
  absl::StatusOr<shm::PeerCredentials> cred = shm::CredentialsOf(conn.get());
  if (!cred.ok()) return;
  if (!pending->worker) {
    if (std::shared_ptr<SessionConn> session = peers_.FindSession(pending->id)) {
      AttachSession(*session, std::move(conn), *cred);
    }
  } else if (std::shared_ptr<WorkerConn> worker = peers_.FindWorker(pending->id)) {
    AttachWorker(*worker, std::move(conn), *cred);
  }
}

void Agent::AttachSession(SessionConn& session, shm::UniqueFd side, const shm::PeerCredentials& cred) {
  const std::vector<std::byte> record = wire::EncodeSideRecord({wire::SideKind::kPeerSegment, session.id});
  const int fds[] = {session.segment->fd(), session.wake.get(), beacon_->fd()};
  if (absl::Status s = shm::SendRecord(side.get(), record, fds); !s.ok()) {
    session.stream.Abort();
    return;
  }
  session.cred = cred;
  peers_.SetUid(session.id, cred.uid);
  (void)pump_watch_->Add(WakeSet::Tag::kPeer, session.wake.get());
  session.attached.store(true);
  if (session.lanes) coord_.With([&](coordinator::Coordinator& c) { c.SetLeaseEligible(session.id, true); });
  peers_.Bump();
  spdlog::info("session {} attached: {} uid {} gid {} pid {}", session.id, session.name, cred.uid, cred.gid, cred.pid);
}

void Agent::AttachWorker(WorkerConn& worker, shm::UniqueFd side, const shm::PeerCredentials& cred) {
  // The kernel's pid, not the hello's: only the process jobd started may serve as this worker.
  if (cred.pid != worker.pid) {
    spdlog::warn("worker {}: side socket opened by pid {}, not the worker's pid {}; refused", worker.slot, cred.pid,
                 worker.pid);
    worker.stream.Abort();
    return;
  }
  const std::vector<std::byte> record = wire::EncodeSideRecord({wire::SideKind::kPeerSegment, worker.id});
  const int fds[] = {worker.segment->fd(), worker.wake.get(), beacon_->fd()};
  if (absl::Status s = shm::SendRecord(side.get(), record, fds); !s.ok()) {
    worker.stream.Abort();
    return;
  }
  {
    absl::MutexLock lock(&worker.side_mu);
    worker.side = std::move(side);
  }
  (void)pump_watch_->Add(WakeSet::Tag::kPeer, worker.wake.get());
  worker.attached.store(true);
  peers_.Bump();
  absl::StatusOr<coordinator::Effects> effects = coord_.With(
      [&](coordinator::Coordinator& c) { return c.AddWorker(worker.id, worker.types, worker.lanes); });
  if (!effects.ok()) {
    spdlog::warn("worker {} refused: {}", worker.slot, effects.status().ToString());
    worker.stream.Abort();
    return;
  }
  spdlog::info("worker {} ready: pid {}, types {}", worker.slot, worker.pid, absl::StrJoin(worker.types, ","));
  Apply(std::move(*effects));
}

void Agent::PumpLoop() {
  std::vector<std::shared_ptr<SessionConn>> sessions;
  std::vector<std::shared_ptr<WorkerConn>> workers;
  uint64_t seen_epoch = ~uint64_t{0};
  auto refresh = [&] {
    seen_epoch = peers_.epoch();
    peers_.Attached(sessions, workers);
  };
  auto anything = [&] {
    if (stop_pump_.load(std::memory_order_relaxed)) return true;
    if (peers_.epoch() != seen_epoch) return true;
    for (auto& w : workers) {
      if (w->channel->up().HasData()) return true;
    }
    for (auto& s : sessions) {
      if (s->channel->up().HasData()) return true;
    }
    return false;
  };
  shm::SpinPolicy spin(config_.spin);
  absl::Time idle_since = absl::Now();
  absl::Time next_lane_check = absl::Now();
  while (!stop_pump_.load(std::memory_order_relaxed)) {
    if (peers_.epoch() != seen_epoch) refresh();
    if (leases_.out() > 0 && (absl::Now() >= next_lane_check || absl::Now() >= leases_.next_due())) {
      CheckLaneDeadlines();
      next_lane_check = absl::Now() + absl::Milliseconds(kLeaseTickMs);
    }
    bool busy = false;
    bool backlogged = false;
    // Results first: they free workers that queued jobs are waiting for.
    for (auto& w : workers) {
      busy |= DrainWorker(*w);
      if (!w->channel->Flush()) SendToWorker(*w, pb::AgentToWorker());  // cuts it off
      backlogged |= w->channel->backlogged();
    }
    for (auto& s : sessions) {
      busy |= DrainSession(*s);
      if (!s->channel->Flush()) SendToSession(*s, pb::AgentMessage());  // cuts it off
      backlogged |= s->channel->backlogged();
    }
    if (busy) {
      // The gap since the pump last ran dry: what a spin would have had to wait.
      spin.Waited(absl::Now() - idle_since);
      idle_since = absl::Now();
      continue;
    }
    idle_since = absl::Now();
    // A short spin catches the next message of a busy peer without a wake-up; only while
    // messages have been coming that fast (shm::SpinPolicy).
    if (const absl::Duration window = spin.Spin(); window > absl::ZeroDuration()) {
      const absl::Time until = absl::Now() + window;
      bool got = false;
      while (!got && absl::Now() < until) {
        for (int k = 0; k < 16; ++k) shm::CpuRelax();
        sched_yield();
        got = anything();
      }
      if (got) continue;
    }
    beacon_->SetSleeping(true);
    if (anything()) {
      beacon_->SetSleeping(false);
      continue;
    }
    // Forever when nothing waits on time; a backlog is retried every millisecond and a
    // half-done handshake expires.
    int timeout_ms = -1;
    if (backlogged) timeout_ms = 1;
    else if (leases_.out() > 0) {
      const absl::Time due = std::min(next_lane_check, leases_.next_due());
      timeout_ms = static_cast<int>(
          std::clamp<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(due - absl::Now(), absl::Milliseconds(1))), 0,
                              kLeaseTickMs));
    }
    else if (side_->busy()) timeout_ms = 1000;
    const std::vector<WakeSet::Event> events = pump_watch_->Wait(timeout_ms);
    beacon_->SetSleeping(false);
    for (const WakeSet::Event& e : events) {
      switch (e.tag) {
        case WakeSet::Tag::kListen: side_->Accept(absl::Now()); break;
        case WakeSet::Tag::kHandshake:
          if (std::optional<SideSocket::Presented> presented = side_->Read(e.fd)) ServeHandshake(std::move(*presented));
          break;
        default: break;  // a wake eventfd (drained): the rings say what to do
      }
    }
    if (side_->busy()) side_->Expire(absl::Now());
  }
}

}  // namespace jobd::agent
