// The coordinator's share of a queued job: Submit (an idle worker takes it at once), then the
// worker's answer, then the session frees the response. This is the agent's bookkeeping on
// every job that does not take a lease; the benchmark shows what each part of it costs beside
// the same cycle without it, in the same run: remembering ended jobs for Status (the
// finished_jobs_remembered argument, 0 against the default 10,000), and a second job type.
#include <string>

#include "benchmark/benchmark.h"
#include "coordinator/coordinator.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_slab_ledger.h"

namespace {

using jobd::coordinator::Coordinator;
using jobd::coordinator::CoordinatorOptions;
using jobd::coordinator::Effects;
using jobd::coordinator::JobRequest;
using jobd::coordinator::SlabRef;

constexpr jobd::coordinator::SessionId kSession = 10;
constexpr jobd::coordinator::WorkerId kWorker = 20;

void BM_QueuedJobThroughTheCoordinator(benchmark::State& state) {
  jobd::testing::FakeClock clock;
  jobd::testing::FakeSlabLedger ledger;
  CoordinatorOptions o;
  o.finished_jobs_remembered = static_cast<size_t>(state.range(0));
  Coordinator c(o, clock, ledger);
  c.OpenSession(kSession);
  if (!c.AddWorker(kWorker, {"noop", "resize"}).ok()) state.SkipWithError("AddWorker failed");
  const std::string type = state.range(1) == 0 ? "noop" : "resize";
  jobd::coordinator::JobId id = 0;
  for (auto _ : state) {
    JobRequest r;
    r.id = ++id;
    r.session = kSession;
    r.type = type;
    r.request = {ledger.Allocate(kSession), 64};
    r.timeout = absl::Seconds(10);
    absl::StatusOr<Effects> submitted = c.Submit(std::move(r));
    if (!submitted.ok() || submitted->dispatches.size() != 1) {
      state.SkipWithError("the job was not dispatched");
      break;
    }
    clock.Advance(absl::Microseconds(3));
    absl::StatusOr<Effects> ended = c.JobFinished(kWorker, id, SlabRef{ledger.Allocate(kWorker), 8});
    if (!ended.ok() || ended->completions.size() != 1) {
      state.SkipWithError("the job did not complete");
      break;
    }
    (void)ledger.Free(ended->completions[0].response.handle, kSession);
  }
  state.SetItemsProcessed(state.iterations());
}
// {remembered, type}: type 0 is "noop", 1 "resize" (a second type in the tables).
BENCHMARK(BM_QueuedJobThroughTheCoordinator)->Args({0, 0})->Args({10000, 0})->Args({10000, 1});

}  // namespace

BENCHMARK_MAIN();
