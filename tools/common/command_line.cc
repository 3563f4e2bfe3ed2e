#include "tools/common/command_line.h"

#include <algorithm>
#include <optional>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "tools/common/version.h"

namespace jobd::cli {
namespace {

// Abseil's names use underscores; operators type --run-dir as often as --run_dir.
std::string Normalize(absl::string_view name) { return absl::StrReplaceAll(name, {{"-", "_"}}); }
std::string Dashed(absl::string_view name) { return absl::StrReplaceAll(name, {{"_", "-"}}); }

absl::CommandLineFlag* Find(const std::string& name, const FlagFilter& filter) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr || !filter(flag->Filename())) return nullptr;
  return flag;
}

std::string TypeName(const absl::CommandLineFlag& flag) {
  if (flag.IsOfType<bool>()) return "BOOL";
  if (flag.IsOfType<int32_t>() || flag.IsOfType<int64_t>() || flag.IsOfType<uint32_t>() ||
      flag.IsOfType<uint64_t>()) {
    return "INT";
  }
  if (flag.IsOfType<double>()) return "NUMBER";
  if (flag.IsOfType<absl::Duration>()) return "DURATION";
  return "STRING";
}

// `text` in lines of at most `width` characters (where words allow), each after `indent`.
std::string Wrap(absl::string_view text, absl::string_view indent, size_t width) {
  std::string out, line;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (!line.empty() && indent.size() + line.size() + 1 + word.size() > width) {
      absl::StrAppend(&out, indent, line, "\n");
      line.clear();
    }
    absl::StrAppend(&line, line.empty() ? "" : " ", word);
  }
  if (!line.empty()) absl::StrAppend(&out, indent, line, "\n");
  return out;
}

}  // namespace

FlagFilter FlagsFrom(std::vector<std::string> parts) {
  return [parts = std::move(parts)](absl::string_view file) {
    return std::any_of(parts.begin(), parts.end(), [&](const std::string& p) { return absl::StrContains(file, p); });
  };
}

absl::StatusOr<CommandLine> Parse(int argc, const char* const* argv, const FlagFilter& filter) {
  CommandLine out;
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      out.args.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    absl::string_view body = arg.substr(arg[1] == '-' ? 2 : 1);
    std::optional<absl::string_view> value;
    if (const size_t eq = body.find('='); eq != absl::string_view::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
    }
    const std::string name = Normalize(body);
    if (!value.has_value() && (name == "help" || name == "h")) {
      out.help = true;
      continue;
    }
    if (!value.has_value() && name == "version") {
      out.version = true;
      continue;
    }
    absl::CommandLineFlag* flag = Find(name, filter);
    std::string text;
    if (flag == nullptr && !value.has_value() && absl::StartsWith(name, "no")) {
      // --noname turns a boolean off.
      absl::CommandLineFlag* negated = Find(name.substr(2), filter);
      if (negated != nullptr && negated->IsOfType<bool>()) {
        flag = negated;
        text = "false";
      }
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag ", arg.substr(0, arg.find('=')), " (--help lists the flags)"));
    }
    if (!text.empty()) {
      // set above: --noname
    } else if (value.has_value()) {
      text = std::string(*value);
    } else if (flag->IsOfType<bool>()) {
      text = "true";
    } else if (i + 1 < argc) {
      text = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", Dashed(name), " needs a value (--", Dashed(name), "=",
                                                     TypeName(*flag), ")"));
    }
    std::string error;
    if (!flag->ParseFrom(text, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", Dashed(name), "='", text, "': not a valid ", TypeName(*flag), " (", error, ")"));
    }
  }
  return out;
}

std::string FlagHelp(const FlagFilter& filter) {
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (filter(flag->Filename())) flags.push_back(flag);
  }
  std::sort(flags.begin(), flags.end(), [](auto* a, auto* b) { return a->Name() < b->Name(); });
  std::string out;
  for (const absl::CommandLineFlag* flag : flags) {
    const std::string def = flag->DefaultValue();
    const std::string text = absl::StrCat(
        flag->Help(), " (default: ", flag->IsOfType<std::string>() ? absl::StrCat("\"", def, "\"") : def, ")");
    absl::StrAppend(&out, "  --", Dashed(flag->Name()), "=", TypeName(*flag), "\n", Wrap(text, "      ", 80));
  }
  return out;
}

std::string VersionLine(absl::string_view program) {
  return absl::StrCat(program, " ", kVersion, " (", kBuildType, " build)");
}

}  // namespace jobd::cli
