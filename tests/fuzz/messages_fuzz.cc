// Client messages as the agent handles them: bytes -> ClientMessage -> DecodeSubmit ->
// Coordinator, with workers answering, timing out and dying in between. The coordinator must
// never hand out a job twice, complete one twice, or keep a slab for a job that has ended.
#include <map>

#include "agent/submit_decoder.h"
#include "coordinator/coordinator.h"
#include "proto/jobd.pb.h"
#include "tests/fakes/fake_clock.h"
#include "tests/fakes/fake_slab_ledger.h"

using namespace jobd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  testing::FakeClock clock;
  testing::FakeSlabLedger ledger;
  coordinator::CoordinatorOptions options;
  options.grace = absl::Milliseconds(10);
  options.max_queue = 8;
  coordinator::Coordinator c(options, clock, ledger);
  constexpr coordinator::SessionId kSession = 7;
  c.OpenSession(kSession);
  (void)c.AddWorker(100, {"echo", "sleep"});
  std::map<coordinator::JobId, int> completions;
  auto absorb = [&](const coordinator::Effects& fx) {
    for (const auto& done : fx.completions) {
      if (++completions[done.id] > 1) std::abort();
      if (done.deliver && done.response.present()) (void)ledger.Free(done.response.handle, done.session);
    }
  };
  // The input is a sequence of length-prefixed ClientMessages.
  size_t i = 0;
  while (i + 1 < size) {
    const size_t len = std::min<size_t>(data[i], size - i - 1);
    v1::ClientMessage msg;
    const bool parsed = msg.ParseFromArray(data + i + 1, static_cast<int>(len));
    const uint8_t event = data[i];
    i += 1 + len;
    if (parsed && msg.has_submit()) {
      v1::Submit s = msg.submit();
      // Often give the request a real slab of the session's, so the fuzzer gets past the ledger.
      if (event & 1) s.mutable_request()->set_handle(ledger.Allocate(kSession).bits());
      auto request = agent::DecodeSubmit(kSession, s);
      if (!request.ok()) continue;
      const shm::Handle h = request->request.handle;
      auto fx = c.Submit(std::move(*request));
      if (fx.ok()) {
        absorb(*fx);
      } else if (!h.is_null() && ledger.OwnerOf(h) == kSession) {
        (void)ledger.Free(h, kSession);  // a refused request stays the caller's
      }
    }
    switch (event % 5) {
      case 0: {
        for (const auto& w : c.Workers()) {
          if (w.job != 0) {
            auto fx = c.JobFinished(w.id, w.job, coordinator::SlabRef{ledger.Allocate(w.id), 1});
            if (fx.ok()) absorb(*fx);
          }
        }
        break;
      }
      case 1:
        clock.Advance(absl::Milliseconds(event));
        absorb(c.Tick());
        break;
      case 2:
        for (const auto& w : c.Workers()) absorb(c.WorkerGone(w.id));
        (void)c.AddWorker(100 + event, {"echo"});
        break;
      default:
        break;
    }
  }
  absorb(c.CloseSession(kSession));
  for (int round = 0; round < 5; ++round) {
    for (const auto& w : c.Workers()) absorb(c.WorkerGone(w.id));
    clock.Advance(absl::Hours(48));
    absorb(c.Tick());
  }
  if (c.LiveJobs() != 0 || ledger.CountOwnedBy(shm::kAgentOwner) != 0) std::abort();
  return 0;
}
