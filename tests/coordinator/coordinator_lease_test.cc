// Leases: when a worker is leased to a session instead of going idle, when the lease is taken
// back, and that a leased worker gets no dispatches.
#include "tests/coordinator/coordinator_test_base.h"

namespace jobd::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

class CoordinatorLeaseTest : public CoordinatorTest {
 protected:
  void SetUp() override { MakeLeasing(); }
  // Leases on (quiet 1 s, idle 2 s), both sessions eligible.
  void MakeLeasing(uint32_t worker_max_jobs = 0) {
    CoordinatorOptions o;
    o.leases = true;
    o.lease_quiet = absl::Seconds(1);
    o.lease_idle = absl::Seconds(2);
    o.worker_max_jobs = worker_max_jobs;
    Make(o);
    c_->SetLeaseEligible(kS, true);
    c_->SetLeaseEligible(kS2, true);
  }
  // One job of `session` runs on `worker` (the pool's pick must be it) and ends.
  Effects RunOne(WorkerId worker, JobId id, SessionId session = kS) {
    Effects d = Submit(Req(id, "echo", session));
    EXPECT_THAT(DispatchedIds(d), ElementsAre(id));
    if (d.dispatches.empty()) return {};
    EXPECT_EQ(d.dispatches[0].worker, worker) << "the most recently idle worker takes a new job";
    return Finish(worker, id);
  }
  Effects AddWorker(WorkerId w, std::vector<std::string> types = {"echo", "sleep"}) {
    auto fx = c_->AddWorker(w, std::move(types), /*takes_leases=*/true);
    EXPECT_TRUE(fx.ok()) << fx.status();
    return fx.ok() ? std::move(*fx) : Effects();
  }
  static std::vector<std::pair<WorkerId, SessionId>> Grants(const Effects& fx) {
    std::vector<std::pair<WorkerId, SessionId>> out;
    for (const auto& g : fx.grants) out.push_back({g.worker, g.session});
    return out;
  }
  static std::vector<std::pair<WorkerId, SessionId>> Revokes(const Effects& fx) {
    std::vector<std::pair<WorkerId, SessionId>> out;
    for (const auto& r : fx.revokes) out.push_back({r.worker, r.session});
    return out;
  }
};

TEST_F(CoordinatorLeaseTest, AWorkerWhoseSimpleJobEndedIsLeasedToThatSession) {
  AddWorker(kW1);
  Effects fx = RunOne(kW1, 1);
  EXPECT_THAT(Grants(fx), ElementsAre(std::pair{kW1, kS}));
  EXPECT_EQ(OnlyCompletion(fx).outcome, Outcome::kOk) << "the job itself is answered as usual";
  const WorkerInfo w = WorkerNamed(kW1);
  EXPECT_EQ(w.state, WorkerState::kLeased);
  EXPECT_EQ(w.leased_to, kS);
  EXPECT_FALSE(w.revoking);
  EXPECT_EQ(c_->LeasedTo(kW1), kS);
}

TEST_F(CoordinatorLeaseTest, NoLeaseWhenOffIneligibleOrTheSessionHoldsOneAlready) {
  CoordinatorOptions off;
  Make(off);
  c_->SetLeaseEligible(kS, true);
  AddWorker(kW1);
  EXPECT_THAT(Grants(RunOne(kW1, 1)), IsEmpty()) << "leases are off by default";
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);

  SetUp();
  c_->SetLeaseEligible(kS2, false);
  AddWorker(kW1);
  AddWorker(kW2);
  EXPECT_THAT(Grants(RunOne(kW2, 1, kS2)), IsEmpty()) << "a session not marked eligible";
  EXPECT_THAT(Grants(RunOne(kW2, 2)), ElementsAre(std::pair{kW2, kS}));
  EXPECT_THAT(Grants(RunOne(kW1, 3)), IsEmpty()) << "one lease per session";
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);
}

