// Event-driven completion against the real agent: OnDone callbacks, the poll fd with Poll(),
// and coroutines resumed by jobs.
#include <poll.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "client/job_awaiter.h"
#include "client/launcher.h"
#include "client/task.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;
using client::JobOutcome;
using client::OutcomeOf;
using client::Response;
using client::Task;

// Generous: a guard against a hang, never a measure of speed.
constexpr absl::Duration kPatience = absl::Seconds(30);

// What one callback saw: how often it ran, where, and with what.
struct Seen {
  absl::Mutex mu;
  int calls = 0;
  std::thread::id thread;
  absl::Status status;
  std::string value;
  absl::Notification done;

  client::JobFuture::DoneCallback Callback() {
    return [this](absl::StatusOr<Response> r) {
      absl::MutexLock lock(&mu);
      ++calls;
      thread = std::this_thread::get_id();
      status = r.status();
      if (r.ok()) value = std::string(r->view());
      if (!done.HasBeenNotified()) done.Notify();
    };
  }
};

class AsyncTest : public ::testing::Test {
 protected:
  void StartAgent(AgentFlags flags = {}) {
    auto agent = AgentProcess::Start(std::move(flags));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    auto client = agent_->Connect();
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }
  void TearDown() override {
    if (agent_ == nullptr) return;
    client_.reset();
    EXPECT_EQ(agent_->WaitForSlabsInUse(0), 0u) << agent_->Log();
  }

  // Waits for the poll fd and runs Poll until `cond` holds; false if the fd stays silent.
  template <typename Cond>
  bool PollUntil(Cond cond) {
    const int fd = client_->completion_fd();
    const absl::Time give_up = absl::Now() + kPatience;
    while (!cond()) {
      if (absl::Now() > give_up) return false;
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 1000) > 0) client_->Poll();
    }
    return true;
  }

  std::unique_ptr<AgentProcess> agent_;
  std::unique_ptr<client::JobClient> client_;
};

TEST_F(AsyncTest, CallbackIsCalledOnceWithTheResponseOnTheCompletionThread) {
  StartAgent();
  auto job = client_->Start("echo", "called back");
  ASSERT_TRUE(job.ok()) << job.status();
  Seen seen;
  std::move(*job).OnDone(seen.Callback());
  EXPECT_FALSE(job->valid()) << "OnDone takes the future's result";
  ASSERT_TRUE(seen.done.WaitForNotificationWithTimeout(kPatience));
  // A second completion of the same job would have to come through the ring now: one more
  // job through the same session gives it every chance to.
  auto probe = client_->Start("echo", "probe");
  ASSERT_TRUE(probe.ok());
  ASSERT_TRUE(probe->Wait().ok());
  absl::MutexLock lock(&seen.mu);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_TRUE(seen.status.ok()) << seen.status;
  EXPECT_EQ(seen.value, "called back");
  EXPECT_NE(seen.thread, std::this_thread::get_id());
}

TEST_F(AsyncTest, CallbackOnAnEndedJobRunsAtOnceOnTheCallingThread) {
  StartAgent();
  std::vector<client::JobFuture> jobs;
  auto job = client_->Start("echo", "already");
  ASSERT_TRUE(job.ok());
  jobs.push_back(std::move(*job));
  ASSERT_TRUE(client::WaitAny(jobs, kPatience).ok());  // ended, response not taken
  Seen seen;
  std::move(jobs[0]).OnDone(seen.Callback());
  ASSERT_TRUE(seen.done.HasBeenNotified()) << "the callback must have run before OnDone returned";
  absl::MutexLock lock(&seen.mu);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.value, "already");
  EXPECT_EQ(seen.thread, std::this_thread::get_id());
}

TEST_F(AsyncTest, CallbackGetsARejectionWithItsCodeAndOutcome) {
  StartAgent();
  auto job = client_->Start("no-such-type", "x");
  ASSERT_TRUE(job.ok());
  Seen seen;
  std::move(*job).OnDone(seen.Callback());
  ASSERT_TRUE(seen.done.WaitForNotificationWithTimeout(kPatience));
  absl::MutexLock lock(&seen.mu);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(seen.status.message()), HasSubstr("no-such-type"));
  EXPECT_EQ(OutcomeOf(seen.status), JobOutcome::kRejected);
}

