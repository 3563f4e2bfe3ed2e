// consumer_worker: a jobd worker with one handler, `reverse`. jobd starts it N times:
//   jobd --worker-cmd=/path/to/consumer_worker
#include <string>

#include "absl/status/status.h"
#include "client/worker.h"

int main() {
  jobd::client::Worker worker;
  worker.Handle("reverse", [](jobd::client::JobContext& job) -> absl::Status {
    const std::string_view in(reinterpret_cast<const char*>(job.request().data()), job.request().size());
    return job.Respond(std::string(in.rbegin(), in.rend()));
  });
  return worker.Run().ok() ? 0 : 1;
}
