// KPHP's feed example, the client side: rank 300 posts in 3 jobs of 100 in parallel, merge the
// ranked chunks, print the top and how long each job took. With no agent, it ranks locally.
//   feed_client [posts] [jobs]
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "client/job_client.h"
#include "client/proto_helpers.h"
#include "examples/feed/ranker.h"

using jobd::examples::RankRequest;
using jobd::examples::RankResponse;

int main(int argc, char** argv) {
  int posts = 300, jobs = 3;
  if (argc > 1 && (!absl::SimpleAtoi(argv[1], &posts) || posts < 1)) return std::fprintf(stderr, "bad posts\n"), 2;
  if (argc > 2 && (!absl::SimpleAtoi(argv[2], &jobs) || jobs < 1)) return std::fprintf(stderr, "bad jobs\n"), 2;
  const std::vector<jobd::examples::Post> feed = jobd::examples::MakeFeed(posts, 42);
  std::vector<RankRequest> chunks(jobs);
  for (int i = 0; i < posts; ++i) *chunks[i * jobs / posts].add_posts() = feed[i];
  for (RankRequest& c : chunks) c.set_viewer_id(7);

  const absl::Time start = absl::Now();
  std::vector<RankResponse> ranked;
  auto client = jobd::client::JobClient::Connect({.client_name = "feed_client"});
  if (!client.ok()) {
    std::printf("no agent (%s): ranking locally\n", client.status().ToString().c_str());
    for (const RankRequest& c : chunks) ranked.push_back(jobd::examples::RankPosts(c));
  } else {
    std::printf("jobd: %u workers; ranking %d posts in %d jobs\n", (*client)->workers(), posts, jobs);
    std::vector<jobd::client::JobFuture> futures;
    std::vector<absl::Time> started;
    for (const RankRequest& c : chunks) {
      auto f = jobd::client::StartMessage(**client, "rank", c, {.timeout = absl::Seconds(10)});
      if (!f.ok()) return std::fprintf(stderr, "could not start: %s\n", f.status().ToString().c_str()), 1;
      futures.push_back(std::move(*f));
      started.push_back(absl::Now());
    }
    for (size_t i = 0; i < futures.size(); ++i) {
      auto r = jobd::client::WaitMessage<RankResponse>(futures[i]);
      if (!r.ok()) return std::fprintf(stderr, "job failed: %s\n", r.status().ToString().c_str()), 1;
      std::printf("  job %llu: %d posts, worker pid %llu ranked them in %.2f ms, round trip %.2f ms\n",
                  static_cast<unsigned long long>(futures[i].id()), chunks[i].posts_size(),
                  static_cast<unsigned long long>(r->worker_pid()), r->worker_micros() / 1000.0,
                  absl::ToDoubleMilliseconds(absl::Now() - started[i]));
      ranked.push_back(std::move(*r));
    }
  }
  const auto merged = jobd::examples::MergeRanked(ranked);
  std::printf("merged %zu posts in %.2f ms; top 5:\n", merged.size(),
              absl::ToDoubleMilliseconds(absl::Now() - start));
  for (size_t i = 0; i < merged.size() && i < 5; ++i) {
    std::printf("  #%zu post %llu score %.4f\n", i + 1, static_cast<unsigned long long>(merged[i].id()),
                merged[i].score());
  }
  return 0;
}
