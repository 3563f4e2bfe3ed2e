// What an operator sees: /metrics and /healthz, the standard gRPC health service, the dashboard's
// queries against a real scrape, jobctl views, and SIGTERM draining.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/socket_path.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc_health_v1.grpc.pb.h"
#include "tests/integration/agent_process.h"
#include "tests/integration/proc_threads.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A minimal HTTP/1.0 GET on loopback: status code and body.
std::pair<int, std::string> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return {-1, ""};
  }
  const std::string req = "GET " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n";
  (void)!write(fd, req.data(), req.size());
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, static_cast<size_t>(n));
  close(fd);
  int code = -1;
  if (resp.size() > 12) (void)absl::SimpleAtoi(resp.substr(9, 3), &code);
  const size_t body = resp.find("\r\n\r\n");
  return {code, body == std::string::npos ? "" : resp.substr(body + 4)};
}

int MetricsPort(const AgentProcess& agent) {
  std::smatch m;
  const std::string log = agent.Log();
  if (std::regex_search(log, m, std::regex(R"(metrics on http://127\.0\.0\.1:(\d+)/metrics)"))) {
    return std::stoi(m[1]);
  }
  return -1;
}

std::set<std::string> DashboardMetrics() {
  std::ifstream in(std::string(JOBD_SOURCE_DIR) + "/helm/jobd/files/dashboard.json");
  std::stringstream ss;
  ss << in.rdbuf();
  google::protobuf::Struct dash;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(ss.str(), &dash).ok()) << "dashboard.json is not JSON";
  std::set<std::string> names;
  const std::regex metric(R"(jobd_[a-z_]+)");
  for (const auto& panel : dash.fields().at("panels").list_value().values()) {
    for (const auto& target : panel.struct_value().fields().at("targets").list_value().values()) {
      const std::string expr = target.struct_value().fields().at("expr").string_value();
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end; it != end; ++it) names.insert(it->str());
    }
  }
  return names;
}

// ECMAScript syntax, so that a pattern can say \n.
::testing::AssertionResult Search(const std::string& text, const std::string& pattern) {
  if (std::regex_search(text, std::regex(pattern))) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "no match for /" << pattern << "/ in /metrics";
}

