// The agent's work on the pump's thread (channel_pump.h): drains every peer's up ring, flushes
// backlogs, checks lane deadlines, answers handshakes. One thread serves every channel, so a
// message costs no thread hop inside the agent.
#include <errno.h>

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/agent.h"
#include "agent/log_text.h"
#include "agent/submit_decoder.h"
#include "proto/ring_messages.h"
#include "proto/side_records.h"
#include "shm/spin_policy.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {

namespace {

// At most this many messages from one channel per round, so one busy peer cannot starve the rest.
constexpr int kBatch = 64;

// Pops up to kBatch records from a peer's up ring with `pop` (ring, record, scratch) and hands
// each to `handle`. A ring the peer broke, or a record that does not decode, ends that peer
// (`end`: its session's stream, or its worker process); nothing else is touched.
// `record`: the caller's, for each pop.
template <typename Conn, typename Record, typename Pop, typename Handle, typename End>
bool DrainChannel(Conn& conn, const char* what, Record& record, Pop pop, Handle handle, End end,
                  bool even_closed = false) {
  if ((!even_closed && conn.closed.load(std::memory_order_relaxed)) || conn.channel->broken()) return false;
  static thread_local std::string scratch;
  int n = 0;
  for (; n < kBatch; ++n) {
    absl::StatusOr<bool> popped = pop(conn.channel->up(), record, scratch);
    if (popped.ok() && !*popped) break;
    if (!popped.ok()) {
      const absl::Status& why = popped.status();
      spdlog::warn("{} {}: {}; ending it", what, conn.id, why.ToString());
      conn.channel->Break(why);
      end();
      return true;
    }
    handle(record);
  }
  return n > 0;
}

constexpr const char* kMalformed = "a malformed control message on its channel";

// What a session sends up its channel: a protobuf message, or a job as a fixed record (read as
// the Submit it says).
struct SessionRecord {
  pb::ClientMessage msg;
  wire::SubmitRecord record;
  bool is_record = false;
  pb::Submit submit;  // the record's
};

// A message is copied out before parsing (the peer may rewrite the bytes meanwhile); a record's
// decoder copies each length once.
absl::StatusOr<bool> PopSessionRecord(shm::MessageRing ring, SessionRecord& r, std::string& scratch) {
  absl::StatusOr<bool> popped = wire::PopMessageOrSubmit(ring, r.msg, r.record, &r.is_record, &scratch, kMalformed);
  if (popped.ok() && *popped && r.is_record) SubmitOfRecord(r.record, r.submit);
  return popped;
}

// What a worker sends up its ring: a job's end as a record, a lane job's report, or a protobuf
// message (a job's end from a worker that writes no records, or anything else).
struct WorkerRecord {
  pb::WorkerMessage msg;
  wire::ResultRecord result;
  wire::LaneReport report;
  wire::WorkerUp kind = wire::WorkerUp::kMessage;
};

absl::StatusOr<bool> PopWorkerRecord(shm::MessageRing ring, WorkerRecord& r, std::string& scratch) {
  absl::StatusOr<bool> popped = wire::PopWorkerUp(ring, r.msg, r.result, r.report, &r.kind, &scratch, kMalformed);
  if (popped.ok() && *popped && r.kind == wire::WorkerUp::kMessage && r.msg.has_result()) {
    r.result = ResultOfMessage(r.msg.result());
    r.kind = wire::WorkerUp::kResult;
  }
  return popped;
}

}  // namespace

bool Agent::DrainSession(SessionConn& session) {
  // Reused from session to session, so that its strings and messages keep their memory: only
  // the pump drains sessions, and nothing a record's handling does drains one.
  static thread_local SessionRecord record;
  return DrainChannel(
      session, "session", record, PopSessionRecord,
      [&](const SessionRecord& r) {
        if (r.is_record) return HandleSubmit(session, r.submit);
        const pb::ClientMessage& msg = r.msg;
        switch (msg.msg_case()) {
          case pb::ClientMessage::kSubmit: HandleSubmit(session, msg.submit()); break;
          case pb::ClientMessage::kCancel: HandleCancel(session, msg.cancel()); break;
          default:
            spdlog::warn("session {}: ignored a channel message of kind {}", session.id,
                         static_cast<int>(msg.msg_case()));
        }
      },
      [&] { session.stream.Abort(); });
}

bool Agent::DrainWorker(WorkerConn& worker) {
  absl::MutexLock lock(&worker.drain_mu);
  // Not reused: ending a worker drains what it left, from inside a record's handling.
  WorkerRecord record;
  return DrainChannel(worker, "worker", record, PopWorkerRecord, [&](const WorkerRecord& r) {
    if (r.kind == wire::WorkerUp::kResult) return HandleResult(worker, r.result);
    if (r.kind == wire::WorkerUp::kLaneReport) return HandleLaneReport(worker, r.report);
    if (r.msg.has_lease_released()) HandleLeaseReleased(worker, r.msg.lease_released());
  }, [&] { EndWorker(worker); });
}

