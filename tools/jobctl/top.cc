// jobctl top: the agent's stats, workers and slabs on one screen, redrawn every --interval, on
// resize and until q.
#include <unistd.h>

#include <iostream>

#include "grpcpp/grpcpp.h"
#include "tools/jobctl/commands.h"
#include "tools/jobctl/terminal.h"
#include "tools/jobctl/top_screen.h"

namespace jobd::jobctl {

int Top(const Options& o, int iterations) {
  std::unique_ptr<v1::Jobd::Stub> stub = Connect(o);
  const bool tty = isatty(STDOUT_FILENO) != 0;
  RawTerminal terminal;
  // The alternate screen, like top and less: the shell's screen comes back on exit.
  if (tty) std::cout << "\033[?1049h\033[?25l";
  for (int frame = 0; iterations == 0 || frame < iterations; ++frame) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + o.timeout));
    v1::StatsReply reply;
    const grpc::Status st = stub->Stats(&ctx, v1::StatsRequest(), &reply);
    if (!st.ok()) {
      if (tty) std::cout << "\033[?25h\033[?1049l" << std::flush;
      return Fail("no agent at " + o.socket + ": " + st.error_message());
    }
    const TerminalSize size = CurrentTerminalSize();
    const std::string title =
        "jobd " + o.socket + "   " + absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone()) + "   (q quits)";
    if (tty) {
      std::cout << "\033[H\033[2J" << FormatTopScreen(reply, title, size.width, size.height) << std::flush;
    } else {
      std::cout << (frame > 0 ? "\n" : "") << FormatTopScreen(reply, title, size.width, size.height) << "\n"
                << std::flush;
    }
    if (iterations != 0 && frame + 1 >= iterations) break;
    // Sleep until the next frame, a key, a resize (redraw now) or a stop.
    const absl::Time next = absl::Now() + o.interval;
    bool quit = false;
    while (!quit && absl::Now() < next) {
      const std::optional<char> key = terminal.WaitForKey(next - absl::Now());
      if (terminal.StopRequested() || (key.has_value() && (*key == 'q' || *key == 'Q'))) quit = true;
      if (terminal.TakeResize()) break;
    }
    if (quit) break;
  }
  if (tty) std::cout << "\033[?25h\033[?1049l" << std::flush;
  return 0;
}

}  // namespace jobd::jobctl
