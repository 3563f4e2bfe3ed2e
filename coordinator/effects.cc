#include "coordinator/effects.h"

#include <iterator>

namespace jobd::coordinator {

const char* KillReasonName(KillReason reason) {
  switch (reason) {
    case KillReason::kDeadline: return "deadline";
    case KillReason::kRecycle: return "recycle";
    case KillReason::kCancelled: return "cancelled";
    case KillReason::kMemory: return "memory";
  }
  return "unknown";
}

void Effects::Append(Effects&& other) {
  auto move_all = [](auto& into, auto& from) {
    into.insert(into.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  };
  move_all(dispatches, other.dispatches);
  move_all(completions, other.completions);
  move_all(kills, other.kills);
  move_all(cancels, other.cancels);
}

}  // namespace jobd::coordinator
