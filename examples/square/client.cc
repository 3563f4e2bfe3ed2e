// KPHP's first example, the client side: [1,2,3,4,5] -> [1,4,9,16,25] through a job.
//   square_client [numbers...]   (JOBD_SOCKET names the agent)
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "client/job_client.h"
#include "client/proto_helpers.h"
#include "examples/examples.pb.h"

int main(int argc, char** argv) {
  jobd::examples::SquareRequest request;
  for (int i = 1; i < argc; ++i) {
    int64_t n = 0;
    if (!absl::SimpleAtoi(argv[i], &n)) {
      std::fprintf(stderr, "square_client: '%s' is not a number\n", argv[i]);
      return 2;
    }
    request.add_numbers(n);
  }
  if (argc == 1) {
    for (int64_t n : {1, 2, 3, 4, 5}) request.add_numbers(n);
  }
  auto client = jobd::client::JobClient::Connect({.client_name = "square_client"});
  if (!client.ok()) {
    std::fprintf(stderr, "square_client: %s\n", client.status().ToString().c_str());
    return 1;
  }
  auto future = jobd::client::StartMessage(**client, "square", request, {.timeout = absl::Seconds(5)});
  if (!future.ok()) {
    std::fprintf(stderr, "square_client: could not start: %s\n", future.status().ToString().c_str());
    return 1;
  }
  auto response = jobd::client::WaitMessage<jobd::examples::SquareResponse>(*future);
  if (!response.ok()) {
    std::fprintf(stderr, "square_client: job failed: %s\n", response.status().ToString().c_str());
    return 1;
  }
  std::string in, out;
  for (int64_t n : request.numbers()) in += (in.empty() ? "" : ",") + std::to_string(n);
  for (int64_t n : response->squares()) out += (out.empty() ? "" : ",") + std::to_string(n);
  std::printf("[%s] -> [%s]\n", in.c_str(), out.c_str());
  return 0;
}
