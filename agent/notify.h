// systemd's readiness protocol (Type=notify): READY=1 once jobd serves, STOPPING=1 when it
// starts to drain. Without $NOTIFY_SOCKET (not under systemd, or Type=simple) it does nothing.
#pragma once

#include <functional>
#include <thread>

#include "absl/synchronization/notification.h"

namespace jobd::agent {

class SystemdNotifier {
 public:
  // Polls `ready` on a thread of its own until it holds, then sends READY=1 once. `ready` must
  // stay callable until this object is destroyed or Stopping() returns.
  explicit SystemdNotifier(std::function<bool()> ready);
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  // Sends STOPPING=1 and stops waiting for readiness. Call once, from the thread that drains.
  void Stopping();

 private:
  void StopPolling();

  absl::Notification stop_;
  std::thread poller_;
};

}  // namespace jobd::agent
