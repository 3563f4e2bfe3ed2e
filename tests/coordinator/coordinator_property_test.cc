// Thousands of random events against the coordinator, playing the agent's part faithfully
// (killed workers exit, gone sessions and workers have their slabs reclaimed, clients free
// what they receive). After every event:
//   - every live slab is held by an open session, a live worker, or the agent for a job that
//     is still live (no final completion yet, or a worker still runs an attempt of it);
//   - no job has more than one final completion, and a delivered one goes to an open session
//     that holds its response;
//   - every dispatch goes to a worker that handles the type and is now busy with that job (or,
//     dispatching ahead, holds it behind its current one), and no worker idles while a job of a
//     type it handles waits.
// At the end every submitted job has exactly one completion and no slab is left anywhere.
#include <cstdio>
#include <initializer_list>
#include <random>
#include <set>
#include <string>
#include <string_view>

#include <unistd.h>

#include "absl/container/flat_hash_map.h"
#include "tests/coordinator/coordinator_test_base.h"

namespace jobd::coordinator {
namespace {

class RandomEvents {
 public:
  RandomEvents(uint32_t seed, Coordinator& c, testing::FakeSlabLedger& ledger, testing::FakeClock& clock)
      : rng_(seed), c_(c), ledger_(ledger), clock_(clock) {}

  void Run(int steps) {
    for (int s : {10, 11}) Open(s);
    for (int step = 0; step < steps && !::testing::Test::HasFatalFailure(); ++step) {
      Step();
      CheckInvariants(step);
    }
    WindDown();
  }

 private:
  using Types = std::vector<std::string>;

  uint32_t Rand(uint32_t n) { return rng_() % n; }
  template <typename Set>
  auto Pick(const Set& s) {
    auto it = s.begin();
    std::advance(it, Rand(s.size()));
    return *it;
  }

  // FNV-1a over every effect, in order: two runs of one seed decided the same iff equal.
  void Mix(std::initializer_list<uint64_t> words) {
    for (uint64_t w : words) {
      for (int b = 0; b < 8; ++b) digest_ = (digest_ ^ ((w >> (8 * b)) & 0xff)) * 1099511628211ull;
    }
  }

  void Open(SessionId s) {
    c_.OpenSession(s);
    open_.insert(s);
  }

  void Absorb(const Effects& fx) {
    for (const Dispatch& d : fx.dispatches) Mix({1, d.worker, d.id, d.attempt});
    for (const Completion& c : fx.completions) Mix({2, c.id, static_cast<uint64_t>(c.outcome), c.deliver});
    for (const KillWorker& k : fx.kills) Mix({3, k.worker, static_cast<uint64_t>(k.reason), k.job});
    for (const CancelRunning& c : fx.cancels) Mix({4, c.worker, c.id});
    for (const KillWorker& k : fx.kills) {
      draining_.insert(k.worker);
      to_exit_.insert(k.worker);
    }
    std::map<WorkerId, WorkerInfo> now;
    for (const WorkerInfo& w : c_.Workers()) now[w.id] = w;
    for (const Dispatch& d : fx.dispatches) {
      const std::vector<JobId>& behind = now[d.worker].ahead;
      const bool ahead = std::find(behind.begin(), behind.end(), d.id) != behind.end();
      ahead_dispatches_ += ahead;
      EXPECT_TRUE(now[d.worker].job == d.id || ahead) << "worker " << d.worker << " is not busy with its dispatch";
      ASSERT_TRUE(worker_types_.contains(d.worker)) << "dispatch to unknown worker " << d.worker;
      const Types& t = worker_types_[d.worker];
      EXPECT_NE(std::find(t.begin(), t.end(), d.type), t.end()) << "worker " << d.worker << " does not handle " << d.type;
      EXPECT_FALSE(draining_.contains(d.worker)) << "dispatch to a draining worker";
      retries_ += d.attempt > 1;
    }
    for (const Completion& c : fx.completions) {
      ++completions_[c.id];
      ++outcomes_[c.outcome];
      delivered_responses_ += c.response.present();
      EXPECT_EQ(completions_[c.id], 1) << "job " << c.id << " completed twice";
      if (c.deliver) {
        EXPECT_TRUE(open_.contains(c.session)) << "delivery to a closed session";
        EXPECT_NE(policy_[c.id], Policy::kNoReply) << "a NoReply job delivered";
      }
      if (c.response.present()) {
        EXPECT_TRUE(c.deliver);
        EXPECT_EQ(c.outcome, Outcome::kOk);
        EXPECT_EQ(ledger_.OwnerOf(c.response.handle), c.session);
        EXPECT_TRUE(ledger_.Free(c.response.handle, c.session).ok());  // as the client would
      }
    }
  }