void Agent::DrainClosedWorker(WorkerConn& worker) {
  absl::MutexLock lock(&worker.drain_mu);
  // To the end: what is left is what it sent before it went (a batch at a time).
  WorkerRecord record;
  while (DrainChannel(
      worker, "worker", record, PopWorkerRecord,
      [&](const WorkerRecord& r) {
        if (r.kind == wire::WorkerUp::kResult) {
          HandleResult(worker, r.result);
        } else if (r.kind == wire::WorkerUp::kLaneReport) {
          HandleLaneReport(worker, r.report);
        }
      },
      [&] { EndWorker(worker); }, /*even_closed=*/true)) {
  }
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
  const wire::SideBytes record = wire::EncodeSideRecord({wire::SideKind::kPeerSegment, session.id});
  const int fds[] = {session.segment->fd(), session.wake.get(), beacon_->fd()};
  if (absl::Status s = shm::SendRecord(side.get(), record, fds); !s.ok()) {
    session.stream.Abort();
    return;
  }
  session.cred = cred;
  peers_.SetUid(session.id, cred.uid);
  (void)pump_->watch().Add(WakeSet::Tag::kPeer, session.wake.get());
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
    EndWorker(worker);
    return;
  }
  const wire::SideBytes record = wire::EncodeSideRecord({wire::SideKind::kPeerSegment, worker.id});
  const int fds[] = {worker.segment->fd(), worker.wake.get(), beacon_->fd()};
  if (absl::Status s = shm::SendRecord(side.get(), record, fds); !s.ok()) {
    EndWorker(worker);
    return;
  }
  {
    absl::MutexLock lock(&worker.side_mu);
    worker.side = std::move(side);
  }
  (void)pump_->watch().Add(WakeSet::Tag::kPeer, worker.wake.get());
  worker.attached.store(true);
  peers_.Bump();
  absl::StatusOr<coordinator::Effects> effects = coord_.With(
      [&](coordinator::Coordinator& c) { return c.AddWorker(worker.id, worker.types, worker.lanes); });
  if (!effects.ok()) {
    spdlog::warn("worker {} refused: {}", worker.slot, effects.status().ToString());
    EndWorker(worker);
    return;
  }
  spdlog::info("worker {} ready: pid {}, types {}", worker.slot, worker.pid, absl::StrJoin(worker.types, ","));
  Apply(std::move(*effects));
}

// What the pump does for the agent. Its peer lists are the pump thread's own copy, re-read from
// the registry when its epoch moves.
class Agent::PumpWork final : public ChannelPump::Handler {
 public:
  explicit PumpWork(Agent& agent) : a_(agent) {}

  bool Drain(bool& backlogged) override {
    // Where the agent has one CPU, every peer this pass sends to is rung once, at its end.
    std::optional<DeferredRings::Pass> pass;
    if (a_.pump_->one_cpu()) pass.emplace(rings_);
    if (a_.peers_.epoch() != seen_epoch_) {
      seen_epoch_ = a_.peers_.epoch();
      a_.peers_.Attached(sessions_, workers_);
    }
    bool busy = false;
    // Results first: they free workers that queued jobs are waiting for.
    for (auto& w : workers_) {
      if (ReportsOnly(*w)) {
        // Lane reports: all of them now, and they do not keep the pump awake (Waiting).
        for (int i = 0; i < 16 && a_.DrainWorker(*w); ++i) {
        }
      } else {
        busy |= a_.DrainWorker(*w);
      }
      if (!w->channel->Flush()) a_.SendToWorker(*w, pb::AgentToWorker());  // cuts it off
      backlogged |= w->channel->backlogged();
    }
    for (auto& s : sessions_) {
      busy |= a_.DrainSession(*s);
      if (!s->channel->Flush()) a_.SendToSession(*s, pb::AgentMessage());  // cuts it off
      backlogged |= s->channel->backlogged();
    }
    return busy;
  }

  bool Waiting() override {
    if (a_.peers_.epoch() != seen_epoch_) return true;
    for (auto& w : workers_) {
      if (!ReportsOnly(*w) && w->channel->up().HasData()) return true;
    }
    for (auto& s : sessions_) {
      if (s->channel->up().HasData()) return true;
    }
    return false;
  }

  // While leases are out: the lane reports and deadlines, every tick and at the earliest due.
  absl::Time NextDue() override {
    if (a_.leases_.out() == 0) return absl::InfiniteFuture();
    return std::min(next_lane_check_, a_.leases_.next_due());
  }
  void Due() override {
    a_.CheckLaneDeadlines();
    next_lane_check_ = absl::Now() + absl::Milliseconds(kLeaseTickMs);
  }

  void Handshake(SideSocket::Presented presented) override { a_.ServeHandshake(std::move(presented)); }

 private:
  // A leased worker's ring, read on the pump's schedule rather than kept watch over. Not where
  // the agent runs on one CPU: there it never spins, and measured, sleeping through the reports
  // cost 4-8% of jobs/s with a worker per session (docs/benchmarks.md, "Lane reports on the
  // agent's schedule").
  static bool ReportsOnly(const WorkerConn& w) {
    return w.reports_only.load(std::memory_order_relaxed) && shm::SpinningCanHelp();
  }

  Agent& a_;
  DeferredRings rings_;
  uint64_t seen_epoch_ = ~uint64_t{0};
  std::vector<std::shared_ptr<SessionConn>> sessions_;
  std::vector<std::shared_ptr<WorkerConn>> workers_;
  absl::Time next_lane_check_ = absl::InfinitePast();
};

std::unique_ptr<ChannelPump::Handler> Agent::MakePumpWork() { return std::make_unique<PumpWork>(*this); }

}  // namespace jobd::agent
