#include "shm/memfd.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace jobd::shm {

namespace {
constexpr int kSizeSeals = F_SEAL_SHRINK | F_SEAL_GROW;
}

absl::StatusOr<UniqueFd> CreateSealedMemfd(const std::string& name, uint64_t bytes) {
  UniqueFd fd(memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd.valid()) return absl::ResourceExhaustedError(absl::StrCat("memfd_create ", name, ": ", strerror(errno)));
  if (ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot size ", name, " to ", bytes, " bytes: ", strerror(errno)));
  }
  if (fcntl(fd.get(), F_ADD_SEALS, kSizeSeals | F_SEAL_SEAL) != 0) {
    return absl::InternalError(absl::StrCat("cannot seal ", name, ": ", strerror(errno)));
  }
  return fd;
}

absl::StatusOr<uint64_t> CheckSealedMemfd(int fd, uint64_t min_bytes) {
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & kSizeSeals) != kSizeSeals) {
    return absl::FailedPreconditionError("the shared memory's size is not sealed: it could shrink under us");
  }
  struct stat st;
  if (fstat(fd, &st) != 0) return absl::FailedPreconditionError(absl::StrCat("fstat: ", strerror(errno)));
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size < min_bytes) {
    return absl::FailedPreconditionError(
        absl::StrCat("the shared memory is ", size, " bytes; its layout needs ", min_bytes));
  }
  return size;
}

absl::Status Reserve(int fd, uint64_t offset, uint64_t bytes) {
  if (bytes == 0) return absl::OkStatus();
  if (fallocate(fd, 0, static_cast<off_t>(offset), static_cast<off_t>(bytes)) != 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot reserve ", bytes, " bytes of shared memory: ", strerror(errno)));
  }
  return absl::OkStatus();
}

uint64_t CommittedBytes(int fd) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

}  // namespace jobd::shm
