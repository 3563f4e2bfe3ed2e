// The floors every other number is read against: a Unix-socket ping-pong between two processes
// (on one CPU and on two) and memcpy.
#pragma once

#include <cstddef>

namespace jobd::bench {

struct PingPong {
  double p50_us = 0, p99_us = 0;
};

// 64-byte ping-pong over a socketpair; cpu_a/cpu_b pin the two ends (-1: leave as is).
PingPong SocketPingPong(int iterations, int cpu_a, int cpu_b);

// Median milliseconds to copy `bytes` between two warm buffers.
double MemcpyMillis(size_t bytes);

}  // namespace jobd::bench
