#include "proto/side_records.h"

#include "gtest/gtest.h"

namespace jobd::wire {
namespace {

TEST(SideRecordsTest, EachKindRoundTripsWithItsDescriptorCount) {
  const SideRecord records[] = {{SideKind::kPeerSegment, 0xDEADBEEF},
                                {SideKind::kSessionSegment, 42},
                                {SideKind::kCancel, 0x123456789ABCDEF0ull}};
  for (const SideRecord& r : records) {
    const SideBytes bytes = EncodeSideRecord(r);
    EXPECT_EQ(bytes.span().size(), 1 + SideIdBytes(r.kind));
    std::optional<SideRecord> back = DecodeSideRecord(bytes, SideFds(r.kind));
    ASSERT_TRUE(back.has_value()) << static_cast<char>(r.kind);
    EXPECT_EQ(back->kind, r.kind);
    EXPECT_EQ(back->id, r.id);
  }
  EXPECT_EQ(SideFds(SideKind::kPeerSegment), 3u);
  EXPECT_EQ(SideFds(SideKind::kSessionSegment), 1u);
  EXPECT_EQ(SideFds(SideKind::kCancel), 0u);
}

TEST(SideRecordsTest, APeersIdKeepsFourBytes) {
  // A session id is 32 bits: what lies above them is not sent.
  const SideBytes bytes = EncodeSideRecord({SideKind::kSessionSegment, 0x1'0000'0007ull});
  EXPECT_EQ(DecodeSideRecord(bytes, 1)->id, 7u);
}

TEST(SideRecordsTest, AnythingElseIsRefused) {
  const SideBytes cancel = EncodeSideRecord({SideKind::kCancel, 5});
  std::vector<std::byte> bytes(cancel.span().begin(), cancel.span().end());
  ASSERT_TRUE(DecodeSideRecord(bytes, 0).has_value());  // the record itself is fine
  EXPECT_FALSE(DecodeSideRecord(bytes, 1).has_value());  // a cancel carries no descriptor
  EXPECT_FALSE(DecodeSideRecord(std::span(bytes).first(5), 0).has_value());  // cut short
  bytes.push_back(std::byte{0});
  EXPECT_FALSE(DecodeSideRecord(bytes, 0).has_value());  // too long
  EXPECT_FALSE(DecodeSideRecord({}, 0).has_value());
  std::vector<std::byte> unknown = bytes;
  unknown.pop_back();
  unknown[0] = std::byte{'Q'};
  EXPECT_FALSE(DecodeSideRecord(unknown, 0).has_value());
  EXPECT_FALSE(DecodeSideRecord(EncodeSideRecord({SideKind::kPeerSegment, 1}), 2).has_value());
}

}  // namespace
}  // namespace jobd::wire
