// jobctl drain [--wait]: refuse new jobs and say what is left; with --wait, follow the drain
// to its end.
#include <iostream>

#include "absl/strings/str_format.h"
#include "grpcpp/grpcpp.h"
#include "tools/jobctl/commands.h"
#include "tools/jobctl/json_views.h"

namespace jobd::jobctl {
namespace {

void Print(const Options& o, const DrainProgress& p) {
  if (o.json) {
    std::cout << DrainJson(p);
  } else if (p.state == "exited") {
    std::cout << "jobd exited\n";
  } else {
    std::cout << absl::StrFormat("%s: %d queued, %d running, %d of %d workers busy\n", p.state, p.queued,
                                 p.running, p.workers_busy, p.workers);
  }
  std::cout << std::flush;
}

}  // namespace

int Drain(const Options& o, bool wait) {
  std::unique_ptr<v1::Jobd::Stub> stub = Connect(o);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + o.timeout));
    v1::DrainReply reply;
    const grpc::Status st = stub->Drain(&ctx, v1::DrainRequest(), &reply);
    if (!st.ok()) return Fail("no agent at " + o.socket + ": " + st.error_message());
  }
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + o.timeout));
    v1::StatsReply stats;
    const grpc::Status st = stub->Stats(&ctx, v1::StatsRequest(), &stats);
    if (!st.ok()) {
      // It was there a moment ago and answered the drain: gone now means it finished and exited
      // (a SIGTERM drain ends that way): UNAVAILABLE once its socket is closed, CANCELLED for a
      // call that reached it while its server was shutting down. A deadline, though, is an agent
      // that hangs.
      const grpc::StatusCode code = st.error_code();
      if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::CANCELLED) {
        return Fail("agent stopped answering: " + st.error_message());
      }
      Print(o, {.state = "exited"});
      return 0;
    }
    const DrainProgress progress = ProgressOf(stats);
    Print(o, progress);
    if (!wait || progress.state == "drained") return 0;
    absl::SleepFor(o.interval);
  }
}

}  // namespace jobd::jobctl
