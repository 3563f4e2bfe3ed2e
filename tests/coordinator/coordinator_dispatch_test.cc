// Dispatch: which job goes to which worker and when, what a Dispatch carries, how the response
// travels back, and the workers' own life (registration, recycling, retirement).
#include "tests/coordinator/coordinator_test_base.h"

namespace jobd::coordinator {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST_F(CoordinatorTest, QueuedJobsGoToIdleWorkersInFifoOrder) {
  EXPECT_TRUE(Submit(Req(1)).dispatches.empty()) << "no worker yet";
  Submit(Req(2));
  Submit(Req(3));
  EXPECT_EQ(c_->QueueDepth(), 3u);
  EXPECT_THAT(DispatchedIds(AddWorker(kW1)), ElementsAre(1));
  EXPECT_THAT(DispatchedIds(AddWorker(kW2)), ElementsAre(2));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 1)), ElementsAre(3));
  EXPECT_EQ(c_->QueueDepth(), 0u);
}

TEST_F(CoordinatorTest, ResponseMovesToTheSessionAndTheRequestIsFreed) {
  AddWorker(kW1);
  JobRequest r = Req(1);
  const shm::Handle request = r.request.handle;
  Effects d = Submit(std::move(r));
  ASSERT_EQ(d.dispatches.size(), 1u);
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kAgentOwner);
  EXPECT_EQ(d.dispatches[0].request.handle, request);
  const shm::Handle response = ledger_.Allocate(kW1);
  auto fx = c_->JobFinished(kW1, 1, SlabRef{response, 8});
  ASSERT_TRUE(fx.ok());
  const Completion done = OnlyCompletion(*fx);
  EXPECT_EQ(done.outcome, Outcome::kOk);
  EXPECT_TRUE(done.status.ok());
  EXPECT_TRUE(done.deliver);
  EXPECT_EQ(done.session, kS);
  EXPECT_EQ(done.response.handle, response);
  EXPECT_EQ(done.response.size, 8u);
  EXPECT_EQ(ledger_.OwnerOf(response), kS);
  EXPECT_EQ(ledger_.OwnerOf(request), shm::kNoOwner) << "the request slab is freed";
  EXPECT_EQ(c_->LiveJobs(), 0u);
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kIdle);
}

TEST_F(CoordinatorTest, DispatchCarriesTheRequestSharedPieceContextDeadlineAndAttempt) {
  AddWorker(kW1);
  JobRequest r = Req(1, "echo", kS, absl::Seconds(7));
  r.context = {{"trace", "abc"}, {"user", "42"}};
  r.shared = {ledger_.Allocate(kS), 50};
  const SlabRef request = r.request, shared = r.shared;
  const absl::Time submitted = clock_.Now();
  Effects fx = Submit(std::move(r));
  ASSERT_EQ(fx.dispatches.size(), 1u);
  const Dispatch& d = fx.dispatches[0];
  EXPECT_EQ(d.worker, kW1);
  EXPECT_EQ(d.id, 1u);
  EXPECT_EQ(d.type, "echo");
  EXPECT_EQ(d.request.handle, request.handle);
  EXPECT_EQ(d.request.size, request.size);
  EXPECT_EQ(d.shared.handle, shared.handle);
  EXPECT_EQ(d.shared.size, 50u);
  EXPECT_EQ(d.deadline, submitted + absl::Seconds(7));
  EXPECT_THAT(d.context, ElementsAre(Pair("trace", "abc"), Pair("user", "42")));
  EXPECT_EQ(d.attempt, 1u);
}

TEST_F(CoordinatorTest, InteractiveJobsPassBatchJobsInTheQueue) {
  for (JobId id : {1, 2}) {
    JobRequest batch = Req(id);
    batch.priority = Priority::kBatch;
    Submit(std::move(batch));
  }
  Submit(Req(3));
  Submit(Req(4));
  EXPECT_THAT(DispatchedIds(AddWorker(kW1)), ElementsAre(3));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 3)), ElementsAre(4));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 4)), ElementsAre(1));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 1)), ElementsAre(2));
}

TEST_F(CoordinatorTest, JobsGoOnlyToWorkersThatHandleTheirType) {
  AddWorker(kW1, {"echo"});
  AddWorker(kW2, {"resize"});
  Effects echo = Submit(Req(1, "echo"));
  ASSERT_EQ(echo.dispatches.size(), 1u);
  EXPECT_EQ(echo.dispatches[0].worker, kW1);
  Effects resize = Submit(Req(2, "resize"));
  ASSERT_EQ(resize.dispatches.size(), 1u);
  EXPECT_EQ(resize.dispatches[0].worker, kW2);
  Submit(Req(3, "resize"));
  EXPECT_TRUE(Finish(kW1, 1).dispatches.empty()) << "the echo worker must not take a resize job";
  EXPECT_THAT(DispatchedIds(Finish(kW2, 2)), ElementsAre(3));
}

