// The fast path's agent side: channel slots for new peers, sends down the rings, and the pump
// thread that drains every up ring. One thread serves every channel, so a message costs no
// thread hop inside the agent; it spins briefly before sleeping so that back-to-back messages
// cost no wake-up either.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/agent.h"
#include "spdlog/spdlog.h"

namespace jobd::agent {

std::unique_ptr<AgentChannel> Agent::OpenChannel(pb::ChannelGrant* grant) {
  if (channels_ == nullptr) return nullptr;
  uint32_t index;
  {
    absl::MutexLock lock(&conns_mu_);
    if (free_slots_.empty()) {
      spdlog::warn("every channel slot is taken (--channel_slots={}): this peer uses its stream only",
                   channels_->slots());
      return nullptr;
    }
    index = free_slots_.front();
    free_slots_.pop_front();
  }
  channels_->Reset(index);
  absl::StatusOr<shm::ChannelSlot> slot = channels_->Slot(index);
  if (!slot.ok()) return nullptr;
  grant->set_path(channels_->path());
  grant->set_slot(index);
  grant->set_spin_us(static_cast<uint32_t>(absl::ToInt64Microseconds(config_.spin)));
  return std::make_unique<AgentChannel>(*slot, [this](uint32_t i) {
    absl::MutexLock lock(&conns_mu_);
    free_slots_.push_back(i);
  });
}

bool Agent::SendToSession(SessionConn& session, const pb::AgentMessage& message) {
  if (session.channel != nullptr && !session.closed.load(std::memory_order_relaxed) &&
      session.channel->TrySend(message)) {
    return true;
  }
  return session.stream.Write(message);
}

bool Agent::SendToWorker(WorkerConn& worker, const pb::AgentToWorker& message) {
  if (worker.channel != nullptr && !worker.closed.load(std::memory_order_relaxed) &&
      worker.channel->TrySend(message)) {
    return true;
  }
  return worker.stream.Write(message);
}

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
bool DrainChannel(Conn& conn, const char* what, Handle handle) {
  if (conn.closed.load(std::memory_order_relaxed) || conn.channel->broken()) return false;
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
      spdlog::warn("{} {} (pid {}): {}; ending its stream", what, conn.id, conn.pid, why.ToString());
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
  return DrainChannel<WorkerConn, pb::WorkerMessage>(worker, "worker", [&](const pb::WorkerMessage& msg) {
    if (msg.has_result()) HandleResult(worker, msg.result());
  });
}

void Agent::PumpLoop() {
  std::vector<std::shared_ptr<SessionConn>> sessions;
  std::vector<std::shared_ptr<WorkerConn>> workers;
  uint64_t seen_epoch = ~uint64_t{0};
  auto refresh = [&] {
    seen_epoch = conns_epoch_.load(std::memory_order_acquire);
    sessions.clear();
    workers.clear();
    absl::MutexLock lock(&conns_mu_);
    for (auto& [id, s] : sessions_) {
      if (s->channel != nullptr) sessions.push_back(s);
    }
    for (auto& [id, w] : workers_) {
      if (w->channel != nullptr) workers.push_back(w);
    }
  };
  auto anything = [&] {
    if (stop_pump_.load(std::memory_order_relaxed)) return true;
    if (conns_epoch_.load(std::memory_order_relaxed) != seen_epoch) return true;
    for (auto& w : workers) {
      if (w->channel->up().HasData()) return true;
    }
    for (auto& s : sessions) {
      if (s->channel->up().HasData()) return true;
    }
    return false;
  };
  while (!stop_pump_.load(std::memory_order_relaxed)) {
    if (conns_epoch_.load(std::memory_order_acquire) != seen_epoch) refresh();
    bool busy = false;
    // Results first: they free workers that queued jobs are waiting for.
    for (auto& w : workers) busy |= DrainWorker(*w);
    for (auto& s : sessions) busy |= DrainSession(*s);
    if (busy) continue;
    // A lost wake-up (a peer that scribbled on the doorbell) costs at most this long.
    shm::SpinThenSleep(channels_->agent_bell(), anything, config_.spin, absl::Milliseconds(100));
  }
}

}  // namespace jobd::agent
