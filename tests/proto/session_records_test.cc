#include "proto/session_records.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/jobd.pb.h"

namespace jobd::wire {
namespace {

SubmitFixed SomeFixed() {
  return SubmitFixed{.seq = 9,
                     .request = {0x1122334455667788ull, 5},
                     .shared = {0x99, 3},
                     .timeout_ms = 2500,
                     .client_sent_ns = -7,
                     .policy = 1,
                     .priority = 1,
                     .retry_max_attempts = 3,
                     .retry_backoff_ms = 40,
                     .retry_handler_errors = true};
}

std::vector<std::byte> EncodeSubmit(const SubmitFixed& f, absl::string_view type,
                                    const std::map<std::string, std::string>& context) {
  std::vector<std::byte> bytes(SubmitRecordBytes(type, context));
  EncodeSubmitRecord(f, type, context, bytes);
  return bytes;
}

CompletionRecord SomeCompletion() {
  return CompletionRecord{.seq = 41,
                          .outcome = 4,
                          .code = 13,
                          .response = {0xABCD, 64},
                          .queue_wait_us = 10,
                          .run_us = 20,
                          .attempts = 2,
                          .early = true,
                          .client_sent_ns = 1,
                          .agent_received_ns = 2,
                          .agent_dispatched_ns = 3,
                          .worker_received_ns = 4,
                          .worker_done_ns = 5,
                          .agent_result_ns = 6,
                          .agent_sent_ns = 7,
                          .message = "handler error: 'no luck'"};
}

std::vector<std::byte> EncodeCompletion(const CompletionRecord& c, uint64_t max_bytes = 1 << 20) {
  std::vector<std::byte> bytes(CompletionRecordBytes(c, max_bytes));
  EncodeCompletionRecord(c, bytes);
  return bytes;
}

TEST(SessionRecordsTest, ASubmitRecordDecodesToEveryFieldItWasEncodedFrom) {
  const std::vector<std::byte> bytes = EncodeSubmit(SomeFixed(), "resize", {{"trace", "abc"}, {"user", "7"}});
  ASSERT_TRUE(IsSubmitRecord(bytes));
  SubmitRecord r;
  ASSERT_TRUE(DecodeSubmitRecord(bytes, r));
  EXPECT_EQ(r.fixed.seq, 9u);
  EXPECT_EQ(r.fixed.request.handle, 0x1122334455667788ull);
  EXPECT_EQ(r.fixed.request.size, 5u);
  EXPECT_EQ(r.fixed.shared.handle, 0x99u);
  EXPECT_EQ(r.fixed.shared.size, 3u);
  EXPECT_EQ(r.fixed.timeout_ms, 2500u);
  EXPECT_EQ(r.fixed.client_sent_ns, -7);
  EXPECT_EQ(r.fixed.policy, 1);
  EXPECT_EQ(r.fixed.priority, 1);
  EXPECT_EQ(r.fixed.retry_max_attempts, 3u);
  EXPECT_EQ(r.fixed.retry_backoff_ms, 40u);
  EXPECT_TRUE(r.fixed.retry_handler_errors);
  EXPECT_EQ(r.type, "resize");
  const std::vector<std::pair<std::string, std::string>> want = {{"trace", "abc"}, {"user", "7"}};
  EXPECT_EQ(r.context, want);
  EXPECT_FALSE(IsCompletionRecord(bytes));
  CompletionRecord c;
  EXPECT_FALSE(DecodeCompletionRecord(bytes, c));
}

TEST(SessionRecordsTest, ASubmitRecordCutShortOrWithBytesAfterItDoesNotDecode) {
  const std::vector<std::byte> bytes = EncodeSubmit(SomeFixed(), "resize", {{"k", "v"}});
  SubmitRecord r;
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeSubmitRecord(std::span(bytes).first(n), r)) << n << " bytes";
  }
  std::vector<std::byte> longer = bytes;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(DecodeSubmitRecord(longer, r));
  EXPECT_TRUE(DecodeSubmitRecord(bytes, r));
}

