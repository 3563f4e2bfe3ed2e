#include "shm/segment.h"

#include "absl/strings/str_cat.h"
#include "shm/internal/arena_layout.h"
#include "shm/memfd.h"

namespace jobd::shm {

namespace {

// A session's segment has a second ring pair, its lane to a leased worker; a worker's has one.
uint32_t SlotsOf(const SegmentShape& shape) { return shape.classes.empty() ? 1 : 2; }

uint64_t ChannelBytes(const SegmentShape& shape) {
  return internal::AlignUp(ChannelFile::BytesFor(SlotsOf(shape), shape.ring_capacity), internal::kPage);
}

}  // namespace

absl::StatusOr<uint64_t> Segment::BytesFor(const SegmentShape& shape) {
  uint64_t bytes = ChannelBytes(shape);
  if (!shape.classes.empty()) {
    absl::StatusOr<uint64_t> arena = Arena::BytesFor(shape.classes);
    if (!arena.ok()) return arena.status();
    bytes += *arena;
  }
  return bytes;
}

absl::StatusOr<std::unique_ptr<Segment>> Segment::Create(const std::string& name, const SegmentShape& shape) {
  absl::StatusOr<uint64_t> bytes = BytesFor(shape);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<UniqueFd> fd = CreateSealedMemfd(name, *bytes);
  if (!fd.ok()) return fd.status();
  if (absl::Status s = Reserve(fd->get(), 0, ChannelBytes(shape)); !s.ok()) return s;
  std::unique_ptr<Segment> seg(new Segment());
  seg->fd_ = std::move(*fd);
  seg->bytes_ = *bytes;
  absl::StatusOr<std::unique_ptr<ChannelFile>> channel = ChannelFile::CreateInFile(seg->fd(), SlotsOf(shape), shape.ring_capacity);
  if (!channel.ok()) return channel.status();
  seg->channel_ = std::move(*channel);
  seg->slot_ = *seg->channel_->Slot(0);
  if (SlotsOf(shape) > 1) seg->lane_ = *seg->channel_->Slot(1);
  if (!shape.classes.empty()) {
    absl::StatusOr<std::unique_ptr<Arena>> arena = Arena::CreateInFile(seg->fd(), ChannelBytes(shape), shape.classes);
    if (!arena.ok()) return arena.status();
    seg->arena_ = std::move(*arena);
  }
  return seg;
}

absl::StatusOr<std::unique_ptr<Segment>> Segment::Attach(UniqueFd fd, const SegmentShape& shape) {
  absl::StatusOr<uint64_t> bytes = BytesFor(shape);
  if (!bytes.ok()) return bytes.status();
  if (absl::StatusOr<uint64_t> size = CheckSealedMemfd(fd.get(), *bytes); !size.ok()) return size.status();
  std::unique_ptr<Segment> seg(new Segment());
  seg->fd_ = std::move(fd);
  seg->bytes_ = *bytes;
  absl::StatusOr<std::unique_ptr<ChannelFile>> channel = ChannelFile::AttachToFile(seg->fd(), SlotsOf(shape), shape.ring_capacity);
  if (!channel.ok()) return channel.status();
  seg->channel_ = std::move(*channel);
  seg->slot_ = *seg->channel_->Slot(0);
  if (SlotsOf(shape) > 1) seg->lane_ = *seg->channel_->Slot(1);
  if (!shape.classes.empty()) {
    absl::StatusOr<std::unique_ptr<Arena>> arena = Arena::AttachToFile(seg->fd(), ChannelBytes(shape), shape.classes);
    if (!arena.ok()) return arena.status();
    seg->arena_ = std::move(*arena);
  }
  return seg;
}

uint64_t Segment::CommittedBytes() const { return shm::CommittedBytes(fd_.get()); }

}  // namespace jobd::shm
