// Thousands of random events against the coordinator: every job gets exactly one final
// completion, a delivered response belongs to its session, and when everything has ended
// nothing is held on a job's behalf.
#include <random>
#include <set>

#include "tests/coordinator/coordinator_test_base.h"

namespace jobd::coordinator {
namespace {

TEST_F(CoordinatorTest, RandomEventsKeepEveryJobToOneCompletionAndEverySlabToOneOwner) {
  CoordinatorOptions o;
  o.grace = absl::Milliseconds(50);
  o.max_queue = 50;
  o.worker_max_jobs = 7;
  Make(o);
  std::mt19937 rng(20261123);
  std::set<SessionId> open = {kS, kS2};
  SessionId next_session = 100;
  WorkerId next_worker = 1000;
  std::set<WorkerId> workers;
  std::map<JobId, int> completions;
  std::set<JobId> submitted;
  JobId next_job = 1;

  auto absorb = [&](const Effects& fx) {
    for (const Completion& c : fx.completions) {
      ++completions[c.id];
      if (c.deliver && c.response.present()) {
        EXPECT_EQ(ledger_.OwnerOf(c.response.handle), c.session);
        EXPECT_TRUE(ledger_.Free(c.response.handle, c.session).ok());  // as the client would
      }
    }
  };
  auto busy_workers = [&] {
    std::vector<WorkerInfo> busy;
    for (const WorkerInfo& w : c_->Workers()) {
      if (w.state == WorkerState::kBusy || (w.state == WorkerState::kDraining && w.job != 0)) busy.push_back(w);
    }
    return busy;
  };

  for (int step = 0; step < 4000; ++step) {
    switch (rng() % 9) {
      case 0:
      case 1: {  // submit
        if (open.empty()) break;
        auto it = open.begin();
        std::advance(it, rng() % open.size());
        JobRequest r = Req(next_job++, rng() % 5 == 0 ? "sleep" : "echo", *it,
                           absl::Milliseconds(20 + rng() % 200));
        r.policy = static_cast<Policy>(rng() % 3);
        r.retry.max_attempts = 1 + rng() % 3;
        r.retry.retry_handler_errors = rng() % 2;
        const JobId id = r.id;
        const shm::Handle request = r.request.handle;
        auto fx = c_->Submit(std::move(r));
        if (fx.ok()) {
          submitted.insert(id);
          absorb(*fx);
        } else {
          EXPECT_EQ(ledger_.OwnerOf(request), *it) << "a rejected request stays with its session";
          EXPECT_TRUE(ledger_.Free(request, *it).ok());
        }
        break;
      }
      case 2:
        if (workers.size() < 3) {
          workers.insert(next_worker);
          absorb(AddWorker(next_worker++));
        }
        break;
      case 3:
        if (!workers.empty()) {
          auto it = workers.begin();
          std::advance(it, rng() % workers.size());
          const WorkerId w = *it;
          workers.erase(it);
          absorb(c_->WorkerGone(w));
          ledger_.Free(shm::Handle(), w).IgnoreError();
        }
        break;
      case 4:
      case 5: {  // a busy worker finishes
        auto busy = busy_workers();
        if (busy.empty()) break;
        const WorkerInfo w = busy[rng() % busy.size()];
        absl::StatusOr<Effects> fx = rng() % 4 == 0
                                         ? c_->JobFinished(w.id, w.job, absl::InternalError("boom"))
                                         : c_->JobFinished(w.id, w.job, SlabRef{ledger_.Allocate(w.id), 8});
        ASSERT_TRUE(fx.ok()) << fx.status();
        absorb(*fx);
        break;
      }
      case 6: {  // an early response (fails unless ManualRespond and not yet answered)
        auto busy = busy_workers();
        if (busy.empty()) break;
        const WorkerInfo w = busy[rng() % busy.size()];
        const shm::Handle h = ledger_.Allocate(w.id);
        auto fx = c_->EarlyResponse(w.id, w.job, SlabRef{h, 4});
        if (fx.ok()) absorb(*fx); else EXPECT_TRUE(ledger_.Free(h, w.id).ok());
        break;
      }
      case 7: {  // cancel or close a session
        if (rng() % 4 == 0 && !open.empty()) {
          const SessionId s = *open.begin();
          open.erase(open.begin());
          absorb(c_->CloseSession(s));
          c_->OpenSession(next_session);
          open.insert(next_session++);
        } else if (next_job > 1) {
          const JobId id = 1 + rng() % (next_job - 1);
          for (SessionId s : open) {
            auto fx = c_->Cancel(s, id);
            if (fx.ok()) absorb(*fx);
          }
        }
        break;
      }
      case 8:
        clock_.Advance(absl::Milliseconds(rng() % 60));
        absorb(c_->Tick());
        break;
    }
    for (const auto& [id, n] : completions) ASSERT_LE(n, 1) << "job " << id << " completed twice at step " << step;
  }
  // Wind down: every worker dies (they may have been told to die), time runs out for the rest.
  for (int round = 0; round < 50 && c_->LiveJobs() > 0; ++round) {
    for (const WorkerInfo& w : c_->Workers()) absorb(c_->WorkerGone(w.id));
    clock_.Advance(absl::Seconds(1));
    absorb(c_->Tick());
    if (c_->LiveJobs() > 0) absorb(AddWorker(next_worker++));
  }
  for (const WorkerInfo& w : c_->Workers()) absorb(c_->WorkerGone(w.id));
  absorb(c_->Tick());
  EXPECT_EQ(c_->LiveJobs(), 0u);
  for (JobId id : submitted) EXPECT_EQ(completions[id], 1) << "job " << id;
  EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u) << "nothing is held for a job that has ended";
  EXPECT_GT(submitted.size(), 300u);
}

}  // namespace
}  // namespace jobd::coordinator
