// jobctl --json: one JSON object per line, one shape per view, numbers as JSON numbers.
//   stats   {"types":[...],"queue":{...},"sessions":N,"uptime_s":N}
//   slabs   {"arena":{"path","bytes"},"classes":[...]}
//   workers {"workers":[{"worker":SLOT,...}]}
//   status  {"job":{...}}
//   health  {"health":{...}}
//   submit  {"result":{...}}
//   drain   {"drain":{...}}
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "proto/jobd.pb.h"

namespace jobd::jobctl {

std::string StatsJson(const v1::StatsReply& stats);
std::string SlabsJson(const v1::StatsReply& stats);
std::string WorkersJson(const v1::StatsReply& stats);
// {"memory_budget","committed_bytes","sessions":[{"session","name","pid","uid","gid","slabs_in_use",...}]}
std::string SessionsJson(const v1::StatsReply& stats);
std::string JobJson(const v1::JobStatusReply& job);
std::string HealthJson(const v1::HealthReply& health);

// What submit printed: the response (as text; bytes that are not UTF-8 become U+FFFD) or why
// the job failed.
struct SubmitResult {
  uint64_t job_id = 0;  // 0: the job could not start
  std::string type;
  std::string outcome;  // ok, rejected, deadline_exceeded, worker_died, handler_error, ...
  std::string message;  // when not ok
  absl::string_view response;
  int64_t elapsed_us = 0;
};
std::string SubmitJson(const SubmitResult& result);

// Where a drain stands: "draining" (jobs left), "drained" (none left) or "exited" (jobd gone).
struct DrainProgress {
  std::string state;
  uint64_t queued = 0;
  uint64_t running = 0;
  uint32_t workers = 0;
  uint32_t workers_busy = 0;
};
std::string DrainJson(const DrainProgress& progress);
DrainProgress ProgressOf(const v1::StatsReply& stats);

}  // namespace jobd::jobctl
