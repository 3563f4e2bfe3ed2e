#include "agent/logging.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "tools/common/json_writer.h"

namespace jobd::agent {
namespace {

constexpr char kAllowedLevels[] = "trace, debug, info, warn, error, critical, off";

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }

// The word after the first "key " that starts a word in `text` and is followed by a value: for
// numeric keys, digits; for others, a run of name characters (quotes around it dropped).
absl::string_view ValueAfter(absl::string_view text, absl::string_view key, bool numeric) {
  for (size_t pos = text.find(key); pos != absl::string_view::npos; pos = text.find(key, pos + 1)) {
    const bool starts_word = pos == 0 || !IsWordChar(text[pos - 1]);
    const size_t v = pos + key.size();
    if (!starts_word || v + 1 >= text.size() || text[v] != ' ') continue;
    size_t begin = v + 1;
    if (!numeric && text[begin] == '\'') ++begin;
    size_t end = begin;
    while (end < text.size() && (numeric ? std::isdigit(static_cast<unsigned char>(text[end])) != 0
                                         : IsWordChar(text[end]))) {
      ++end;
    }
    while (!numeric && end > begin && text[end - 1] == '.') --end;  // a sentence's full stop
    if (end > begin) return text.substr(begin, end - begin);
  }
  return {};
}

}  // namespace

absl::StatusOr<LogOptions> ParseLogOptions(absl::string_view format, absl::string_view level,
                                           const char* env_level) {
  LogOptions out;
  if (format == "text") {
    out.format = LogFormat::kText;
  } else if (format == "json") {
    out.format = LogFormat::kJson;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--log-format='", format, "': allowed text, json"));
  }
  absl::string_view source = "--log-level";
  if (level.empty() && env_level != nullptr && *env_level != '\0') {
    level = env_level;
    source = "JOBD_LOG_LEVEL";
  }
  if (level.empty()) return out;
  const std::string lower = absl::AsciiStrToLower(level);
  // spdlog maps every name it does not know to "off": check the round trip instead.
  const spdlog::level::level_enum parsed = spdlog::level::from_str(lower);
  if (parsed == spdlog::level::off && lower != "off") {
    return absl::InvalidArgumentError(absl::StrCat(source, "='", level, "': allowed ", kAllowedLevels));
  }
  out.level = parsed;
  return out;
}

void InstallLogging(const LogOptions& options) {
  auto logger = spdlog::stderr_color_mt("jobd");
  spdlog::set_default_logger(logger);
  if (options.format == LogFormat::kJson) {
    logger->set_formatter(std::make_unique<JsonLogFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ jobd: %v");
  }
  spdlog::set_level(options.level);
}

void JsonLogFormatter::format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) {
  const absl::string_view text(msg.payload.data(), msg.payload.size());
  const absl::Time time = absl::FromChrono(msg.time);
  cli::JsonWriter json;
  json.BeginObject()
      .Field("time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3S%Ez", time, absl::LocalTimeZone()))
      .Field("level", absl::string_view(spdlog::level::to_string_view(msg.level).data(),
                                       spdlog::level::to_string_view(msg.level).size()))
      .Field("logger", absl::string_view(msg.logger_name.data(), msg.logger_name.size()))
      .Field("message", text);
  for (const char* key : {"job", "worker", "session", "pid"}) {
    uint64_t n = 0;
    if (absl::SimpleAtoi(ValueAfter(text, key, /*numeric=*/true), &n)) json.Field(key, n);
  }
  if (absl::string_view type = ValueAfter(text, "type", /*numeric=*/false); !type.empty()) json.Field("type", type);
  json.EndObject();
  const std::string& line = json.str();
  dest.append(line.data(), line.data() + line.size());
  dest.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const { return std::make_unique<JsonLogFormatter>(); }

}  // namespace jobd::agent
