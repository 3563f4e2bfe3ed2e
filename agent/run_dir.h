// The run directory holds the socket and the arena. Its permissions are the first line of
// defence: whoever can open the socket can submit jobs.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace jobd::agent {

// Resolves and prepares the run dir: the given path (created 0750 if missing), else /run/jobd
// if it can be created or used, else a new temp dir. Refuses a world-writable directory and a
// path that is a symbolic link, with a message that says which.
absl::StatusOr<std::string> PrepareRunDir(const std::string& requested);

}  // namespace jobd::agent
