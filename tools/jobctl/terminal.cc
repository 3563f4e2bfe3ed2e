#include "tools/jobctl/terminal.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <limits>

namespace jobd::jobctl {
namespace {

volatile sig_atomic_t g_resized = 0;
volatile sig_atomic_t g_stop = 0;
// The handler may run on any thread (gRPC's included), so it cannot count on interrupting the
// main thread's poll: it writes to this pipe, which the poll watches.
int g_wake[2] = {-1, -1};
struct sigaction g_saved_int, g_saved_term, g_saved_winch;

void OnSignal(int sig) {
  const int saved_errno = errno;
  if (sig == SIGWINCH) {
    g_resized = 1;
  } else {
    g_stop = 1;
  }
  if (g_wake[1] >= 0) (void)!write(g_wake[1], "x", 1);
  errno = saved_errno;
}

}  // namespace

TerminalSize CurrentTerminalSize() {
  TerminalSize size;
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
    size.width = ws.ws_col;
    size.height = ws.ws_row;
  }
  return size;
}

RawTerminal::RawTerminal() {
  g_resized = 0;
  g_stop = 0;
  if (pipe2(g_wake, O_CLOEXEC | O_NONBLOCK) != 0) g_wake[0] = g_wake[1] = -1;
  // No SA_RESTART: a signal must cut poll() short so that top reacts at once.
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_saved_int);
  sigaction(SIGTERM, &sa, &g_saved_term);
  sigaction(SIGWINCH, &sa, &g_saved_winch);
  if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_) == 0) {
    termios raw = saved_;
    raw.c_lflag &= ~(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    raw_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
}

RawTerminal::~RawTerminal() {
  if (raw_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  sigaction(SIGINT, &g_saved_int, nullptr);
  sigaction(SIGTERM, &g_saved_term, nullptr);
  sigaction(SIGWINCH, &g_saved_winch, nullptr);
  for (int& fd : g_wake) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

std::optional<char> RawTerminal::WaitForKey(absl::Duration timeout) {
  // Never negative, which poll() takes as "wait forever": a caller's `next - Now()` is negative
  // when it was preempted between its check of the time and this call.
  const int ms = static_cast<int>(std::clamp<int64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(timeout, absl::Milliseconds(1))), 0, std::numeric_limits<int>::max()));
  // Without a terminal on stdin (a pipe, /dev/null at EOF) poll would find stdin readable at
  // once: then only the wake-up pipe is watched.
  pollfd fds[2] = {{.fd = g_wake[0], .events = POLLIN, .revents = 0},
                   {.fd = STDIN_FILENO, .events = POLLIN, .revents = 0}};
  if (poll(fds, raw_ ? 2 : 1, ms) <= 0) return std::nullopt;
  char c = 0;
  if (fds[0].revents & POLLIN) {
    while (read(g_wake[0], &c, 1) == 1) {
    }
    return std::nullopt;
  }
  if (!(fds[1].revents & POLLIN) || read(STDIN_FILENO, &c, 1) != 1) return std::nullopt;
  return c;
}

bool RawTerminal::TakeResize() {
  if (g_resized == 0) return false;
  g_resized = 0;
  return true;
}

bool RawTerminal::StopRequested() const { return g_stop != 0; }

}  // namespace jobd::jobctl
