// jobctl's views from hand-made replies: JSON shapes by value, tables fitted to a terminal.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tools/jobctl/json_views.h"
#include "tools/jobctl/tables.h"
#include "tools/jobctl/top_screen.h"

namespace jobd::jobctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Struct = google::protobuf::Struct;
using Value = google::protobuf::Value;

Struct Parsed(const std::string& json) {
  Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok()) << json;
  return s;
}

const Value& At(const Struct& s, const std::string& key) { return s.fields().at(key); }

v1::StatsReply Sample(int types, int workers, int classes) {
  v1::StatsReply s;
  for (int i = 0; i < types; ++i) {
    v1::TypeStats* t = s.add_types();
    t->set_type(i == 0 ? "a-type-name-longer-than-its-column" : absl::StrCat("type", i));
    t->set_submitted(10 + i);
    (*t->mutable_outcomes())["ok"] = 9;
    (*t->mutable_outcomes())["deadline_exceeded"] = 1;
    t->mutable_run_time()->set_p99_us(1500);
  }
  for (int i = 0; i < workers; ++i) {
    v1::WorkerStats* w = s.add_workers();
    w->set_index(i);
    w->set_pid(1000 + i);
    w->set_state(i == 0 ? "busy" : "idle");
    w->set_job_id(i == 0 ? 150323855361 : 0);
    w->set_next_job_id(i == 0 ? 150323855362 : 0);
    w->set_jobs_behind(i == 0 ? 3 : 0);
    w->set_jobs_done(31);
  }
  for (int i = 0; i < classes; ++i) {
    v1::SlabClassStats* c = s.add_slabs();
    c->set_slab_size(4096ull << i);
    c->set_total(128);
    c->set_in_use(i == 0 ? 1 : 0);
  }
  s.set_queue_depth(2);
  s.set_live_jobs(3);
  s.set_sessions(1);
  s.set_arena_bytes(1 << 20);
  s.set_arena_path("/run/jobd/arena");
  return s;
}

TEST(JobctlJsonTest, StatsHasTypesQueueAndSessionsWithNumbers) {
  const Struct s = Parsed(StatsJson(Sample(2, 1, 1)));
  ASSERT_EQ(At(s, "types").list_value().values_size(), 2);
  const Struct& t = At(s, "types").list_value().values(0).struct_value();
  EXPECT_EQ(At(t, "submitted").kind_case(), Value::kNumberValue);
  EXPECT_EQ(At(t, "submitted").number_value(), 10);
  EXPECT_EQ(At(At(t, "outcomes").struct_value(), "ok").number_value(), 9);
  EXPECT_EQ(At(At(t, "run_time").struct_value(), "p99_us").number_value(), 1500);
  EXPECT_EQ(At(At(s, "queue").struct_value(), "depth").number_value(), 2);
  EXPECT_EQ(At(s, "sessions").number_value(), 1);
  EXPECT_FALSE(s.fields().contains("workers"));
  EXPECT_FALSE(s.fields().contains("slabs"));
}

TEST(JobctlJsonTest, SlabsHasClassesAndWorkersHasWorkersBySlot) {
  const Struct slabs = Parsed(SlabsJson(Sample(0, 0, 2)));
  ASSERT_EQ(At(slabs, "classes").list_value().values_size(), 2);
  EXPECT_EQ(At(At(slabs, "classes").list_value().values(1).struct_value(), "slab_size").number_value(), 8192);
  EXPECT_EQ(At(At(slabs, "arena").struct_value(), "path").string_value(), "/run/jobd/arena");
  EXPECT_EQ(slabs.fields().size(), 2u);

  const Struct workers = Parsed(WorkersJson(Sample(0, 2, 0)));
  ASSERT_EQ(At(workers, "workers").list_value().values_size(), 2);
  const Struct& busy = At(workers, "workers").list_value().values(0).struct_value();
  EXPECT_EQ(At(busy, "worker").number_value(), 0);
  EXPECT_EQ(At(busy, "job_id").number_value(), 150323855361.0);
  EXPECT_EQ(At(busy, "next_job_id").number_value(), 150323855362.0);
  EXPECT_EQ(At(busy, "jobs_behind").number_value(), 3);
  EXPECT_EQ(At(At(workers, "workers").list_value().values(1).struct_value(), "job_id").kind_case(),
            Value::kNullValue);
}

