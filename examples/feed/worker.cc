// KPHP's feed example, the worker side: ranks one chunk of posts.
#include <cstdio>

#include "client/proto_helpers.h"
#include "client/worker.h"
#include "examples/feed/ranker.h"

int main() {
  jobd::client::Worker worker;
  worker.Handle("rank", [](jobd::client::JobContext& job) -> absl::Status {
    auto request = jobd::client::ParseMessage<jobd::examples::RankRequest>(job.request());
    if (!request.ok()) return request.status();
    return jobd::client::RespondMessage(job, jobd::examples::RankPosts(*request));
  });
  absl::Status status = worker.Run();
  if (!status.ok()) std::fprintf(stderr, "feed_worker: %s\n", status.ToString().c_str());
  return status.ok() ? 0 : 1;
}
