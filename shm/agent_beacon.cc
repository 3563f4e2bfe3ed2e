#include "shm/agent_beacon.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace jobd::shm {

namespace {
constexpr size_t kPageBytes = 4096;
}

absl::StatusOr<std::unique_ptr<AgentBeacon>> AgentBeacon::Create() {
  UniqueFd fd(memfd_create("jobd-beacon", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid() || ftruncate(fd.get(), kPageBytes) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot create the agent beacon: ", strerror(errno)));
  }
  void* page = mmap(nullptr, kPageBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (page == MAP_FAILED) return absl::ResourceExhaustedError(absl::StrCat("cannot map the beacon: ", strerror(errno)));
  if (fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) != 0) {
    munmap(page, kPageBytes);
    return absl::InternalError(absl::StrCat("cannot seal the beacon: ", strerror(errno)));
  }
  return std::unique_ptr<AgentBeacon>(new AgentBeacon(std::move(fd), page));
}

absl::StatusOr<std::unique_ptr<AgentBeacon>> AgentBeacon::Attach(UniqueFd fd) {
  void* page = mmap(nullptr, kPageBytes, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (page == MAP_FAILED) return absl::FailedPreconditionError(absl::StrCat("cannot map the beacon: ", strerror(errno)));
  return std::unique_ptr<AgentBeacon>(new AgentBeacon(std::move(fd), page));
}

AgentBeacon::~AgentBeacon() { munmap(page_, kPageBytes); }

}  // namespace jobd::shm
