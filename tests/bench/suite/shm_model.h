// Pieces of the suite's shared-memory models (shm_lanes_system.cc, shm_broker_system.cc): job
// systems reduced to their hops, built from jobd's own ring and doorbell, to tell what a shape of
// the data path costs apart from what jobd's implementation of it costs.
//
// A model is not a job system: no ids, deadlines, quotas, priorities or slabs, no checks against a
// hostile peer, payloads copied into the rings. What it leaves out would cost more, never less, so
// a model's figure is a ceiling for its shape.
#pragma once

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "shm/doorbell.h"
#include "shm/message_ring.h"
#include "shm/monotonic.h"
#include "shm/spin_policy.h"
#include "shm/unique_fd.h"
#include "tests/bench/suite/bench_system.h"

namespace jobd::bench::model {

// jobd's defaults: the agent's `--spin_us` (the agent and its workers) and `--client_spin_us`.
inline constexpr absl::Duration kServerSpin = absl::Microseconds(50);
inline constexpr absl::Duration kClientSpin = absl::Microseconds(200);

// A channel between two processes: a ring each way and a doorbell for each side to sleep on.
// `up` carries jobs to `serve_bell`'s sleeper, `down` carries answers to `answer_bell`'s.
inline constexpr uint64_t kRing = 64 * 1024;
struct ChannelHeader {
  shm::Doorbell serve_bell;   // rung after a job is pushed up
  shm::Doorbell answer_bell;  // rung after an answer is pushed down
  shm::RingIndex up;
  shm::RingIndex down;
};
inline constexpr uint64_t kDataAt = 4096;
static_assert(sizeof(ChannelHeader) <= kDataAt);
inline constexpr uint64_t kChannelBytes = kDataAt + 2 * kRing;

// A mapping of one channel's memfd (zeros when fresh: empty rings, quiet bells).
struct Channel {
  void* base;
  ChannelHeader* header;
  shm::MessageRing up;
  shm::MessageRing down;

  explicit Channel(void* at)
      : base(at),
        header(static_cast<ChannelHeader*>(at)),
        up(&header->up, static_cast<std::byte*>(at) + kDataAt, kRing),
        down(&header->down, static_cast<std::byte*>(at) + kDataAt + kRing, kRing) {}
  ~Channel() { munmap(base, kChannelBytes); }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
};

// Maps a channel memfd; nullptr when it is not one.
std::unique_ptr<Channel> MapChannel(int memfd);
// A fresh channel memfd and its mapping.
absl::StatusOr<std::pair<shm::UniqueFd, std::unique_ptr<Channel>>> NewChannel(const char* name);

// A client's channel as a server process holds it.
struct ClientLane {
  std::unique_ptr<Channel> channel;
  shm::UniqueFd memfd;  // kept for a server that hands the channel on (shm_broker_system.cc)
  int conn = -1;  // the client's socket: its end is the client's end
  uint32_t id = 0;
};

// In a server process: a thread that accepts clients on `listener` (each hands over its channel
// memfd) and notices their ends; the serving thread takes the news when `has_news()`.
// `news_bell` is rung with every piece of news, for a server that sleeps on it. A client past
// `max_lanes` is hung up on (futex_waitv sleeps on at most 128 words).
class LaneAcceptor {
 public:
  LaneAcceptor(int listener, size_t max_lanes);
  bool has_news() const { return has_news_.load(std::memory_order_seq_cst); }
  // Moves new lanes into `lanes` and drops those whose client has gone (their ids into `gone`).
  void TakeNews(std::vector<ClientLane>& lanes, std::vector<uint32_t>* gone = nullptr);
  shm::Doorbell& news_bell() { return news_; }

 private:
  void Run(int listener);

  std::mutex mu_;
  std::vector<ClientLane> added_;  // under mu_
  std::vector<int> hung_up_;       // under mu_
  std::atomic<bool> has_news_{false};
  shm::Doorbell news_{};
  const size_t max_lanes_;
  uint32_t next_id_ = 1;
};

// Spins as jobd's waiters do (`policy`, shm::SpinUntil), checking `ready()`, then sleeps on every
// bell in `bells` (at least one, at most 128) at once (futex_waitv) for up to 100 ms.
template <typename Ready>
void SpinThenSleepOnAll(shm::SpinPolicy& policy, const std::vector<shm::Doorbell*>& bells, Ready ready);

// The client of every model: one channel, one job at a time, the wait of jobd's client.
class ChannelCaller : public Caller {
 public:
  ChannelCaller(shm::UniqueFd conn, std::unique_ptr<Channel> channel)
      : conn_(std::move(conn)), channel_(std::move(channel)) {}
  absl::StatusOr<size_t> Call(std::string_view request) override;
  absl::Status CallMulti(std::string_view, const std::vector<std::string_view>&) override {
    return absl::UnimplementedError("a model of the hops carries no start-multi");
  }

 private:
  shm::UniqueFd conn_;
  std::unique_ptr<Channel> channel_;
  shm::SpinPolicy spin_{kClientSpin};
};

// Connects to a model server at `path` and hands it a fresh channel.
absl::StatusOr<std::unique_ptr<Caller>> DialModel(const std::string& path);

long FutexWaitv(futex_waitv* waiters, unsigned count, absl::Duration timeout);

// What every model's system shares: a listening socket its clients dial, server processes to
// stop, and the largest job (a job and its answer each fit in half a ring).
class ModelSystem : public BenchSystem {
 public:
  ~ModelSystem() override { StopProcesses(); }
  absl::Status Attach(const std::string& address) override {
    path_ = address;
    return absl::OkStatus();
  }
  absl::StatusOr<std::unique_ptr<Caller>> NewCaller() override { return DialModel(path_); }
  void Stop() override { StopProcesses(); }
  size_t max_request() const override { return kRing / 4; }
  std::vector<pid_t> worker_pids() const override { return workers_; }
  std::string address() const override { return path_; }

 protected:
  // Listens at `scratch_dir`/`name` (for the processes forked after it).
  absl::Status Listen(const std::string& scratch_dir, const char* name);
  // Stops the server processes (`server_` first), then closes and removes the socket.
  void StopProcesses();

  std::string path_;
  int listener_ = -1;
  pid_t server_ = 0;
  std::vector<pid_t> workers_;
};

template <typename Ready>
void SpinThenSleepOnAll(shm::SpinPolicy& policy, const std::vector<shm::Doorbell*>& bells, Ready ready) {
  const absl::Duration window = policy.Spin();
  const int64_t start = shm::MonotonicNanos();
  const bool spun = window > absl::ZeroDuration();
  const bool caught = spun && shm::SpinUntil(ready, window, absl::Milliseconds(100));
  if (!caught) {
    thread_local std::vector<futex_waitv> waiters;
    waiters.clear();
    for (shm::Doorbell* b : bells) b->sleepers.fetch_add(1, std::memory_order_seq_cst);
    for (shm::Doorbell* b : bells) {
      waiters.push_back({b->seq.load(std::memory_order_seq_cst), reinterpret_cast<uint64_t>(&b->seq), FUTEX_32, 0});
      if (waiters.size() == 128) break;
    }
    if (!ready()) FutexWaitv(waiters.data(), static_cast<unsigned>(waiters.size()), absl::Milliseconds(100));
    for (shm::Doorbell* b : bells) b->sleepers.fetch_sub(1, std::memory_order_relaxed);
  }
  policy.Waited(absl::Nanoseconds(shm::MonotonicNanos() - start), spun, !caught, false);
}

}  // namespace jobd::bench::model
