// A session's segment as the agent reads it, while the session's client (the fuzz input)
// rewrites any byte of it: the arena header, state words, ring indices and records. Between the
// scribbles, the agent's SegmentLedger checks, takes, gives back and frees slabs named by forged
// handles, and the agent's pump pops the up ring. Nothing may read or write outside the mapping,
// and a slab the ledger holds for a job stays held (and freeable) whatever the client writes.
#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "agent/segment_ledger.h"
#include "shm/segment.h"

namespace {

constexpr jobd::shm::OwnerId kSession = 7, kWorker = 9;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using jobd::shm::Handle;
  static std::shared_ptr<jobd::shm::Segment> segment = [] {
    auto s = jobd::shm::Segment::Create("jobd-fuzz-segment", {{{64, 8}, {4096, 4}, {65536, 2}}, 4096});
    if (!s.ok()) std::abort();
    return std::shared_ptr<jobd::shm::Segment>(std::move(*s));
  }();
  // What the client sees: its own writable mapping of the same memory.
  static std::byte* raw = [] {
    void* p = mmap(nullptr, segment->bytes(), PROT_READ | PROT_WRITE, MAP_SHARED, segment->fd(), 0);
    if (p == MAP_FAILED) std::abort();
    return static_cast<std::byte*>(p);
  }();
  jobd::agent::SegmentLedger ledger;
  ledger.Add(kSession, segment);
  jobd::shm::Arena& arena = *segment->arena();
  size_t i = 0;
  auto next = [&]() -> uint32_t { return i < size ? data[i++] : 0; };
  auto next64 = [&]() {
    uint64_t v = 0;
    for (int k = 0; k < 8; ++k) v = (v << 8) | next();
    return v;
  };
  Handle held;  // a slab the ledger holds for a job, if any
  while (i < size) {
    switch (next() % 8) {
      case 0: {  // the client scribbles
        const uint64_t at = next64() % segment->bytes();
        const uint32_t n = 1 + next() % 16;
        for (uint32_t k = 0; k < n && at + k < segment->bytes(); ++k) raw[at + k] = static_cast<std::byte>(next());
        break;
      }
      case 1: {  // the client allocates (its allocator reads the words it may have scribbled)
        (void)arena.Allocate(next() * 97, next() % 2 ? kSession : 1 + next());
        break;
      }
      case 2: {  // a submit: check and take a handle the client names
        const Handle h = next() % 2 ? Handle::FromBits(next64()) : Handle::Make(next() % 4, next() % 9, next());
        if (ledger.Check(kSession, h, next(), kSession).ok() && held.is_null() &&
            ledger.Transfer(kSession, h, kSession, jobd::shm::kAgentOwner).ok()) {
          held = h;
        }
        break;
      }
      case 3: {  // the job ends: what the ledger holds it can always free
        if (!held.is_null()) {
          if (!ledger.Free(kSession, held, jobd::shm::kAgentOwner).ok()) std::abort();
          held = Handle();
        }
        break;
      }
      case 4: {  // a held slab is never accepted again, not even under a scribbled word
        if (!held.is_null() && ledger.Check(kSession, held, 1, kSession).ok()) std::abort();
        if (!held.is_null() && ledger.Check(kSession, held, 1, kWorker).ok()) std::abort();
        break;
      }
      case 5: {  // a worker's answer with a forged handle
        const Handle h = Handle::FromBits(next64());
        if (ledger.Check(kSession, h, next(), kWorker).ok()) (void)ledger.Transfer(kSession, h, kWorker, kSession);
        break;
      }
      case 6: {  // the pump pops the up ring, whatever its indices say
        (void)segment->channel().up.TryPop([](std::span<const std::byte> b) {
          volatile std::byte sink = b.empty() ? std::byte{0} : b[b.size() - 1];
          (void)sink;
        });
        break;
      }
      case 7: {  // occupancy and reclaim walk every state word
        (void)ledger.Occupancy();
        (void)ledger.SlabsOf(kSession);
        (void)ledger.ReclaimWorker(kWorker);
        break;
      }
    }
  }
  if (!held.is_null() && !ledger.Free(kSession, held, jobd::shm::kAgentOwner).ok()) std::abort();
  return 0;
}
