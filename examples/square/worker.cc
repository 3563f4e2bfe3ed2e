// KPHP's first example, the worker side: squares every number of the request.
#include <cstdio>

#include "client/proto_helpers.h"
#include "client/worker.h"
#include "examples/examples.pb.h"

int main() {
  jobd::client::Worker worker;
  worker.Handle("square", [](jobd::client::JobContext& job) -> absl::Status {
    auto request = jobd::client::ParseMessage<jobd::examples::SquareRequest>(job.request());
    if (!request.ok()) return request.status();
    jobd::examples::SquareResponse response;
    for (int64_t n : request->numbers()) response.add_squares(n * n);
    return jobd::client::RespondMessage(job, response);
  });
  absl::Status status = worker.Run();
  if (!status.ok()) std::fprintf(stderr, "square_worker: %s\n", status.ToString().c_str());
  return status.ok() ? 0 : 1;
}
