#include "proto/ring_messages.h"

#include <map>
#include <vector>

#include "gtest/gtest.h"
#include "proto/jobd.pb.h"

namespace jobd::wire {
namespace {

class RingMessagesTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kCapacity = 4096;
  shm::RingIndex index_{};
  std::vector<std::byte> data_ = std::vector<std::byte>(kCapacity);
  shm::MessageRing ring_{&index_, data_.data(), kCapacity};
};

TEST_F(RingMessagesTest, AMessageRoundTripsCopiedOrInPlace) {
  v1::Submit submit;
  submit.set_seq(7);
  submit.set_type("resize");
  ASSERT_TRUE(*PushMessage(ring_, submit));
  ASSERT_TRUE(*PushMessage(ring_, submit));
  std::string scratch;
  v1::Submit copied, in_place;
  ASSERT_TRUE(*PopMessage(ring_, copied, &scratch, "bad"));
  ASSERT_TRUE(*PopMessage(ring_, in_place, nullptr, "bad"));
  EXPECT_EQ(copied.seq(), 7u);
  EXPECT_EQ(copied.type(), "resize");
  EXPECT_EQ(in_place.type(), "resize");
  EXPECT_FALSE(*PopMessage(ring_, copied, &scratch, "bad"));  // empty
}

TEST_F(RingMessagesTest, BytesThatDoNotParseAreDataLossNamingWhat) {
  const std::byte garbage[] = {std::byte{0xFF}, std::byte{0xFF}, std::byte{0xFF}};
  ASSERT_TRUE(*ring_.TryPush(garbage));
  std::string scratch;
  v1::Submit out;
  absl::StatusOr<bool> popped = PopMessage(ring_, out, &scratch, "a malformed lane job");
  EXPECT_EQ(popped.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(popped.status().message(), "a malformed lane job");
  EXPECT_FALSE(*PopMessage(ring_, out, &scratch, "x"));  // the bad message was consumed
}

TEST_F(RingMessagesTest, AFullRingSaysSoWithoutLosingWhatItHolds) {
  v1::Submit big;
  big.set_type(std::string(1500, 'x'));
  int pushed = 0;
  while (*PushMessage(ring_, big)) ++pushed;
  EXPECT_GE(pushed, 1);
  std::string scratch;
  v1::Submit out;
  for (int i = 0; i < pushed; ++i) {
    ASSERT_TRUE(*PopMessage(ring_, out, &scratch, "bad"));
    EXPECT_EQ(out.type().size(), 1500u);
  }
}

TEST_F(RingMessagesTest, LaneRecordsGoThroughARingAndAMalformedOneIsConsumedAsDataLoss) {
  const std::map<std::string, std::string> context = {{"a", "b"}};
  ASSERT_TRUE(*PushLaneJob(ring_, 3, "echo", {7, 8}, 100, 42, context));
  LaneJob job;
  ASSERT_TRUE(*PopLaneJob(ring_, job, "bad"));
  EXPECT_EQ(job.seq, 3u);
  EXPECT_EQ(job.type, "echo");
  EXPECT_FALSE(*PopLaneJob(ring_, job, "bad"));  // empty

  const std::vector<std::byte> garbage(20, std::byte{0x5A});
  ASSERT_TRUE(*ring_.TryPush(garbage));
  absl::StatusOr<bool> popped = PopLaneJob(ring_, job, "a malformed lane job");
  ASSERT_FALSE(popped.ok());
  EXPECT_EQ(popped.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(popped.status().message(), "a malformed lane job");
  EXPECT_FALSE(*PopLaneJob(ring_, job, "bad"));  // consumed

  LaneAnswer a;
  a.seq = 77;
  a.message = std::string(100'000, 'm');  // more than the ring takes: cut, still sent
  ASSERT_TRUE(*PushLaneAnswer(ring_, a));
  LaneAnswer back;
  ASSERT_TRUE(*PopLaneAnswer(ring_, back, "bad"));
  EXPECT_EQ(back.seq, 77u);
  EXPECT_EQ(back.message.size(), ring_.max_message() - LaneAnswerBytes(LaneAnswer(), 1 << 20));
}

TEST_F(RingMessagesTest, AWorkersRingCarriesMessagesResultsAndLaneReportsApart) {
  v1::WorkerMessage released;
  released.mutable_lease_released()->set_session(4);
  ASSERT_TRUE(*PushMessage(ring_, released));
  LaneReport report;
  report.session = 4;
  report.job_id = 99;
  report.started = true;
  report.type = "echo";
  ASSERT_TRUE(*PushLaneReport(ring_, report));
  ResultRecord result;
  result.job_id = 77;
  result.code = 9;
  result.response = {0x42, 8};
  result.stamps.worker_done_ns = 5;
  result.message = "no luck";
  ASSERT_TRUE(*PushResultRecord(ring_, result));
  ASSERT_TRUE(*PushMessage(ring_, v1::WorkerMessage()));  // an empty message: no bytes at all

  std::string scratch;
  v1::WorkerMessage msg;
  LaneReport got;
  ResultRecord got_result;
  WorkerUp kind = WorkerUp::kResult;
  ASSERT_TRUE(*PopWorkerUp(ring_, msg, got_result, got, &kind, &scratch, "bad"));
  EXPECT_EQ(kind, WorkerUp::kMessage);
  EXPECT_EQ(msg.lease_released().session(), 4u);
  ASSERT_TRUE(*PopWorkerUp(ring_, msg, got_result, got, &kind, &scratch, "bad"));
  EXPECT_EQ(kind, WorkerUp::kLaneReport);
  EXPECT_EQ(got.job_id, 99u);
  EXPECT_EQ(got.type, "echo");
  ASSERT_TRUE(*PopWorkerUp(ring_, msg, got_result, got, &kind, &scratch, "bad"));
  EXPECT_EQ(kind, WorkerUp::kResult);
  EXPECT_EQ(got_result.job_id, 77u);
  EXPECT_EQ(got_result.code, 9);
  EXPECT_EQ(got_result.response.handle, 0x42u);
  EXPECT_EQ(got_result.stamps.worker_done_ns, 5);
  EXPECT_EQ(got_result.message, "no luck");
  ASSERT_TRUE(*PopWorkerUp(ring_, msg, got_result, got, &kind, &scratch, "bad"));
  EXPECT_EQ(kind, WorkerUp::kMessage);
  EXPECT_EQ(msg.msg_case(), v1::WorkerMessage::MSG_NOT_SET);
  EXPECT_FALSE(*PopWorkerUp(ring_, msg, got_result, got, &kind, &scratch, "bad"));  // empty

  // A record's magic on bytes that are not one: consumed as DataLoss, not parsed as protobuf.
  std::vector<std::byte> cut(LaneReportBytes(report));
  EncodeLaneReport(report, cut);
  cut.pop_back();
  ASSERT_TRUE(*ring_.TryPush(cut));
  std::vector<std::byte> cut_result(ResultRecordBytes(result, 1 << 20));
  EncodeResultRecord(result, cut_result);
  cut_result.pop_back();
  ASSERT_TRUE(*ring_.TryPush(cut_result));
  for (WorkerUp want : {WorkerUp::kLaneReport, WorkerUp::kResult}) {
    absl::StatusOr<bool> popped = PopWorkerUp(ring_, msg, got_result, got, &kind, &scratch, "a malformed record");
    ASSERT_FALSE(popped.ok());
    EXPECT_EQ(popped.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_EQ(popped.status().message(), "a malformed record");
    EXPECT_EQ(kind, want);
  }
  EXPECT_FALSE(*PopWorkerUp(ring_, msg, got_result, got, &kind, &scratch, "bad"));  // consumed
}

TEST_F(RingMessagesTest, AWorkersDownRingCarriesMessagesAndAssignmentsApart) {
  v1::AgentToWorker forget;
  forget.mutable_forget()->set_segment(3);
  ASSERT_TRUE(*PushMessage(ring_, forget));
  AssignmentRecord a;
  a.job_id = 12;
  a.segment = 3;
  const std::vector<std::pair<std::string, std::string>> context = {{"k", "v"}};
  ASSERT_TRUE(*ring_.TryPushWith(AssignmentRecordBytes("echo", context), [&](std::span<std::byte> out) {
    EncodeAssignmentRecord(a, "echo", context, out);
  }));

  std::string scratch;
  v1::AgentToWorker msg;
  AssignmentRecord got;
  bool is_record = true;
  ASSERT_TRUE(*PopMessageOrAssignment(ring_, msg, got, &is_record, &scratch, "bad"));
  EXPECT_FALSE(is_record);
  EXPECT_EQ(msg.forget().segment(), 3u);
  ASSERT_TRUE(*PopMessageOrAssignment(ring_, msg, got, &is_record, &scratch, "bad"));
  EXPECT_TRUE(is_record);
  EXPECT_EQ(got.job_id, 12u);
  EXPECT_EQ(got.type, "echo");
  EXPECT_EQ(got.context, context);
  EXPECT_FALSE(*PopMessageOrAssignment(ring_, msg, got, &is_record, &scratch, "bad"));  // empty
}

}  // namespace
}  // namespace jobd::wire