TEST_F(CoordinatorTest, WorkerTakesTheBestJobAcrossAllTheTypesItHandles) {
  JobRequest batch = Req(1, "sleep");
  batch.priority = Priority::kBatch;
  Submit(std::move(batch));
  Submit(Req(2, "sleep"));
  Submit(Req(3, "echo"));
  Submit(Req(4, "sleep"));
  EXPECT_THAT(DispatchedIds(AddWorker(kW1, {"echo", "sleep"})), ElementsAre(2));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 2)), ElementsAre(3)) << "FIFO across types within a priority";
  EXPECT_THAT(DispatchedIds(Finish(kW1, 3)), ElementsAre(4));
  EXPECT_THAT(DispatchedIds(Finish(kW1, 4)), ElementsAre(1)) << "batch last";
}

TEST_F(CoordinatorTest, MostRecentlyIdleWorkerGetsTheNextJob) {
  AddWorker(kW1);
  AddWorker(kW2);
  EXPECT_EQ(Submit(Req(1)).dispatches.at(0).worker, kW2);
  EXPECT_EQ(Submit(Req(2)).dispatches.at(0).worker, kW1);
  Finish(kW1, 2);
  Finish(kW2, 1);
  Effects fx = Submit(Req(3));
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].worker, kW2);
}

TEST_F(CoordinatorTest, ABacklogOfOneTypeDoesNotHoldUpAnotherTypesIdleWorker) {
  AddWorker(kW1, {"resize"});
  for (JobId id = 1; id <= 2000; ++id) Submit(Req(id, "resize"));
  AddWorker(kW2, {"echo"});
  Effects fx = Submit(Req(5000, "echo"));
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_EQ(fx.dispatches[0].worker, kW2);
  EXPECT_THAT(c_->QueueDepthByType(), ElementsAre(Pair("resize", 1999u)));
}

TEST_F(CoordinatorTest, JobWithAnEmptyPayloadRunsWithoutAnySlab) {
  AddWorker(kW1);
  JobRequest r = Req(1);
  ledger_.Free(r.request.handle, kS).IgnoreError();
  r.request = {};
  Effects fx = Submit(std::move(r));
  ASSERT_EQ(fx.dispatches.size(), 1u);
  EXPECT_FALSE(fx.dispatches[0].request.present());
  auto done = c_->JobFinished(kW1, 1, SlabRef{});
  ASSERT_TRUE(done.ok()) << done.status();
  const Completion c = OnlyCompletion(*done);
  EXPECT_EQ(c.outcome, Outcome::kOk);
  EXPECT_TRUE(c.deliver);
  EXPECT_FALSE(c.response.present());
  EXPECT_EQ(ledger_.LiveSlabs(), 0u);
}

TEST_F(CoordinatorTest, AnyTypeIsQueuedUntilTheFirstWorkerSaysWhichTypesExist) {
  Submit(Req(1, "resize"));
  EXPECT_TRUE(AddWorker(kW1, {"echo"}).dispatches.empty());
  EXPECT_EQ(c_->QueueDepth(), 1u) << "it waits for a resize worker until its deadline";
  auto fx = c_->Submit(Req(2, "resize"));
  ASSERT_FALSE(fx.ok());
  EXPECT_EQ(fx.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Message(fx.status()), "no worker handles job type 'resize' (known: echo)");
  EXPECT_THAT(DispatchedIds(AddWorker(kW2, {"resize"})), ElementsAre(1));
}

