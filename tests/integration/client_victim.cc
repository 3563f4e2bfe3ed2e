// A client to be SIGKILLed by fault_test: it leaves jobs running, jobs queued, a NoReply job,
// and response slabs held, prints "ready", and waits to die. With "lease" (lease_test) it runs
// echo jobs one after another, every 20 ms, so that it holds a worker's lease when it dies,
// perhaps with a lane job in flight.
//   client_victim SOCKET [lease]
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "client/job_client.h"

int main(int argc, char** argv) {
  if (argc != 2 && argc != 3) return 2;
  auto client = jobd::client::JobClient::Connect({.socket_path = argv[1], .client_name = "victim"});
  if (!client.ok()) return 1;
  if (argc == 3 && std::string(argv[2]) == "lease") {
    for (int i = 0;; ++i) {
      auto r = (*client)->Start("echo", "lane")->Wait();
      if (!r.ok()) return 1;
      if (i == 2) {
        std::printf("ready\n");
        std::fflush(stdout);
      }
      usleep(20000);
    }
  }
  std::vector<jobd::client::JobFuture> running;
  for (int i = 0; i < 3; ++i) running.push_back(std::move(*(*client)->Start("sleep", "3000")));
  if (!(*client)->StartNoReply("sleep-quiet", "300").ok()) return 1;
  std::vector<jobd::client::Response> held;
  for (int i = 0; i < 2; ++i) {
    auto r = (*client)->Start("echo", "held")->Wait();
    if (!r.ok()) return 1;
    held.push_back(std::move(*r));
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) pause();
}
