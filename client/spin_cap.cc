#include "client/internal/spin_cap.h"

#include <algorithm>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace jobd::client::internal {

absl::StatusOr<std::optional<absl::Duration>> SpinCap(const std::optional<absl::Duration>& option, const char* env) {
  if (option.has_value()) {
    if (*option < absl::ZeroDuration() || *option > shm::kMaxSpinWindow) {
      return absl::InvalidArgumentError(absl::StrCat("ClientOptions::max_spin=", absl::FormatDuration(*option),
                                                     ": allowed 0 to ", absl::FormatDuration(shm::kMaxSpinWindow)));
    }
    return option;
  }
  if (env == nullptr || *env == '\0') return std::nullopt;
  int64_t us = 0;
  const int64_t max_us = absl::ToInt64Microseconds(shm::kMaxSpinWindow);
  if (!absl::SimpleAtoi(env, &us) || us < 0 || us > max_us) {
    return absl::InvalidArgumentError(
        absl::StrCat("JOBD_CLIENT_SPIN_US=\"", env, "\": allowed a whole number of microseconds, 0 to ", max_us));
  }
  return absl::Microseconds(us);
}

}  // namespace jobd::client::internal
