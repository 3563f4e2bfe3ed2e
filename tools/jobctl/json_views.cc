#include "tools/jobctl/json_views.h"

#include <map>

#include "tools/common/json_writer.h"

namespace jobd::jobctl {
namespace {

using cli::JsonWriter;

void Latency(JsonWriter& j, absl::string_view key, const v1::LatencySummary& l) {
  j.Key(key).BeginObject();
  j.Field("count", l.count()).Field("mean_us", l.mean_us()).Field("p50_us", l.p50_us()).Field("p99_us", l.p99_us());
  j.EndObject();
}

std::string Done(JsonWriter& j) { return j.str() + "\n"; }

}  // namespace

std::string StatsJson(const v1::StatsReply& s) {
  JsonWriter j;
  j.BeginObject().Key("types").BeginArray();
  for (const v1::TypeStats& t : s.types()) {
    j.BeginObject().Field("type", t.type()).Field("submitted", t.submitted()).Field("queued", t.queued());
    j.Key("outcomes").BeginObject();
    // The map's order is unspecified; sorted keys keep the output stable between calls.
    std::map<std::string, uint64_t> outcomes(t.outcomes().begin(), t.outcomes().end());
    for (const auto& [name, n] : outcomes) j.Field(name, n);
    j.EndObject();
    Latency(j, "queue_wait", t.queue_wait());
    Latency(j, "run_time", t.run_time());
    j.EndObject();
  }
  j.EndArray();
  j.Key("queue").BeginObject();
  j.Field("depth", s.queue_depth()).Field("live_jobs", s.live_jobs()).Field("oldest_queued_age_s", s.oldest_queued_age_s());
  j.Field("draining", s.draining());
  j.EndObject();
  j.Field("sessions", s.sessions()).Field("uptime_s", s.uptime_s());
  j.EndObject();
  return Done(j);
}

std::string SlabsJson(const v1::StatsReply& s) {
  JsonWriter j;
  j.BeginObject().Key("arena").BeginObject().Field("path", s.arena_path()).Field("bytes", s.arena_bytes()).EndObject();
  j.Key("classes").BeginArray();
  for (const v1::SlabClassStats& c : s.slabs()) {
    j.BeginObject().Field("slab_size", c.slab_size()).Field("total", c.total()).Field("in_use", c.in_use());
    j.Field("bytes_in_use", c.bytes_in_use()).Field("acquire_failures", c.acquire_failures()).EndObject();
  }
  j.EndArray().EndObject();
  return Done(j);
}

std::string SessionsJson(const v1::StatsReply& s) {
  JsonWriter j;
  j.BeginObject().Field("memory_budget", s.memory_budget()).Field("committed_bytes", s.committed_bytes());
  j.Key("sessions").BeginArray();
  for (const v1::SessionStats& x : s.session_list()) {
    j.BeginObject().Field("session", x.id()).Field("name", x.name()).Field("pid", x.pid()).Field("uid", x.uid());
    j.Field("gid", x.gid()).Field("slabs_in_use", x.slabs_in_use()).Field("bytes_in_use", x.bytes_in_use());
    j.Field("committed_bytes", x.committed_bytes()).Field("segment_bytes", x.segment_bytes());
    j.Field("live_jobs", x.live_jobs()).EndObject();
  }
  j.EndArray().EndObject();
  return Done(j);
}

std::string WorkersJson(const v1::StatsReply& s) {
  JsonWriter j;
  j.BeginObject().Key("workers").BeginArray();
  for (const v1::WorkerStats& w : s.workers()) {
    j.BeginObject().Field("worker", w.index()).Field("pid", w.pid()).Field("state", w.state());
    j.Key("job_id");
    if (w.job_id() == 0) {
      j.Null();
    } else {
      j.Uint(w.job_id());
    }
    j.Key("next_job_id");
    if (w.next_job_id() == 0) {
      j.Null();
    } else {
      j.Uint(w.next_job_id());
    }
    j.Field("jobs_behind", w.jobs_behind());
    j.Field("jobs_done", w.jobs_done()).Field("restarts", w.restarts()).Field("rss_bytes", w.rss_bytes());
    j.EndObject();
  }
  j.EndArray().EndObject();
  return Done(j);
}

std::string JobJson(const v1::JobStatusReply& r) {
  JsonWriter j;
  j.BeginObject().Key("job").BeginObject();
  j.Field("id", r.job_id()).Field("type", r.type()).Field("state", r.state());
  j.Key("outcome");
  if (r.outcome().empty()) {
    j.Null();
  } else {
    j.String(r.outcome());
  }
  j.Field("attempt", r.attempt());
  j.EndObject().EndObject();
  return Done(j);
}

std::string HealthJson(const v1::HealthReply& h) {
  JsonWriter j;
  j.BeginObject().Key("health").BeginObject();
  j.Field("serving", h.serving()).Field("workers_ready", h.workers_ready());
  j.Field("workers_configured", h.workers_configured()).Field("draining", h.draining()).Field("version", h.version());
  j.EndObject().EndObject();
  return Done(j);
}

std::string SubmitJson(const SubmitResult& r) {
  JsonWriter j;
  const bool ok = r.outcome == "ok";
  j.BeginObject().Key("result").BeginObject();
  j.Key("job_id");
  if (r.job_id == 0) {
    j.Null();
  } else {
    j.Uint(r.job_id);
  }
  j.Field("type", r.type).Field("ok", ok).Field("outcome", r.outcome);
  if (ok) {
    j.Field("bytes", static_cast<uint64_t>(r.response.size())).Field("response", r.response);
  } else {
    j.Field("message", r.message);
  }
  j.Field("elapsed_us", r.elapsed_us);
  j.EndObject().EndObject();
  return Done(j);
}

std::string DrainJson(const DrainProgress& p) {
  JsonWriter j;
  j.BeginObject().Key("drain").BeginObject();
  j.Field("state", p.state).Field("queued", p.queued).Field("running", p.running);
  j.Field("workers", p.workers).Field("workers_busy", p.workers_busy);
  j.EndObject().EndObject();
  return Done(j);
}

DrainProgress ProgressOf(const v1::StatsReply& s) {
  DrainProgress p;
  p.queued = s.queue_depth();
  p.running = s.live_jobs() > s.queue_depth() ? s.live_jobs() - s.queue_depth() : 0;
  p.workers = static_cast<uint32_t>(s.workers_size());
  for (const v1::WorkerStats& w : s.workers()) p.workers_busy += w.state() == "busy" ? 1 : 0;
  p.state = p.queued == 0 && p.running == 0 ? "drained" : "draining";
  return p;
}

}  // namespace jobd::jobctl
