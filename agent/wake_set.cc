#include "agent/wake_set.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace jobd::agent {

namespace {

uint64_t Pack(WakeSet::Tag tag, int fd) { return (uint64_t{static_cast<uint32_t>(tag)} << 32) | static_cast<uint32_t>(fd); }

void DrainEventfd(int fd) {
  uint64_t n;
  while (read(fd, &n, sizeof n) == sizeof n) {
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<WakeSet>> WakeSet::Create() {
  shm::UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  shm::UniqueFd woken(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!epoll.valid() || !woken.valid()) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot create the pump's epoll: ", strerror(errno)));
  }
  std::unique_ptr<WakeSet> set(new WakeSet(std::move(epoll), std::move(woken)));
  if (!set->Add(Tag::kWoken, set->woken_.get())) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot watch the pump's eventfd: ", strerror(errno)));
  }
  return set;
}

bool WakeSet::Add(Tag tag, int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (tag == Tag::kHandshake) ev.events |= EPOLLRDHUP;
  ev.data.u64 = Pack(tag, fd);
  return epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

void WakeSet::Remove(int fd) { (void)epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

void WakeSet::Wake() {
  const uint64_t one = 1;
  (void)!write(woken_.get(), &one, sizeof one);
}

std::span<const WakeSet::Event> WakeSet::Wait(int timeout_ms) {
  epoll_event ready[kMaxEvents];
  const int n = std::max(0, epoll_wait(epoll_.get(), ready, kMaxEvents, timeout_ms));
  for (int i = 0; i < n; ++i) {
    const auto tag = static_cast<Tag>(ready[i].data.u64 >> 32);
    const int fd = static_cast<int>(ready[i].data.u64 & 0xFFFFFFFFu);
    if (tag == Tag::kWoken || tag == Tag::kPeer) DrainEventfd(fd);
    events_[i] = {tag, fd};
  }
  return std::span<const Event>(events_, static_cast<size_t>(n));
}

}  // namespace jobd::agent
