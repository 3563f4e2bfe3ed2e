#include "agent/channel_pump.h"

#include <sched.h>

#include <algorithm>
#include <optional>

#include "shm/doorbell.h"
#include "shm/spin_policy.h"

namespace jobd::agent {

absl::StatusOr<std::unique_ptr<ChannelPump>> ChannelPump::Create(Options options) {
  if (options.beacon == nullptr) return absl::InvalidArgumentError("the pump needs the agent's beacon");
  std::unique_ptr<ChannelPump> pump(new ChannelPump(std::move(options)));
  absl::StatusOr<std::unique_ptr<WakeSet>> watch = WakeSet::Create();
  if (!watch.ok()) return watch.status();
  pump->watch_ = std::move(*watch);
  absl::StatusOr<std::unique_ptr<SideSocket>> side =
      SideSocket::Listen(pump->options_.side_socket_path, pump->options_.socket_group, *pump->watch_);
  if (!side.ok()) return side.status();
  pump->side_ = std::move(*side);
  return pump;
}

ChannelPump::~ChannelPump() {
  Stop();
  side_.reset();  // before the set it is watched in
}

void ChannelPump::Run(std::unique_ptr<Handler> handler) {
  if (thread_.joinable()) return;
  handler_ = std::move(handler);
  thread_ = std::thread([this] { Loop(); });
}

void ChannelPump::Stop() {
  if (!thread_.joinable()) return;
  stop_.store(true);
  Wake();
  thread_.join();
}

int ChannelPump::SleepMs(bool backlogged, absl::Time due) const {
  if (backlogged) return 1;  // a backlog is retried every millisecond
  int64_t ms = -1;
  if (due != absl::InfiniteFuture()) {
    ms = std::clamp<int64_t>(absl::ToInt64Milliseconds(absl::Ceil(due - absl::Now(), absl::Milliseconds(1))), 0,
                             60'000);
  }
  if (side_->busy()) ms = ms < 0 ? 1000 : std::min<int64_t>(ms, 1000);  // a half-done handshake expires
  return static_cast<int>(ms);
}

void ChannelPump::Loop() {
  Handler& h = *handler_;
  shm::SpinPolicy spin(options_.spin);
  // One wait runs from when the pump first finds nothing to do until a drain finds something;
  // the drains in between (a burst) are not waits, and must not teach the policy to spin.
  std::optional<absl::Time> dry_since;
  bool spun = false;
  bool slept = false;
  auto waiting = [&] { return stop_.load(std::memory_order_relaxed) || h.Waiting(); };
  while (!stop_.load(std::memory_order_relaxed)) {
    if (const absl::Time due = h.NextDue(); due != absl::InfiniteFuture() && absl::Now() >= due) h.Due();
    bool backlogged = false;
    if (h.Drain(backlogged)) {
      if (dry_since.has_value()) {
        // An eventfd wake-up carries no time of its own: a slept gap includes the wake-up.
        spin.Waited(absl::Now() - *dry_since, spun, slept, /*exact=*/!slept);
        dry_since.reset();
      }
      continue;
    }
    if (!dry_since.has_value()) {
      dry_since = absl::Now();
      spun = false;
      slept = false;
    }
    // A short spin catches the next message of a busy peer without a wake-up.
    if (const absl::Duration window = slept || options_.one_cpu ? absl::ZeroDuration() : spin.Spin();
        window > absl::ZeroDuration()) {
      const absl::Time until = absl::Now() + window;
      bool got = false;
      while (!got && absl::Now() < until) {
        for (int k = 0; k < 16; ++k) shm::CpuRelax();
        sched_yield();
        got = waiting();
      }
      spun = true;
      if (got) continue;
    }
    // On one CPU a peer the last pass woke (a client given its answer, a worker given a job) is
    // runnable here and about to send: it runs first, and what it sends is read without a sleep
    // and a wake-up. Once per dry spell; with nobody runnable the yield returns at once.
    if (options_.one_cpu && !slept) {
      sched_yield();
      if (waiting()) continue;
    }
    // Asleep in the beacon first, then one more look: a peer that pushed before reading the
    // beacon is seen here, one that pushed after rings the eventfd (shm/agent_beacon.h).
    options_.beacon->SetSleeping(true);
    if (waiting()) {
      options_.beacon->SetSleeping(false);
      continue;
    }
    const std::span<const WakeSet::Event> events = watch_->Wait(SleepMs(backlogged, h.NextDue()));
    options_.beacon->SetSleeping(false);
    slept = true;
    for (const WakeSet::Event& e : events) {
      switch (e.tag) {
        case WakeSet::Tag::kListen: side_->Accept(absl::Now()); break;
        case WakeSet::Tag::kHandshake:
          if (std::optional<SideSocket::Presented> presented = side_->Read(e.fd)) h.Handshake(std::move(*presented));
          break;
        default: break;  // a wake eventfd (drained): the handler's rings say what to do
      }
    }
    if (side_->busy()) side_->Expire(absl::Now());
  }
}

}  // namespace jobd::agent
