// The agent's pump thread: drains every peer's up ring, flushes backlogs, and takes side-socket
// handshakes. One thread serves every channel, so a message costs no thread hop inside the
// agent. It spins briefly when messages are flowing, then says so in the beacon and sleeps in
// epoll on the peers' wake eventfds: idle, it makes no system call at all.
#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

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
constexpr size_t kTokenBytes = 16;
constexpr size_t kMaxHandshakes = 256;

// epoll tags: what woke us.
enum Tag : uint64_t { kListen = 1, kPumpWake = 2, kHandshake = 3, kPeerWake = 4 };
uint64_t MakeTag(Tag tag, int fd) { return (uint64_t{tag} << 32) | static_cast<uint32_t>(fd); }

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

void DrainEventfd(int eventfd_fd) {
  uint64_t n;
  while (read(eventfd_fd, &n, sizeof n) == sizeof n) {
  }
}

}  // namespace

void Agent::WakePump() {
  const uint64_t one = 1;
  (void)!write(pump_wake_.get(), &one, sizeof one);
}

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

void Agent::AcceptSideConnections() {
  for (;;) {
    const int fd = accept4(side_listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    if (handshakes_.size() >= kMaxHandshakes) {
      close(fd);  // a flood of half-open handshakes costs its senders, not the agent
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = MakeTag(kHandshake, fd);
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    handshakes_[fd] = Handshake{shm::UniqueFd(fd), absl::Now(), {}};
  }
}

// A peer presents its one-time token; the agent answers with its segment, its wake eventfd
// and the beacon, and learns from the kernel who the peer is.
void Agent::ServeHandshake(int fd) {
  auto it = handshakes_.find(fd);
  if (it == handshakes_.end()) return;
  Handshake& h = it->second;
  char buf[1 + kTokenBytes];
  const ssize_t n = recv(fd, buf, sizeof buf - h.got.size(), MSG_DONTWAIT);
  if (n > 0) h.got.append(buf, static_cast<size_t>(n));
  const bool done = h.got.size() == 1 + kTokenBytes;
  if (!done && !(n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))) return;  // more to come
  (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  shm::UniqueFd conn = std::move(h.fd);
  std::string token = done ? h.got.substr(1) : "";
  handshakes_.erase(it);
  if (!done) return;
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
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = MakeTag(kPeerWake, session.wake.get());
  (void)epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, session.wake.get(), &ev);
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
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = MakeTag(kPeerWake, worker.wake.get());
  (void)epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, worker.wake.get(), &ev);
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
  {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = MakeTag(kListen, side_listen_.get());
    (void)epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, side_listen_.get(), &ev);
    ev.data.u64 = MakeTag(kPumpWake, pump_wake_.get());
    (void)epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pump_wake_.get(), &ev);
  }
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
  std::vector<epoll_event> events(64);
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
    else if (!handshakes_.empty()) timeout_ms = 1000;
    const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
    beacon_->SetSleeping(false);
    for (int i = 0; i < n; ++i) {
      const uint64_t tag = events[i].data.u64 >> 32;
      const int fd = static_cast<int>(events[i].data.u64 & 0xFFFFFFFFu);
      switch (tag) {
        case kListen: AcceptSideConnections(); break;
        case kHandshake: ServeHandshake(fd); break;
        default: DrainEventfd(fd); break;  // a wake eventfd: the rings say what to do
      }
    }
    if (!handshakes_.empty()) {
      const absl::Time now = absl::Now();
      for (auto it = handshakes_.begin(); it != handshakes_.end();) {
        auto next = std::next(it);
        if (now - it->second.since > absl::Seconds(5)) {
          (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->first, nullptr);
          handshakes_.erase(it);
        }
        it = next;
      }
    }
  }
}

}  // namespace jobd::agent
