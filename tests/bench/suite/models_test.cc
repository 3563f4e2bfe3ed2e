// The suite's models of the data path's shapes (shm_model.h) carry every job to a worker and its
// answer back to the client that sent it: real processes, real rings, many clients at once. The
// suite reads their jobs/s; this checks that each of those jobs was answered, and rightly.
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/bench/suite/bench_system.h"

namespace jobd::bench {
namespace {

class ModelTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/jobd-model-test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    scratch_ = dir;
    system_ = MakeSystem(GetParam());
    ASSERT_NE(system_, nullptr);
    ASSERT_TRUE(system_->Start({.workers = 2, .scratch_dir = scratch_}).ok());
  }
  void TearDown() override {
    if (system_ != nullptr) system_->Stop();
    std::filesystem::remove_all(scratch_);
  }

  std::string scratch_;
  std::unique_ptr<BenchSystem> system_;
};

// Each client's requests differ from every other's, so an answer that went to the wrong client,
// or a stale one, fails CheckBenchAnswer inside Call.
TEST_P(ModelTest, EightClientsEachGetTheirOwnAnswers) {
  constexpr int kClients = 8;
  constexpr int kJobs = 2000;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kClients);
  std::vector<int> answered(kClients, 0);
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      absl::StatusOr<std::unique_ptr<Caller>> caller = system_->NewCaller();
      if (!caller.ok()) {
        errors[c] = caller.status().ToString();
        return;
      }
      for (int j = 0; j < kJobs; ++j) {
        const std::string request = absl::StrCat("client ", c, " job ", j, std::string(j % 300, 'x'));
        absl::StatusOr<size_t> size = (*caller)->Call(request);
        if (!size.ok()) {
          errors[c] = absl::StrCat("job ", j, ": ", size.status().ToString());
          return;
        }
        if (*size != request.size()) {
          errors[c] = absl::StrCat("job ", j, ": answer of ", *size, " bytes for ", request.size());
          return;
        }
        ++answered[c];
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int c = 0; c < kClients; ++c) {
    EXPECT_EQ(errors[c], "") << "client " << c;
    EXPECT_EQ(answered[c], kJobs) << "client " << c;
  }
}

// A client that leaves is dropped by the server; those after it are served as before.
TEST_P(ModelTest, ClientsThatComeAndGoAreServed) {
  for (int round = 0; round < 20; ++round) {
    absl::StatusOr<std::unique_ptr<Caller>> caller = system_->NewCaller();
    ASSERT_TRUE(caller.ok()) << caller.status();
    for (int j = 0; j < 10; ++j) {
      const std::string request = absl::StrCat("round ", round, " job ", j);
      absl::StatusOr<size_t> size = (*caller)->Call(request);
      ASSERT_TRUE(size.ok()) << "round " << round << " job " << j << ": " << size.status();
      EXPECT_EQ(*size, request.size());
    }
  }
}

TEST_P(ModelTest, AJobLargerThanTheModelCarriesIsNotItsCase) {
  EXPECT_LT(system_->max_request(), size_t{1} << 20);
  absl::StatusOr<std::unique_ptr<Caller>> caller = system_->NewCaller();
  ASSERT_TRUE(caller.ok());
  EXPECT_EQ((*caller)->CallMulti("piece", {"a"}).code(), absl::StatusCode::kUnimplemented);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ModelTest, ::testing::Values("relay", "direct", "lanes"));

}  // namespace
}  // namespace jobd::bench
