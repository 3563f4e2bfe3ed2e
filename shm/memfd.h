// Anonymous shared memory for one peer: a memfd that can be handed to another process as a file
// descriptor and that nobody, the receiver included, can shrink or grow. A mapping of a file
// that shrank raises SIGBUS on the next touch; the seals make that impossible, so a hostile peer
// holding the descriptor cannot crash the agent or a worker by truncating it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "shm/unique_fd.h"

namespace jobd::shm {

// Creates a memfd of `bytes` (sparse: pages cost memory once touched) and seals its size.
// `name` shows in /proc/<pid>/maps. Errors: ResourceExhausted with errno text.
absl::StatusOr<UniqueFd> CreateSealedMemfd(const std::string& name, uint64_t bytes);

// Checks that `fd` is a memfd whose size is sealed and at least `min_bytes`; returns its size.
// FailedPrecondition says which check failed.
absl::StatusOr<uint64_t> CheckSealedMemfd(int fd, uint64_t min_bytes);

// Touches no page, yet makes every page of [offset, offset+bytes) exist now, so that a later
// first write cannot fail for lack of memory. ResourceExhausted when the memory is not there.
absl::Status Reserve(int fd, uint64_t offset, uint64_t bytes);

// Pages of the file that hold memory now (st_blocks), in bytes.
uint64_t CommittedBytes(int fd);

}  // namespace jobd::shm
