#include "agent/logging.h"

#include <regex>

#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "spdlog/details/log_msg.h"

namespace jobd::agent {
namespace {

using ::testing::HasSubstr;

google::protobuf::Struct FormatJson(spdlog::level::level_enum level, const std::string& text) {
  spdlog::details::log_msg msg(spdlog::source_loc{}, "jobd", level, text);
  spdlog::memory_buf_t buf;
  JsonLogFormatter().format(msg, buf);
  const std::string line(buf.data(), buf.size());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line per event";
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &s).ok()) << line;
  return s;
}

TEST(JsonLogFormatterTest, OneObjectWithTimeLevelAndMessage) {
  const auto s = FormatJson(spdlog::level::warn, "arena \"x\"\nsecond line");
  EXPECT_EQ(s.fields().at("message").string_value(), "arena \"x\"\nsecond line");
  EXPECT_EQ(s.fields().at("level").string_value(), "warning");
  EXPECT_EQ(s.fields().at("logger").string_value(), "jobd");
  // RFC 3339 with milliseconds and the zone's offset.
  EXPECT_TRUE(std::regex_match(s.fields().at("time").string_value(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d)")))
      << s.fields().at("time").string_value();
}

TEST(JsonLogFormatterTest, JobTypeWorkerSessionAndPidBecomeFields) {
  const auto s = FormatJson(spdlog::level::warn,
                            "job 150323855361 type resize deadline_exceeded: worker 1 (pid 4242) session 3");
  EXPECT_EQ(s.fields().at("job").number_value(), 150323855361.0);
  EXPECT_EQ(s.fields().at("type").string_value(), "resize");
  EXPECT_EQ(s.fields().at("worker").number_value(), 1);
  EXPECT_EQ(s.fields().at("pid").number_value(), 4242);
  EXPECT_EQ(s.fields().at("session").number_value(), 3);
}

TEST(JsonLogFormatterTest, WordsThatOnlyLookLikeKeysAreNotFields) {
  const auto s = FormatJson(spdlog::level::info, "starting 2 workers: no worker handles job type 'img.resize'");
  EXPECT_FALSE(s.fields().contains("worker"));
  EXPECT_FALSE(s.fields().contains("job"));
  EXPECT_EQ(s.fields().at("type").string_value(), "img.resize");
}

TEST(LogOptionsTest, FormatAndLevelAreChecked) {
  auto ok = ParseLogOptions("json", "debug", nullptr);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->format, LogFormat::kJson);
  EXPECT_EQ(ok->level, spdlog::level::debug);
  auto bad = ParseLogOptions("yaml", "", nullptr);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("--log-format='yaml': allowed text, json"));
}

TEST(LogOptionsTest, ATypoInTheEnvironmentIsRefusedNotSilent) {
  auto typo = ParseLogOptions("text", "", "verbose");
  ASSERT_FALSE(typo.ok());
  EXPECT_THAT(std::string(typo.status().message()),
              HasSubstr("JOBD_LOG_LEVEL='verbose': allowed trace, debug, info, warn, error, critical, off"));
  auto off = ParseLogOptions("text", "", "off");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->level, spdlog::level::off);
}

TEST(LogOptionsTest, TheFlagWinsOverTheEnvironment) {
  auto both = ParseLogOptions("text", "error", "debug");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->level, spdlog::level::err);
  auto neither = ParseLogOptions("text", "", nullptr);
  ASSERT_TRUE(neither.ok());
  EXPECT_EQ(neither->level, spdlog::level::info);
}

}  // namespace
}  // namespace jobd::agent