  void Gone(WorkerId w) {
    Absorb(c_.WorkerGone(w));
    worker_types_.erase(w);
    draining_.erase(w);
    to_exit_.erase(w);
    ledger_.ReclaimOwner(w);
  }

  std::vector<WorkerInfo> Running() const {
    std::vector<WorkerInfo> out;
    for (const WorkerInfo& w : c_.Workers()) {
      if (w.job != 0) out.push_back(w);
    }
    return out;
  }

  void Submit() {
    if (open_.empty()) return;
    const SessionId s = Pick(open_);
    JobRequest r;
    r.id = next_job_++;
    r.session = s;
    r.type = Rand(3) == 0 ? "sleep" : "echo";
    if (Rand(10) != 0) r.request = {ledger_.Allocate(s), 1 + Rand(4096)};
    r.timeout = absl::Milliseconds(20 + Rand(200));
    r.policy = static_cast<Policy>(Rand(3));
    r.priority = static_cast<Priority>(Rand(kPriorityLevels));
    r.retry.max_attempts = 1 + Rand(3);
    r.retry.backoff = absl::Milliseconds(Rand(3) * 10);
    r.retry.retry_handler_errors = Rand(2);
    if (r.policy != Policy::kNoReply && Rand(4) == 0) {
      auto piece = pieces_.find(s);
      if (piece == pieces_.end() || ledger_.OwnerOf(piece->second) == shm::kNoOwner || Rand(3) == 0) {
        pieces_[s] = ledger_.Allocate(s);
      }
      r.shared = {pieces_[s], 64};
    }
    if (Rand(30) == 0) r.type = "no such type";
    if (Rand(30) == 0) r.timeout = absl::Hours(100);
    const JobId id = r.id;
    const shm::Handle request = r.request.handle, shared = r.shared.handle;
    const shm::OwnerId shared_owner = ledger_.OwnerOf(shared);
    const World before = Snapshot();
    auto fx = c_.Submit(r);
    if (fx.ok()) {
      submitted_.insert(id);
      policy_[id] = r.policy;
      if (!request.is_null()) holder_[request.bits()].insert(id);
      if (!request.is_null()) request_of_[id] = request;
      if (!shared.is_null()) holder_[shared.bits()].insert(id);
      shared_jobs_ += !shared.is_null();
      Absorb(*fx);
    } else {
      EXPECT_EQ(Snapshot(), before) << "refused submit changed something: " << fx.status();
      EXPECT_EQ(ledger_.OwnerOf(shared), shared_owner);
      if (!request.is_null()) {
        EXPECT_EQ(ledger_.OwnerOf(request), s) << "a refused request stays with its session";
        EXPECT_TRUE(ledger_.Free(request, s).ok());
      }
    }
  }

  World Snapshot() const {
    World w;
    w.slabs = ledger_.LiveSlabList();
    w.queue_depth = c_.QueueDepth();
    w.live_jobs = c_.LiveJobs();
    return w;
  }

