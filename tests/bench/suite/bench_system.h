// One system in the comparison suite (jobd, gRPC unary, a Redis list queue, Gearman, and the
// raw Unix-socket echo that is the two-hop floor): started
// once with its worker processes, then asked for callers, one per job in flight. Every system
// runs the same handler in the same number of worker processes:
//   the handler of agent/testworker/bench_handler.h (echo up to 64 KiB, else the length);
//   start-multi: 8 jobs share one 32 MiB piece; each answers the piece's length plus its own
//   request's. A system without sharing sends the piece with each job.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/testworker/bench_handler.h"

namespace jobd::bench {

struct SystemOptions {
  int workers = 2;
  std::string scratch_dir;  // a fresh directory the system may use for sockets and files
  std::vector<std::string> jobd_flags;  // more flags for the jobd agent (e.g. --spin_us=0); jobd only
  int64_t model_broker_work_ns = 0;     // CPU the broker models burn per job they relay (relay, direct)
};

// One connection or session slot; used by one thread at a time.
class Caller {
 public:
  virtual ~Caller() = default;
  // One "bench" job: sends `request`, waits for the answer, checks it (echo or length) and
  // returns the answer's size. A wrong answer is an error, never a number.
  virtual absl::StatusOr<size_t> Call(std::string_view request) = 0;
  // One start-multi batch: every request with the shared piece; returns when all have answered
  // (and every answer was checked).
  virtual absl::Status CallMulti(std::string_view shared, const std::vector<std::string_view>& requests) = 0;
};

class BenchSystem {
 public:
  virtual ~BenchSystem() = default;
  virtual std::string name() const = 0;
  // Starts servers and worker processes; idempotent failure leaves nothing running.
  virtual absl::Status Start(const SystemOptions& options) = 0;
  virtual absl::StatusOr<std::unique_ptr<Caller>> NewCaller() = 0;
  // Stops everything Start started, by PID. Safe to call twice.
  virtual void Stop() = 0;
  // The largest request this system can carry (cases above it are reported as "n/a").
  virtual size_t max_request() const = 0;
  // The process that coordinates (agent, broker, server), for its CPU time and RSS; 0: none.
  virtual pid_t server_pid() const { return 0; }
  // The worker processes that run the handler, for their CPU time; empty when the handler runs
  // inside the server process (gRPC). Read again for each case: workers may be replaced.
  virtual std::vector<pid_t> worker_pids() const = 0;

  // What a caller in another process needs to reach this started system (a socket path, a
  // port): the many-session cases exec fresh client processes, since a process that already
  // runs gRPC threads cannot safely use gRPC in a forked child.
  virtual std::string address() const = 0;
  // In such a fresh process: makes NewCaller reach the system at `address` that another
  // process started. Stop then stops nothing.
  virtual absl::Status Attach(const std::string& address) = 0;
};

// Factories, one per system (each in its own file). Return nullptr when the system cannot run
// on this machine (say why on stderr), e.g. the server binary is missing.
std::unique_ptr<BenchSystem> MakeJobdSystem();
std::unique_ptr<BenchSystem> MakeGrpcUnarySystem();
std::unique_ptr<BenchSystem> MakeRedisSystem();
std::unique_ptr<BenchSystem> MakeGearmanSystem();
std::unique_ptr<BenchSystem> MakeRawEchoSystem();
// Not job systems: models of the data path's shapes over jobd's rings (shm_model.h), not run by
// default. Lanes: two hops, workers serving every client's channel (shm_lanes_system.cc); relay:
// a broker on four hops; direct: a broker on the way in, answers from the worker
// (shm_broker_system.cc).
std::unique_ptr<BenchSystem> MakeShmLanesSystem();
std::unique_ptr<BenchSystem> MakeShmRelaySystem();
std::unique_ptr<BenchSystem> MakeShmDirectSystem();

// By the suite's id: jobd, grpc, redis, gearman, raw, lanes, relay, direct; nullptr when unknown or not built.
std::unique_ptr<BenchSystem> MakeSystem(const std::string& id);

}  // namespace jobd::bench