TEST_F(CoordinatorLeaseTest, NoLeaseForOtherPoliciesOrWhileJobsHaveQueuedRecently) {
  AddWorker(kW1);
  Submit(Req(1, Policy::kManualRespond));
  EXPECT_THAT(Grants(Finish(kW1, 1)), IsEmpty()) << "only Simple jobs lead to a lease";

  // Two jobs, one worker: the second queues, so no lease for a second after.
  Submit(Req(2));
  Submit(Req(3));
  EXPECT_THAT(Grants(Finish(kW1, 2)), IsEmpty()) << "job 3 was waiting for this worker";
  EXPECT_THAT(Grants(Finish(kW1, 3)), IsEmpty()) << "a job queued less than lease_quiet ago";
  clock_.Advance(absl::Seconds(1));
  EXPECT_THAT(Grants(RunOne(kW1, 4)), ElementsAre(std::pair{kW1, kS}));
}

TEST_F(CoordinatorLeaseTest, ALeasedWorkerGetsNoDispatchAndIsRevokedWhenAJobMustQueue) {
  AddWorker(kW1);
  RunOne(kW1, 1);
  Effects fx = Submit(Req(2, "echo", kS2));
  EXPECT_THAT(DispatchedIds(fx), IsEmpty()) << "the only worker is leased";
  EXPECT_EQ(c_->QueueDepth(), 1u);
  EXPECT_THAT(Revokes(fx), ElementsAre(std::pair{kW1, kS}));
  EXPECT_TRUE(WorkerNamed(kW1).revoking);
  EXPECT_THAT(Revokes(Submit(Req(3, "echo", kS2))), IsEmpty()) << "one revoke is already out";

  auto released = c_->LeaseReleased(kW1);
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_THAT(DispatchedIds(*released), ElementsAre(2)) << "the released worker takes the queued job";
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kBusy);
  EXPECT_EQ(c_->LeasedTo(kW1), 0u);
  EXPECT_EQ(c_->LeaseReleased(kW1).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CoordinatorLeaseTest, NoLeaseIsTakenBackWhileThePoolsOwnWorkersCanTakeTheQueueInOneRound) {
  AddWorker(kW1);
  AddWorker(kW2);
  EXPECT_THAT(Grants(RunOne(kW2, 1)), ElementsAre(std::pair{kW2, kS}));
  EXPECT_THAT(DispatchedIds(Submit(Req(2, "echo", kS2))), ElementsAre(2)) << "to the pool's worker";
  // One job waits for the one busy worker of the pool: it will take it next.
  Effects fx = Submit(Req(3, "echo", kS2));
  EXPECT_EQ(c_->QueueDepth(), 1u);
  EXPECT_THAT(Revokes(fx), IsEmpty()) << "one queued job, one worker outside leases";
  EXPECT_EQ(WorkerNamed(kW2).state, WorkerState::kLeased);
  // Two wait for it: more than the pool takes in one round, so a lease goes back.
  EXPECT_THAT(Revokes(Submit(Req(4, "echo", kS2))), ElementsAre(std::pair{kW2, kS}));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 2)), ElementsAre(3)) << "the pool's worker takes the next in line";
}

TEST_F(CoordinatorLeaseTest, APoolWorkerOnItsWayOutDoesNotCountAgainstTakingALeaseBack) {
  AddWorker(kW1);
  AddWorker(kW2);
  RunOne(kW2, 1);
  Submit(Req(2, "echo", kS2));
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kBusy);
  c_->RetireWorker(kW1, KillReason::kMemory);  // stopped once job 2 ends: it takes no queued job
  EXPECT_THAT(Revokes(Submit(Req(3, "echo", kS2))), ElementsAre(std::pair{kW2, kS}));
}

TEST_F(CoordinatorLeaseTest, APoolWorkerBusyWithALongJobDoesNotCountAgainstTakingALeaseBack) {
  AddWorker(kW1);
  AddWorker(kW2);
  RunOne(kW2, 1);
  // 'sleep' has no short recent run: the pool's worker may be busy with it for long.
  EXPECT_THAT(DispatchedIds(Submit(Req(2, "sleep", kS2))), ElementsAre(2));
  EXPECT_THAT(Revokes(Submit(Req(3, "echo", kS2))), ElementsAre(std::pair{kW2, kS}));

  // The same with a job of a short type that has run longer than a short job does.
  SetUp();
  AddWorker(kW1);
  AddWorker(kW2);
  RunOne(kW2, 1);
  Submit(Req(2, "echo", kS2));
  clock_.Advance(absl::Milliseconds(50));
  EXPECT_THAT(Revokes(Submit(Req(3, "echo", kS2))), ElementsAre(std::pair{kW2, kS}));
}