TEST(OperationsTest, EveryMetricTheDashboardQueriesIsExportedByARealAgent) {
  auto agent = AgentProcess::Start({.workers = 2, .extra = {"--metrics_address=127.0.0.1:0"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const int port = MetricsPort(**agent);
  ASSERT_GT(port, 0) << (*agent)->Log();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Start("echo", "x")->Wait().ok());
  ASSERT_FALSE((*client)->Start("fail", "x")->Wait().ok());
  ASSERT_FALSE((*client)->Start("no-such-type", "x")->Wait().ok());  // a rejection
  ASSERT_FALSE((*client)->Start("crash", "")->Wait().ok());           // a restart
  ASSERT_TRUE((*agent)->WaitForReadyWorkers(2));
  // Ready is connected; the replacement joins the pool (idle) once it has attached on the side
  // socket, a moment later (longer under ASan).
  int code = 0;
  std::string body;
  for (int i = 0; i < 250; ++i) {
    std::tie(code, body) = HttpGet(port, "/metrics");
    if (body.find("jobd_workers{state=\"idle\"} 2") != std::string::npos) break;
    absl::SleepFor(absl::Milliseconds(40));
  }
  ASSERT_EQ(code, 200);
  const std::set<std::string> wanted = DashboardMetrics();
  ASSERT_GE(wanted.size(), 14u);
  for (const std::string& name : wanted) {
    EXPECT_TRUE(body.find("\n" + name + "{") != std::string::npos || body.find("\n" + name + " ") != std::string::npos)
        << name << " is queried by the dashboard but missing from /metrics";
  }
  EXPECT_THAT(body, HasSubstr("jobd_jobs_total{outcome=\"ok\",type=\"echo\"} 1"));
  EXPECT_THAT(body, HasSubstr("jobd_jobs_total{outcome=\"handler_error\",type=\"fail\"} 1"));
  EXPECT_THAT(body, HasSubstr("jobd_jobs_total{outcome=\"worker_died\",type=\"crash\"} 1"));
  EXPECT_TRUE(Search(body, R"(jobd_worker_restarts_total\{reason="crash",worker="[01]"\} 1)"));
  EXPECT_THAT(body, HasSubstr("jobd_rejections_total{reason=\"not_found\"} 1"));
  EXPECT_THAT(body, HasSubstr("jobd_arena_slabs{class=\"4KiB\"} 128"));
  EXPECT_THAT(body, HasSubstr("jobd_workers{state=\"idle\"} 2"));
}

// The first rejection, restart or failure must show in rate()/increase(): the series exist at 0
// before it. And the standard process_* metrics, build info and per-worker memory are there.
TEST(OperationsTest, CountersExistAtZeroBeforeTheirFirstEventBesideProcessAndWorkerMetrics) {
  auto agent = AgentProcess::Start({.workers = 2, .extra = {"--metrics_address=127.0.0.1:0"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const int port = MetricsPort(**agent);
  ASSERT_GT(port, 0) << (*agent)->Log();
  ASSERT_TRUE((*agent)->WaitForReadyWorkers(2));

  auto [code, before] = HttpGet(port, "/metrics");
  ASSERT_EQ(code, 200);
  for (const char* reason : {"not_found", "resource_exhausted", "unavailable", "invalid_argument"}) {
    EXPECT_THAT(before, HasSubstr(absl::StrCat("jobd_rejections_total{reason=\"", reason, "\"} 0\n")));
  }
  EXPECT_THAT(before, HasSubstr("jobd_jobs_total{outcome=\"rejected\",type=\"_rejected\"} 0\n"));
  // Per-class slab series exist before any session has a segment (the dashboard's slab panels).
  EXPECT_THAT(before, HasSubstr("jobd_arena_slabs_in_use{class=\"4KiB\"} 0\n"));
  EXPECT_THAT(before, HasSubstr("jobd_arena_bytes_in_use{class=\"64MiB\"} 0\n"));
  for (const char* worker : {"0", "1"}) {
    for (const char* reason : {"crash", "exit", "recycled", "killed_deadline", "killed_rss", "killed"}) {
      EXPECT_THAT(before, HasSubstr(absl::StrCat("jobd_worker_restarts_total{reason=\"", reason, "\",worker=\"", worker, "\"} 0\n")));
    }
    // A live worker process holds at least a page.
    EXPECT_TRUE(Search(before, absl::StrCat(R"(jobd_worker_rss_bytes\{worker=")", worker, R"("\} [1-9][0-9]*)")));
  }
  EXPECT_TRUE(Search(before, R"(jobd_build_info\{build_type="[A-Za-z]+",version="[0-9.]+"\} 1)"));
  EXPECT_TRUE(Search(before, R"(\nprocess_resident_memory_bytes [1-9][0-9]*)"));
  EXPECT_TRUE(Search(before, R"(\nprocess_open_fds [1-9][0-9]*)"));
  EXPECT_TRUE(Search(before, R"(\nprocess_start_time_seconds [1-9][0-9.e+]*)"));
  EXPECT_TRUE(Search(before, R"(\nprocess_cpu_seconds_total [0-9])"));
  EXPECT_THAT(before, Not(HasSubstr("type=\"echo\"")));

  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE((*client)->Start("echo", "x")->Wait().ok());
  auto [code2, after] = HttpGet(port, "/metrics");
  ASSERT_EQ(code2, 200);
  EXPECT_THAT(after, HasSubstr("jobd_jobs_total{outcome=\"ok\",type=\"echo\"} 1\n"));
  for (const char* outcome : {"rejected", "deadline_exceeded", "worker_died", "handler_error", "cancelled"}) {
    EXPECT_THAT(after, HasSubstr(absl::StrCat("jobd_jobs_total{outcome=\"", outcome, "\",type=\"echo\"} 0\n")));
  }
}

TEST(OperationsTest, ABusyMetricsPortIsAClearErrorThatNamesTheFlag) {
  // Another service holds a port on the loopback.
  const int holder = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(holder, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(holder, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(holder, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(getsockname(holder, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string busy = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--metrics_address=" + busy}});
  close(holder);
  ASSERT_FALSE(agent.ok()) << "jobd started on a port another process listens on";
  EXPECT_THAT(agent.status().message(), HasSubstr("cannot serve metrics on " + busy));
  EXPECT_THAT(agent.status().message(), HasSubstr("set --metrics-address=HOST:PORT"));
}

TEST(OperationsTest, HealthzAndTheGrpcHealthServiceTurnUnhealthyWhenDraining) {
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--metrics_address=127.0.0.1:0"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const int port = MetricsPort(**agent);
  EXPECT_EQ(HttpGet(port, "/healthz").first, 200);

  auto channel = grpc::CreateChannel(client::GrpcAddress((*agent)->socket_path()), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto check = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    grpc::health::v1::HealthCheckResponse resp;
    EXPECT_TRUE(health->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp).ok());
    return resp.status();
  };
  EXPECT_EQ(check(), grpc::health::v1::HealthCheckResponse::SERVING);

  ProgramResult drain = RunProgram({BinDir() + "/jobctl", "drain"}, {"JOBD_SOCKET=" + (*agent)->socket_path()});
  EXPECT_EQ(drain.exit_code, 0);
  EXPECT_EQ(HttpGet(port, "/healthz").first, 503);
  EXPECT_EQ(check(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  auto refused = (*client)->Start("echo", "x")->Wait();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("draining"));
}

// The health service is the agent's own synchronous one: a Watch hears the drain, a name jobd
// does not serve is unknown, and the agent runs none of the threads gRPC's callback-based
// built-in service brings (two "nexting_thread"s waking twice a second each, idle or not).
TEST(OperationsTest, GrpcHealthWatchHearsTheDrainAndTheAgentRunsNoCallbackQueueThreads) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto channel = grpc::CreateChannel(client::GrpcAddress((*agent)->socket_path()), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);

  grpc::health::v1::HealthCheckRequest own;
  own.set_service("jobd.v1.Jobd");
  grpc::health::v1::HealthCheckRequest unknown;
  unknown.set_service("not.a.Service");
  {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(&ctx, own, &resp).ok());
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckResponse resp;
    grpc::Status st = health->Check(&ctx, unknown, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(st.error_message(), HasSubstr("unknown service 'not.a.Service'"));
  }

  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto watch = health->Watch(&watch_ctx, grpc::health::v1::HealthCheckRequest());
  grpc::health::v1::HealthCheckResponse seen;
  ASSERT_TRUE(watch->Read(&seen));
  EXPECT_EQ(seen.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  {
    grpc::ClientContext ctx;
    auto unknown_watch = health->Watch(&ctx, unknown);
    grpc::health::v1::HealthCheckResponse first;
    ASSERT_TRUE(unknown_watch->Read(&first));
    EXPECT_EQ(first.status(), grpc::health::v1::HealthCheckResponse::SERVICE_UNKNOWN);
    ctx.TryCancel();
  }

  std::set<std::string> threads;
  for (const ProcThread& t : ThreadsOf((*agent)->pid())) threads.insert(t.name);
  EXPECT_FALSE(threads.contains("nexting_thread")) << "a gRPC callback completion queue runs in the agent";
  EXPECT_TRUE(threads.contains("jobd")) << "the thread names were read";

  ProgramResult drain = RunProgram({BinDir() + "/jobctl", "drain"}, {"JOBD_SOCKET=" + (*agent)->socket_path()});
  EXPECT_EQ(drain.exit_code, 0);
  ASSERT_TRUE(watch->Read(&seen)) << "the Watch ended instead of reporting the drain";
  EXPECT_EQ(seen.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  watch_ctx.TryCancel();
  (void)watch->Finish();
}

TEST(OperationsTest, SigtermLetsRunningJobsFinishRefusesNewOnesAndExitsZero) {
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--grace=20s"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  auto running = (*client)->Start("sleep", "700");
  ASSERT_TRUE(running.ok());
  absl::SleepFor(absl::Milliseconds(150));
  kill((*agent)->pid(), SIGTERM);
  absl::SleepFor(absl::Milliseconds(100));
  auto refused = (*client)->Start("echo", "late")->Wait();
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  auto done = running->Wait(absl::Seconds(20));
  ASSERT_TRUE(done.ok()) << "the running job must finish during the drain: " << done.status();
  EXPECT_EQ(done->view(), "slept 700ms");
  done->Release();
  client->reset();
  auto status = (*agent)->Terminate(absl::Seconds(20));
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

TEST(OperationsTest, SecondSigtermStopsAHungDrainAtOnce) {
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--grace=60s"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  auto hung = (*client)->Start("hang", "", {.timeout = absl::Seconds(120)});
  ASSERT_TRUE(hung.ok());
  absl::SleepFor(absl::Milliseconds(150));
  kill((*agent)->pid(), SIGTERM);
  absl::SleepFor(absl::Milliseconds(300));
  const absl::Time second = absl::Now();
  auto status = (*agent)->Terminate(absl::Seconds(30));  // sends the second SIGTERM
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_LT(absl::Now() - second, absl::Seconds(30)) << "well short of the 60s grace";
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  auto r = hung->Wait(absl::Seconds(10));
  EXPECT_FALSE(r.ok());
  // Its worker was stopped under it; the caller hears that, or at least that the agent is gone.
  EXPECT_THAT(client::OutcomeOf(r.status()),
              ::testing::AnyOf(client::JobOutcome::kWorkerDied, client::JobOutcome::kDisconnected));
}

TEST(OperationsTest, JobctlViewsShowTheAgent) {
  auto agent = AgentProcess::Start({.workers = 2});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const std::vector<std::string> env = {"JOBD_SOCKET=" + (*agent)->socket_path()};
  ProgramResult health = RunProgram({BinDir() + "/jobctl", "health"}, env);
  EXPECT_EQ(health.exit_code, 0) << health.err;
  EXPECT_THAT(health.out, HasSubstr("SERVING: 2 of 2 workers ready"));
  ProgramResult slabs = RunProgram({BinDir() + "/jobctl", "slabs"}, env);
  EXPECT_THAT(slabs.out, HasSubstr("64 MiB")) << slabs.err;
  ProgramResult workers = RunProgram({BinDir() + "/jobctl", "workers"}, env);
  EXPECT_THAT(workers.out, HasSubstr("idle")) << workers.err;
  ProgramResult top = RunProgram({BinDir() + "/jobctl", "top", "--iterations=2", "--interval=10ms"}, env);
  EXPECT_EQ(top.exit_code, 0) << top.err;
  EXPECT_THAT(top.out, HasSubstr("WORKER"));
  EXPECT_THAT(top.out, HasSubstr("CLASS"));
  EXPECT_THAT(top.out, Not(HasSubstr("\033["))) << "no screen control codes when stdout is not a terminal";
  ProgramResult submit = RunProgram({BinDir() + "/jobctl", "submit", "echo", "--data=from jobctl"}, env);
  EXPECT_EQ(submit.exit_code, 0) << submit.err;
  EXPECT_EQ(submit.out, "from jobctl\n");
  ProgramResult bad = RunProgram({BinDir() + "/jobctl", "submit", "nope", "--data=x"}, env);
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  if (HasFailure()) std::cerr << "agent's log:\n" << (*agent)->Log();
}

google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &s).ok()) << "not JSON: " << text;
  return s;
}

const google::protobuf::Value& Field(const google::protobuf::Struct& s, const std::string& key) {
  static const google::protobuf::Value* const kMissing = new google::protobuf::Value();
  auto it = s.fields().find(key);
  EXPECT_TRUE(it != s.fields().end()) << "no \"" << key << "\"";
  return it == s.fields().end() ? *kMissing : it->second;
}

ProgramResult Jobctl(const AgentProcess& agent, std::vector<std::string> args) {
  args.insert(args.begin(), BinDir() + "/jobctl");
  return RunProgram(args, {"JOBD_SOCKET=" + agent.socket_path()});
}

TEST(OperationsTest, JobctlJsonHasAShapePerViewWithNumbersAsNumbers) {
  auto agent = AgentProcess::Start({.workers = 2});
  ASSERT_TRUE(agent.ok()) << agent.status();
  ProgramResult submit = Jobctl(**agent, {"submit", "echo", "--data=hi \"there\"", "--json"});
  ASSERT_EQ(submit.exit_code, 0) << submit.err;
  const auto result = Field(ParseJson(submit.out), "result").struct_value();
  EXPECT_TRUE(Field(result, "ok").bool_value());
  EXPECT_EQ(Field(result, "response").string_value(), "hi \"there\"");
  EXPECT_EQ(Field(result, "type").string_value(), "echo");
  const double job_id = Field(result, "job_id").number_value();
  EXPECT_GT(job_id, 0);

  const auto stats = ParseJson(Jobctl(**agent, {"stats", "--json"}).out);
  ASSERT_EQ(Field(stats, "types").list_value().values_size(), 1);
  const auto echo = Field(stats, "types").list_value().values(0).struct_value();
  EXPECT_EQ(Field(echo, "type").string_value(), "echo");
  EXPECT_EQ(Field(echo, "submitted").kind_case(), google::protobuf::Value::kNumberValue);
  EXPECT_EQ(Field(echo, "submitted").number_value(), 1);
  EXPECT_EQ(Field(Field(echo, "outcomes").struct_value(), "ok").number_value(), 1);
  EXPECT_EQ(Field(Field(stats, "queue").struct_value(), "depth").number_value(), 0);
  EXPECT_TRUE(Field(stats, "sessions").has_number_value());
  EXPECT_FALSE(stats.fields().contains("workers"));

  const auto slabs = ParseJson(Jobctl(**agent, {"slabs", "--json"}).out);
  const auto& classes = Field(slabs, "classes").list_value();
  ASSERT_GT(classes.values_size(), 0);
  EXPECT_EQ(Field(classes.values(0).struct_value(), "slab_size").number_value(), 4096);
  // No session is open: every session's segment has these classes, and none is mapped now.
  EXPECT_EQ(Field(classes.values(0).struct_value(), "total").number_value(), 0);

  const auto workers = ParseJson(Jobctl(**agent, {"workers", "--json"}).out);
  const auto& list = Field(workers, "workers").list_value();
  ASSERT_EQ(list.values_size(), 2);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Field(list.values(i).struct_value(), "worker").number_value(), i);
    EXPECT_GT(Field(list.values(i).struct_value(), "pid").number_value(), 0);
  }

  const auto health = Field(ParseJson(Jobctl(**agent, {"health", "--json"}).out), "health").struct_value();
  EXPECT_TRUE(Field(health, "serving").bool_value());
  EXPECT_EQ(Field(health, "workers_ready").number_value(), 2);

  ProgramResult status = Jobctl(**agent, {"status", absl::StrCat(static_cast<uint64_t>(job_id)), "--json"});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  const auto job = Field(ParseJson(status.out), "job").struct_value();
  EXPECT_EQ(Field(job, "id").number_value(), job_id);
  EXPECT_EQ(Field(job, "state").string_value(), "done");
  EXPECT_EQ(Field(job, "outcome").string_value(), "ok");

  ProgramResult failed = Jobctl(**agent, {"submit", "fail", "--data=x", "--json"});
  EXPECT_EQ(failed.exit_code, 1);
  const auto failure = Field(ParseJson(failed.out), "result").struct_value();
  EXPECT_FALSE(Field(failure, "ok").bool_value());
  EXPECT_EQ(Field(failure, "outcome").string_value(), "handler_error");

  ProgramResult top = Jobctl(**agent, {"top", "--json"});
  EXPECT_EQ(top.exit_code, 2);
  EXPECT_THAT(top.err, HasSubstr("top does not print JSON"));
}

TEST(OperationsTest, JobctlDrainWaitFollowsARunningJobUntilNoneIsLeft) {
  auto agent = AgentProcess::Start({.workers = 2});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  auto running = (*client)->Start("sleep", "1500");
  ASSERT_TRUE(running.ok());
  // Wait until a worker has it, so the first progress line must show it running.
  bool busy = false;
  for (int i = 0; i < 500 && !busy; ++i) {
    auto stats = (*agent)->Stats();
    if (stats.ok()) {
      for (const auto& w : stats->workers()) busy |= w.state() == "busy";
    }
    if (!busy) absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_TRUE(busy);
  ProgramResult drain = Jobctl(**agent, {"drain", "--wait", "--interval=50ms"});
  EXPECT_EQ(drain.exit_code, 0) << drain.err;
  EXPECT_THAT(drain.out, HasSubstr("draining: 0 queued, 1 running, 1 of 2 workers busy"));
  EXPECT_THAT(drain.out, HasSubstr("drained: 0 queued, 0 running"));
  auto done = running->Wait(absl::Seconds(20));
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->view(), "slept 1500ms");

  // The agent still runs, refusing jobs; as JSON, the last line says so.
  ProgramResult again = Jobctl(**agent, {"drain", "--wait", "--json"});
  EXPECT_EQ(again.exit_code, 0);
  const auto progress = Field(ParseJson(again.out), "drain").struct_value();
  EXPECT_EQ(Field(progress, "state").string_value(), "drained");
  EXPECT_EQ(Field(progress, "workers").number_value(), 2);
}

TEST(OperationsTest, JobctlDrainWaitEndsWhenASigtermDrainStopsTheAgent) {
  auto agent = AgentProcess::Start({.workers = 1, .extra = {"--grace=20s"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  const std::string socket = (*agent)->socket_path();
  kill((*agent)->pid(), SIGTERM);
  // Either it is still up (and drained: no jobs) or already gone; both end the wait with 0.
  ProgramResult drain = RunProgram({BinDir() + "/jobctl", "drain", "--wait", "--interval=20ms", "--socket=" + socket});
  if (drain.exit_code == 0) {
    EXPECT_THAT(drain.out, ::testing::AnyOf(HasSubstr("drained"), HasSubstr("jobd exited")));
  } else {
    EXPECT_THAT(drain.err, HasSubstr("no agent at")) << "only a drain that found no agent at all may fail";
  }
  auto status = (*agent)->Terminate(absl::Seconds(20));
  ASSERT_TRUE(status.ok());
}

TEST(OperationsTest, HelpAndVersionExitZeroAndBadUsageExitsTwo) {
  const std::string jobctl = BinDir() + "/jobctl";
  const std::string jobd = BinDir() + "/jobd";
  for (const std::vector<std::string>& argv :
       std::vector<std::vector<std::string>>{{jobd, "--help"}, {jobd, "-h"}, {jobctl, "--help"}, {jobctl, "-h"}}) {
    ProgramResult r = RunProgram(argv);
    EXPECT_EQ(r.exit_code, 0) << argv[0] << " " << argv[1] << ": " << r.err;
    EXPECT_THAT(r.out, HasSubstr("Usage:"));
  }
  ProgramResult jobd_help = RunProgram({jobd, "--help"});
  for (const char* flag : {"--run-dir=STRING", "--workers=INT", "--grace=DURATION", "--log-format=STRING",
                           "--log-level=STRING", "--worker-max-rss=STRING", "(default: 2s)"}) {
    EXPECT_THAT(jobd_help.out, HasSubstr(flag));
  }
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {jobctl, "help", "drain"}, {jobctl, "drain", "--help"}, {jobctl, "help", "submit"}}) {
    ProgramResult r = RunProgram(argv);
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_THAT(r.out, HasSubstr("Usage: jobctl " + argv[argv[1] == "help" ? 2 : 1]));
  }
  EXPECT_THAT(RunProgram({jobctl, "help", "drain"}).out, HasSubstr("--wait"));

  for (const std::string& bin : {jobd, jobctl}) {
    ProgramResult v = RunProgram({bin, "--version"});
    EXPECT_EQ(v.exit_code, 0);
    EXPECT_TRUE(std::regex_search(v.out, std::regex(R"(^job(d|ctl) \d+\.\d+\.\d+ \(\w+.* build\)\n$)"))) << v.out;
    EXPECT_THAT(v.out, Not(HasSubstr("NDEBUG")));
  }

  ProgramResult bad_flag = RunProgram({jobd, "--wrokers=2"});
  EXPECT_EQ(bad_flag.exit_code, 2);
  EXPECT_THAT(bad_flag.err, HasSubstr("unknown flag --wrokers"));
  ProgramResult bad_value = RunProgram({jobd, "--workers=two"});
  EXPECT_EQ(bad_value.exit_code, 2);
  EXPECT_THAT(bad_value.err, HasSubstr("--workers='two'"));
  ProgramResult bad_level = RunProgram({jobd}, {"JOBD_LOG_LEVEL=verbose"});
  EXPECT_EQ(bad_level.exit_code, 2);
  EXPECT_THAT(bad_level.err, HasSubstr("allowed trace, debug, info, warn, error, critical, off"));
  ProgramResult bad_format = RunProgram({jobd, "--log-format=xml"});
  EXPECT_EQ(bad_format.exit_code, 2);
  EXPECT_THAT(bad_format.err, HasSubstr("allowed text, json"));
  EXPECT_EQ(RunProgram({jobctl, "frob"}).exit_code, 2);
  EXPECT_EQ(RunProgram({jobctl, "help", "frob"}).exit_code, 2);
  EXPECT_EQ(RunProgram({jobctl, "stats", "--bogus"}).exit_code, 2);
  EXPECT_EQ(RunProgram({jobctl}).exit_code, 2);
}

TEST(OperationsTest, JsonLogsAreOneObjectPerLineAndWorkersAreNamedByTheirSlot) {
  auto agent = AgentProcess::Start({.workers = 2, .extra = {"--log-format=json", "--grace=100ms"}});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok());
  auto late = (*client)->Start("hang", "", {.timeout = absl::Milliseconds(200)})->Wait(absl::Seconds(20));
  ASSERT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  // Past --grace the hung worker is stopped; wait for that line, then for its replacement.
  for (int i = 0; i < 1000 && (*agent)->Log().find("stopping (deadline") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE((*agent)->WaitForReadyWorkers(2));

  // The slots jobctl lists...
  std::set<double> slots;
  const auto workers = ParseJson(Jobctl(**agent, {"workers", "--json"}).out);
  for (const auto& w : Field(workers, "workers").list_value().values()) {
    slots.insert(Field(w.struct_value(), "worker").number_value());
  }
  ASSERT_EQ(slots, (std::set<double>{0, 1}));
  // ...are the only worker numbers in the log, and every line is a JSON object.
  bool saw_arena = false, saw_stop = false;
  const std::vector<std::string> lines = absl::StrSplit((*agent)->Log(), '\n', absl::SkipEmpty());
  for (const std::string& line : lines) {
    const auto entry = ParseJson(line);
    const std::string message = Field(entry, "message").string_value();
    saw_arena |= message.find("classes 4K:128,64K:32,") != std::string::npos;
    if (entry.fields().contains("worker")) {
      EXPECT_TRUE(slots.contains(entry.fields().at("worker").number_value())) << line;
    }
    if (message.find("stopping (deadline") != std::string::npos) {
      saw_stop = true;
      EXPECT_TRUE(entry.fields().contains("worker")) << line;
    }
  }
  EXPECT_TRUE(saw_arena) << "the size classes, once on one line";
  EXPECT_TRUE(saw_stop) << (*agent)->Log();
  EXPECT_THAT(std::string(late.status().message()), Not(HasSubstr("on worker")));
}

TEST(OperationsTest, JobctlSessionsListsEachSessionWithTheKernelsUidAndPid) {
  auto agent = AgentProcess::Start({.workers = 1});
  ASSERT_TRUE(agent.ok()) << agent.status();
  auto client = (*agent)->Connect();
  ASSERT_TRUE(client.ok()) << client.status();
  auto held = (*client)->Start("echo", std::string(100, 'h'))->Wait(absl::Seconds(30));
  ASSERT_TRUE(held.ok()) << held.status();  // a response slab the session holds while we look
  const auto view = ParseJson(Jobctl(**agent, {"sessions", "--json"}).out);
  EXPECT_GT(Field(view, "memory_budget").number_value(), 0);
  const auto& list = Field(view, "sessions").list_value();
  ASSERT_EQ(list.values_size(), 1);
  const auto& me = list.values(0).struct_value();
  EXPECT_EQ(Field(me, "session").number_value(), (*client)->session_id());
  EXPECT_EQ(Field(me, "uid").number_value(), getuid());
  EXPECT_EQ(Field(me, "pid").number_value(), getpid());
  EXPECT_EQ(Field(me, "slabs_in_use").number_value(), 1);
  EXPECT_EQ(Field(me, "bytes_in_use").number_value(), 4096);
  EXPECT_GT(Field(me, "committed_bytes").number_value(), 0);
  ProgramResult table = RunProgram({BinDir() + "/jobctl", "sessions"}, {"JOBD_SOCKET=" + (*agent)->socket_path()});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.out, HasSubstr("SESSION"));
  EXPECT_THAT(table.out, HasSubstr(absl::StrCat(getpid())));
}

}  // namespace
}  // namespace jobd::testing
