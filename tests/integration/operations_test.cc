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

#include "absl/strings/numbers.h"
#include "client/socket_path.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/grpc_health_v1.grpc.pb.h"
#include "tests/integration/agent_process.h"

namespace jobd::testing {
namespace {

using ::testing::HasSubstr;

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

  auto [code, body] = HttpGet(port, "/metrics");
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
  EXPECT_THAT(body, HasSubstr("jobd_worker_restarts_total{reason=\"crash\"} 1"));
  EXPECT_THAT(body, HasSubstr("jobd_rejections_total{reason=\"not_found\"} 1"));
  EXPECT_THAT(body, HasSubstr("jobd_arena_slabs_total{class=\"4KiB\"} 128"));
  EXPECT_THAT(body, HasSubstr("jobd_workers{state=\"idle\"} 2"));
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
  EXPECT_EQ(health.exit_code, 0);
  EXPECT_THAT(health.out, HasSubstr("SERVING: 2 of 2 workers ready"));
  ProgramResult slabs = RunProgram({BinDir() + "/jobctl", "slabs"}, env);
  EXPECT_THAT(slabs.out, HasSubstr("64 MiB"));
  ProgramResult workers = RunProgram({BinDir() + "/jobctl", "workers"}, env);
  EXPECT_THAT(workers.out, HasSubstr("idle"));
  ProgramResult top = RunProgram({BinDir() + "/jobctl", "top", "--iterations=2", "--interval=10ms"}, env);
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_THAT(top.out, HasSubstr("WORKER"));
  EXPECT_THAT(top.out, HasSubstr("CLASS"));
  ProgramResult json = RunProgram({BinDir() + "/jobctl", "stats", "--json"}, env);
  EXPECT_THAT(json.out, HasSubstr("\"slabs\""));
  ProgramResult submit = RunProgram({BinDir() + "/jobctl", "submit", "echo", "--data=from jobctl"}, env);
  EXPECT_EQ(submit.exit_code, 0);
  EXPECT_EQ(submit.out, "from jobctl\n");
  ProgramResult bad = RunProgram({BinDir() + "/jobctl", "submit", "nope", "--data=x"}, env);
  EXPECT_EQ(bad.exit_code, 1);
}

}  // namespace
}  // namespace jobd::testing