TEST(SessionRecordsTest, ASubmitRecordWhoseStringsAreNotUtf8DoesNotDecode) {
  SubmitRecord r;
  EXPECT_FALSE(DecodeSubmitRecord(EncodeSubmit(SomeFixed(), "bad\xff", {}), r));
  EXPECT_FALSE(DecodeSubmitRecord(EncodeSubmit(SomeFixed(), "echo", {{"k\xc0\x80", "v"}}), r));  // overlong
  EXPECT_FALSE(DecodeSubmitRecord(EncodeSubmit(SomeFixed(), "echo", {{"k", "\xed\xa0\x80"}}), r));  // surrogate
  EXPECT_TRUE(DecodeSubmitRecord(EncodeSubmit(SomeFixed(), "échо", {{"ключ", "值 🙂"}}), r));
  EXPECT_EQ(r.context[0].second, "值 🙂");
}

TEST(SessionRecordsTest, ASubmitRecordClaimingMoreContextEntriesThanItsBytesHoldIsRefusedBeforeAllocating) {
  std::vector<std::byte> bytes = EncodeSubmit(SomeFixed(), "echo", {});
  session_internal::SubmitHead head;
  std::memcpy(&head, bytes.data(), sizeof head);
  head.context_entries = 0xFFFFFFFFu;
  std::memcpy(bytes.data(), &head, sizeof head);
  SubmitRecord r;
  EXPECT_FALSE(DecodeSubmitRecord(bytes, r));
  EXPECT_LT(r.context.capacity(), 1000u);
}

TEST(SessionRecordsTest, AFlagThatIsNeitherZeroNorOneOrAReservedWordSetDoesNotDecode) {
  std::vector<std::byte> bytes = EncodeSubmit(SomeFixed(), "echo", {});
  session_internal::SubmitHead head;
  std::memcpy(&head, bytes.data(), sizeof head);
  SubmitRecord r;
  for (auto mutate : {+[](session_internal::SubmitHead& h) { h.retry_handler_errors = 2; },
                      +[](session_internal::SubmitHead& h) { h.reserved = 1; }}) {
    session_internal::SubmitHead bad = head;
    mutate(bad);
    std::vector<std::byte> copy = bytes;
    std::memcpy(copy.data(), &bad, sizeof bad);
    EXPECT_FALSE(DecodeSubmitRecord(copy, r));
  }
  std::vector<std::byte> c = EncodeCompletion(SomeCompletion());
  session_internal::CompletionHead ch;
  std::memcpy(&ch, c.data(), sizeof ch);
  ch.early = 2;
  std::memcpy(c.data(), &ch, sizeof ch);
  CompletionRecord cr;
  EXPECT_FALSE(DecodeCompletionRecord(c, cr));
}

TEST(SessionRecordsTest, ACompletionRecordDecodesToEveryFieldItWasEncodedFrom) {
  const std::vector<std::byte> bytes = EncodeCompletion(SomeCompletion());
  ASSERT_TRUE(IsCompletionRecord(bytes));
  CompletionRecord c;
  ASSERT_TRUE(DecodeCompletionRecord(bytes, c));
  const CompletionRecord want = SomeCompletion();
  EXPECT_EQ(c.seq, want.seq);
  EXPECT_EQ(c.outcome, want.outcome);
  EXPECT_EQ(c.code, want.code);
  EXPECT_EQ(c.response.handle, want.response.handle);
  EXPECT_EQ(c.response.size, want.response.size);
  EXPECT_EQ(c.queue_wait_us, want.queue_wait_us);
  EXPECT_EQ(c.run_us, want.run_us);
  EXPECT_EQ(c.attempts, want.attempts);
  EXPECT_EQ(c.early, want.early);
  EXPECT_EQ(c.client_sent_ns, 1);
  EXPECT_EQ(c.agent_received_ns, 2);
  EXPECT_EQ(c.agent_dispatched_ns, 3);
  EXPECT_EQ(c.worker_received_ns, 4);
  EXPECT_EQ(c.worker_done_ns, 5);
  EXPECT_EQ(c.agent_result_ns, 6);
  EXPECT_EQ(c.agent_sent_ns, 7);
  EXPECT_EQ(c.message, want.message);
  for (size_t n = 0; n < bytes.size(); ++n) EXPECT_FALSE(DecodeCompletionRecord(std::span(bytes).first(n), c));
}