TEST_F(CoordinatorLeaseTest, AJobOfAnotherTypeDoesNotRevoke) {
  AddWorker(kW1, {"echo"});
  AddWorker(kW2, {"sleep"});
  RunOne(kW1, 1);
  Submit(Req(2, "sleep"));
  Effects fx = Submit(Req(3, "sleep"));
  EXPECT_THAT(Revokes(fx), IsEmpty()) << "the leased worker does not handle 'sleep'";
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kLeased);
}

TEST_F(CoordinatorLeaseTest, LaneActivityOfATypeTheWorkerDoesNotHandleOrOfNoLeaseIsIgnored) {
  AddWorker(kW1);
  EXPECT_FALSE(c_->LaneActivity(kW1, "echo", /*job_ended=*/true)) << "no lease yet";
  RunOne(kW1, 1);
  clock_.Advance(absl::Milliseconds(1500));
  EXPECT_FALSE(c_->LaneActivity(kW1, "resize", /*job_ended=*/false)) << "kW1 handles echo and sleep";
  EXPECT_FALSE(c_->LaneActivity(kW3, "echo", /*job_ended=*/false)) << "no such worker";
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_THAT(Revokes(c_->Tick()), ElementsAre(std::pair{kW1, kS})) << "the ignored report kept nothing alive";
}

TEST_F(CoordinatorLeaseTest, AnIdleLeaseIsRevokedAfterLeaseIdleAndLaneActivityKeepsItAlive) {
  AddWorker(kW1);
  RunOne(kW1, 1);
  ASSERT_TRUE(c_->NextWakeup().has_value());
  EXPECT_EQ(*c_->NextWakeup(), clock_.Now() + absl::Seconds(2));
  clock_.Advance(absl::Milliseconds(1500));
  EXPECT_TRUE(c_->LaneActivity(kW1, "echo", /*job_ended=*/false));
  clock_.Advance(absl::Milliseconds(1500));
  EXPECT_THAT(Revokes(c_->Tick()), IsEmpty()) << "a lane job 1.5 s ago";
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_THAT(Revokes(c_->Tick()), ElementsAre(std::pair{kW1, kS}));
  EXPECT_FALSE(c_->NextWakeup().has_value()) << "a revoking lease has no timer";
  ASSERT_TRUE(c_->LeaseReleased(kW1).ok());
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);
}

TEST_F(CoordinatorLeaseTest, LaneJobsCountInStatsAndStatus) {
  AddWorker(kW1);
  RunOne(kW1, 1);
  c_->RecordLaneJob(77, "echo", Outcome::kOk, absl::Microseconds(300));
  c_->RecordLaneJob(78, "echo", Outcome::kHandlerError, absl::Microseconds(10));
  const TypeStats& ts = c_->Stats().at("echo");
  EXPECT_EQ(ts.submitted, 3u);
  EXPECT_EQ(ts.outcomes.at(Outcome::kOk), 2u);
  EXPECT_EQ(ts.outcomes.at(Outcome::kHandlerError), 1u);
  auto st = c_->Status(78);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state, JobState::kFailed);
  EXPECT_EQ(st->outcome, Outcome::kHandlerError);
  EXPECT_EQ(c_->LiveJobs(), 0u) << "lane jobs never enter the job table";
}

TEST_F(CoordinatorLeaseTest, ClosingTheSessionRevokesAndTheReleaseMakesTheWorkerIdle) {
  AddWorker(kW1);
  RunOne(kW1, 1);
  EXPECT_THAT(Revokes(c_->CloseSession(kS)), ElementsAre(std::pair{kW1, kS}));
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kLeased) << "until the worker says it let go";
  auto fx = c_->LeaseReleased(kW1);
  ASSERT_TRUE(fx.ok());
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);
  c_->SetLeaseEligible(kS, true);  // a mark that races the close changes nothing
  EXPECT_THAT(DispatchedIds(Submit(Req(2, "echo", kS2))), ElementsAre(2));
}

