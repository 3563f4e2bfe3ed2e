// Reading and writing the fixed records that travel through shared-memory rings
// (proto/lane_records.h, proto/session_records.h). A reader reads from memory the writer may
// rewrite while it reads: each fixed head and each length is copied once and only the copy is
// checked and used, so a rewrite can garble a record's strings but never move a read outside the
// bytes it was given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace jobd::wire::record_io {

// Reads forward through bytes another process may rewrite: every read is bounded by the span.
class Reader {
 public:
  explicit Reader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  template <typename T>
  bool Copy(T& out) {
    if (bytes_.size() - at_ < sizeof(T)) return false;
    std::memcpy(&out, bytes_.data() + at_, sizeof(T));
    at_ += sizeof(T);
    return true;
  }
  bool String(uint64_t size, std::string& out) {
    if (bytes_.size() - at_ < size) return false;
    out.assign(reinterpret_cast<const char*>(bytes_.data() + at_), size);
    at_ += size;
    return true;
  }
  bool done() const { return at_ == bytes_.size(); }

 private:
  std::span<const std::byte> bytes_;
  size_t at_ = 0;
};

// Whether `bytes` start with the record magic `want`: a first look that tells a record from a
// protobuf message on the same ring; only the record's decoder says whether it is one.
inline bool HasMagic(std::span<const std::byte> bytes, uint32_t want) {
  uint32_t magic = 0;
  if (bytes.size() < sizeof magic) return false;
  std::memcpy(&magic, bytes.data(), sizeof magic);
  return magic == want;
}

inline std::byte* Put(std::byte* at, const void* from, size_t size) {
  if (size != 0) std::memcpy(at, from, size);
  return at + size;
}

// A job's type and context, as every job record carries them after its head: the type's bytes,
// then each context entry as its key's and its value's lengths and then their bytes.
struct EntryHead {
  uint32_t key_bytes;
  uint32_t value_bytes;
};

// `context`: pairs of strings (a map).
template <typename Context>
uint64_t TypeAndContextBytes(absl::string_view type, const Context& context) {
  uint64_t size = type.size();
  for (const auto& [key, value] : context) size += sizeof(EntryHead) + key.size() + value.size();
  return size;
}

template <typename Context>
std::byte* PutTypeAndContext(std::byte* at, absl::string_view type, const Context& context) {
  at = Put(at, type.data(), type.size());
  for (const auto& [key, value] : context) {
    const EntryHead entry{static_cast<uint32_t>(key.size()), static_cast<uint32_t>(value.size())};
    at = Put(at, &entry, sizeof entry);
    at = Put(at, key.data(), key.size());
    at = Put(at, value.data(), value.size());
  }
  return at;
}

// Reads `type_bytes` of type and then `entries` context entries from a record of `record_bytes`
// in all. A count of entries the record cannot hold (each takes at least its head) is refused
// before any allocation sized by it.
inline bool ReadTypeAndContext(Reader& in, size_t record_bytes, uint32_t type_bytes, uint32_t entries,
                               std::string& type, std::vector<std::pair<std::string, std::string>>& context) {
  if (entries > record_bytes / sizeof(EntryHead)) return false;
  if (!in.String(type_bytes, type)) return false;
  context.resize(entries);
  for (auto& [key, value] : context) {
    EntryHead entry;
    if (!in.Copy(entry) || !in.String(entry.key_bytes, key) || !in.String(entry.value_bytes, value)) return false;
  }
  return true;
}

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
// A string that the agent passes on inside a protobuf message must be: protobuf's parser refuses
// a proto3 string that is not, so a peer that could slip one past would break the next hop.
inline bool ValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    uint32_t code;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) {
      extra = 1, code = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, code = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, code = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      code = (code << 6) | (p[i] & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    p += extra + 1;
  }
  return true;
}

}  // namespace jobd::wire::record_io
