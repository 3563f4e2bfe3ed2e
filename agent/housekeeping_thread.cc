#include "agent/housekeeping_thread.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

namespace jobd::agent {

absl::StatusOr<std::unique_ptr<HousekeepingThread>> HousekeepingThread::Create(Options options) {
  shm::UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake.valid()) return absl::ResourceExhaustedError("cannot create the housekeeping eventfd");
  return std::unique_ptr<HousekeepingThread>(new HousekeepingThread(std::move(wake), options));
}

void HousekeepingThread::Run(Round round) {
  if (thread_.joinable()) return;
  thread_ = std::thread([this, round = std::move(round)] { Loop(round); });
}

HousekeepingThread::~HousekeepingThread() { Stop(); }

void HousekeepingThread::Stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  Wake();
  thread_.join();
}

void HousekeepingThread::Wake() {
  const uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof one);
}

void HousekeepingThread::Loop(const Round& round) {
  if (options_.takes_sigchld) {
    sigset_t child;
    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    pthread_sigmask(SIG_UNBLOCK, &child, nullptr);
  }
  while (!stop_.load()) {
    const absl::Time until = round();
    if (stop_.load()) break;
    // Sleep until the first thing due; a write to the eventfd ends it early.
    pollfd p{wake_.get(), POLLIN, 0};
    const int64_t ms = std::clamp<int64_t>(
        absl::ToInt64Milliseconds(absl::Ceil(until - absl::Now(), absl::Milliseconds(1))), 0, 60'000);
    if (poll(&p, 1, static_cast<int>(ms)) > 0) {
      uint64_t n;
      while (read(wake_.get(), &n, sizeof n) == sizeof n) {
      }
    }
  }
}

}  // namespace jobd::agent
