// The feed example's work: score posts for a viewer (deliberately CPU-heavy) and rank them.
// Used by the worker, and by the client itself when no agent runs (the local fallback).
#pragma once

#include <cstdint>
#include <vector>

#include "examples/examples.pb.h"

namespace jobd::examples {

// A deterministic feed of `count` posts.
std::vector<Post> MakeFeed(int count, uint64_t seed);

// Scores every post for the viewer; the response is sorted best first.
RankResponse RankPosts(const RankRequest& request);

// Merges ranked chunks into one list, best first.
std::vector<ScoredPost> MergeRanked(const std::vector<RankResponse>& chunks);

}  // namespace jobd::examples
