// The async_service example's gRPC service, on the callback API: each SumOfSquares request is
// split into `parts` "square" jobs (examples/square/worker.cc) that run at once, and answered
// when all of them have. No thread blocks for a job: the handler is a coroutine
// (jobd::client::Task) that the jobs' completions resume, and gRPC's handler thread returns as
// soon as the jobs are started.
#pragma once

#include <atomic>
#include <cstdint>

#include "client/job_client.h"
#include "examples/async_service/fan_out.grpc.pb.h"

namespace jobd::examples {

class FanOutService final : public FanOut::CallbackService {
 public:
  // `client` must outlive the service and every request in flight.
  explicit FanOutService(client::JobClient& client) : client_(client) {}

  grpc::ServerUnaryReactor* SumOfSquares(grpc::CallbackServerContext* context, const SumOfSquaresRequest* request,
                                         SumOfSquaresReply* reply) override;

  // Requests started and not yet answered, and the most there ever were at once.
  int64_t in_flight() const { return in_flight_.load(); }
  int64_t peak_in_flight() const { return peak_.load(); }

 private:
  client::JobClient& client_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<int64_t> peak_{0};
};

}  // namespace jobd::examples
