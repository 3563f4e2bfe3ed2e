// jobctl's usage text and the help of each subcommand (jobctl help CMD, jobctl CMD --help).
#pragma once

#include <optional>
#include <string>
#include "absl/strings/string_view.h"

namespace jobd::jobctl {

// The overview: every subcommand in a line, the common flags, exit codes.
std::string Usage();

// The help of one subcommand; nullopt when there is no such subcommand.
std::optional<std::string> CommandHelp(absl::string_view command);

// "health, stats, slabs, ..." for error messages.
std::string CommandNames();

}  // namespace jobd::jobctl