TEST_F(CoordinatorTest, JobFinishedForAJobTheWorkerDoesNotRunChangesNothing) {
  AddWorker(kW1);
  AddWorker(kW2);
  Submit(Req(1));  // on kW2
  Submit(Req(2));  // on kW1
  const World before = Snapshot();
  const shm::Handle response = ledger_.Allocate(kW1);
  for (auto [worker, id] : std::vector<std::pair<WorkerId, JobId>>{{kW1, 1}, {kW1, 99}, {kW3, 2}}) {
    auto fx = c_->JobFinished(worker, id, SlabRef{response, 8});
    ASSERT_FALSE(fx.ok());
    EXPECT_EQ(fx.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(Message(fx.status()), HasSubstr("is not running job"));
    EXPECT_EQ(ledger_.OwnerOf(response), kW1);
  }
  ledger_.Free(response, kW1).IgnoreError();
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(CoordinatorTest, ResponseSlabTheWorkerDoesNotHoldIsRefusedAndTheJobRunsOn) {
  AddWorker(kW1);
  Submit(Req(1));
  const World before = Snapshot();
  struct Bad {
    SlabRef response;
    absl::StatusCode code;
  };
  const shm::Handle foreign = ledger_.Allocate(kS2);
  const shm::Handle small = ledger_.Allocate(kW1, 16);
  const std::vector<Bad> cases = {
      {{foreign, 8}, absl::StatusCode::kPermissionDenied},
      {{small, 17}, absl::StatusCode::kOutOfRange},
      {{shm::Handle::Make(0, 5000, 1), 8}, absl::StatusCode::kInvalidArgument},
      {{shm::Handle(), 8}, absl::StatusCode::kInvalidArgument},
  };
  for (const Bad& b : cases) {
    auto fx = c_->JobFinished(kW1, 1, b.response);
    ASSERT_FALSE(fx.ok());
    EXPECT_EQ(fx.status().code(), b.code) << fx.status();
  }
  EXPECT_EQ(ledger_.OwnerOf(foreign), kS2);
  EXPECT_EQ(ledger_.OwnerOf(small), kW1);
  ledger_.Free(foreign, kS2).IgnoreError();
  ledger_.Free(small, kW1).IgnoreError();
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(OnlyCompletion(Finish(kW1, 1)).outcome, Outcome::kOk);
}

TEST_F(CoordinatorTest, AddWorkerRefusesADuplicateAReservedIdAndNoTypes) {
  AddWorker(kW1);
  EXPECT_EQ(c_->AddWorker(kW1, {"echo"}).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(c_->AddWorker(shm::kNoOwner, {"echo"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c_->AddWorker(shm::kAgentOwner, {"echo"}).status().code(), absl::StatusCode::kInvalidArgument);
  auto none = c_->AddWorker(kW2, {});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(none.status()), HasSubstr("at least one job type"));
  EXPECT_EQ(c_->Workers().size(), 1u);
}

TEST_F(CoordinatorTest, WorkerIsRecycledAfterItsMaximumJobs) {
  CoordinatorOptions o;
  o.worker_max_jobs = 2;
  Make(o);
  AddWorker(kW1);
  Submit(Req(1));
  Submit(Req(2));
  Submit(Req(3));
  EXPECT_TRUE(Finish(kW1, 1).kills.empty());
  Effects fx = Finish(kW1, 2);
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].worker, kW1);
  EXPECT_EQ(fx.kills[0].reason, KillReason::kRecycle);
  EXPECT_EQ(fx.kills[0].job, 0u);
  EXPECT_TRUE(fx.dispatches.empty()) << "a draining worker gets no more jobs";
  EXPECT_EQ(WorkerNamed(kW1).state, WorkerState::kDraining);
  EXPECT_EQ(WorkerNamed(kW1).jobs_done, 2u);
  EXPECT_THAT(DispatchedIds(AddWorker(kW2)), ElementsAre(3));
  EXPECT_TRUE(c_->WorkerGone(kW1).empty());
}

TEST_F(CoordinatorTest, RetiredIdleWorkerStopsAtOnceAndABusyOneAfterItsJob) {
  AddWorker(kW1);
  AddWorker(kW2);
  Submit(Req(1));  // on kW2
  Effects idle = c_->RetireWorker(kW1, KillReason::kMemory);
  EXPECT_THAT(KilledWorkers(idle), ElementsAre(kW1));
  EXPECT_EQ(idle.kills[0].reason, KillReason::kMemory);
  Effects busy = c_->RetireWorker(kW2, KillReason::kMemory);
  EXPECT_TRUE(busy.kills.empty()) << "it finishes its job first";
  EXPECT_TRUE(c_->RetireWorker(kW2, KillReason::kMemory).empty()) << "retiring twice does nothing";
  Submit(Req(2));
  Effects done = Finish(kW2, 1);
  EXPECT_EQ(OnlyCompletion(done).outcome, Outcome::kOk);
  EXPECT_THAT(KilledWorkers(done), ElementsAre(kW2));
  EXPECT_TRUE(done.dispatches.empty());
  EXPECT_EQ(c_->QueueDepth(), 1u);
}

TEST_F(CoordinatorTest, IntrospectionReportsQueueWorkersSessionsAndTypes) {
  EXPECT_EQ(c_->OldestQueuedAge(), std::nullopt);
  AddWorker(kW1, {"echo"});
  AddWorker(kW2, {"resize", "echo"});
  Submit(Req(1));  // runs on kW2
  Submit(Req(2));  // runs on kW1
  Submit(Req(3));
  clock_.Advance(absl::Seconds(2));
  Submit(Req(4, "resize"));
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(c_->QueueDepth(), 2u);
  EXPECT_THAT(c_->QueueDepthByType(), ElementsAre(Pair("echo", 1u), Pair("resize", 1u)));
  EXPECT_EQ(c_->OldestQueuedAge(), absl::Seconds(3));
  EXPECT_THAT(c_->KnownTypes(), ElementsAre("echo", "resize"));
  EXPECT_EQ(c_->SessionCount(), 2u);
  EXPECT_EQ(c_->LiveJobs(), 4u);
  const std::vector<WorkerInfo> workers = c_->Workers();
  ASSERT_EQ(workers.size(), 2u);
  EXPECT_EQ(workers[0].id, kW1);
  EXPECT_EQ(workers[0].state, WorkerState::kBusy);
  EXPECT_EQ(workers[0].job, 2u);
  EXPECT_EQ(workers[1].job, 1u);
  c_->CloseSession(kS2);
  EXPECT_EQ(c_->SessionCount(), 1u);
  c_->OpenSession(kS2);
  c_->OpenSession(kS2);
  EXPECT_EQ(c_->SessionCount(), 2u) << "opening twice is one session";
  EXPECT_STREQ(WorkerStateName(WorkerState::kDraining), "draining");
}

}  // namespace
}  // namespace jobd::coordinator
