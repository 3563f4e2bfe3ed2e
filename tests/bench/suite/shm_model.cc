#include "tests/bench/suite/shm_model.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/testworker/bench_handler.h"
#include "shm/fd_passing.h"
#include "shm/internal/futex.h"
#include "shm/memfd.h"
#include "tests/bench/suite/child_process.h"

namespace jobd::bench::model {

long FutexWaitv(futex_waitv* waiters, unsigned count, absl::Duration timeout) {
  timespec until;
  clock_gettime(CLOCK_MONOTONIC, &until);
  const int64_t ns = until.tv_nsec + absl::ToInt64Nanoseconds(timeout);
  until.tv_sec += ns / 1'000'000'000;
  until.tv_nsec = ns % 1'000'000'000;
  return syscall(__NR_futex_waitv, waiters, count, 0, &until, CLOCK_MONOTONIC);
}

std::unique_ptr<Channel> MapChannel(int memfd) {
  if (!shm::CheckSealedMemfd(memfd, kChannelBytes).ok()) return nullptr;
  void* at = mmap(nullptr, kChannelBytes, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
  if (at == MAP_FAILED) return nullptr;
  return std::make_unique<Channel>(at);
}

absl::StatusOr<std::pair<shm::UniqueFd, std::unique_ptr<Channel>>> NewChannel(const char* name) {
  absl::StatusOr<shm::UniqueFd> memfd = shm::CreateSealedMemfd(name, kChannelBytes);
  if (!memfd.ok()) return memfd.status();
  std::unique_ptr<Channel> channel = MapChannel(memfd->get());
  if (channel == nullptr) return absl::ResourceExhaustedError(absl::StrCat("mmap: ", std::strerror(errno)));
  return std::make_pair(std::move(*memfd), std::move(channel));
}

LaneAcceptor::LaneAcceptor(int listener, size_t max_lanes) : max_lanes_(max_lanes) {
  std::thread([this, listener] { Run(listener); }).detach();
}

void LaneAcceptor::Run(int listener) {
  std::vector<pollfd> fds{{listener, POLLIN, 0}};
  for (;;) {
    if (poll(fds.data(), fds.size(), -1) <= 0) continue;
    {
      std::lock_guard lock(mu_);
      // A client sends nothing after its channel: anything on its socket is its end.
      for (size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents != 0) hung_up_.push_back(fds[i].fd);
      }
      std::erase_if(fds, [&](const pollfd& p) { return p.fd != listener && p.revents != 0; });
    }
    if ((fds[0].revents & POLLIN) != 0) {
      const int conn = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn >= 0) {
        absl::StatusOr<shm::Record> r = shm::ReceiveRecord(conn, absl::Seconds(5));
        std::unique_ptr<Channel> channel;
        if (r.ok() && r->fds.size() == 1 && fds.size() - 1 < max_lanes_) channel = MapChannel(r->fds[0].get());
        if (channel == nullptr) {
          close(conn);
        } else {
          std::lock_guard lock(mu_);
          added_.push_back({std::move(channel), std::move(r->fds[0]), conn, next_id_++});
          fds.push_back({conn, POLLIN, 0});
        }
      }
    }
    has_news_.store(true, std::memory_order_seq_cst);
    news_.seq.fetch_add(1, std::memory_order_seq_cst);
    shm::internal::FutexWakeAll(&news_.seq);
  }
}

void LaneAcceptor::TakeNews(std::vector<ClientLane>& lanes, std::vector<uint32_t>* gone) {
  has_news_.store(false, std::memory_order_seq_cst);
  std::lock_guard lock(mu_);
  for (ClientLane& l : added_) lanes.push_back(std::move(l));
  added_.clear();
  for (int conn : hung_up_) {
    std::erase_if(lanes, [&](const ClientLane& l) {
      if (l.conn != conn) return false;
      if (gone != nullptr) gone->push_back(l.id);
      return true;
    });
    close(conn);
  }
  hung_up_.clear();
}

absl::StatusOr<size_t> ChannelCaller::Call(std::string_view request) {
  absl::StatusOr<bool> pushed = channel_->up.TryPush(std::as_bytes(std::span(request.data(), request.size())));
  if (!pushed.ok()) return pushed.status();
  if (!*pushed) return absl::ResourceExhaustedError("model: the channel is full");
  channel_->header->serve_bell.Ring();
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  for (;;) {
    // Checked where it lies, as jobd's client reads its answer in place.
    absl::Status checked;
    size_t size = 0;
    absl::StatusOr<bool> popped = channel_->down.TryPop([&](std::span<const std::byte> a) {
      size = a.size();
      checked = CheckBenchAnswer(request, std::string_view(reinterpret_cast<const char*>(a.data()), a.size()));
    });
    if (!popped.ok()) return popped.status();
    if (*popped) {
      if (!checked.ok()) return checked;
      return size;
    }
    if (absl::Now() > give_up) return absl::DeadlineExceededError("model: no answer in 10 s");
    shm::WaitWithPolicy(channel_->header->answer_bell, [&] { return channel_->down.HasData(); }, spin_,
                        absl::Milliseconds(100));
  }
}

absl::StatusOr<std::unique_ptr<Caller>> DialModel(const std::string& path) {
  absl::StatusOr<std::pair<shm::UniqueFd, std::unique_ptr<Channel>>> channel = NewChannel("jobd-bench-model");
  if (!channel.ok()) return channel.status();
  absl::StatusOr<shm::UniqueFd> conn = shm::ConnectUnix(path);
  if (!conn.ok()) return conn.status();
  const int fd = channel->first.get();
  const std::byte hello{1};
  if (absl::Status s = shm::SendRecord(conn->get(), std::span(&hello, 1), std::span(&fd, 1)); !s.ok()) return s;
  return std::unique_ptr<Caller>(new ChannelCaller(std::move(*conn), std::move(channel->second)));
}

absl::Status ModelSystem::Listen(const std::string& scratch_dir, const char* name) {
  path_ = absl::StrCat(scratch_dir, "/", name);
  absl::StatusOr<shm::UniqueFd> listener = shm::ListenUnix(path_, 0600);
  if (!listener.ok()) return listener.status();
  listener_ = listener->Release();
  return absl::OkStatus();
}

void ModelSystem::StopProcesses() {
  StopChild(server_);
  server_ = 0;
  for (pid_t w : workers_) StopChild(w);
  workers_.clear();
  if (listener_ >= 0) {
    close(listener_);
    unlink(path_.c_str());
  }
  listener_ = -1;
}

}  // namespace jobd::bench::model