TEST_F(AsyncTest, CallbackGetsDeadlineExceededWhenTheJobRunsPastItsTimeout) {
  StartAgent();
  auto job = client_->Start("sleep", "3000", {.timeout = absl::Milliseconds(200)});
  ASSERT_TRUE(job.ok());
  Seen seen;
  std::move(*job).OnDone(seen.Callback());
  ASSERT_TRUE(seen.done.WaitForNotificationWithTimeout(kPatience));
  absl::MutexLock lock(&seen.mu);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(OutcomeOf(seen.status), JobOutcome::kDeadlineExceeded);
}

TEST_F(AsyncTest, ManyCallbacksEachGetTheirOwnJobsValueExactlyOnce) {
  StartAgent();
  constexpr int kJobs = 500;
  std::vector<std::atomic<int>> calls(kJobs);
  std::vector<std::string> values(kJobs);
  // A session's segment holds a few hundred small slabs, and a job in flight holds its request
  // slab: keep at most 64 in flight, so starting overlaps with callbacks running.
  absl::Mutex mu;
  int in_flight = 0;
  int ended = 0;
  for (int i = 0; i < kJobs; ++i) {
    {
      absl::MutexLock lock(&mu);
      mu.Await(absl::Condition(+[](int* n) { return *n < 64; }, &in_flight));
      ++in_flight;
    }
    auto job = client_->Start("echo", absl::StrCat("job-", i));
    ASSERT_TRUE(job.ok()) << i << ": " << job.status();
    std::move(*job).OnDone([&, i](absl::StatusOr<Response> r) {
      // One thread runs the callbacks: values[i] is written by it alone.
      values[i] = r.ok() ? std::string(r->view()) : r.status().ToString();
      calls[i].fetch_add(1);
      absl::MutexLock lock(&mu);
      --in_flight;
      ++ended;
    });
  }
  {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(+[](int* n) { return *n == kJobs; }, &ended));
  }
  auto probe = client_->Start("echo", "probe");
  ASSERT_TRUE(probe.ok());
  ASSERT_TRUE(probe->Wait().ok());
  for (int i = 0; i < kJobs; ++i) {
    EXPECT_EQ(calls[i].load(), 1) << i;
    EXPECT_EQ(values[i], absl::StrCat("job-", i));
  }
}

TEST_F(AsyncTest, ThrowingCallbackIsContainedAndLaterCallbacksStillRun) {
  StartAgent();
  auto first = client_->Start("echo", "one");
  ASSERT_TRUE(first.ok());
  std::atomic<int> threw{0};
  std::move(*first).OnDone([&](absl::StatusOr<Response>) {
    threw.fetch_add(1);
    throw std::runtime_error("a careless callback");
  });
  auto second = client_->Start("echo", "two");
  ASSERT_TRUE(second.ok());
  Seen seen;
  std::move(*second).OnDone(seen.Callback());
  ASSERT_TRUE(seen.done.WaitForNotificationWithTimeout(kPatience));
  // The two jobs run on two workers and may end in either order: wait for the first's callback.
  for (absl::Time until = absl::Now() + kPatience; threw.load() == 0 && absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  absl::MutexLock lock(&seen.mu);
  EXPECT_EQ(seen.value, "two");
  EXPECT_EQ(threw.load(), 1);
}

TEST_F(AsyncTest, CallbackThatStartsAndWaitsForAnotherJobDoesNotDeadlock) {
  StartAgent();
  auto job = client_->Start("echo", "3");
  ASSERT_TRUE(job.ok());
  Seen seen;
  client::JobClient* client = client_.get();
  // A chain of three jobs: the first two callbacks start the next; the middle one also
  // blocks in Wait on the completion thread, which must then drain the ring itself.
  std::move(*job).OnDone([&, client](absl::StatusOr<Response> r) {
    ASSERT_TRUE(r.ok()) << r.status();
    auto next = client->Start("echo", absl::StrCat(std::string(r->view()), "+4"));
    ASSERT_TRUE(next.ok());
    auto waited = next->Wait(kPatience);
    ASSERT_TRUE(waited.ok()) << waited.status();
    auto last = client->Start("echo", absl::StrCat(std::string(waited->view()), "+5"));
    ASSERT_TRUE(last.ok());
    std::move(*last).OnDone(seen.Callback());
  });
  ASSERT_TRUE(seen.done.WaitForNotificationWithTimeout(kPatience));
  absl::MutexLock lock(&seen.mu);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.value, "3+4+5");
}

