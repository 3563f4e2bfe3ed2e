#include "tools/common/command_line.h"

#include "absl/flags/flag.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

ABSL_FLAG(std::string, run_dir, "", "where");
ABSL_FLAG(int32_t, workers, 0, "how many");
ABSL_FLAG(bool, fast_path, true, "rings");
ABSL_FLAG(absl::Duration, grace, absl::Seconds(2), "drain period");

namespace jobd::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const FlagFilter kOurs = FlagsFrom({"command_line_test.cc"});

absl::StatusOr<CommandLine> P(std::vector<const char*> args) {
  args.insert(args.begin(), "prog");
  return Parse(static_cast<int>(args.size()), args.data(), kOurs);
}

class CommandLineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::SetFlag(&FLAGS_run_dir, "");
    absl::SetFlag(&FLAGS_workers, 0);
    absl::SetFlag(&FLAGS_fast_path, true);
  }
};

TEST_F(CommandLineTest, DashedAndUnderscoredNamesSetTheSameFlag) {
  ASSERT_TRUE(P({"--run-dir=/a", "--workers", "3"}).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_run_dir), "/a");
  EXPECT_EQ(absl::GetFlag(FLAGS_workers), 3);
  ASSERT_TRUE(P({"--run_dir", "/b", "-workers=4"}).ok());
  EXPECT_EQ(absl::GetFlag(FLAGS_run_dir), "/b");
  EXPECT_EQ(absl::GetFlag(FLAGS_workers), 4);
}

TEST_F(CommandLineTest, BooleansTakeNoValueOrANoPrefix) {
  ASSERT_TRUE(P({"--nofast-path"}).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_fast_path));
  ASSERT_TRUE(P({"--fast-path"}).ok());
  EXPECT_TRUE(absl::GetFlag(FLAGS_fast_path));
  ASSERT_TRUE(P({"--fast_path=false"}).ok());
  EXPECT_FALSE(absl::GetFlag(FLAGS_fast_path));
}

TEST_F(CommandLineTest, HelpAndVersionAreReportedNotHandled) {
  for (const char* h : {"--help", "-h", "-help"}) {
    auto cl = P({"drain", h});
    ASSERT_TRUE(cl.ok()) << h;
    EXPECT_TRUE(cl->help) << h;
    EXPECT_THAT(cl->args, ElementsAre("drain"));
  }
  auto v = P({"--version"});
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->version);
  EXPECT_FALSE(v->help);
}

TEST_F(CommandLineTest, WordsAreKeptAndDoubleDashEndsTheFlags) {
  auto cl = P({"submit", "echo", "--workers=2", "--", "--not-a-flag", "-"});
  ASSERT_TRUE(cl.ok());
  EXPECT_THAT(cl->args, ElementsAre("submit", "echo", "--not-a-flag", "-"));
  EXPECT_EQ(absl::GetFlag(FLAGS_workers), 2);
}

TEST_F(CommandLineTest, UnknownFlagIsAnErrorNamingIt) {
  auto cl = P({"--wrokers=2"});
  ASSERT_FALSE(cl.ok());
  EXPECT_EQ(cl.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cl.status().message()), HasSubstr("unknown flag --wrokers"));
  EXPECT_THAT(std::string(cl.status().message()), HasSubstr("--help"));
}

TEST_F(CommandLineTest, FlagsOfOtherFilesAreUnknown) {
  // Abseil registers flags of its own (e.g. --flagfile when linked); only the filter's count.
  auto cl = Parse(2, std::vector<const char*>{"prog", "--workers=1"}.data(), FlagsFrom({"elsewhere.cc"}));
  ASSERT_FALSE(cl.ok());
  EXPECT_THAT(std::string(cl.status().message()), HasSubstr("unknown flag --workers"));
}

TEST_F(CommandLineTest, BadValueAndMissingValueNameTheFlagAndTheType) {
  auto bad = P({"--workers=many"});
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("--workers='many': not a valid INT"));
  auto missing = P({"--grace"});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("--grace needs a value (--grace=DURATION)"));
}

TEST_F(CommandLineTest, HelpListsEveryFlagDashedWithItsDefault) {
  const std::string help = FlagHelp(kOurs);
  EXPECT_THAT(help, HasSubstr("--run-dir=STRING\n      where (default: \"\")"));
  EXPECT_THAT(help, HasSubstr("--workers=INT\n      how many (default: 0)"));
  EXPECT_THAT(help, HasSubstr("--fast-path=BOOL"));
  EXPECT_THAT(help, HasSubstr("--grace=DURATION\n      drain period (default: 2s)"));
  EXPECT_EQ(help.find("run_dir"), std::string::npos);
}

TEST(VersionLineTest, NamesTheProgramVersionAndBuildType) {
  EXPECT_THAT(VersionLine("jobd"), ::testing::MatchesRegex(R"(jobd [0-9]+\.[0-9]+\.[0-9]+ \(.+ build\))"));
}

}  // namespace
}  // namespace jobd::cli
