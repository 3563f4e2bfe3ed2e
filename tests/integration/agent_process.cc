#include "tests/integration/agent_process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_join.h"
#include "client/socket_path.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace jobd::testing {

std::string BinDir() { return JOBD_BIN_DIR; }

namespace {

pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, int out_fd,
            int err_fd) {
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test leaves no agent behind
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    if (out_fd >= 0) dup2(out_fd, 1);
    if (err_fd >= 0) dup2(err_fd, 2);
    execv(cargv[0], cargv.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AgentProcess>> AgentProcess::Start(AgentFlags flags) {
  std::unique_ptr<AgentProcess> agent(new AgentProcess());
  char dir[] = "/tmp/jobd-test.XXXXXX";
  if (mkdtemp(dir) == nullptr) return absl::InternalError("mkdtemp failed");
  chmod(dir, 0750);
  agent->run_dir_ = dir;
  agent->workers_ = static_cast<uint32_t>(flags.workers);
  // A --workers among the extra flags comes later on the command line, so it is the pool's size
  // (a benchmark's --jobd_flags=--workers=1 would otherwise wait for two workers for ever).
  for (absl::string_view f : flags.extra) {
    if (uint32_t n = 0; absl::ConsumePrefix(&f, "--workers=") && absl::SimpleAtoi(f, &n)) agent->workers_ = n;
  }
  std::vector<std::string> argv = {
      BinDir() + "/jobd", absl::StrCat("--run_dir=", dir), absl::StrCat("--workers=", flags.workers),
      "--worker_cmd=" + (flags.worker_cmd.empty() ? BinDir() + "/jobd-testworker" : flags.worker_cmd),
      "--metrics_address="};
  argv.insert(argv.end(), flags.extra.begin(), flags.extra.end());
  agent->argv_ = argv;
  agent->env_ = flags.env;
  if (flags.lock_order_checks) agent->env_.push_back("JOBD_MUTEX_DEADLOCK_DETECTION=1");
  const int log = open((agent->run_dir_ + "/jobd.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  agent->pid_ = Spawn(argv, agent->env_, log, log);
  close(log);
  // Connecting before the socket exists would put the channel into gRPC's reconnect backoff
  // (seconds); wait for the file first.
  for (int i = 0; i < 2000 && access(agent->socket_path().c_str(), F_OK) != 0; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 20);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  auto channel = grpc::CreateCustomChannel(client::GrpcAddress(agent->socket_path()),
                                           grpc::InsecureChannelCredentials(), args);
  agent->stub_ = v1::Jobd::NewStub(channel);
  if (!agent->WaitForReadyWorkers(agent->workers_)) {
    return absl::DeadlineExceededError(absl::StrCat("jobd did not become ready; log:\n", agent->Log()));
  }
  return agent;
}

AgentProcess::~AgentProcess() {
  Kill();
  if (::testing::Test::HasFailure()) {
    // The agent's own account of a failed test (the run dir goes with it): its last lines.
    const std::string log = Log();
    constexpr size_t kTail = 16 * 1024;
    std::fprintf(stderr, "---- jobd.log of the failed test (last %zu of %zu bytes) ----\n%s\n---- end of jobd.log ----\n",
                 std::min(kTail, log.size()), log.size(), log.substr(log.size() > kTail ? log.size() - kTail : 0).c_str());
  }
  std::error_code ec;
  std::filesystem::remove_all(run_dir_, ec);
}

std::string AgentProcess::Log() const {
  std::ifstream in(run_dir_ + "/jobd.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<v1::StatsReply> AgentProcess::Stats() const {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::StatsReply reply;
  grpc::Status st = stub_->Stats(&ctx, v1::StatsRequest(), &reply);
  if (!st.ok()) return absl::UnavailableError(st.error_message());
  return reply;
}

absl::StatusOr<v1::HealthReply> AgentProcess::Health() const {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
  v1::HealthReply reply;
  grpc::Status st = stub_->Health(&ctx, v1::HealthRequest(), &reply);
  if (!st.ok()) return absl::UnavailableError(st.error_message());
  return reply;
}

uint32_t AgentProcess::WaitForSlabsInUse(uint32_t expected, absl::Duration timeout) const {
  const absl::Time until = absl::Now() + timeout;
  uint32_t in_use = UINT32_MAX;
  while (true) {
    if (auto stats = Stats(); stats.ok()) {
      in_use = 0;
      for (const auto& c : stats->slabs()) in_use += c.in_use();
      if (in_use == expected) return in_use;
    }
    if (absl::Now() > until) return in_use;
    absl::SleepFor(absl::Milliseconds(20));
  }
}

bool AgentProcess::WaitForReadyWorkers(uint32_t n, absl::Duration timeout) const {
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    if (auto h = Health(); h.ok() && h->workers_ready() >= n) return true;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) return false;  // jobd exited
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

pid_t AgentProcess::WaitForLeasedWorker(absl::Duration timeout, uint64_t job) const {
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    if (auto stats = Stats(); stats.ok()) {
      for (const auto& w : stats->workers()) {
        if (w.state() == "leased" && (job == 0 || w.job_id() == job)) return w.pid();
      }
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  return 0;
}

absl::StatusOr<std::unique_ptr<client::JobClient>> AgentProcess::Connect() const {
  return client::JobClient::Connect({.socket_path = socket_path(), .client_name = "test"});
}

absl::StatusOr<int> AgentProcess::Terminate(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("not running");
  kill(pid_, SIGTERM);
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = 0;
      return status;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::DeadlineExceededError("jobd did not exit after SIGTERM");
}

absl::Status AgentProcess::Restart() {
  if (pid_ > 0) return absl::FailedPreconditionError("jobd is still running");
  const int log = open((run_dir_ + "/jobd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  pid_ = Spawn(argv_, env_, log, log);
  close(log);
  for (int i = 0; i < 2000 && access(socket_path().c_str(), F_OK) != 0; ++i) absl::SleepFor(absl::Milliseconds(5));
  if (!WaitForReadyWorkers(workers_)) {
    return absl::DeadlineExceededError(absl::StrCat("jobd did not come back; log:\n", Log()));
  }
  return absl::OkStatus();
}

void AgentProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = 0;
}

namespace {

std::string ReadAndRemove(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  unlink(path);
  return ss.str();
}

}  // namespace

pid_t StartClientVictim(const std::string& socket, const std::string& mode) {
  int out[2];
  if (pipe(out) != 0) return 0;
  const std::string bin = BinDir() + "/client_victim";
  const pid_t victim = fork();
  if (victim == 0) {
    dup2(out[1], 1);
    if (mode.empty()) {
      execl(bin.c_str(), "client_victim", socket.c_str(), nullptr);
    } else {
      execl(bin.c_str(), "client_victim", socket.c_str(), mode.c_str(), nullptr);
    }
    _exit(127);
  }
  close(out[1]);
  char buf[16] = {};
  const bool ready = victim > 0 && read(out[0], buf, sizeof buf - 1) > 0 && std::string(buf) == "ready\n";
  close(out[0]);
  if (!ready && victim > 0) {
    kill(victim, SIGKILL);
    waitpid(victim, nullptr, 0);
  }
  return ready ? victim : 0;
}

ProgramResult RunProgram(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  char out_path[] = "/tmp/jobd-prog-out.XXXXXX";
  char err_path[] = "/tmp/jobd-prog-err.XXXXXX";
  const int out = mkstemp(out_path);
  const int err = mkstemp(err_path);
  const pid_t pid = Spawn(argv, env, out, err);
  // A program that hangs fails its test in a minute and says which program it was, instead of
  // holding the test until ctest's timeout kills it with no output.
  constexpr auto kProgramDeadline = std::chrono::seconds(60);
  const auto deadline = std::chrono::steady_clock::now() + kProgramDeadline;
  int status = 0;
  bool timed_out = false;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  close(out);
  close(err);
  ProgramResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadAndRemove(out_path);
  r.err = ReadAndRemove(err_path);
  if (timed_out) {
    r.err += "\n[killed: still running after 60 s: " + absl::StrJoin(argv, " ") + "]\n";
  }
  return r;
}

}  // namespace jobd::testing