TEST(SessionRecordsTest, ACompletionsMessageIsCutToWhatTheRingTakes) {
  CompletionRecord big = SomeCompletion();
  big.message = std::string(5000, 'm');
  const uint64_t max = sizeof(session_internal::CompletionHead) + 100;
  const std::vector<std::byte> bytes = EncodeCompletion(big, max);
  EXPECT_EQ(bytes.size(), max);
  CompletionRecord c;
  ASSERT_TRUE(DecodeCompletionRecord(bytes, c));
  EXPECT_EQ(c.message, std::string(100, 'm'));
}

// One pop tells them apart: no protobuf message the rings carry starts with a 0 byte.
TEST(SessionRecordsTest, NoMessageOnTheSessionsRingIsTakenForARecord) {
  v1::ClientMessage submit;
  submit.mutable_submit()->set_seq(1);
  submit.mutable_submit()->set_type("echo");
  v1::ClientMessage cancel;
  cancel.mutable_cancel()->set_seq(1);
  v1::AgentMessage completion;
  completion.mutable_completion()->set_seq(0x00536a00);  // the magic's bytes, as a field's value
  v1::AgentMessage closed;
  closed.mutable_lane_closed()->set_lane(3);
  for (const google::protobuf::MessageLite* m :
       std::initializer_list<const google::protobuf::MessageLite*>{&submit, &cancel, &completion, &closed}) {
    const std::string s = m->SerializeAsString();
    const auto bytes = std::as_bytes(std::span(s.data(), s.size()));
    EXPECT_FALSE(IsSubmitRecord(bytes));
    EXPECT_FALSE(IsCompletionRecord(bytes));
  }
}

TEST(RecordIoTest, ValidUtf8AcceptsWellFormedTextAndRefusesTheRest) {
  EXPECT_TRUE(record_io::ValidUtf8(""));
  EXPECT_TRUE(record_io::ValidUtf8("plain ascii"));
  EXPECT_TRUE(record_io::ValidUtf8("\xc3\xa9"));              // é
  EXPECT_TRUE(record_io::ValidUtf8("\xe2\x82\xac"));          // €
  EXPECT_TRUE(record_io::ValidUtf8("\xf0\x9f\x99\x82"));      // 🙂
  EXPECT_TRUE(record_io::ValidUtf8("\xf4\x8f\xbf\xbf"));      // U+10FFFF
  EXPECT_FALSE(record_io::ValidUtf8("\x80"));                 // a lone continuation byte
  EXPECT_FALSE(record_io::ValidUtf8("\xc3"));                 // cut short
  EXPECT_FALSE(record_io::ValidUtf8("\xe2\x82"));             // cut short
  EXPECT_FALSE(record_io::ValidUtf8("\xc1\xbf"));             // overlong
  EXPECT_FALSE(record_io::ValidUtf8("\xe0\x80\xaf"));         // overlong
  EXPECT_FALSE(record_io::ValidUtf8("\xed\xbf\xbf"));         // a surrogate
  EXPECT_FALSE(record_io::ValidUtf8("\xf4\x90\x80\x80"));     // past U+10FFFF
  EXPECT_FALSE(record_io::ValidUtf8("\xf8\x88\x80\x80\x80"));  // a five-byte form
  EXPECT_FALSE(record_io::ValidUtf8(absl::string_view("a\xc3(b", 4)));
}

}  // namespace
}  // namespace jobd::wire
