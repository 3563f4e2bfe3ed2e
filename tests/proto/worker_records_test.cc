#include "proto/worker_records.h"

#include <cstring>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/jobd.pb.h"
#include "proto/session_records.h"

namespace jobd::wire {
namespace {

AssignmentRecord SomeAssignment() {
  return AssignmentRecord{.job_id = 0x0000000500000029ull,
                          .segment = 5,
                          .attempt = 2,
                          .request = {0x1122334455667788ull, 100},
                          .shared = {0x99, 7},
                          .deadline_unix_us = 1'700'000'000'123'456,
                          .stamps = {.client_sent_ns = 11, .agent_received_ns = 22, .agent_dispatched_ns = 33}};
}

std::vector<std::byte> EncodeAssignment(const AssignmentRecord& a, absl::string_view type,
                                        const std::map<std::string, std::string>& context) {
  std::vector<std::byte> bytes(AssignmentRecordBytes(type, context));
  EncodeAssignmentRecord(a, type, context, bytes);
  return bytes;
}

ResultRecord SomeResult() {
  return ResultRecord{.job_id = 0x0000000500000029ull,
                      .code = 9,
                      .early = true,
                      .response = {0xABCD, 64},
                      .stamps = {.client_sent_ns = 1,
                                 .agent_received_ns = 2,
                                 .agent_dispatched_ns = 3,
                                 .worker_received_ns = 4,
                                 .worker_done_ns = 5},
                      .message = "handler error: 'no luck'"};
}

std::vector<std::byte> EncodeResult(const ResultRecord& r, uint64_t max_bytes = 1 << 20) {
  std::vector<std::byte> bytes(ResultRecordBytes(r, max_bytes));
  EncodeResultRecord(r, bytes);
  return bytes;
}

TEST(WorkerRecordsTest, AnAssignmentRecordDecodesToEveryFieldItWasEncodedFrom) {
  const std::vector<std::byte> bytes = EncodeAssignment(SomeAssignment(), "resize", {{"trace", "abc"}, {"user", "7"}});
  ASSERT_TRUE(IsAssignmentRecord(bytes));
  EXPECT_FALSE(IsResultRecord(bytes));
  AssignmentRecord a;
  a.stamps.worker_done_ns = 99;  // a reused record's: a decode sets every stamp the agent sends
  ASSERT_TRUE(DecodeAssignmentRecord(bytes, a));
  EXPECT_EQ(a.job_id, 0x0000000500000029ull);
  EXPECT_EQ(a.segment, 5u);
  EXPECT_EQ(a.attempt, 2u);
  EXPECT_EQ(a.request.handle, 0x1122334455667788ull);
  EXPECT_EQ(a.request.size, 100u);
  EXPECT_EQ(a.shared.handle, 0x99u);
  EXPECT_EQ(a.shared.size, 7u);
  EXPECT_EQ(a.deadline_unix_us, 1'700'000'000'123'456);
  EXPECT_EQ(a.stamps.client_sent_ns, 11);
  EXPECT_EQ(a.stamps.agent_received_ns, 22);
  EXPECT_EQ(a.stamps.agent_dispatched_ns, 33);
  EXPECT_EQ(a.stamps.worker_done_ns, 0);
  EXPECT_EQ(a.type, "resize");
  const std::vector<std::pair<std::string, std::string>> want = {{"trace", "abc"}, {"user", "7"}};
  EXPECT_EQ(a.context, want);
  ResultRecord r;
  EXPECT_FALSE(DecodeResultRecord(bytes, r));
}

TEST(WorkerRecordsTest, AnAssignmentRecordCutShortWithBytesAfterItOrAReservedWordSetDoesNotDecode) {
  const std::vector<std::byte> bytes = EncodeAssignment(SomeAssignment(), "resize", {{"k", "v"}});
  AssignmentRecord a;
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeAssignmentRecord(std::span(bytes).first(n), a)) << n << " bytes";
  }
  std::vector<std::byte> longer = bytes;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(DecodeAssignmentRecord(longer, a));
  std::vector<std::byte> reserved = bytes;
  worker_internal::AssignmentHead head;
  std::memcpy(&head, reserved.data(), sizeof head);
  head.reserved = 1;
  std::memcpy(reserved.data(), &head, sizeof head);
  EXPECT_FALSE(DecodeAssignmentRecord(reserved, a));
  EXPECT_TRUE(DecodeAssignmentRecord(bytes, a));
}

TEST(WorkerRecordsTest, AnAssignmentClaimingMoreContextEntriesThanItsBytesHoldIsRefusedBeforeAllocating) {
  std::vector<std::byte> bytes = EncodeAssignment(SomeAssignment(), "echo", {});
  worker_internal::AssignmentHead head;
  std::memcpy(&head, bytes.data(), sizeof head);
  head.context_entries = 0xFFFFFFFFu;
  std::memcpy(bytes.data(), &head, sizeof head);
  AssignmentRecord a;
  EXPECT_FALSE(DecodeAssignmentRecord(bytes, a));
  EXPECT_LT(a.context.capacity(), 1000u);
}

TEST(WorkerRecordsTest, AResultRecordDecodesToEveryFieldItWasEncodedFrom) {
  const std::vector<std::byte> bytes = EncodeResult(SomeResult());
  ASSERT_TRUE(IsResultRecord(bytes));
  EXPECT_FALSE(IsAssignmentRecord(bytes));
  ResultRecord r;
  ASSERT_TRUE(DecodeResultRecord(bytes, r));
  const ResultRecord want = SomeResult();
  EXPECT_EQ(r.job_id, want.job_id);
  EXPECT_EQ(r.code, 9);
  EXPECT_TRUE(r.early);
  EXPECT_EQ(r.response.handle, 0xABCDu);
  EXPECT_EQ(r.response.size, 64u);
  EXPECT_EQ(r.stamps.client_sent_ns, 1);
  EXPECT_EQ(r.stamps.agent_received_ns, 2);
  EXPECT_EQ(r.stamps.agent_dispatched_ns, 3);
  EXPECT_EQ(r.stamps.worker_received_ns, 4);
  EXPECT_EQ(r.stamps.worker_done_ns, 5);
  EXPECT_EQ(r.message, want.message);
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(DecodeResultRecord(std::span(bytes).first(n), r)) << n;
  std::vector<std::byte> longer = bytes;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(DecodeResultRecord(longer, r));
  AssignmentRecord a;
  EXPECT_FALSE(DecodeAssignmentRecord(bytes, a));
}

TEST(WorkerRecordsTest, AResultWhoseEarlyFlagIsNeitherZeroNorOneDoesNotDecode) {
  std::vector<std::byte> bytes = EncodeResult(SomeResult());
  worker_internal::ResultHead head;
  std::memcpy(&head, bytes.data(), sizeof head);
  head.early = 2;
  std::memcpy(bytes.data(), &head, sizeof head);
  ResultRecord r;
  EXPECT_FALSE(DecodeResultRecord(bytes, r));
}

TEST(WorkerRecordsTest, AResultsMessageIsCutToWhatTheRingTakes) {
  ResultRecord big = SomeResult();
  big.message = std::string(5000, 'm');
  const uint64_t max = sizeof(worker_internal::ResultHead) + 100;
  const std::vector<std::byte> bytes = EncodeResult(big, max);
  EXPECT_EQ(bytes.size(), max);
  ResultRecord r;
  ASSERT_TRUE(DecodeResultRecord(bytes, r));
  EXPECT_EQ(r.message, std::string(100, 'm'));
}

// One pop tells them apart: no protobuf message a worker's rings carry starts with a 0 byte, and
// each record's magic is its own.
TEST(WorkerRecordsTest, NoMessageOrOtherRecordOnAWorkersRingIsTakenForAJobRecord) {
  v1::WorkerMessage result;
  result.mutable_result()->set_job_id(0x52576a00);  // the magic's value, as a field's
  v1::WorkerMessage released;
  released.mutable_lease_released()->set_session(3);
  v1::AgentToWorker assignment;
  assignment.mutable_assignment()->set_job_id(0x41576a00);
  v1::AgentToWorker forget;
  forget.mutable_forget()->set_segment(3);
  for (const google::protobuf::MessageLite* m : std::initializer_list<const google::protobuf::MessageLite*>{
           &result, &released, &assignment, &forget}) {
    const std::string s = m->SerializeAsString();
    const auto bytes = std::as_bytes(std::span(s.data(), s.size()));
    EXPECT_FALSE(IsAssignmentRecord(bytes));
    EXPECT_FALSE(IsResultRecord(bytes));
  }
  LaneReport report;
  report.type = "echo";
  std::vector<std::byte> report_bytes(LaneReportBytes(report));
  EncodeLaneReport(report, report_bytes);
  EXPECT_FALSE(IsResultRecord(report_bytes));
  EXPECT_FALSE(IsLaneReport(EncodeResult(SomeResult())));
  EXPECT_FALSE(IsSubmitRecord(EncodeResult(SomeResult())));
  EXPECT_FALSE(IsCompletionRecord(EncodeAssignment(SomeAssignment(), "echo", {})));
}

}  // namespace
}  // namespace jobd::wire
