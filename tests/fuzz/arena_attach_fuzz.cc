// Arena::Attach on forged files: whatever the header says, attaching must refuse cleanly or
// give an arena whose every slab lies inside the mapping.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "shm/arena.h"
#include "shm/internal/arena_layout.h"

namespace {

std::string Path() {
  static const std::string path = "/dev/shm/jobd-fuzz-attach-" + std::to_string(getpid());
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using jobd::shm::internal::ArenaHeader;
  // Half the inputs get a valid magic and version, so the fuzzer reaches the class table.
  std::vector<uint8_t> file(sizeof(ArenaHeader) + 4096, 0);
  std::memcpy(file.data(), data, std::min(size, file.size()));
  if (size > 0 && (data[0] & 1)) {
    auto* h = reinterpret_cast<ArenaHeader*>(file.data());
    std::memcpy(h->magic, jobd::shm::internal::kMagic, 8);
    h->layout_version = jobd::shm::internal::kLayoutVersion;
    h->header_size = sizeof(ArenaHeader);
    h->file_size = file.size();
  }
  const int fd = open(Path().c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
  if (fd < 0) return 0;
  (void)!write(fd, file.data(), file.size());
  close(fd);
  auto arena = jobd::shm::Arena::Attach(Path());
  if (arena.ok()) {
    // Everything must stay inside the file: touch every class through the public API.
    (void)(*arena)->Occupancy();
    for (uint32_t c = 0; c < (*arena)->classes().size(); ++c) {
      auto s = (*arena)->Allocate((*arena)->classes()[c].slab_size, 5);
      if (s.ok()) {
        std::memset(s->data.data(), 0xAB, s->data.size());
        (void)(*arena)->Free(s->handle, 5);
      }
    }
  }
  unlink(Path().c_str());
  return 0;
}
