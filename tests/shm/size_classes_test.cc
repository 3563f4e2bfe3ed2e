#include "shm/size_classes.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace jobd::shm {
namespace {

using ::testing::HasSubstr;

TEST(SizeClassesTest, ParsesSuffixesAndSortsBySize) {
  auto c = ParseSizeClasses(" 1M:8, 4K:1024 ,64KiB:256,128:3");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, (std::vector<SizeClass>{{128, 3}, {4096, 1024}, {65536, 256}, {1 << 20, 8}}));
  EXPECT_EQ(FormatSizeClasses(*c), "128:3,4K:1024,64K:256,1M:8");
  auto round = ParseSizeClasses(FormatSizeClasses(*c));
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(*round, *c);
}

struct BadSpec {
  const char* spec;
  const char* words;
};

TEST(SizeClassesTest, AcceptsBinarySuffixesInAnyCaseAndSpaces) {
  auto c = ParseSizeClasses("1 GiB : 1 ,\t2mib:3, 4kib:5");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, (std::vector<SizeClass>{{4096, 5}, {2 << 20, 3}, {1 << 30, 1}}));
}

TEST(SizeClassesTest, EachBadSpecGetsInvalidArgumentNamingTheProblem) {
  for (const BadSpec& b : std::vector<BadSpec>{{"", "empty"},
                                              {"4K", "size:count"},
                                              {"4K:1:2", "size:count"},
                                              {"abc:4", "not a size"},
                                              {"4K:many", "not a number"},
                                              {"100:4", "multiple of 64"},
                                              {"0:4", "multiple of 64"},
                                              {"4K:0", "out of range"},
                                              {"4K:99999999", "out of range"},
                                              {"4K:1,4096:2", "twice"},
                                              {"4K:1,,64K:1", "size:count"},
                                              {"99999999999G:1", "too large"},
                                              {"-64:1", "not a size"},
                                              {"4X:1", "not a size"}}) {
    auto c = ParseSizeClasses(b.spec);
    ASSERT_FALSE(c.ok()) << b.spec;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << b.spec;
    EXPECT_THAT(std::string(c.status().message()), HasSubstr(b.words)) << b.spec;
  }
  std::string many = "64:1";
  for (int i = 2; i <= 33; ++i) absl::StrAppend(&many, ",", i * 64, ":1");
  auto c = ParseSizeClasses(many);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("at most 32"));
}

TEST(SizeClassesTest, DefaultFollowsKphpBudgetPlusSmallClassesAndKeepsEveryClass) {
  for (int workers : {1, 2, 8, 64}) {
    std::vector<SizeClass> c = DefaultSizeClasses(workers);
    ASSERT_EQ(c.size(), 12u);
    EXPECT_EQ(c[0].slab_size, 4096u);
    EXPECT_EQ(c[1].slab_size, 65536u);
    EXPECT_EQ(c.back().slab_size, 64ull << 20);
    uint64_t kphp_bytes = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      EXPECT_GE(c[i].count, 1u);
      if (i > 0) {
        EXPECT_GT(c[i].slab_size, c[i - 1].slab_size);
      }
      if (i >= 2 && c[i].count > 1) kphp_bytes += c[i].slab_size * c[i].count;
    }
    EXPECT_LE(kphp_bytes, uint64_t(workers) * (8ull << 20)) << workers << " workers";
  }
  // 8 workers: 64 MiB of budget, 2/14 of it in 128 KiB slabs.
  EXPECT_EQ(DefaultSizeClasses(8)[2].count, 73u);
  EXPECT_EQ(DefaultSizeClasses(8)[0].count, 512u);
}

TEST(SizeClassesTest, HumanBytesReadsLikeAPerson) {
  EXPECT_EQ(HumanBytes(4096), "4 KiB");
  EXPECT_EQ(HumanBytes(64ull << 20), "64 MiB");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(100), "100 B");
  EXPECT_THAT(DescribeSizeClasses({{4096, 2}, {65536, 1}}), HasSubstr("total"));
}

}  // namespace
}  // namespace jobd::shm

namespace jobd::shm {
namespace {

uint64_t Total(const std::vector<SizeClass>& cs) {
  uint64_t t = 0;
  for (const SizeClass& c : cs) t += c.slab_size * c.count;
  return t;
}

TEST(FitSizeClassesTest, ABudgetDropsClassesTooLargeAndScalesTheRestToFit) {
  const std::vector<SizeClass> host = DefaultSizeClasses(2);
  auto fit = FitSizeClasses(host, 8ull << 20);
  ASSERT_TRUE(fit.ok()) << fit.status();
  EXPECT_LE(Total(*fit), 8ull << 20);
  EXPECT_EQ(fit->front().slab_size, 4096u) << "the small classes stay";
  EXPECT_LE(fit->back().slab_size, 8ull << 20);
  for (const SizeClass& c : *fit) EXPECT_GE(c.count, 1u);
  EXPECT_EQ(*FitSizeClasses(host, Total(host)), host) << "a budget that holds everything changes nothing";
}

TEST(FitSizeClassesTest, ABudgetBelowTheSmallestSlabIsRefused) {
  auto fit = FitSizeClasses({{4096, 4}}, 1000);
  EXPECT_EQ(fit.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(fit.status().message().find("holds no slab"), std::string::npos);
}

}  // namespace
}  // namespace jobd::shm