TEST_F(CoordinatorLeaseTest, ARetiredLeasedWorkerIsRevokedThenKilledOnRelease) {
  AddWorker(kW1);
  RunOne(kW1, 1);
  Effects fx = c_->RetireWorker(kW1, KillReason::kMemory);
  EXPECT_THAT(Revokes(fx), ElementsAre(std::pair{kW1, kS}));
  EXPECT_THAT(KilledWorkers(fx), IsEmpty()) << "it may be writing an answer into the lane";
  auto released = c_->LeaseReleased(kW1);
  ASSERT_TRUE(released.ok());
  ASSERT_EQ(released->kills.size(), 1u);
  EXPECT_EQ(released->kills[0].worker, kW1);
  EXPECT_EQ(released->kills[0].reason, KillReason::kMemory);
  EXPECT_THAT(DispatchedIds(*released), IsEmpty());
}

TEST_F(CoordinatorLeaseTest, ALeasedWorkerThatDiesFailsNoJobAndFreesTheSessionForANewLease) {
  AddWorker(kW1);
  AddWorker(kW2);
  RunOne(kW2, 1);
  Effects gone = c_->WorkerGone(kW2);
  EXPECT_THAT(gone.completions, IsEmpty()) << "lane jobs are the agent's to settle";
  EXPECT_EQ(c_->LeasedTo(kW2), 0u);
  EXPECT_THAT(Grants(RunOne(kW1, 2)), ElementsAre(std::pair{kW1, kS}));
}

TEST_F(CoordinatorLeaseTest, RevokeAllLeasesRevokesEachOnce) {
  AddWorker(kW1);
  AddWorker(kW2);
  RunOne(kW2, 1, kS);
  RunOne(kW1, 2, kS2);
  EXPECT_EQ(c_->RevokeAllLeases().revokes.size(), 2u);
  EXPECT_TRUE(c_->RevokeAllLeases().revokes.empty());
}

TEST_F(CoordinatorLeaseTest, RevokeLeaseRevokesThatWorkersLeaseOnceAndNoOther) {
  AddWorker(kW1);
  AddWorker(kW2);
  RunOne(kW2, 1, kS);
  RunOne(kW1, 2, kS2);
  Effects fx = c_->RevokeLease(kW2);
  ASSERT_EQ(fx.revokes.size(), 1u);
  EXPECT_EQ(fx.revokes[0].worker, kW2);
  EXPECT_EQ(fx.revokes[0].session, kS);
  EXPECT_TRUE(c_->RevokeLease(kW2).revokes.empty()) << "one revoke out at a time";
  EXPECT_EQ(c_->LeasedTo(kW1), kS2) << "the other lease stays";
  ASSERT_TRUE(c_->LeaseReleased(kW2).ok());
  EXPECT_TRUE(c_->RevokeLease(kW2).revokes.empty()) << "no lease left to revoke";
  EXPECT_TRUE(c_->RevokeLease(WorkerId{99}).revokes.empty()) << "an unknown worker";
}

TEST_F(CoordinatorLeaseTest, AWorkerThatDoesNotServeLeasesIsNeverLeased) {
  ASSERT_TRUE(c_->AddWorker(kW1, {"echo"}).ok());  // takes_leases defaults to false
  EXPECT_THAT(Grants(RunOne(kW1, 1)), IsEmpty());
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);
}

TEST_F(CoordinatorLeaseTest, LaneJobsCountTowardRecyclingWhichComesWhenTheLeaseIsGivenBack) {
  MakeLeasing(/*worker_max_jobs=*/4);
  AddWorker(kW1);
  Effects fx = RunOne(kW1, 1);
  ASSERT_EQ(fx.grants.size(), 1u);
  EXPECT_EQ(fx.grants[0].jobs_left, 3u) << "one of its four jobs is done";
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(c_->LaneActivity(kW1, "echo", /*job_ended=*/true));
  EXPECT_EQ(WorkerNamed(kW1).jobs_done, 4u);
  auto released = c_->LeaseReleased(kW1);
  ASSERT_TRUE(released.ok());
  ASSERT_EQ(released->kills.size(), 1u);
  EXPECT_EQ(released->kills[0].reason, KillReason::kRecycle);
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kDraining);
}

TEST_F(CoordinatorLeaseTest, AWorkerWithOneJobLeftBeforeRecyclingIsNotLeased) {
  MakeLeasing(/*worker_max_jobs=*/1);
  AddWorker(kW1);
  Effects fx = RunOne(kW1, 1);
  EXPECT_THAT(Grants(fx), IsEmpty());
  EXPECT_THAT(KilledWorkers(fx), ElementsAre(kW1));
}

}  // namespace
}  // namespace jobd::coordinator
