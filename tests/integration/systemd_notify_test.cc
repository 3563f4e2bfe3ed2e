// jobd under systemd's Type=notify: READY=1 once it serves, STOPPING=1 when SIGTERM starts the
// drain, sent to the datagram socket named by NOTIFY_SOCKET, as systemd would receive them.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;

// A bound AF_UNIX datagram socket in a temp dir; Receive gives up after `wait`.
class NotifySocket {
 public:
  NotifySocket() {
    char dir[] = "/tmp/jobd-notify.XXXXXX";
    dir_ = mkdtemp(dir);
    path_ = dir_ + "/notify";
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path_.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    bound_ = bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  bool bound() const { return bound_; }
  const std::string& path() const { return path_; }

  // The next datagram, or "" when none came within `wait` (a guard, not a timing check).
  std::string Receive(absl::Duration wait) {
    timeval tv = absl::ToTimeval(wait);
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

 private:
  std::string dir_, path_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST(SystemdNotifyTest, ReadyOnceServingAndStoppingOnSigterm) {
  NotifySocket notify;
  ASSERT_TRUE(notify.bound());
  auto agent = AgentProcess::Start({.workers = 2, .env = {"NOTIFY_SOCKET=" + notify.path()}});
  ASSERT_TRUE(agent.ok()) << agent.status();

  const std::string ready = notify.Receive(absl::Seconds(20));
  EXPECT_THAT(ready, HasSubstr("READY=1")) << (*agent)->Log();
  // By then every worker has said hello.
  auto health = (*agent)->Health();
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->workers_ready(), 2u);

  kill((*agent)->pid(), SIGTERM);
  const std::string stopping = notify.Receive(absl::Seconds(20));
  EXPECT_THAT(stopping, HasSubstr("STOPPING=1")) << (*agent)->Log();
  auto status = (*agent)->Terminate(absl::Seconds(20));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_EQ(notify.Receive(absl::Milliseconds(100)), "") << "READY=1 is sent once";
}

TEST(SystemdNotifyTest, WithoutNotifySocketNothingIsSentAndJobdRuns) {
  // The test's own environment must not leak one in.
  ASSERT_EQ(std::getenv("NOTIFY_SOCKET"), nullptr);
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  EXPECT_THAT((*agent)->Log(), ::testing::Not(HasSubstr("told systemd")));
}

}  // namespace
}  // namespace jobd::testing
