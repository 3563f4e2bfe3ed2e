// A segment: the shared memory of one peer, alone. One sealed memfd holding the peer's channel
// to the agent (one slot: an up ring, a down ring and the peer's doorbell) and, for a client
// session, its arena of slabs. The agent creates it and hands the descriptor to that peer (and,
// for a session, to the workers that run its jobs); no path names it, so no other process can
// open it.
//
// A session's segment also holds its lane: a second ring pair, up (client to a leased worker)
// and down (that worker to the client), with the doorbell the leased worker sleeps on. The
// client's own doorbell (the channel's) is rung by whoever answers it, agent or worker.
//
// Layout: [channel, page-aligned][arena]. Both halves compute their layout from SegmentShape,
// which the agent sends to whoever attaches; the shared headers are never trusted for it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "shm/arena.h"
#include "shm/channel_file.h"
#include "shm/size_classes.h"
#include "shm/unique_fd.h"

namespace jobd::shm {

struct SegmentShape {
  std::vector<SizeClass> classes;      // empty: a channel only (a worker's segment)
  uint64_t ring_capacity = 64 * 1024;  // per direction
};

class Segment {
 public:
  // The agent's. The channel's pages are reserved (fallocate) so that touching them can never
  // fail; slab pages are committed as they are written. Errors: InvalidArgument for a bad
  // shape, ResourceExhausted when the memory cannot be had.
  static absl::StatusOr<std::unique_ptr<Segment>> Create(const std::string& name, const SegmentShape& shape);
  // A peer's: maps a descriptor the agent sent, after checking it is sealed and long enough.
  static absl::StatusOr<std::unique_ptr<Segment>> Attach(UniqueFd fd, const SegmentShape& shape);

  Arena* arena() const { return arena_.get(); }  // null for a channel-only segment
  ChannelSlot channel() const { return slot_; }
  // The lane (a session's segment only; lane().peer_bell is null for a worker's).
  ChannelSlot lane() const { return lane_; }
  ChannelFile& channel_file() const { return *channel_; }
  int fd() const { return fd_.get(); }
  uint64_t bytes() const { return bytes_; }
  // Bytes of the segment that hold memory now.
  uint64_t CommittedBytes() const;

  static absl::StatusOr<uint64_t> BytesFor(const SegmentShape& shape);

 private:
  Segment() = default;
  UniqueFd fd_;
  uint64_t bytes_ = 0;
  std::unique_ptr<ChannelFile> channel_;
  ChannelSlot slot_;
  ChannelSlot lane_;
  std::unique_ptr<Arena> arena_;
};

}  // namespace jobd::shm
