#include "shm/channel_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"
#include "shm/internal/arena_layout.h"
#include "shm/internal/errno_text.h"

namespace jobd::shm {
namespace {

constexpr char kMagic[8] = {'J', 'O', 'B', 'D', 'C', 'H', 'A', 'N'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kHeaderBytes = 4096;
constexpr uint32_t kMaxSlots = 1 << 16;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t slots;
  uint64_t ring_capacity;
  uint64_t slot_bytes;
  alignas(64) Doorbell agent_bell;
};
static_assert(sizeof(FileHeader) <= kHeaderBytes);

// The start of every slot: the peer's doorbell and both rings' positions; the rings' bytes
// follow, up first.
struct SlotHeader {
  Doorbell peer_bell;
  RingIndex up;
  RingIndex down;
};
constexpr uint64_t kSlotHeaderBytes = 512;
static_assert(sizeof(SlotHeader) <= kSlotHeaderBytes);

}  // namespace

// The layout is passed in (checked once by whoever attached), never re-read from the header.
ChannelFile::ChannelFile(std::string path, std::byte* base, uint64_t bytes, uint32_t slots, uint64_t ring_capacity)
    : path_(std::move(path)),
      base_(base),
      bytes_(bytes),
      slots_(slots),
      ring_capacity_(ring_capacity),
      slot_bytes_(kSlotHeaderBytes + 2 * ring_capacity) {}

uint64_t ChannelFile::BytesFor(uint32_t slots, uint64_t ring_capacity) {
  return kHeaderBytes + (kSlotHeaderBytes + 2 * ring_capacity) * slots;
}

namespace {

absl::Status ValidateShape(uint32_t slots, uint64_t ring_capacity) {
  if (slots == 0 || slots > kMaxSlots) {
    return absl::InvalidArgumentError(absl::StrCat("channel slots ", slots, ": allowed 1 to ", kMaxSlots));
  }
  if (ring_capacity < 1024 || ring_capacity > (uint64_t{1} << 24) || (ring_capacity & (ring_capacity - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("ring capacity ", ring_capacity, ": a power of two from 1 KiB to 16 MiB"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChannelFile>> ChannelFile::CreateInFile(int fd, uint32_t slots, uint64_t ring_capacity) {
  if (absl::Status s = ValidateShape(slots, ring_capacity); !s.ok()) return s;
  const uint64_t bytes = BytesFor(slots, ring_capacity);
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return absl::ResourceExhaustedError(internal::ErrnoText("cannot map a new channel"));
  auto* h = new (base) FileHeader{};
  h->version = kVersion;
  h->slots = slots;
  h->ring_capacity = ring_capacity;
  h->slot_bytes = kSlotHeaderBytes + 2 * ring_capacity;
  internal::PublishMagic(h->magic, kMagic);
  return std::unique_ptr<ChannelFile>(new ChannelFile("", static_cast<std::byte*>(base), bytes, slots, ring_capacity));
}

absl::StatusOr<std::unique_ptr<ChannelFile>> ChannelFile::AttachToFile(int fd, uint32_t slots, uint64_t ring_capacity) {
  if (absl::Status s = ValidateShape(slots, ring_capacity); !s.ok()) return s;
  const uint64_t bytes = BytesFor(slots, ring_capacity);
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < bytes) {
    return absl::FailedPreconditionError("the shared memory is too short for its channel");
  }
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) return absl::ResourceExhaustedError(internal::ErrnoText("cannot map the channel"));
  if (!internal::MagicIs(static_cast<const FileHeader*>(base)->magic, kMagic)) {
    munmap(base, bytes);
    return absl::FailedPreconditionError("the shared memory holds no jobd channel (bad magic)");
  }
  return std::unique_ptr<ChannelFile>(new ChannelFile("", static_cast<std::byte*>(base), bytes, slots, ring_capacity));
}

ChannelFile::~ChannelFile() { munmap(base_, bytes_); }

absl::StatusOr<std::unique_ptr<ChannelFile>> ChannelFile::Create(const ChannelFileOptions& o) {
  if (absl::Status s = ValidateShape(o.slots, o.ring_capacity); !s.ok()) return s;
  const uint64_t slot_bytes = kSlotHeaderBytes + 2 * o.ring_capacity;
  const uint64_t bytes = BytesFor(o.slots, o.ring_capacity);
  // A file left by a killed agent is replaced; peers still mapping it keep the old inode.
  if (unlink(o.path.c_str()) != 0 && errno != ENOENT) {
    return absl::FailedPreconditionError(internal::ErrnoText(absl::StrCat("cannot replace ", o.path)));
  }
  const int fd = open(o.path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, o.mode);
  if (fd < 0) return absl::FailedPreconditionError(internal::ErrnoText(absl::StrCat("cannot create ", o.path)));
  if (fchmod(fd, o.mode) != 0 || ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    const std::string err = internal::ErrnoText(absl::StrCat("cannot size ", o.path));
    close(fd);
    unlink(o.path.c_str());
    return absl::ResourceExhaustedError(err);
  }
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    unlink(o.path.c_str());
    return absl::ResourceExhaustedError(internal::ErrnoText(absl::StrCat("cannot map ", o.path)));
  }
  // Fresh from ftruncate: all zeros, which is every doorbell and ring index at rest.
  auto* h = new (base) FileHeader{};
  h->version = kVersion;
  h->slots = o.slots;
  h->ring_capacity = o.ring_capacity;
  h->slot_bytes = slot_bytes;
  internal::PublishMagic(h->magic, kMagic);  // last: an attacher that sees it sees the rest
  return std::unique_ptr<ChannelFile>(
      new ChannelFile(o.path, static_cast<std::byte*>(base), bytes, o.slots, o.ring_capacity));
}

absl::StatusOr<std::unique_ptr<ChannelFile>> ChannelFile::Attach(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(internal::ErrnoText(absl::StrCat("cannot open channel file ", path)));
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) < kHeaderBytes) {
    close(fd);
    return absl::FailedPreconditionError(absl::StrCat(path, " is too short to be a jobd channel file"));
  }
  const uint64_t bytes = static_cast<uint64_t>(st.st_size);
  void* base = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) return absl::ResourceExhaustedError(internal::ErrnoText(absl::StrCat("cannot map ", path)));
  const auto* h = static_cast<const FileHeader*>(base);
  absl::Status bad;
  if (!internal::MagicIs(h->magic, kMagic)) {
    bad = absl::FailedPreconditionError(absl::StrCat(path, " is not a jobd channel file (bad magic)"));
  } else if (h->version != kVersion) {
    bad = absl::FailedPreconditionError(
        absl::StrCat(path, " has channel layout version ", h->version, "; this build reads ", kVersion));
  } else if (h->slots == 0 || h->slots > kMaxSlots || h->ring_capacity < 1024 || h->ring_capacity > (uint64_t{1} << 24) ||
             (h->ring_capacity & (h->ring_capacity - 1)) != 0 ||
             h->slot_bytes != kSlotHeaderBytes + 2 * h->ring_capacity ||
             kHeaderBytes + h->slot_bytes * h->slots > bytes) {
    bad = absl::FailedPreconditionError(absl::StrCat(path, " has an inconsistent or truncated channel table"));
  }
  if (!bad.ok()) {
    munmap(base, bytes);
    return bad;
  }
  return std::unique_ptr<ChannelFile>(
      new ChannelFile(path, static_cast<std::byte*>(base), bytes, h->slots, h->ring_capacity));
}

absl::StatusOr<ChannelSlot> ChannelFile::Slot(uint32_t index) {
  if (index >= slots_) {
    return absl::OutOfRangeError(absl::StrCat("channel slot ", index, " is past the table of ", slots_));
  }
  std::byte* at = base_ + kHeaderBytes + slot_bytes_ * index;
  auto* sh = reinterpret_cast<SlotHeader*>(at);
  std::byte* up = at + kSlotHeaderBytes;
  std::byte* down = up + ring_capacity_;
  ChannelSlot slot;
  slot.index = index;
  slot.peer_bell = &sh->peer_bell;
  slot.up = MessageRing(&sh->up, up, ring_capacity_);
  slot.down = MessageRing(&sh->down, down, ring_capacity_);
  return slot;
}

void ChannelFile::Reset(uint32_t index) {
  if (index >= slots_) return;
  auto* sh = reinterpret_cast<SlotHeader*>(base_ + kHeaderBytes + slot_bytes_ * index);
  sh->up.head.store(0);
  sh->up.tail.store(0);
  sh->down.head.store(0);
  sh->down.tail.store(0);
  sh->peer_bell.sleepers.store(0);
}

Doorbell& ChannelFile::agent_bell() { return reinterpret_cast<FileHeader*>(base_)->agent_bell; }

absl::Status ChannelFile::Unlink() {
  if (path_.empty()) return absl::OkStatus();
  if (unlink(path_.c_str()) != 0 && errno != ENOENT) {
    return absl::InternalError(internal::ErrnoText(absl::StrCat("cannot remove ", path_)));
  }
  return absl::OkStatus();
}

}  // namespace jobd::shm