TEST(JobctlJsonTest, SubmitResultCarriesTheResponseOrTheFailure) {
  const Struct ok = Parsed(SubmitJson({.job_id = 7, .type = "echo", .outcome = "ok", .response = "hi\n"}));
  const Struct& r = At(ok, "result").struct_value();
  EXPECT_TRUE(At(r, "ok").bool_value());
  EXPECT_EQ(At(r, "response").string_value(), "hi\n");
  EXPECT_EQ(At(r, "bytes").number_value(), 3);
  const Struct bad = Parsed(SubmitJson({.job_id = 8, .type = "fail", .outcome = "handler_error", .message = "boom"}));
  EXPECT_FALSE(At(At(bad, "result").struct_value(), "ok").bool_value());
  EXPECT_EQ(At(At(bad, "result").struct_value(), "message").string_value(), "boom");
}

TEST(JobctlJsonTest, DrainProgressCountsRunningAsLiveMinusQueued) {
  const DrainProgress p = ProgressOf(Sample(0, 2, 0));
  EXPECT_EQ(p.state, "draining");
  EXPECT_EQ(p.queued, 2u);
  EXPECT_EQ(p.running, 1u);
  EXPECT_EQ(p.workers_busy, 1u);
  const Struct s = Parsed(DrainJson(p));
  EXPECT_EQ(At(At(s, "drain").struct_value(), "running").number_value(), 1);
  v1::StatsReply idle;
  EXPECT_EQ(ProgressOf(idle).state, "drained");
}

std::vector<std::string> Lines(const std::string& text) { return absl::StrSplit(text, '\n'); }

TEST(JobctlTopTest, AFrameFitsEightyByTwentyFour) {
  const std::string frame = FormatTopScreen(Sample(6, 4, 12), "jobd /run/jobd/jobd.sock   12:00:00", 80, 24);
  const std::vector<std::string> lines = Lines(frame);
  EXPECT_LE(lines.size(), 24u);
  for (const std::string& l : lines) EXPECT_LE(l.size(), 80u) << l;
  EXPECT_NE(frame.back(), '\n') << "a newline after the last line scrolls the screen";
  // Each table keeps its header and folds what does not fit.
  EXPECT_THAT(frame, HasSubstr("TYPE"));
  EXPECT_THAT(frame, HasSubstr("WORKER"));
  EXPECT_THAT(frame, HasSubstr("CLASS"));
  EXPECT_THAT(frame, HasSubstr("more)"));
  EXPECT_THAT(frame, HasSubstr("RUN p99"));       // the p99s stay
  EXPECT_THAT(frame, Not(HasSubstr("RUN p50")));  // the p50s go first
}

TEST(JobctlTopTest, ABigTerminalShowsEverythingUnfolded) {
  const std::string frame = FormatTopScreen(Sample(3, 2, 12), "title", 200, 60);
  EXPECT_THAT(frame, Not(HasSubstr("more)")));
  EXPECT_THAT(frame, HasSubstr("RUN p50"));
  EXPECT_THAT(frame, HasSubstr("type2"));
}

TEST(JobctlTablesTest, ALongNameIsCutToItsColumn) {
  const std::string table = FormatTypes(Sample(1, 0, 0));
  EXPECT_THAT(table, HasSubstr("a-type-name-lon~"));
}

TEST(JobctlTablesTest, NextShowsTheFirstJobBehindAndHowManyMore) {
  const std::string table = FormatWorkers(Sample(0, 2, 0));
  EXPECT_THAT(table, HasSubstr("150323855362 +2"));
}

}  // namespace
}  // namespace jobd::jobctl
