// JobFuture: waiting for a job, taking its response, WaitMulti and WaitAny.
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "client/internal/session.h"
#include "client/socket_path.h"
#include "shm/status_macros.h"
#include "shm/wall_clock.h"

namespace jobd::client {

using internal::FromProto;
using internal::Unavailable;

JobFuture JobFuture::Local(absl::StatusOr<std::string> result) {
  auto state = std::make_shared<State>();
  state->done = true;
  if (result.ok()) {
    state->local = std::make_shared<const std::string>(std::move(*result));
  } else {
    state->status = WithOutcome(result.status(), JobOutcome::kHandlerError);
  }
  return JobFuture(nullptr, std::move(state));
}

ABSL_ATTRIBUTE_HOT
JobFuture::~JobFuture() {
  if (state_ == nullptr || shared_ == nullptr) return;
  internal::PlainMutexLock lock(&shared_->mu);
  if (!state_->done) {
    state_->abandoned = true;
  } else if (!state_->taken) {
    shared_->FreeQuietly(state_->response);
    state_->response = shm::Handle();
  }
}

uint64_t JobFuture::id() const { return state_ ? state_->job_id : 0; }

JobTimings JobFuture::timings() const {
  if (state_ == nullptr) return {};
  if (shared_ == nullptr) return state_->timings;
  internal::PlainMutexLock lock(&shared_->mu);
  return state_->timings;
}

bool JobFuture::Ready() const {
  if (state_ == nullptr) return false;
  if (shared_ == nullptr) return true;
  shared_->PollRing();
  internal::PlainMutexLock lock(&shared_->mu);
  return state_->done;
}

ABSL_ATTRIBUTE_HOT
absl::StatusOr<Response> JobFuture::Wait(absl::Duration timeout) {
  if (state_ == nullptr) return absl::FailedPreconditionError("Wait on an empty JobFuture");
  if (shared_ == nullptr) {  // ran locally: already done
    if (!state_->status.ok()) return state_->status;
    if (state_->taken) return absl::FailedPreconditionError("the response was already taken");
    state_->taken = true;
    return Response(std::move(state_->local));
  }
  internal::PlainMutexLock lock(&shared_->mu);
  State* state = state_.get();
  State* const watched[] = {state};
  if (!shared_->AwaitLocked(watched, shm::WallNow() + timeout)) {
    return WithOutcome(absl::DeadlineExceededError(absl::StrCat(
                           "job ", state_->job_id, " not finished after ", absl::FormatDuration(timeout))),
                       JobOutcome::kDeadlineExceeded);
  }
  return shared_->TakeLocked(*state_);
}

void JobFuture::OnDone(DoneCallback callback) && {
  std::shared_ptr<Shared> shared = std::move(shared_);
  std::shared_ptr<State> state = std::move(state_);
  if (state == nullptr) {
    internal::CompletionQueue::Invoke(callback, absl::FailedPreconditionError("OnDone on an empty JobFuture"));
    return;
  }
  if (shared == nullptr) {  // ran locally: already done
    absl::StatusOr<Response> result = absl::FailedPreconditionError("the response was already taken");
    if (!state->status.ok()) {
      result = state->status;
    } else if (!state->taken) {
      state->taken = true;
      result = Response(std::move(state->local));
    }
    internal::CompletionQueue::Invoke(callback, std::move(result));
    return;
  }
  shared->OnDone(state, std::move(callback));
}

std::vector<absl::StatusOr<Response>> WaitMulti(std::span<JobFuture> futures, absl::Duration timeout) {
  const absl::Time deadline = shm::WallNow() + timeout;
  std::vector<absl::StatusOr<Response>> out;
  out.reserve(futures.size());
  for (JobFuture& f : futures) {
    const absl::Duration left = std::max(deadline - shm::WallNow(), absl::ZeroDuration());
    out.push_back(f.Wait(timeout == absl::InfiniteDuration() ? timeout : left));
  }
  return out;
}

absl::StatusOr<size_t> WaitAny(std::span<JobFuture> futures, absl::Duration timeout) {
  if (futures.empty()) return absl::InvalidArgumentError("WaitAny on no futures");
  JobFuture::Shared* shared = nullptr;
  for (size_t i = 0; i < futures.size(); ++i) {
    if (futures[i].valid() && futures[i].shared_ == nullptr) return i;  // local: done already
  }
  for (const JobFuture& f : futures) {
    if (!f.valid()) return absl::InvalidArgumentError("WaitAny on an empty JobFuture");
    if (shared == nullptr) shared = f.shared_.get();
    if (shared != f.shared_.get()) {
      return absl::InvalidArgumentError("WaitAny needs futures of one JobClient");
    }
  }
  std::vector<JobFuture::State*> watched;
  for (JobFuture& f : futures) watched.push_back(f.state_.get());
  internal::PlainMutexLock lock(&shared->mu);
  if (!shared->AwaitLocked(watched, shm::WallNow() + timeout)) {
    return WithOutcome(absl::DeadlineExceededError("no job finished in time"),
                       JobOutcome::kDeadlineExceeded);
  }
  for (size_t i = 0; i < futures.size(); ++i) {
    if (futures[i].state_->done) return i;
  }
  return absl::InternalError("a wait for any job ended with none done");
}


}  // namespace jobd::client