  void Step() {
    switch (Rand(12)) {
      case 0:
      case 1:
      case 2:
        Submit();
        break;
      case 3:
        if (worker_types_.size() < 4) {
          static const Types kChoices[] = {{"echo"}, {"sleep"}, {"echo", "sleep"}};
          const WorkerId w = next_worker_++;
          worker_types_[w] = kChoices[Rand(3)];
          Absorb(c_.AddWorker(w, worker_types_[w]).value());
        }
        break;
      case 4:  // a crash, or a killed worker exiting
        if (!to_exit_.empty() && Rand(2) == 0) {
          Gone(Pick(to_exit_));
        } else if (!worker_types_.empty() && Rand(3) == 0) {
          Gone(Pick(worker_types_).first);
        }
        break;
      case 5:
      case 6: {  // a running job ends: an answer, an error, or a response the worker does not own
        auto running = Running();
        if (running.empty()) break;
        const WorkerInfo w = running[Rand(running.size())];
        const World before = Snapshot();
        switch (Rand(8)) {
          case 0:
            Absorb(c_.JobFinished(w.id, w.job, absl::InternalError("boom")).value());
            break;
          case 1: {
            const shm::Handle foreign = ledger_.Allocate(*open_.begin());
            auto fx = c_.JobFinished(w.id, w.job, SlabRef{foreign, 8});
            EXPECT_EQ(fx.status().code(), absl::StatusCode::kPermissionDenied);
            EXPECT_TRUE(ledger_.Free(foreign, *open_.begin()).ok());
            EXPECT_EQ(Snapshot(), before);
            break;
          }
          case 2:
            Absorb(c_.JobFinished(w.id, w.job, SlabRef{}).value());
            break;
          default:
            Absorb(c_.JobFinished(w.id, w.job, SlabRef{ledger_.Allocate(w.id), 8}).value());
        }
        break;
      }
      case 7: {  // an early answer: refused unless ManualRespond and not answered yet
        auto running = Running();
        if (running.empty()) break;
        const WorkerInfo w = running[Rand(running.size())];
        const shm::Handle h = ledger_.Allocate(w.id);
        auto fx = c_.EarlyResponse(w.id, w.job, SlabRef{h, 4});
        if (fx.ok()) {
          ++early_answers_;
          Absorb(*fx);
        } else {
          EXPECT_EQ(fx.status().code(), absl::StatusCode::kFailedPrecondition);
          EXPECT_EQ(ledger_.OwnerOf(h), w.id);
          EXPECT_TRUE(ledger_.Free(h, w.id).ok());
        }
        break;
      }
      case 8:
        if (next_job_ > 1 && !open_.empty()) {
          auto fx = c_.Cancel(Pick(open_), 1 + Rand(next_job_ - 1));
          if (fx.ok()) Absorb(*fx);
        }
        break;
      case 9:
        if (!open_.empty() && Rand(3) == 0) {
          const SessionId s = Pick(open_);
          open_.erase(s);
          Absorb(c_.CloseSession(s));
          ledger_.ReclaimOwner(s);  // what the agent does with a gone session's slabs
          Open(next_session_++);
        }
        break;
      default:
        clock_.Advance(absl::Milliseconds(Rand(60)));
        Absorb(c_.Tick());
    }
  }

