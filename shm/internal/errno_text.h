// "what: strerror(errno)", the way shm's errors name a failed system call.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace jobd::shm::internal {

inline std::string ErrnoText(const std::string& what) { return absl::StrCat(what, ": ", strerror(errno)); }

}  // namespace jobd::shm::internal
