// jobd-testworker: a worker with handlers for tests, benchmarks and operators.
//   echo   returns the payload            size  returns the payload length, as text
//   sleep  sleeps the milliseconds given  fail  returns an error with the payload as message
//   crash  aborts the process             hang  never returns
//   context returns the job's context as k=v lines   attempt returns the attempt number
//   (more for the job-model tests: manual, user, inside, counter, counter-ttl, fail-first,
//    sleep-quiet, shared-size, spin; bench and bench-multi for tests/bench/suite)
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/testworker/bench_handler.h"
#include "client/socket_path.h"
#include "client/worker.h"

using jobd::client::JobContext;

namespace {
// What a real service keeps in globals: restored from the caller's context before each job and
// reset after it, so nothing leaks into the next job on this worker.
std::string g_user;
}  // namespace

int main() {
  jobd::client::Worker worker;
  worker.SetBeforeHandle([](const JobContext& job) {
    auto it = job.context().find("user");
    if (it != job.context().end()) g_user = it->second;
  });
  worker.SetAfterHandle([](const JobContext&) { g_user.clear(); });
  worker.Handle("user", [](JobContext& job) { return job.Respond(g_user); });
  worker.Handle("inside", [](JobContext& job) {
    return job.Respond(jobd::client::IsInsideWorker() ? "inside a worker" : "not in a worker");
  });
  // ManualRespond: answers at once, then keeps working for the milliseconds given.
  worker.Handle("manual", [](JobContext& job) -> absl::Status {
    int ms = 0;
    (void)absl::SimpleAtoi(std::string(job.request_view()), &ms);
    if (absl::Status s = job.RespondEarly("early answer"); !s.ok()) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return absl::OkStatus();
  });
  worker.Handle("counter", [](JobContext& job) {
    int* n = job.env().Get<int>("n");
    if (n == nullptr) n = job.env().Put("n", std::make_shared<int>(0));
    return job.Respond(absl::StrCat(++*n));
  });
  worker.Handle("counter-ttl", [](JobContext& job) {
    int* n = job.env().Get<int>("n-ttl");
    if (n == nullptr) n = job.env().Put("n-ttl", std::make_shared<int>(0), absl::Milliseconds(200));
    return job.Respond(absl::StrCat(++*n));
  });
  worker.Handle("fail-first", [](JobContext& job) -> absl::Status {
    if (job.attempt() < 2) return absl::UnavailableError("first attempt fails");
    return job.Respond(absl::StrCat(job.attempt()));
  });
  worker.Handle("sleep-quiet", [](JobContext& job) -> absl::Status {
    int ms = 0;
    (void)absl::SimpleAtoi(std::string(job.request_view()), &ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return absl::OkStatus();
  });
  worker.Handle("shared-size", [](JobContext& job) -> absl::Status {
    int ms = 0;
    (void)absl::SimpleAtoi(std::string(job.request_view()), &ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    size_t sum = 0;
    for (std::byte b : job.shared()) sum += static_cast<unsigned char>(b);
    return job.Respond(absl::StrCat(job.shared().size(), ":", sum));
  });
  // Leaks the megabytes given (touched, and kept in the worker's environment).
  worker.Handle("leak", [](JobContext& job) -> absl::Status {
    int mib = 0;
    (void)absl::SimpleAtoi(std::string(job.request_view()), &mib);
    auto block = std::make_shared<std::vector<char>>(static_cast<size_t>(mib) << 20, 'x');
    job.env().Put(absl::StrCat("leak-", job.job_id()), block);
    return job.Respond(absl::StrCat("leaked ", mib, " MiB"));
  });
  // Stops as soon as it is cancelled, as a well-behaved long handler does.
  worker.Handle("spin", [](JobContext& job) -> absl::Status {
    while (!job.cancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return absl::CancelledError("stopped on cancel");
  });
  worker.Handle("echo", [](JobContext& job) { return job.Respond(job.request()); });
  static uint64_t sink = 0;
  worker.Handle("bench", [](JobContext& job) {
    return job.Respond(jobd::bench::BenchAnswer(job.request_view(), &sink));
  });
  worker.Handle("bench-multi", [](JobContext& job) {
    const std::string_view shared(reinterpret_cast<const char*>(job.shared().data()), job.shared().size());
    return job.Respond(jobd::bench::MultiAnswer(shared, job.request_view(), &sink));
  });
  worker.Handle("size", [](JobContext& job) { return job.Respond(absl::StrCat(job.request().size())); });
  worker.Handle("sleep", [](JobContext& job) -> absl::Status {
    int ms = 0;
    const std::string text(job.request_view());
    if (!absl::SimpleAtoi(text, &ms) || ms < 0) {
      return absl::InvalidArgumentError(absl::StrCat("sleep wants milliseconds, got '", text, "'"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return job.Respond(absl::StrCat("slept ", ms, "ms"));
  });
  worker.Handle("fail", [](JobContext& job) -> absl::Status {
    return absl::FailedPreconditionError(job.request_view().empty() ? "fail handler asked to fail"
                                                                     : std::string(job.request_view()));
  });
  worker.Handle("throw", [](JobContext& job) -> absl::Status {
    throw std::runtime_error(absl::StrCat("thrown for job ", job.job_id()));
  });
  worker.Handle("crash", [](JobContext&) -> absl::Status { std::abort(); });
  // Never returns. Given a path, it first creates that file: the agent counts a job running
  // once it is dispatched, so a test that must act on a started handler waits for the file.
  worker.Handle("hang", [](JobContext& job) -> absl::Status {
    if (!job.request_view().empty()) {
      if (FILE* started = std::fopen(std::string(job.request_view()).c_str(), "w")) std::fclose(started);
    }
    for (;;) pause();
  });
  worker.Handle("context", [](JobContext& job) {
    std::string out;
    for (const auto& [k, v] : job.context()) absl::StrAppend(&out, k, "=", v, "\n");
    return job.Respond(out);
  });
  worker.Handle("attempt", [](JobContext& job) -> absl::Status {
    if (job.attempt() < 2 && job.request_view() == "crash-first") std::abort();
    return job.Respond(absl::StrCat(job.attempt()));
  });
  absl::Status status = worker.Run();
  if (!status.ok()) {
    std::fprintf(stderr, "jobd-testworker: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
