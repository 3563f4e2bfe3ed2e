// jobd-testworker: a worker with handlers for tests, benchmarks and operators.
//   echo   returns the payload            size  returns the payload length, as text
//   sleep  sleeps the milliseconds given  fail  returns an error with the payload as message
//   crash  aborts the process             hang  never returns
//   context returns the job's context as k=v lines   attempt returns the attempt number
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/worker.h"

using jobd::client::JobContext;

int main() {
  jobd::client::Worker worker;
  worker.Handle("echo", [](JobContext& job) { return job.Respond(job.request()); });
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
  worker.Handle("hang", [](JobContext&) -> absl::Status {
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
