// Models of jobd's own shape with a broker (shm_model.h): a broker process that every job passes,
// two preforked workers, jobd's rings and doorbells and its wait policies, and nothing else.
//
//   relay (four hops, jobd today with more sessions than workers): client -> broker -> worker ->
//     broker -> client. The broker queues jobs in arrival order and gives each to the worker with
//     the fewest in its ring (up to 32 behind the current one, as jobd's dispatch ahead); the
//     worker answers up its channel and the broker relays the answer to the client.
//   direct (three hops, docs/data-path.md's "answers straight from the worker", not built):
//     the same way in, but the worker pushes the answer down the client's own channel and rings
//     the client itself; it tells the broker only that a job ended, up its channel, ringing the
//     broker only when it has run out of jobs. The broker hands each client's channel to a worker
//     (SCM_RIGHTS) before that worker's first job from it. A client has one job in flight, so its
//     down ring has one producer at a time even though either worker may answer it.
//
// Beside jobd in the same run, relay says what the four hops cost apart from jobd's bookkeeping,
// and direct what taking the answer's hop from the broker would give at most.
#include <sys/socket.h>

#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "shm/fd_passing.h"
#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/child_process.h"
#include "tests/bench/suite/shm_model.h"

namespace jobd::bench {
namespace {

using model::Channel;
using model::ClientLane;

constexpr int kDepth = 33;  // the current job and 32 behind it (jobd's --dispatch_ahead_depth)

// A record on a worker's channel: the client's lane id, then the job or the answer (none: "ended").
bool PushTagged(shm::MessageRing& ring, uint32_t id, std::string_view bytes) {
  absl::StatusOr<bool> pushed = ring.TryPushWith(4 + bytes.size(), [&](std::span<std::byte> out) {
    std::memcpy(out.data(), &id, 4);
    if (!bytes.empty()) std::memcpy(out.data() + 4, bytes.data(), bytes.size());
  });
  return pushed.ok() && *pushed;
}

// Pops one tagged record into `id` and `bytes`; false when there is none or it is malformed.
bool PopTagged(shm::MessageRing& ring, uint32_t* id, std::string* bytes) {
  bool got = false;
  absl::StatusOr<bool> popped = ring.TryPop([&](std::span<const std::byte> r) {
    if (r.size() < 4) return;
    std::memcpy(id, r.data(), 4);
    bytes->assign(reinterpret_cast<const char*>(r.data()) + 4, r.size() - 4);
    got = true;
  });
  return popped.ok() && *popped && got;
}

struct WorkerLink {
  Channel* channel;  // up: jobs to the worker; down: answers (relay) or ends (direct) to the broker
  int socket;        // the broker's end: client channels handed to the worker (direct)
  int in_ring = 0;   // jobs given and not yet answered
  absl::flat_hash_set<uint32_t> has_lane;  // lanes whose channel this worker holds (direct)
};

[[noreturn]] void ServeAsBroker(int listener, std::vector<WorkerLink> workers, bool direct, int64_t work_ns) {
  model::LaneAcceptor acceptor(listener, 120);
  std::vector<ClientLane> lanes;
  absl::flat_hash_map<uint32_t, ClientLane*> by_id;
  std::vector<shm::Doorbell*> bells = {&acceptor.news_bell()};
  for (const WorkerLink& w : workers) bells.push_back(&w.channel->header->answer_bell);
  std::deque<std::pair<uint32_t, std::string>> queue;
  shm::SpinPolicy spin(model::kServerSpin);
  size_t next = 0;
  const auto ready = [&] {
    if (acceptor.has_news()) return true;
    for (const WorkerLink& w : workers) {
      if (w.channel->down.HasData()) return true;
    }
    for (const ClientLane& l : lanes) {
      if (l.channel->up.HasData()) return true;
    }
    return false;
  };
  uint32_t id = 0;
  std::string bytes;
  // Stands for a broker's bookkeeping (--model_broker_work_ns), once per job it carries.
  const auto work = [&] {
    if (work_ns <= 0) return;
    const int64_t until = shm::MonotonicNanos() + work_ns;
    while (shm::MonotonicNanos() < until) {
    }
  };
  for (;;) {
    if (acceptor.has_news()) {
      acceptor.TakeNews(lanes);
      by_id.clear();
      for (ClientLane& l : lanes) by_id[l.id] = &l;
      bells.assign(1, &acceptor.news_bell());
      for (const WorkerLink& w : workers) bells.push_back(&w.channel->header->answer_bell);
      for (const ClientLane& l : lanes) bells.push_back(&l.channel->header->serve_bell);
    }
    bool moved = false;
    for (WorkerLink& w : workers) {
      while (PopTagged(w.channel->down, &id, &bytes)) {
        moved = true;
        --w.in_ring;
        work();
        if (direct) continue;
        auto l = by_id.find(id);
        if (l == by_id.end()) continue;  // its client has gone
        Channel& c = *l->second->channel;
        absl::StatusOr<bool> pushed = c.down.TryPush(std::as_bytes(std::span(bytes.data(), bytes.size())));
        if (pushed.ok() && *pushed) c.header->answer_bell.Ring();
      }
    }
    for (size_t k = 0; k < lanes.size(); ++k) {
      ClientLane& l = lanes[(next + k) % lanes.size()];
      absl::StatusOr<bool> popped = l.channel->up.TryPop([&](std::span<const std::byte> job) {
        queue.emplace_back(l.id, std::string(reinterpret_cast<const char*>(job.data()), job.size()));
      });
      moved |= popped.ok() && *popped;
    }
    if (!lanes.empty()) next = (next + 1) % lanes.size();
    while (!queue.empty()) {
      WorkerLink* best = nullptr;
      for (WorkerLink& w : workers) {
        if (w.in_ring < kDepth && (best == nullptr || w.in_ring < best->in_ring)) best = &w;
      }
      if (best == nullptr) break;
      auto& [lane, job] = queue.front();
      auto l = by_id.find(lane);
      if (l != by_id.end()) {
        if (direct && !best->has_lane.contains(lane)) {
          const int fd = l->second->memfd.get();
          if (shm::SendRecord(best->socket, std::as_bytes(std::span(&lane, 1)), std::span(&fd, 1)).ok()) {
            best->has_lane.insert(lane);
          }
        }
        if (PushTagged(best->channel->up, lane, job)) {
          ++best->in_ring;
          best->channel->header->serve_bell.Ring();
        }
      }
      queue.pop_front();
    }
    if (!moved) model::SpinThenSleepOnAll(spin, bells, ready);
  }
}

[[noreturn]] void ServeAsWorker(Channel* channel, int socket, bool direct) {
  absl::flat_hash_map<uint32_t, std::unique_ptr<Channel>> clients;  // direct: the channels handed over
  shm::SpinPolicy spin(model::kServerSpin);
  uint64_t sink = 0;
  uint32_t id = 0;
  std::string job;
  for (;;) {
    if (!PopTagged(channel->up, &id, &job)) {
      shm::WaitWithPolicy(channel->header->serve_bell, [&] { return channel->up.HasData(); }, spin,
                          absl::Milliseconds(100));
      continue;
    }
    const std::string answer = BenchAnswer(job, &sink);
    if (!direct) {
      if (PushTagged(channel->down, id, answer)) channel->header->answer_bell.Ring();
      continue;
    }
    // The broker sent this client's channel before the job's first time here.
    while (!clients.contains(id)) {
      absl::StatusOr<shm::Record> r = shm::ReceiveRecord(socket, absl::Seconds(5));
      if (!r.ok()) _exit(1);
      uint32_t handed = 0;
      if (r->bytes.size() == 4 && r->fds.size() == 1) {
        std::memcpy(&handed, r->bytes.data(), 4);
        if (std::unique_ptr<Channel> c = model::MapChannel(r->fds[0].get())) clients[handed] = std::move(c);
      }
    }
    Channel& c = *clients[id];
    absl::StatusOr<bool> pushed = c.down.TryPush(std::as_bytes(std::span(answer.data(), answer.size())));
    if (pushed.ok() && *pushed) c.header->answer_bell.Ring();
    // The broker reads ends on its own schedule; it is rung only when this worker runs dry and may
    // have jobs waiting for room in its ring.
    if (PushTagged(channel->down, id, {}) && !channel->up.HasData()) channel->header->answer_bell.Ring();
  }
}

class ShmBrokerSystem : public model::ModelSystem {
 public:
  explicit ShmBrokerSystem(bool direct) : direct_(direct) {}
  ~ShmBrokerSystem() override { Stop(); }
  std::string name() const override {
    return direct_ ? "model: shm broker, answers from the worker" : "model: shm broker, four hops";
  }

