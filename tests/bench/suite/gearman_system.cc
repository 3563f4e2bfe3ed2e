// Gearman: gearmand (--threads=1) on 127.0.0.1, workers registered for "bench" and
// "bench-multi" through libgearman, callers using gearman_client_do. Gearman has no sharing,
// so a multi job carries the piece: 8 bytes of its length, the piece, the request.
#include <libgearman/gearman.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/carried_batch.h"
#include "tests/bench/suite/child_process.h"

namespace jobd::bench {
namespace {

uint64_t g_sink = 0;

void* Answer(const std::string& answer, size_t* size, gearman_return_t* ret) {
  void* out = std::malloc(answer.size());
  std::memcpy(out, answer.data(), answer.size());
  *size = answer.size();
  *ret = GEARMAN_SUCCESS;
  return out;
}

void* RunBench(gearman_job_st* job, void*, size_t* size, gearman_return_t* ret) {
  const std::string_view request(static_cast<const char*>(gearman_job_workload(job)), gearman_job_workload_size(job));
  return Answer(BenchAnswer(request, &g_sink), size, ret);
}

void* RunMulti(gearman_job_st* job, void*, size_t* size, gearman_return_t* ret) {
  const std::string_view payload(static_cast<const char*>(gearman_job_workload(job)), gearman_job_workload_size(job));
  std::string answer;
  if (!AnswerPacked(payload, &g_sink, &answer)) {
    *ret = GEARMAN_ERROR;
    return nullptr;
  }
  return Answer(answer, size, ret);
}

[[noreturn]] void Work(int port) {
  gearman_worker_st* w = gearman_worker_create(nullptr);
  if (w == nullptr || gearman_worker_add_server(w, "127.0.0.1", static_cast<in_port_t>(port)) != GEARMAN_SUCCESS) {
    _exit(1);
  }
  gearman_worker_add_function(w, "bench", 0, RunBench, nullptr);
  gearman_worker_add_function(w, "bench-multi", 0, RunMulti, nullptr);
  for (;;) {
    const gearman_return_t r = gearman_worker_work(w);
    if (r != GEARMAN_SUCCESS && r != GEARMAN_IO_WAIT && r != GEARMAN_NO_JOBS) absl::SleepFor(absl::Milliseconds(10));
  }
}

class GearmanCaller : public Caller {
 public:
  explicit GearmanCaller(int port) : port_(port), c_(gearman_client_create(nullptr)) {
    gearman_client_add_server(c_, "127.0.0.1", static_cast<in_port_t>(port));
  }
  ~GearmanCaller() override { gearman_client_free(c_); }

  absl::StatusOr<size_t> Call(std::string_view request) override {
    auto answer = Do(c_, "bench", request);
    if (!answer.ok()) return answer.status();
    if (absl::Status s = CheckBenchAnswer(request, *answer); !s.ok()) return s;
    return answer->size();
  }

  absl::Status CallMulti(std::string_view shared, const std::vector<std::string_view>& requests) override {
    const int port = port_;
    return RunCarriedBatch(shared, requests, [port](std::string_view piece, std::string_view request) {
      GearmanCaller one(port);
      return Do(one.c_, "bench-multi", PackCarried(piece, request));
    });
  }

 private:
  static absl::StatusOr<std::string> Do(gearman_client_st* c, const char* function, std::string_view payload) {
    size_t size = 0;
    gearman_return_t ret;
    void* result = gearman_client_do(c, function, nullptr, payload.data(), payload.size(), &size, &ret);
    if (ret != GEARMAN_SUCCESS) {
      std::free(result);
      return absl::UnavailableError(absl::StrCat("gearman: ", gearman_client_error(c)));
    }
    std::string out(static_cast<const char*>(result), size);
    std::free(result);
    return out;
  }

  int port_;
  gearman_client_st* c_;
};

class GearmanSystem : public BenchSystem {
 public:
  std::string name() const override { return "Gearman"; }

  absl::Status Start(const SystemOptions& options) override {
    port_ = FreeLoopbackPort();
    auto server = Spawn({"/usr/sbin/gearmand", "--threads=1", "--listen=127.0.0.1", absl::StrCat("--port=", port_),
                         "--log-file=" + options.scratch_dir + "/gearmand.log",
                         "--pid-file=" + options.scratch_dir + "/gearmand.pid"}, options.scratch_dir + "/gearmand.out");
    if (!server.ok()) return server.status();
    server_ = *server;
    // Workers that connect before gearmand listens never get their functions registered
    // (libgearman does not say CAN_DO again after a failed connect): wait for the port first.
    if (!WaitForLoopbackPort(port_, absl::Seconds(10))) return absl::UnavailableError("gearmand did not listen");
    for (int w = 0; w < options.workers; ++w) workers_.push_back(ForkChild([this] { Work(port_); }));
    GearmanCaller probe(port_);
    for (int i = 0; i < 300; ++i) {
      if (probe.Call("ready?").ok()) return absl::OkStatus();
      absl::SleepFor(absl::Milliseconds(20));
    }
    return absl::UnavailableError("gearmand did not answer");
  }

  absl::Status Attach(const std::string& address) override {
    if (!absl::SimpleAtoi(address, &port_)) return absl::InvalidArgumentError(absl::StrCat("not a port: ", address));
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Caller>> NewCaller() override {
    return std::unique_ptr<Caller>(new GearmanCaller(port_));
  }

  void Stop() override {
    for (pid_t w : workers_) StopChild(w);
    workers_.clear();
    StopChild(server_);
    server_ = 0;
  }

  // gearmand moves large payloads slowly (seen here: ~10 s for 16 MiB, growing faster than the
  // size), so the 64 MiB and the 8 x 32 MiB cases would take many minutes: reported as n/a.
  size_t max_request() const override { return size_t{16} << 20; }
  pid_t server_pid() const override { return server_; }
  std::vector<pid_t> worker_pids() const override { return workers_; }
  std::string address() const override { return std::to_string(port_); }

 private:
  int port_ = 0;
  pid_t server_ = 0;
  std::vector<pid_t> workers_;
};

}  // namespace

std::unique_ptr<BenchSystem> MakeGearmanSystem() { return std::make_unique<GearmanSystem>(); }

}  // namespace jobd::bench
