// Command-line parsing for jobd and jobctl on top of Abseil flags, without Abseil's usage
// behaviour: --help, -h and --version are answered by the program, flags are spelled with dashes
// or underscores, and a bad flag is an error value (the program exits 2), never exit(1) deep
// inside a library.
#pragma once

#include <functional>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"

namespace jobd::cli {

// Which Abseil flags belong to a program: true for the files that define them (a flag's
// Filename() is its defining source file). Flags of other files are unknown to the program.
using FlagFilter = std::function<bool(absl::string_view defining_file)>;

// A filter that accepts flags defined in files whose path contains one of `parts`
// (e.g. {"agent/flags.cc"}).
FlagFilter FlagsFrom(std::vector<std::string> parts);

struct CommandLine {
  std::vector<std::string> args;  // the words that are not flags, program name excluded
  bool help = false;              // --help, -h or -help was given
  bool version = false;           // --version was given
};

// Sets every flag given on `argv` (accepted: --name=value, --name value, -name=value; for bools
// also --name and --noname; "--" ends the flags) and returns the rest. Errors
// (kInvalidArgument) name the flag and what is wrong with it: an unknown name, a missing or
// unparsable value.
absl::StatusOr<CommandLine> Parse(int argc, const char* const* argv, const FlagFilter& filter);

// One entry per flag the filter accepts, sorted by name, dashed:
//   --run-dir=STRING
//       directory for jobd.sock and the arena (default: "")
std::string FlagHelp(const FlagFilter& filter);

// "jobd 0.1.0 (Release build)".
std::string VersionLine(absl::string_view program);

}  // namespace jobd::cli
