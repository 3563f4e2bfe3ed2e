// How jobd logs: to stderr (stdout is for programs), as text for people or as one JSON object
// per line for log collectors. Configured once in main, before any thread starts.
#pragma once

#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "spdlog/formatter.h"
#include "spdlog/common.h"

namespace jobd::agent {

enum class LogFormat { kText, kJson };

struct LogOptions {
  LogFormat format = LogFormat::kText;
  spdlog::level::level_enum level = spdlog::level::info;
};

// --log-format and --log-level (empty: `env_level`, i.e. $JOBD_LOG_LEVEL, else info). A value
// outside the allowed ones is kInvalidArgument naming them: a typo must not silence the log.
absl::StatusOr<LogOptions> ParseLogOptions(absl::string_view format, absl::string_view level,
                                           const char* env_level);

// Makes the default logger write to stderr in the chosen format and level.
void InstallLogging(const LogOptions& options);

// One JSON object per line:
//   {"time":"2024-05-01T12:00:00.123+02:00","level":"warn","logger":"jobd","message":"...",
//    "job":42,"type":"echo","worker":1,"session":3,"pid":1234}
// job, type, worker, session and pid are present when the message names them in jobd's usual
// wording ("job 42", "type echo", "worker 1", "session 3", "pid 1234"); the message is kept whole.
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

}  // namespace jobd::agent