TEST_F(AsyncTest, CallbacksPendingWhenTheClientGoesAwayAreCalledWithDisconnected) {
  StartAgent();
  auto job = client_->Start("sleep", "3000", {.timeout = absl::Seconds(20)});
  ASSERT_TRUE(job.ok());
  Seen seen;
  std::move(*job).OnDone(seen.Callback());
  client_.reset();
  ASSERT_TRUE(seen.done.HasBeenNotified()) << "the destructor must have run the callback";
  absl::MutexLock lock(&seen.mu);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.status.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(OutcomeOf(seen.status), JobOutcome::kDisconnected);
}

TEST_F(AsyncTest, PollFdBecomesReadableAndPollCompletesThePlainFuture) {
  StartAgent();
  const int fd = client_->completion_fd();
  ASSERT_GE(fd, 0);
  EXPECT_EQ(client_->completion_fd(), fd) << "one fd per client";
  auto job = client_->Start("echo", "polled");
  ASSERT_TRUE(job.ok());
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(kPatience))), 1);
  client_->Poll();
  EXPECT_TRUE(job->Ready());
  auto r = job->Wait(absl::ZeroDuration());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->view(), "polled");
  // Poll emptied the fd: it is not readable again until something else ends.
  p.revents = 0;
  EXPECT_EQ(poll(&p, 1, 0), 0);
}

TEST_F(AsyncTest, InPollModeCallbacksRunInsidePollOnTheCallersThread) {
  StartAgent();
  ASSERT_GE(client_->completion_fd(), 0);
  Seen first, second;
  client::JobClient* client = client_.get();
  auto job = client_->Start("echo", "a");
  ASSERT_TRUE(job.ok());
  std::move(*job).OnDone([&, client](absl::StatusOr<Response> r) {
    client::JobFuture::DoneCallback record = first.Callback();
    record(std::move(r));
    // Started from a callback inside Poll: its own callback runs in a later Poll.
    auto next = client->Start("echo", "b");
    ASSERT_TRUE(next.ok());
    std::move(*next).OnDone(second.Callback());
  });
  ASSERT_TRUE(PollUntil([&] { return second.done.HasBeenNotified(); }));
  absl::MutexLock l1(&first.mu);
  absl::MutexLock l2(&second.mu);
  EXPECT_EQ(first.calls, 1);
  EXPECT_EQ(second.calls, 1);
  EXPECT_EQ(first.value, "a");
  EXPECT_EQ(second.value, "b");
  EXPECT_EQ(first.thread, std::this_thread::get_id());
  EXPECT_EQ(second.thread, std::this_thread::get_id());
}

Task<std::string> TwoJobs(client::JobClient& client, std::string a, std::string b) {
  auto first = client.Start("echo", a);   // both are on their way before the first await
  auto second = client.Start("echo", b);
  absl::StatusOr<Response> ra = co_await client::Await(std::move(first));
  absl::StatusOr<Response> rb = co_await client::Await(std::move(second));
  if (!ra.ok()) co_return ra.status().ToString();
  if (!rb.ok()) co_return rb.status().ToString();
  co_return absl::StrCat(std::string(ra->view()), "|", std::string(rb->view()));
}

