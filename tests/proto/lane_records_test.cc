#include "proto/lane_records.h"

#include <map>
#include <vector>

#include "gtest/gtest.h"

namespace jobd::wire {
namespace {

std::vector<std::byte> EncodeJob(uint32_t seq, absl::string_view type, LaneSlab request, uint64_t timeout_ms,
                                 int64_t sent_ns, const std::map<std::string, std::string>& context) {
  std::vector<std::byte> bytes(LaneJobBytes(type, context));
  EncodeLaneJob(seq, type, request, timeout_ms, sent_ns, context, bytes);
  return bytes;
}

std::vector<std::byte> EncodeAnswer(const LaneAnswer& answer, uint64_t max_bytes = 1 << 20) {
  std::vector<std::byte> bytes(LaneAnswerBytes(answer, max_bytes));
  EncodeLaneAnswer(answer, bytes);
  return bytes;
}

LaneAnswer SomeAnswer() {
  LaneAnswer a;
  a.seq = 77;
  a.outcome = 3;
  a.code = 13;
  a.response = {0xABCDEF0123456789ull, 4096};
  a.run_us = 1234;
  a.client_sent_ns = -5;
  a.worker_received_ns = 1'000'000'007;
  a.worker_done_ns = 1'000'000'999;
  a.message = "handler error: 'no luck'";
  return a;
}

std::vector<std::byte> EncodeReport(const LaneReport& report) {
  std::vector<std::byte> bytes(LaneReportBytes(report));
  EncodeLaneReport(report, bytes);
  return bytes;
}

LaneReport SomeReport() {
  LaneReport r;
  r.session = 12;
  r.job_id = 0x0000000C00000005ull;
  r.started = true;
  r.deadline_unix_us = 1'800'000'000'000'000;
  r.outcome = 4;
  r.run_us = 987;
  r.type = "resize";
  return r;
}

TEST(LaneRecordsTest, AJobRoundTripsWithItsTypeAndContext) {
  const std::map<std::string, std::string> context = {{"trace", "abc"}, {"", "empty key"}, {"user", ""}};
  const std::vector<std::byte> bytes = EncodeJob(9, "resize", {0x1122334455667788ull, 64}, 250, 123456789, context);
  LaneJob job;
  ASSERT_TRUE(DecodeLaneJob(bytes, job));
  EXPECT_EQ(job.seq, 9u);
  EXPECT_EQ(job.type, "resize");
  EXPECT_EQ(job.request.handle, 0x1122334455667788ull);
  EXPECT_EQ(job.request.size, 64u);
  EXPECT_EQ(job.timeout_ms, 250u);
  EXPECT_EQ(job.client_sent_ns, 123456789);
  const std::map<std::string, std::string> decoded(job.context.begin(), job.context.end());
  EXPECT_EQ(decoded, context);
  // A record reused for a smaller job keeps none of the last one's context.
  ASSERT_TRUE(DecodeLaneJob(EncodeJob(10, "t", {}, 0, 0, {}), job));
  EXPECT_EQ(job.type, "t");
  EXPECT_TRUE(job.context.empty());
  EXPECT_EQ(job.request.handle, 0u);
}

TEST(LaneRecordsTest, AnAnswerRoundTrips) {
  const LaneAnswer a = SomeAnswer();
  LaneAnswer back;
  ASSERT_TRUE(DecodeLaneAnswer(EncodeAnswer(a), back));
  EXPECT_EQ(back.seq, a.seq);
  EXPECT_EQ(back.outcome, a.outcome);
  EXPECT_EQ(back.code, a.code);
  EXPECT_EQ(back.response.handle, a.response.handle);
  EXPECT_EQ(back.response.size, a.response.size);
  EXPECT_EQ(back.run_us, a.run_us);
  EXPECT_EQ(back.client_sent_ns, a.client_sent_ns);
  EXPECT_EQ(back.worker_received_ns, a.worker_received_ns);
  EXPECT_EQ(back.worker_done_ns, a.worker_done_ns);
  EXPECT_EQ(back.message, a.message);
}

// The SDK and the worker decode every record into one reused object: each must read exactly the
// strings its own record says, whatever the last one held.
TEST(LaneRecordsTest, RecordsDecodedIntoOneObjectEachReadTheirOwnStrings) {
  LaneJob job;
  for (const absl::string_view type : {"resize", "resize", "resizf", "r", "", "resize-longer-than-sso-buffer"}) {
    SCOPED_TRACE(type);
    ASSERT_TRUE(DecodeLaneJob(EncodeJob(1, type, {}, 0, 0, {}), job));
    EXPECT_EQ(job.type, type);
  }
  LaneAnswer a = SomeAnswer();
  LaneAnswer back;
  for (const absl::string_view message : {"no luck", "no luck", "", "", "no lucK", "x"}) {
    SCOPED_TRACE(message);
    a.message = std::string(message);
    ASSERT_TRUE(DecodeLaneAnswer(EncodeAnswer(a), back));
    EXPECT_EQ(back.message, message);
  }
  LaneReport r = SomeReport();
  LaneReport report_back;
  for (const absl::string_view type : {"resize", "resize", "other"}) {
    r.type = std::string(type);
    ASSERT_TRUE(DecodeLaneReport(EncodeReport(r), report_back));
    EXPECT_EQ(report_back.type, type);
  }
}

TEST(LaneRecordsTest, AMessageLongerThanTheRecordMayBeIsCut) {
  LaneAnswer a = SomeAnswer();
  a.message = std::string(10'000, 'x');
  const std::vector<std::byte> bytes = EncodeAnswer(a, 200);
  EXPECT_EQ(bytes.size(), 200u);
  LaneAnswer back;
  ASSERT_TRUE(DecodeLaneAnswer(bytes, back));
  // All that fits after the head (the bytes of an answer with no message).
  const uint64_t head = LaneAnswerBytes(LaneAnswer(), 1 << 20);
  EXPECT_EQ(back.message, std::string(200 - head, 'x'));
}

TEST(LaneRecordsTest, AReportRoundTripsAndNoProtobufMessageLooksLikeOne) {
  for (bool started : {true, false}) {
    LaneReport r = SomeReport();
    r.started = started;
    const std::vector<std::byte> bytes = EncodeReport(r);
    EXPECT_TRUE(IsLaneReport(bytes));
    LaneReport back;
    back.type = "a longer type than the next one";
    ASSERT_TRUE(DecodeLaneReport(bytes, back));
    EXPECT_EQ(back.session, r.session);
    EXPECT_EQ(back.job_id, r.job_id);
    EXPECT_EQ(back.started, started);
    EXPECT_EQ(back.deadline_unix_us, r.deadline_unix_us);
    EXPECT_EQ(back.outcome, r.outcome);
    EXPECT_EQ(back.run_us, r.run_us);
    EXPECT_EQ(back.type, "resize");
  }
  // A worker's ring carries both: a report starts with a 0 byte, which no protobuf message does
  // (its first byte is a field's tag, and field 0 does not exist).
  EXPECT_EQ(EncodeReport(SomeReport())[0], std::byte{0});
  const std::vector<std::byte> result = {std::byte{0x12}, std::byte{0x00}};  // WorkerMessage{result: {}}
  EXPECT_FALSE(IsLaneReport(result));
  EXPECT_FALSE(IsLaneReport(std::vector<std::byte>(3, std::byte{0})));
}

TEST(LaneRecordsTest, EveryCutAndEveryExtraByteIsRefused) {
  const std::vector<std::byte> job = EncodeJob(1, "echo", {5, 6}, 0, 0, {{"k", "v"}, {"kk", "vv"}});
  const std::vector<std::byte> answer = EncodeAnswer(SomeAnswer());
  LaneJob j;
  LaneAnswer a;
  for (size_t n = 0; n < job.size(); ++n) EXPECT_FALSE(DecodeLaneJob(std::span(job).first(n), j)) << n;
  for (size_t n = 0; n < answer.size(); ++n) EXPECT_FALSE(DecodeLaneAnswer(std::span(answer).first(n), a)) << n;
  std::vector<std::byte> longer = job;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(DecodeLaneJob(longer, j));
  longer = answer;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(DecodeLaneAnswer(longer, a));
  const std::vector<std::byte> report = EncodeReport(SomeReport());
  LaneReport r;
  for (size_t n = 0; n < report.size(); ++n) EXPECT_FALSE(DecodeLaneReport(std::span(report).first(n), r)) << n;
  longer = report;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(DecodeLaneReport(longer, r));
  // No record passes for another.
  EXPECT_FALSE(DecodeLaneJob(answer, j));
  EXPECT_FALSE(DecodeLaneAnswer(job, a));
  EXPECT_FALSE(DecodeLaneReport(job, r));
  EXPECT_FALSE(DecodeLaneReport(answer, r));
  EXPECT_FALSE(DecodeLaneJob(report, j));
  EXPECT_FALSE(DecodeLaneAnswer(report, a));
}

TEST(LaneRecordsTest, LengthsThatPointPastTheRecordAreRefusedWithoutAllocatingForThem) {
  std::vector<std::byte> job = EncodeJob(1, "echo", {}, 0, 0, {{"k", "v"}});
  LaneJob j;
  // The head's last two words: the type's length, then the number of context entries.
  auto set_word = [&](std::vector<std::byte>& bytes, size_t at, uint32_t value) {
    std::memcpy(bytes.data() + at, &value, sizeof value);
  };
  std::vector<std::byte> bad = job;
  set_word(bad, 40, 0xFFFFFFFF);  // type length
  EXPECT_FALSE(DecodeLaneJob(bad, j));
  bad = job;
  set_word(bad, 44, 0xFFFFFFFF);  // entries: the decoder must not size a vector by it
  EXPECT_FALSE(DecodeLaneJob(bad, j));
  bad = job;
  set_word(bad, 48 + 4, 0xFFFFFFFF);  // the entry's key length
  EXPECT_FALSE(DecodeLaneJob(bad, j));
  bad = job;
  set_word(bad, 0, 0);  // magic
  EXPECT_FALSE(DecodeLaneJob(bad, j));
  std::vector<std::byte> answer = EncodeAnswer(SomeAnswer());
  LaneAnswer a;
  bad = answer;
  set_word(bad, 64, 0xFFFFFFFF);  // message length
  EXPECT_FALSE(DecodeLaneAnswer(bad, a));
  bad = answer;
  set_word(bad, 68, 1);  // reserved
  EXPECT_FALSE(DecodeLaneAnswer(bad, a));
  std::vector<std::byte> report = EncodeReport(SomeReport());
  LaneReport r;
  ASSERT_TRUE(DecodeLaneReport(report, r));
  bad = report;
  set_word(bad, 40, 0xFFFFFFFF);  // type length
  EXPECT_FALSE(DecodeLaneReport(bad, r));
  bad = report;
  set_word(bad, 36, 2);  // started: only 0 or 1
  EXPECT_FALSE(DecodeLaneReport(bad, r));
  bad = report;
  set_word(bad, 44, 1);  // reserved
  EXPECT_FALSE(DecodeLaneReport(bad, r));
}

}  // namespace
}  // namespace jobd::wire
