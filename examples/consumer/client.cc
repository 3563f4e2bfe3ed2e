// consumer_client [TYPE [TEXT [EXPECTED]]]: submits one job (default: `echo` of a fixed text, as
// jobd-testworker answers it), prints the answer and exits 0 only if it is EXPECTED (default:
// TEXT itself). The agent comes from JOBD_SOCKET, as in any service.
#include <cstdio>
#include <string>

#include "absl/time/time.h"
#include "client/job_client.h"

int main(int argc, char** argv) {
  const std::string type = argc > 1 ? argv[1] : "echo";
  const std::string text = argc > 2 ? argv[2] : "hello from an installed jobd";
  const std::string expected = argc > 3 ? argv[3] : text;

  auto client = jobd::client::JobClient::Connect({.client_name = "consumer"});
  if (!client.ok()) {
    std::fprintf(stderr, "consumer: no agent: %s\n", client.status().ToString().c_str());
    return 2;
  }
  auto job = (*client)->Start(type, text, {.timeout = absl::Seconds(10)});
  if (!job.ok()) {
    std::fprintf(stderr, "consumer: could not start: %s\n", job.status().ToString().c_str());
    return 2;
  }
  auto response = job->Wait();
  if (!response.ok()) {
    std::fprintf(stderr, "consumer: job failed: %s\n", response.status().ToString().c_str());
    return 2;
  }
  const std::string answer(response->view());
  std::printf("%s(%s) -> %s\n", type.c_str(), text.c_str(), answer.c_str());
  if (answer != expected) {
    std::fprintf(stderr, "consumer: expected '%s'\n", expected.c_str());
    return 1;
  }
  return 0;
}