TEST_F(AsyncTest, CoroutineResumesWithEachJobsValue) {
  StartAgent();
  absl::Notification done;
  std::string got;
  auto outer = [&]() -> Task<> {
    got = co_await TwoJobs(*client_, "left", "right");
    done.Notify();
  };
  Task<> task = outer();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kPatience));
  EXPECT_EQ(got, "left|right");
  // Notify runs inside the coroutine, just before it ends on the thread that resumed it.
  const absl::Time until = absl::Now() + kPatience;
  while (!task.done() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_TRUE(task.done());
}

TEST_F(AsyncTest, CoroutineGetsTheErrorOfAJobThatCouldNotStartOrFailed) {
  StartAgent();
  absl::Notification done;
  absl::Status too_big, unknown;
  std::string big(client_->max_payload() + 1, 'x');
  auto body = [&]() -> Task<> {
    too_big = (co_await client::Async(*client_, "echo", big)).status();
    unknown = (co_await client::Async(*client_, "no-such-type", "x")).status();
    done.Notify();
  };
  Task<> task = body();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kPatience));
  EXPECT_EQ(too_big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_big.message()), HasSubstr("exceeds the largest slab"));
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(OutcomeOf(unknown), JobOutcome::kRejected);
}

TEST_F(AsyncTest, InPollModeACoroutineResumesInsidePoll) {
  StartAgent();
  ASSERT_GE(client_->completion_fd(), 0);
  std::thread::id resumed_on;
  std::string got;
  auto body = [&]() -> Task<> {
    absl::StatusOr<Response> r = co_await client::Async(*client_, "echo", "in poll");
    resumed_on = std::this_thread::get_id();
    got = r.ok() ? std::string(r->view()) : r.status().ToString();
  };
  Task<> task = body();
  ASSERT_TRUE(PollUntil([&] { return task.done(); }));
  EXPECT_EQ(got, "in poll");
  EXPECT_EQ(resumed_on, std::this_thread::get_id());
}

TEST_F(AsyncTest, DroppedTaskRunsToItsEndOnItsOwn) {
  StartAgent();
  absl::Notification done;
  std::string got;
  auto body = [&]() -> Task<> {
    absl::StatusOr<Response> r = co_await client::Async(*client_, "echo", "detached");
    got = r.ok() ? std::string(r->view()) : r.status().ToString();
    done.Notify();
  };
  body();  // the Task is dropped at once: the coroutine is detached
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kPatience));
  EXPECT_EQ(got, "detached");
}

TEST_F(AsyncTest, LocalFallbackFuturesCallBackAtOnceAndResumeCoroutinesWithoutSuspending) {
  client::Worker handlers;
  handlers.Handle("shout", [](client::JobContext& job) {
    std::string s(job.request_view());
    for (char& c : s) c = static_cast<char>(std::toupper(c));
    return job.Respond(s);
  });
  handlers.Handle("fail", [](client::JobContext&) -> absl::Status { return absl::InternalError("local boom"); });
  auto launcher = client::Launcher::Create({.socket_path = "/tmp/jobd-absent/jobd.sock"}, &handlers);
  ASSERT_FALSE(launcher->enabled());
  auto job = launcher->Start("shout", "quiet");
  ASSERT_TRUE(job.ok()) << job.status();
  Seen seen;
  std::move(*job).OnDone(seen.Callback());
  ASSERT_TRUE(seen.done.HasBeenNotified());
  {
    absl::MutexLock lock(&seen.mu);
    EXPECT_EQ(seen.value, "QUIET");
    EXPECT_EQ(seen.thread, std::this_thread::get_id());
  }
  absl::Status failed;
  auto body = [&]() -> Task<> { failed = (co_await client::Await(launcher->Start("fail", ""))).status(); };
  Task<> task = body();
  EXPECT_TRUE(task.done()) << "nothing to wait for: the coroutine never suspends";
  EXPECT_EQ(failed.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(OutcomeOf(failed), JobOutcome::kHandlerError);
}

}  // namespace
}  // namespace jobd::testing
