// jobd through its public SDK: the real agent with 2 jobd-testworker processes, one JobClient
// (one session) shared by every caller thread.
#include <memory>

#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/process_cpu.h"
#include "tests/integration/agent_process.h"

namespace jobd::bench {
namespace {

// Large cases hold several 32 MiB slabs at once: wait for one rather than fail, as a service
// under load would.
const client::StartOptions kOptions{.slab_wait = absl::Seconds(30)};

class JobdCaller : public Caller {
 public:
  explicit JobdCaller(client::JobClient* client) : client_(client) {}

  absl::StatusOr<size_t> Call(std::string_view request) override {
    auto future = client_->Start("bench", request, kOptions);
    if (!future.ok()) return future.status();
    absl::StatusOr<client::Response> r = future->Wait();
    if (!r.ok()) return r.status();
    if (absl::Status s = CheckBenchAnswer(request, r->view()); !s.ok()) return s;
    return r->size();
  }

  absl::Status CallMulti(std::string_view shared, const std::vector<std::string_view>& requests) override {
    std::vector<absl::StatusOr<client::JobFuture>> started = client_->StartMulti("bench-multi", shared, requests, kOptions);
    std::vector<client::JobFuture> futures;
    for (auto& f : started) {
      if (!f.ok()) return f.status();
      futures.push_back(std::move(*f));
    }
    std::vector<absl::StatusOr<client::Response>> answers = client::WaitMulti(futures);
    for (size_t i = 0; i < answers.size(); ++i) {
      if (!answers[i].ok()) return answers[i].status();
      if (absl::Status s = CheckLength(shared.size() + requests[i].size(), answers[i]->view()); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  client::JobClient* client_;
};

class JobdSystem : public BenchSystem {
 public:
  std::string name() const override { return "jobd"; }

  absl::Status Start(const SystemOptions& options) override {
    auto agent = testing::AgentProcess::Start(
        {.workers = options.workers, .extra = options.jobd_flags, .lock_order_checks = false});
    if (!agent.ok()) return agent.status();
    agent_ = std::move(*agent);
    auto client = agent_->Connect();
    if (!client.ok()) return client.status();
    client_ = std::move(*client);
    return absl::OkStatus();
  }

  absl::Status Attach(const std::string& address) override {
    auto client = client::JobClient::Connect({.socket_path = address, .client_name = "bench-session"});
    if (!client.ok()) return client.status();
    client_ = std::move(*client);
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<Caller>> NewCaller() override {
    return std::unique_ptr<Caller>(new JobdCaller(client_.get()));
  }

  void Stop() override {
    client_.reset();
    if (agent_ != nullptr) (void)agent_->Terminate();
    agent_.reset();
  }

  size_t max_request() const override { return client_ != nullptr ? client_->max_payload() : 0; }
  pid_t server_pid() const override { return agent_ != nullptr ? agent_->pid() : 0; }
  // The agent's children are the workers it preforked (replacements included).
  std::vector<pid_t> worker_pids() const override { return ChildrenOf(server_pid()); }
  std::string address() const override { return agent_ != nullptr ? agent_->socket_path() : ""; }

 private:
  std::unique_ptr<testing::AgentProcess> agent_;
  std::unique_ptr<client::JobClient> client_;
};

}  // namespace

std::unique_ptr<BenchSystem> MakeJobdSystem() { return std::make_unique<JobdSystem>(); }

}  // namespace jobd::bench
