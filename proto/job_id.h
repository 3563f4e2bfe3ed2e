// Job ids, the one formula every side uses: the agent builds them, and a client knows its own
// job ids without a round trip. (session << 32 | the client's sequence number).
#pragma once

#include <cstdint>

namespace jobd {

constexpr uint64_t MakeJobId(uint32_t session, uint32_t seq) { return (uint64_t{session} << 32) | seq; }
constexpr uint32_t SessionOfJob(uint64_t job_id) { return static_cast<uint32_t>(job_id >> 32); }

}  // namespace jobd
