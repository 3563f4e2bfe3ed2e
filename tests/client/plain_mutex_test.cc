// The SDK's plain mutex and condition variable keep absl::CondVar's contract: the lock is held
// again on return, a deadline that passes says so, a signal ends the wait early, and a deadline
// too far to wait for in one go does not read as already passed.
#include "client/internal/plain_mutex.h"

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace jobd::client::internal {
namespace {

TEST(PlainCondVarTest, APassedDeadlineTimesOutWithTheLockHeldAgain) {
  PlainMutex mu;
  PlainCondVar cv;
  mu.Lock();
  const absl::Time start = absl::Now();
  EXPECT_TRUE(cv.WaitWithDeadline(&mu, start + absl::Milliseconds(30)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(30));
  EXPECT_TRUE(cv.WaitWithDeadline(&mu, absl::InfinitePast()));
  mu.Unlock();  // held: unlocking an unheld std::mutex would be undefined, and the next Lock would hang
  mu.Lock();
  mu.Unlock();
}

TEST(PlainCondVarTest, ASignalEndsAWaitWithNoDeadlineAndTheWaiterSeesTheChange) {
  PlainMutex mu;
  PlainCondVar cv;
  bool ready = false;  // guarded by mu
  std::atomic<bool> waiting{false};
  std::thread waiter([&] {
    PlainMutexLock lock(&mu);
    waiting.store(true);
    while (!ready) EXPECT_FALSE(cv.WaitWithDeadline(&mu, absl::InfiniteFuture())) << "no deadline to pass";
  });
  while (!waiting.load()) std::this_thread::yield();
  {
    PlainMutexLock lock(&mu);
    ready = true;
    cv.Signal();
  }
  waiter.join();
  PlainMutexLock lock(&mu);
  EXPECT_TRUE(ready);
}

TEST(PlainCondVarTest, WaitReturnsOnSignalWithTheLockHeldAndTheChangeSeen) {
  PlainMutex mu;
  PlainCondVar cv;
  bool go = false;   // guarded by mu
  bool seen = false;  // guarded by mu
  std::atomic<bool> waiting{false};
  std::thread waiter([&] {
    PlainMutexLock lock(&mu);
    waiting.store(true);
    while (!go) cv.Wait(&mu);
    seen = true;  // written with the lock held again
  });
  while (!waiting.load()) std::this_thread::yield();
  {
    PlainMutexLock lock(&mu);
    go = true;
    cv.Signal();
  }
  waiter.join();
  PlainMutexLock lock(&mu);
  EXPECT_TRUE(seen);
}

}  // namespace
}  // namespace jobd::client::internal