  absl::Status Start(const SystemOptions& options) override {
    if (absl::Status s = Listen(options.scratch_dir, "broker.sock"); !s.ok()) return s;
    std::vector<WorkerLink> links;
    for (int w = 0; w < options.workers; ++w) {
      absl::StatusOr<std::pair<shm::UniqueFd, std::unique_ptr<Channel>>> ch = model::NewChannel("jobd-bench-worker");
      if (!ch.ok()) return ch.status();
      int pair[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        return absl::UnavailableError(absl::StrCat("socketpair: ", std::strerror(errno)));
      }
      Channel* channel = ch->second.get();
      workers_.push_back(ForkChild([&] { ServeAsWorker(channel, pair[1], direct_); }));
      links.push_back({channel, pair[0]});
      close(pair[1]);
      channels_.push_back(std::move(ch->second));
      sockets_.push_back(pair[0]);
    }
    server_ = ForkChild([&] { ServeAsBroker(listener_, std::move(links), direct_, options.model_broker_work_ns); });
    return absl::OkStatus();
  }

  void Stop() override {
    StopProcesses();
    for (int s : sockets_) close(s);
    sockets_.clear();
    channels_.clear();
  }
  pid_t server_pid() const override { return server_; }

 private:
  const bool direct_;
  std::vector<std::unique_ptr<Channel>> channels_;
  std::vector<int> sockets_;
};

}  // namespace

std::unique_ptr<BenchSystem> MakeShmRelaySystem() { return std::make_unique<ShmBrokerSystem>(false); }
std::unique_ptr<BenchSystem> MakeShmDirectSystem() { return std::make_unique<ShmBrokerSystem>(true); }

}  // namespace jobd::bench
