#include "examples/async_service/fan_out_service.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/job_awaiter.h"
#include "client/proto_helpers.h"
#include "client/task.h"
#include "examples/examples.pb.h"

namespace jobd::examples {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// One request from start to answer. gRPC keeps `request`, `reply` and `reactor` alive until
// Finish, which is the last thing this does; the coroutine frees itself when it ends (the
// Task is dropped by the caller).
client::Task<> Serve(client::JobClient& client, const SumOfSquaresRequest* request, SumOfSquaresReply* reply,
                     grpc::ServerUnaryReactor* reactor, std::atomic<int64_t>* in_flight) {
  const int n = request->numbers_size();
  const int parts = static_cast<int>(request->parts());
  if (parts < 1 || parts > 64) {
    --*in_flight;
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 absl::StrCat("parts must be 1 to 64, got ", parts)));
    co_return;
  }
  // Every job is on its way before the first co_await: they run side by side on the workers.
  std::vector<absl::StatusOr<client::JobFuture>> jobs;
  for (int p = 0; p < parts; ++p) {
    SquareRequest chunk;
    for (int i = n * p / parts; i < n * (p + 1) / parts; ++i) chunk.add_numbers(request->numbers(i));
    jobs.push_back(client::StartMessage(client, "square", chunk, {.timeout = absl::Seconds(10)}));
  }
  absl::Status failed;
  int64_t sum = 0;
  for (auto& job : jobs) {
    absl::StatusOr<client::Response> r = co_await client::Await(std::move(job));
    if (!failed.ok()) continue;  // still await the rest: their callbacks point into this frame
    if (!r.ok()) {
      failed = r.status();
      continue;
    }
    absl::StatusOr<SquareResponse> squares = client::ParseMessage<SquareResponse>(r->bytes());
    if (!squares.ok()) {
      failed = squares.status();
      continue;
    }
    for (int64_t s : squares->squares()) {
      reply->add_squares(s);
      sum += s;
    }
  }
  reply->set_sum(sum);
  reply->set_jobs(static_cast<uint32_t>(parts));
  --*in_flight;
  reactor->Finish(failed.ok() ? grpc::Status::OK : ToGrpc(failed));
}

}  // namespace

grpc::ServerUnaryReactor* FanOutService::SumOfSquares(grpc::CallbackServerContext* context,
                                                      const SumOfSquaresRequest* request, SumOfSquaresReply* reply) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const int64_t now = ++in_flight_;
  int64_t peak = peak_.load();
  while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
  }
  // Runs until its first co_await that has to wait, then returns here; the jobs' completions
  // resume it on the client's completion thread.
  (void)Serve(client_, request, reply, reactor, &in_flight_);
  return reactor;
}

}  // namespace jobd::examples