  void CheckInvariants(int step) {
    std::set<JobId> running, behind;
    for (const WorkerInfo& w : c_.Workers()) {
      if (w.job != 0) running.insert(w.job);
      most_behind_ = std::max(most_behind_, w.ahead.size());
      ASSERT_LE(w.ahead.size(), depth_) << "step " << step << ": more jobs behind worker " << w.id << " than the depth";
      for (JobId id : w.ahead) {
        ASSERT_NE(w.job, 0u) << "step " << step << ": a job behind an idle worker";
        ASSERT_NE(id, w.job) << "step " << step << ": job " << id << " behind itself";
        ASSERT_TRUE(behind.insert(id).second) << "step " << step << ": job " << id << " behind two workers, or twice";
        ASSERT_TRUE(ahead_) << "step " << step << ": a job behind with dispatch ahead off";
        running.insert(id);
      }
    }
    for (const auto& [handle, owner] : ledger_.LiveSlabList()) {
      if (owner == shm::kAgentOwner) {
        bool live = false;
        for (JobId id : holder_[handle.bits()]) live |= completions_[id] == 0 || running.contains(id);
        ASSERT_TRUE(live) << "step " << step << ": the agent holds a slab for no live job";
      } else {
        ASSERT_TRUE(open_.contains(owner) || worker_types_.contains(owner))
            << "step " << step << ": slab held by gone owner " << owner;
      }
    }
    // A worker may be reading the request of the job it runs or holds behind, even one the agent
    // gave up on: it stays the agent's until the worker answers or dies.
    for (JobId id : running) {
      if (auto r = request_of_.find(id); r != request_of_.end()) {
        ASSERT_EQ(ledger_.OwnerOf(r->second), shm::kAgentOwner)
            << "step " << step << ": job " << id << "'s request was let go while a worker may read it";
      }
    }
    const std::map<std::string, size_t> depth = c_.QueueDepthByType();
    size_t by_type = 0;
    for (const auto& [type, n] : depth) by_type += n;
    ASSERT_EQ(by_type, c_.QueueDepth()) << "step " << step;
    for (const WorkerInfo& w : c_.Workers()) {
      if (w.state != WorkerState::kIdle) continue;
      for (const std::string& type : worker_types_[w.id]) {
        ASSERT_EQ(depth.count(type), 0u) << "step " << step << ": worker " << w.id << " idles while " << type
                                         << " jobs wait";
      }
    }
  }

  void WindDown() {
    for (int round = 0; round < 50 && c_.LiveJobs() > 0; ++round) {
      for (const WorkerInfo& w : c_.Workers()) Gone(w.id);
      clock_.Advance(absl::Seconds(1));
      Absorb(c_.Tick());
      const WorkerId w = next_worker_++;
      worker_types_[w] = {"echo", "sleep"};
      Absorb(c_.AddWorker(w, worker_types_[w]).value());
    }
    for (const WorkerInfo& w : c_.Workers()) Gone(w.id);
    while (!open_.empty()) {
      const SessionId s = *open_.begin();
      open_.erase(s);
      Absorb(c_.CloseSession(s));
      ledger_.ReclaimOwner(s);
    }
    EXPECT_EQ(c_.LiveJobs(), 0u);
    EXPECT_EQ(c_.QueueDepth(), 0u);
    EXPECT_EQ(c_.NextWakeup(), std::nullopt);
    for (JobId id : submitted_) EXPECT_EQ(completions_[id], 1) << "job " << id;
    EXPECT_EQ(ledger_.CountOwnedBy(shm::kAgentOwner), 0u) << "nothing is held for a job that has ended";
    EXPECT_EQ(ledger_.LiveSlabs(), 0u);
    // The run reached every corner worth reaching.
    EXPECT_GT(submitted_.size(), 500u);
    for (Outcome o : {Outcome::kOk, Outcome::kDeadlineExceeded, Outcome::kWorkerDied, Outcome::kHandlerError,
                      Outcome::kCancelled}) {
      EXPECT_GT(outcomes_[o], 10) << OutcomeName(o);
    }
    EXPECT_GT(retries_, 10);
    EXPECT_GT(early_answers_, 10);
    EXPECT_GT(shared_jobs_, 10);
    EXPECT_GT(delivered_responses_, 10);
    if (ahead_) {
      EXPECT_GT(ahead_dispatches_, 50);
    }
    if (depth_ > 1) {
      EXPECT_GT(most_behind_, 1u) << "no worker ever held more than one job behind";
    }
    // Read by ASeedsRunIsTheSameInEveryProcess.
    std::printf("effects digest %016llx\n", static_cast<unsigned long long>(digest_));
  }

 public:
  bool ahead_ = false;
  size_t depth_ = 0;
  size_t most_behind_ = 0;

 private:

