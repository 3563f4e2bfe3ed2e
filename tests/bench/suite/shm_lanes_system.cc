// The model of docs/data-path.md's step 4 (not built: a worker serving several sessions' lanes):
// two hops and no broker. Two preforked workers; each client hands its channel (shm_model.h) to
// whichever worker accepts it, and that worker serves it from then on. A worker takes one job
// from each of its lanes in turn, answers down the lane and rings the client; when every lane is
// empty it spins (jobd's window and policy) and then sleeps on all its lanes' bells at once.
// The raw socket echo is the same shape over sockets.
#include <memory>
#include <string>
#include <vector>

#include "tests/bench/suite/bench_system.h"
#include "tests/bench/suite/child_process.h"
#include "tests/bench/suite/shm_model.h"

namespace jobd::bench {
namespace {

using model::ClientLane;

[[noreturn]] void ServeLanes(int listener) {
  model::LaneAcceptor acceptor(listener, 127);
  std::vector<ClientLane> lanes;
  std::vector<shm::Doorbell*> bells = {&acceptor.news_bell()};
  shm::SpinPolicy spin(model::kServerSpin);
  uint64_t sink = 0;
  size_t next = 0;  // where a pass starts, so that no lane always comes first
  const auto ready = [&] {
    if (acceptor.has_news()) return true;
    for (const ClientLane& l : lanes) {
      if (l.channel->up.HasData()) return true;
    }
    return false;
  };
  for (;;) {
    if (acceptor.has_news()) {
      acceptor.TakeNews(lanes);
      bells.assign(1, &acceptor.news_bell());
      for (const ClientLane& l : lanes) bells.push_back(&l.channel->header->serve_bell);
    }
    bool served = false;
    for (size_t k = 0; k < lanes.size(); ++k) {
      model::Channel& c = *lanes[(next + k) % lanes.size()].channel;
      std::string answer;
      absl::StatusOr<bool> popped = c.up.TryPop([&](std::span<const std::byte> job) {
        answer = BenchAnswer(std::string_view(reinterpret_cast<const char*>(job.data()), job.size()), &sink);
      });
      if (!popped.ok() || !*popped) continue;
      served = true;
      absl::StatusOr<bool> pushed = c.down.TryPush(std::as_bytes(std::span(answer.data(), answer.size())));
      if (pushed.ok() && *pushed) c.header->answer_bell.Ring();
    }
    if (!lanes.empty()) next = (next + 1) % lanes.size();
    if (!served) model::SpinThenSleepOnAll(spin, bells, ready);
  }
}

class ShmLanesSystem : public model::ModelSystem {
 public:
  std::string name() const override { return "model: shm lanes, no broker"; }

  absl::Status Start(const SystemOptions& options) override {
    if (absl::Status s = Listen(options.scratch_dir, "lanes.sock"); !s.ok()) return s;
    for (int w = 0; w < options.workers; ++w) workers_.push_back(ForkChild([this] { ServeLanes(listener_); }));
    return absl::OkStatus();
  }
};

}  // namespace

std::unique_ptr<BenchSystem> MakeShmLanesSystem() { return std::make_unique<ShmLanesSystem>(); }

}  // namespace jobd::bench
