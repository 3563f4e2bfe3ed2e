// One frame of `jobctl top`: title, summary, per-type table, workers and slabs, fitted to a
// terminal of `width` x `height`: every line at most `width` characters, at most `height`
// lines, no newline after the last (so the terminal never scrolls). Tables too long for the
// screen share the rows left and fold the rest into "(N more)".
#pragma once

#include <cstddef>
#include <string>

#include "proto/jobd.pb.h"

namespace jobd::jobctl {

std::string FormatTopScreen(const v1::StatsReply& stats, const std::string& title, size_t width, size_t height);

}  // namespace jobd::jobctl
