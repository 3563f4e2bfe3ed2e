// jobctl top's terminal: waiting for a key always ends.
#include "tools/jobctl/terminal.h"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <thread>

#include "gtest/gtest.h"

namespace jobd::jobctl {
namespace {

// top computes `next - Now()` after checking `Now() < next`; preempted in between, it passes a
// negative timeout. poll() took that as "forever", and top hung under load.
TEST(RawTerminalTest, ANegativeTimeoutReturnsInsteadOfWaitingForever) {
  RawTerminal terminal;
  std::promise<void> done;
  std::future<void> returned = done.get_future();
  std::thread waiter([&] {
    (void)terminal.WaitForKey(absl::Milliseconds(-3));
    done.set_value();
  });
  const bool ended = returned.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  // A resize wakes a wait that did not end by itself, so that the thread can be joined.
  if (!ended) raise(SIGWINCH);
  waiter.join();
  EXPECT_TRUE(ended) << "WaitForKey(-3ms) still waited after 20 s";
}

TEST(RawTerminalTest, ATimeoutEndsTheWaitWithNoKey) {
  RawTerminal terminal;
  EXPECT_EQ(terminal.WaitForKey(absl::Milliseconds(5)), std::nullopt);
  EXPECT_EQ(terminal.WaitForKey(absl::ZeroDuration()), std::nullopt);
}

TEST(RawTerminalTest, AResizeWakesTheWaitAndIsReportedOnce) {
  RawTerminal terminal;
  std::thread resizer([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(getpid(), SIGWINCH);
  });
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(terminal.WaitForKey(absl::Seconds(60)), std::nullopt);
  resizer.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  EXPECT_TRUE(terminal.TakeResize());
  EXPECT_FALSE(terminal.TakeResize());
}

}  // namespace
}  // namespace jobd::jobctl
