// The records the agent sends on the side socket (shm::SendRecord), one format for the agent
// that writes them and the SDK that reads them:
//   'S' + peer id (4 bytes)     with its segment, wake eventfd and the beacon (3 descriptors)
//   'X' + session id (4 bytes)  with that session's segment (1 descriptor), to a worker
//   'C' + job id (8 bytes)      no descriptor: the worker's running job was cancelled
// Ids are in the host's byte order: both ends are on one host.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace jobd::wire {

enum class SideKind : char { kPeerSegment = 'S', kSessionSegment = 'X', kCancel = 'C' };

struct SideRecord {
  SideKind kind;
  uint64_t id = 0;  // the peer, the session or the job
};

constexpr size_t SideIdBytes(SideKind kind) { return kind == SideKind::kCancel ? 8 : 4; }
constexpr size_t SideFds(SideKind kind) {
  return kind == SideKind::kPeerSegment ? 3 : kind == SideKind::kSessionSegment ? 1 : 0;
}

// A record's bytes, on the stack: at most a kind and 8 bytes of id.
class SideBytes {
 public:
  std::span<const std::byte> span() const { return {bytes_.data(), size_}; }
  operator std::span<const std::byte>() const { return span(); }  // NOLINT: as SendRecord takes it

 private:
  friend SideBytes EncodeSideRecord(SideRecord record);
  std::array<std::byte, 9> bytes_{};
  size_t size_ = 0;
};

inline SideBytes EncodeSideRecord(SideRecord record) {
  SideBytes out;
  out.size_ = 1 + SideIdBytes(record.kind);
  out.bytes_[0] = static_cast<std::byte>(record.kind);
  if (SideIdBytes(record.kind) == 8) {
    std::memcpy(out.bytes_.data() + 1, &record.id, 8);
  } else {
    const uint32_t id = static_cast<uint32_t>(record.id);
    std::memcpy(out.bytes_.data() + 1, &id, 4);
  }
  return out;
}

// nullopt unless `bytes` is one of the records above, whole, with as many descriptors as it
// carries.
inline std::optional<SideRecord> DecodeSideRecord(std::span<const std::byte> bytes, size_t fds) {
  if (bytes.empty()) return std::nullopt;
  const auto kind = static_cast<SideKind>(bytes[0]);
  if (kind != SideKind::kPeerSegment && kind != SideKind::kSessionSegment && kind != SideKind::kCancel) {
    return std::nullopt;
  }
  if (bytes.size() != 1 + SideIdBytes(kind) || fds != SideFds(kind)) return std::nullopt;
  SideRecord record{kind, 0};
  if (SideIdBytes(kind) == 8) {
    std::memcpy(&record.id, bytes.data() + 1, 8);
  } else {
    uint32_t id;
    std::memcpy(&id, bytes.data() + 1, 4);
    record.id = id;
  }
  return record;
}

}  // namespace jobd::wire
