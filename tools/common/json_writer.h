// A small streaming JSON writer for jobctl's --json output and jobd's JSON log lines: numbers
// stay numbers (protobuf's printer turns 64-bit integers into strings), strings are escaped and
// always valid UTF-8 (an invalid byte becomes U+FFFD), keys keep the order they are written in.
// Not thread-safe; one writer per document.
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

namespace jobd::cli {

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view text);

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Inside an object: the next value's key.
  JsonWriter& Key(absl::string_view key);

  JsonWriter& String(absl::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Double(double value);  // NaN and infinities become null
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  // Key(key) followed by the value.
  JsonWriter& Field(absl::string_view key, absl::string_view value) { return Key(key).String(value); }
  JsonWriter& Field(absl::string_view key, const char* value) { return Key(key).String(value); }
  JsonWriter& Field(absl::string_view key, int64_t value) { return Key(key).Int(value); }
  JsonWriter& Field(absl::string_view key, int32_t value) { return Key(key).Int(value); }
  JsonWriter& Field(absl::string_view key, uint64_t value) { return Key(key).Uint(value); }
  JsonWriter& Field(absl::string_view key, uint32_t value) { return Key(key).Uint(value); }
  JsonWriter& Field(absl::string_view key, double value) { return Key(key).Double(value); }
  JsonWriter& Field(absl::string_view key, bool value) { return Key(key).Bool(value); }

  // The document so far (complete once every Begin has its End).
  const std::string& str() const { return out_; }

 private:
  void BeforeValue();

  std::string out_;
  std::vector<bool> has_items_;  // per open object/array: something was written in it
  bool after_key_ = false;
};

}  // namespace jobd::cli
