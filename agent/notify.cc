#include "agent/notify.h"

#include <systemd/sd-daemon.h>

#include <cstdlib>

#include "spdlog/spdlog.h"

namespace jobd::agent {
namespace {

bool UnderSystemd() {
  const char* socket = std::getenv("NOTIFY_SOCKET");
  return socket != nullptr && *socket != '\0';
}

void Send(const char* state) {
  // The variable stays set (STOPPING=1 needs it later). Workers inherit it, but systemd's
  // default NotifyAccess=main ignores anything they send.
  const int r = sd_notify(0, state);
  if (r < 0) spdlog::warn("sd_notify({}) failed: error {}", state, -r);
}

}  // namespace

SystemdNotifier::SystemdNotifier(std::function<bool()> ready) {
  if (!UnderSystemd()) return;
  poller_ = std::thread([this, ready = std::move(ready)] {
    while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
      if (ready()) {
        Send("READY=1\nSTATUS=serving");
        spdlog::info("told systemd: ready");
        return;
      }
    }
  });
}

SystemdNotifier::~SystemdNotifier() { StopPolling(); }

void SystemdNotifier::StopPolling() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (poller_.joinable()) poller_.join();
}

void SystemdNotifier::Stopping() {
  StopPolling();
  if (UnderSystemd()) Send("STOPPING=1\nSTATUS=draining");
}

}  // namespace jobd::agent
