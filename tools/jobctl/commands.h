// The jobctl subcommands. Each returns the process's exit status: 0 ok, 1 the agent said no or
// is not there, 2 bad usage; each prints its own errors on stderr.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "proto/jobd.grpc.pb.h"

namespace jobd::jobctl {

struct Options {
  std::string socket;  // resolved: --socket, $JOBD_SOCKET or the default
  bool json = false;
  absl::Duration timeout = absl::Seconds(10);
  absl::Duration interval = absl::Seconds(1);  // top and drain --wait
};

std::unique_ptr<v1::Jobd::Stub> Connect(const Options& options);
// "jobctl: <what>" on stderr; returns 1.
int Fail(const std::string& what);

int Health(const Options& options);
// view: stats, slabs or workers.
int Stats(const Options& options, const std::string& view);
int JobStatus(const Options& options, uint64_t job_id);
int Drain(const Options& options, bool wait);
// iterations 0: until q, Ctrl-C or SIGTERM.
int Top(const Options& options, int iterations);
// payload from `data`, else the file at `file`, else stdin.
int Submit(const Options& options, const std::string& type, const std::string& data, const std::string& file);

}  // namespace jobd::jobctl
