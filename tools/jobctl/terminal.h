// The terminal as top needs it: its size, keys without Enter, and a clean exit. While a
// RawTerminal lives, stdin (when it is a terminal) is in non-canonical mode without echo, and
// SIGINT, SIGTERM and SIGWINCH only set flags (read with TakeResize / StopRequested) and wake
// WaitForKey. The destructor restores the terminal's settings and the signals' dispositions.
// One at a time, from the main thread.
#pragma once

#include <termios.h>

#include <cstddef>
#include <optional>

#include "absl/time/time.h"

namespace jobd::jobctl {

struct TerminalSize {
  size_t width = 80;
  size_t height = 24;
};

// stdout's size; 80x24 when it is not a terminal.
TerminalSize CurrentTerminalSize();

class RawTerminal {
 public:
  RawTerminal();
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

  // Waits up to `timeout` for a key on stdin; nullopt on timeout, on a signal, or when stdin is
  // not a terminal (then it just sleeps, unless a signal comes).
  std::optional<char> WaitForKey(absl::Duration timeout);
  // True once after each SIGWINCH.
  bool TakeResize();
  // True after SIGINT or SIGTERM.
  bool StopRequested() const;

 private:
  bool raw_ = false;
  termios saved_{};
};

}  // namespace jobd::jobctl
