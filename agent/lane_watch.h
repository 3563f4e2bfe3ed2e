// What the agent does about a lane job it learned of from a leased worker's report, when it
// looks at it: nothing yet, tell the session the deadline passed (and ask the worker to stop),
// or, once the grace after the deadline has passed too, kill the worker. Pure, so the rule has
// one place and a unit test; the agent's lease part carries it out.
#pragma once

#include "absl/time/time.h"

namespace jobd::agent {

enum class LaneAction { kNone, kTellDeadline, kKill };

struct LaneVerdict {
  LaneAction action = LaneAction::kNone;
  absl::Time next_look = absl::InfiniteFuture();  // when this job next needs looking at
};

// `told`: the session already heard that the deadline passed.
inline LaneVerdict JudgeLaneJob(absl::Time deadline, bool told, absl::Time now, absl::Duration grace) {
  if (now < deadline) return {LaneAction::kNone, deadline};
  if (!told) return {LaneAction::kTellDeadline, deadline + grace};
  if (now >= deadline + grace) return {LaneAction::kKill, absl::InfiniteFuture()};
  return {LaneAction::kNone, deadline + grace};
}

}  // namespace jobd::agent