  std::mt19937 rng_;
  uint64_t digest_ = 14695981039346656037ull;
  Coordinator& c_;
  testing::FakeSlabLedger& ledger_;
  testing::FakeClock& clock_;
  std::set<SessionId> open_;
  SessionId next_session_ = 100;
  std::map<WorkerId, Types> worker_types_;
  std::set<WorkerId> draining_, to_exit_;
  WorkerId next_worker_ = 1000;
  JobId next_job_ = 1;
  std::set<JobId> submitted_;
  std::map<JobId, int> completions_;
  std::map<JobId, Policy> policy_;
  absl::flat_hash_map<uint64_t, std::set<JobId>> holder_;  // slab bits -> jobs it was given to
  std::map<JobId, shm::Handle> request_of_;
  std::map<SessionId, shm::Handle> pieces_;
  std::map<Outcome, int> outcomes_;
  int retries_ = 0, early_answers_ = 0, shared_jobs_ = 0, delivered_responses_ = 0, ahead_dispatches_ = 0;
};

// (seed, dispatch ahead's depth; 0: off)
class CoordinatorPropertyTest : public CoordinatorTest,
                                public ::testing::WithParamInterface<std::tuple<uint32_t, uint32_t>> {};

TEST_P(CoordinatorPropertyTest, RandomEventsKeepEveryJobToOneCompletionAndEverySlabToOneLiveOwner) {
  CoordinatorOptions o;
  o.grace = absl::Milliseconds(50);
  o.max_queue = 40;
  o.max_queued_per_session = 25;
  o.worker_max_jobs = 7;
  o.dispatch_ahead = std::get<1>(GetParam()) > 0;
  o.dispatch_ahead_depth = std::max<uint32_t>(std::get<1>(GetParam()), 1);
  o.dispatch_ahead_max_run = absl::Hours(1);  // the fake clock's runs are tens of ms: every type qualifies
  c_ = std::make_unique<Coordinator>(o, clock_, ledger_);
  RandomEvents events(std::get<0>(GetParam()), *c_, ledger_, clock_);
  events.ahead_ = o.dispatch_ahead;
  events.depth_ = o.dispatch_ahead ? o.dispatch_ahead_depth : 0;
  // 12,000 steps keep every coverage count below well past its bound at every depth (with 5,000,
  // depth 4 left worker deaths at exactly 10 in about a third of runs, when a seed's run still
  // changed with the process's hash seed).
  events.Run(12000);
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, CoordinatorPropertyTest,
                         ::testing::Combine(::testing::Values(20261123u, 7u, 424242u), ::testing::Values(0u, 1u, 4u)));

// A failing seed must replay: the coordinator's decisions may not follow the order of its hash
// maps, which Abseil seeds per process (from an address, so per exec under ASLR). Runs one seed
// in four fresh processes of this binary and compares what they decided.
TEST(CoordinatorPropertyReplayTest, ASeedsRunIsTheSameInEveryProcess) {
  std::string self(4096, '\0');
  const ssize_t n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
  ASSERT_GT(n, 0);
  self.resize(static_cast<size_t>(n));
  auto digest_of_a_run = [&self] {
    const std::string command =
        "'" + self + "' --gtest_filter='FixedSeeds/CoordinatorPropertyTest.*/8' 2>&1";  // seed 424242, depth 4
    FILE* pipe = ::popen(command.c_str(), "r");
    EXPECT_NE(pipe, nullptr);
    std::string digest, line(4096, '\0');
    while (pipe != nullptr && std::fgets(line.data(), static_cast<int>(line.size()), pipe) != nullptr) {
      if (std::string_view(line.c_str()).starts_with("effects digest ")) digest = line.c_str() + 15;
    }
    if (pipe != nullptr) {
      EXPECT_EQ(::pclose(pipe), 0) << "the child run failed";
    }
    return digest;
  };
  const std::string first = digest_of_a_run();
  ASSERT_FALSE(first.empty()) << "the child printed no digest";
  for (int run = 0; run < 3; ++run) EXPECT_EQ(digest_of_a_run(), first) << "run " << run + 2;
}

}  // namespace
}  // namespace jobd::coordinator
