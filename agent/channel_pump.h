// The pump's thread, whatever it pumps: it runs its handler's Drain while there is work, spins
// briefly only while work has been coming that fast (shm::SpinPolicy; on one CPU it yields once
// instead), then says so in the beacon (so that peers know to ring the agent's eventfd) and
// sleeps in its WakeSet until a peer's eventfd, a Wake(), the side socket or the handler's next
// due time. Idle, it makes no system call. It owns the side socket, whose handshakes it serves on
// this thread and whose presented tokens it hands to the handler.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/side_socket.h"
#include "agent/wake_set.h"
#include "shm/agent_beacon.h"
#include "shm/spin_policy.h"

namespace jobd::agent {

class ChannelPump {
 public:
  // What the pump drives; called on the pump's thread only.
  class Handler {
   public:
    virtual ~Handler() = default;
    // Takes what waits; true when it did anything. Sets `backlogged` when a peer has messages
    // waiting for room in its ring (the pump then looks again within a millisecond).
    virtual bool Drain(bool& backlogged) = 0;
    // Cheap: would Drain find anything? (While spinning, and after the beacon says asleep.)
    virtual bool Waiting() = 0;
    // When Due next wants to run; absl::InfiniteFuture() for never.
    virtual absl::Time NextDue() = 0;
    virtual void Due() = 0;
    // A token presented on the side socket, with its connection.
    virtual void Handshake(SideSocket::Presented presented) = 0;
  };

  struct Options {
    absl::Duration spin = absl::Microseconds(50);  // the longest spin before sleeping
    std::string side_socket_path;
    gid_t socket_group = static_cast<gid_t>(-1);
    shm::AgentBeacon* beacon = nullptr;  // outlives the pump
    // The pump's thread may use one CPU only: it never spins there, and before it sleeps it yields
    // once, so that a peer its last pass woke on that CPU sends before the pump decides to sleep.
    bool one_cpu = !shm::SpinningCanHelp();
  };

  // Listens on the side socket; the thread starts with Run.
  static absl::StatusOr<std::unique_ptr<ChannelPump>> Create(Options options);
  ~ChannelPump();

  void Run(std::unique_ptr<Handler> handler);
  // Stops after the round in progress and joins.
  void Stop();
  // Any thread: the pump looks at once (a new peer, a backlog, stop).
  void Wake() { watch_->Wake(); }
  // The peers' wake eventfds are added here (WakeSet::Tag::kPeer) and removed before they close.
  WakeSet& watch() { return *watch_; }
  void UnlinkSideSocket() { side_->Unlink(); }
  bool one_cpu() const { return options_.one_cpu; }

 private:
  explicit ChannelPump(Options options) : options_(std::move(options)) {}
  void Loop();
  // How long the pump may sleep: forever when nothing waits on time.
  int SleepMs(bool backlogged, absl::Time due) const;

  Options options_;
  std::unique_ptr<WakeSet> watch_;
  std::unique_ptr<SideSocket> side_;
  std::unique_ptr<Handler> handler_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace jobd::agent
