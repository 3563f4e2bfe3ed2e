#include "examples/feed/ranker.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include <unistd.h>

namespace jobd::examples {

std::vector<Post> MakeFeed(int count, uint64_t seed) {
  std::vector<Post> posts;
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int i = 0; i < count; ++i) {
    Post p;
    p.set_id(1000 + i);
    p.set_likes(next() % 5000);
    p.set_comments(next() % 400);
    p.set_age_minutes(next() % 2880);
    p.set_text("post " + std::to_string(i) + " about " + std::to_string(next() % 97));
    posts.push_back(std::move(p));
  }
  return posts;
}

namespace {

// Stands in for a model: enough arithmetic that 100 posts take a few milliseconds.
double Score(const Post& p, uint64_t viewer) {
  double affinity = 0;
  uint64_t h = p.id() * 0xff51afd7ed558ccdull ^ viewer;
  for (int i = 0; i < 20000; ++i) {
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    affinity += static_cast<double>(h % 1000) / 1e6;
  }
  const double engagement = std::log1p(p.likes()) + 2.0 * std::log1p(p.comments());
  const double freshness = std::exp(-static_cast<double>(p.age_minutes()) / 720.0);
  return engagement * (0.5 + freshness) + affinity / 20000.0;
}

}  // namespace

RankResponse RankPosts(const RankRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  RankResponse response;
  for (const Post& p : request.posts()) {
    ScoredPost* s = response.add_ranked();
    s->set_id(p.id());
    s->set_score(Score(p, request.viewer_id()));
  }
  std::sort(response.mutable_ranked()->begin(), response.mutable_ranked()->end(),
            [](const ScoredPost& a, const ScoredPost& b) { return a.score() > b.score(); });
  response.set_worker_pid(static_cast<uint64_t>(getpid()));
  response.set_worker_micros(static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count()));
  return response;
}

std::vector<ScoredPost> MergeRanked(const std::vector<RankResponse>& chunks) {
  std::vector<ScoredPost> all;
  for (const RankResponse& c : chunks) all.insert(all.end(), c.ranked().begin(), c.ranked().end());
  std::sort(all.begin(), all.end(), [](const ScoredPost& a, const ScoredPost& b) { return a.score() > b.score(); });
  return all;
}

}  // namespace jobd::examples
