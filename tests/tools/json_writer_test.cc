#include "tools/common/json_writer.h"

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace jobd::cli {
namespace {

google::protobuf::Struct Parsed(const std::string& json) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok()) << json;
  return s;
}

TEST(JsonWriterTest, WritesNestedObjectsAndArraysWithNumbersAsNumbers) {
  JsonWriter j;
  j.BeginObject().Field("big", uint64_t{150323855361}).Field("neg", int64_t{-3}).Field("ok", true);
  j.Key("list").BeginArray().Uint(1).String("two").Null().EndArray();
  j.Key("inner").BeginObject().Field("x", 0.5).EndObject();
  j.EndObject();
  EXPECT_EQ(j.str(), R"({"big":150323855361,"neg":-3,"ok":true,"list":[1,"two",null],"inner":{"x":0.5}})");
  const auto s = Parsed(j.str());
  EXPECT_EQ(s.fields().at("big").number_value(), 150323855361.0);
  EXPECT_EQ(s.fields().at("list").list_value().values(1).string_value(), "two");
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonQuote("a\"b\\c\nd\te\x01"), R"("a\"b\\c\nd\te\u0001")");
  JsonWriter j;
  j.BeginObject().Field("m", "line one\nline \"two\"").EndObject();
  EXPECT_EQ(Parsed(j.str()).fields().at("m").string_value(), "line one\nline \"two\"");
}

TEST(JsonWriterTest, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(JsonQuote("h\xc3\xa9llo"), "\"h\xc3\xa9llo\"");
  EXPECT_EQ(JsonQuote("a\xff" "b"), R"("a\ufffdb")");
  EXPECT_EQ(JsonQuote("\xc3"), R"("\ufffd")");          // cut short
  EXPECT_EQ(JsonQuote("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a surrogate
}

TEST(JsonWriterTest, NonFiniteDoublesBecomeNull) {
  JsonWriter j;
  j.BeginArray().Double(1.0 / 0.0).Double(2.25).EndArray();
  EXPECT_EQ(j.str(), "[null,2.25]");
}

}  // namespace
}  // namespace jobd::cli
