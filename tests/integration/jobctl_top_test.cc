// jobctl top on a real terminal (a pseudo-terminal of 80x24): it fits, it puts the terminal in
// raw mode, redraws on resize, quits on q and leaves the terminal as it found it.
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kClear[] = "\033[H\033[2J";

// Appends what the terminal shows to `out` until `done(out)` holds, or nothing comes for 20s.
void ReadUntil(int fd, std::string& out, const std::function<bool(const std::string&)>& done) {
  char buf[65536];
  while (!done(out)) {
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    if (poll(&p, 1, 20000) <= 0) break;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
}

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

// The last complete frame: the text between the last two clears (or after the last one).
std::vector<std::string> LastFrame(const std::string& out) {
  std::string frame = out.substr(out.rfind(kClear) + sizeof(kClear) - 1);
  frame = frame.substr(0, frame.find("\033["));  // up to the next control sequence, if any
  std::vector<std::string> lines = absl::StrSplit(frame, absl::ByAnyChar("\n"));
  for (std::string& l : lines) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
  }
  return lines;
}

TEST(JobctlTopTest, FitsTheTerminalRedrawsOnResizeQuitsOnQAndRestoresTheTerminal) {
  auto agent = AgentProcess::Start({.workers = 4});
  ASSERT_TRUE(agent.ok()) << agent.status();
  winsize size{.ws_row = 24, .ws_col = 80, .ws_xpixel = 0, .ws_ypixel = 0};
  int master = -1;
  const std::string socket = "--socket=" + (*agent)->socket_path();
  const std::string jobctl = BinDir() + "/jobctl";
  const pid_t pid = forkpty(&master, nullptr, nullptr, &size);
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // A minute between frames: any second frame below comes from a resize, not the clock.
    execl(jobctl.c_str(), "jobctl", "top", "--interval=60s", socket.c_str(), nullptr);
    _exit(127);
  }
  // The whole first frame: its last table is the slabs, folded at 24 rows.
  std::string out;
  ReadUntil(master, out, [](const std::string& s) { return s.find("more)") != std::string::npos; });
  ASSERT_THAT(out, HasSubstr("WORKER"));
  const std::vector<std::string> frame = LastFrame(out);
  EXPECT_LE(frame.size(), 24u);
  for (const std::string& line : frame) EXPECT_LE(line.size(), 80u) << line;

  termios running{};
  ASSERT_EQ(tcgetattr(master, &running), 0);
  EXPECT_EQ(running.c_lflag & ICANON, 0u) << "keys arrive without Enter";
  EXPECT_EQ(running.c_lflag & ECHO, 0u);

  size.ws_col = 120;
  size.ws_row = 40;
  ASSERT_EQ(ioctl(master, TIOCSWINSZ, &size), 0);  // the kernel sends SIGWINCH to top
  ReadUntil(master, out, [](const std::string& s) {
    return Count(s, kClear) >= 2 && s.find("64 MiB", s.rfind(kClear)) != std::string::npos;
  });
  EXPECT_EQ(Count(out, kClear), 2u) << "one redraw for the resize";
  EXPECT_THAT(out.substr(out.rfind(kClear)), HasSubstr("RUN p50")) << "the wider screen has room for every column";

  ASSERT_EQ(write(master, "q", 1), 1);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  termios after{};
  ASSERT_EQ(tcgetattr(master, &after), 0);
  EXPECT_NE(after.c_lflag & ICANON, 0u) << "the terminal is restored on exit";
  EXPECT_NE(after.c_lflag & ECHO, 0u);
  close(master);
}

}  // namespace
}  // namespace jobd::testing
