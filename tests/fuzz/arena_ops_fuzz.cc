// Random allocate / free / transfer / resolve / reclaim sequences, with forged handles mixed in,
// checked against a model of who owns what.
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>

#include "shm/arena.h"

namespace {

jobd::shm::Arena& TheArena() {
  static std::unique_ptr<jobd::shm::Arena> arena = [] {
    auto a = jobd::shm::Arena::Create(
        {"/dev/shm/jobd-fuzz-ops-" + std::to_string(getpid()), {{64, 8}, {4096, 4}, {65536, 2}}, 0600});
    if (!a.ok()) std::abort();
    (void)(*a)->Unlink();
    return std::move(*a);
  }();
  return *arena;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using jobd::shm::Handle;
  jobd::shm::Arena& arena = TheArena();
  std::map<uint64_t, uint32_t> model;  // handle bits -> owner
  size_t i = 0;
  auto next = [&]() -> uint32_t { return i < size ? data[i++] : 0; };
  while (i < size) {
    const uint32_t op = next() % 6;
    const uint32_t owner = 2 + next() % 3;
    switch (op) {
      case 0: {
        auto s = arena.Allocate(next() * 300, owner);
        if (s.ok()) {
          if (model.count(s->handle.bits())) std::abort();  // handed out twice
          model[s->handle.bits()] = owner;
        }
        break;
      }
      case 1:
      case 2: {  // free or transfer a known handle, or a forged one
        Handle h = Handle::Make(next() % 4, next() % 10, next() % 4);
        if (!model.empty() && (next() & 1)) {
          auto it = model.begin();
          std::advance(it, next() % model.size());
          h = Handle::FromBits(it->first);
        }
        auto it = model.find(h.bits());
        const bool ours = it != model.end() && it->second == owner;
        if (op == 1) {
          const bool ok = arena.Free(h, owner).ok();
          if (ok != ours) std::abort();  // freed something it did not own, or refused its own
          if (ok) model.erase(it);
        } else {
          const uint32_t to = 2 + next() % 3;
          const bool ok = arena.Transfer(h, owner, to).ok();
          if (ok != ours) std::abort();
          if (ok) it->second = to;
        }
        break;
      }
      case 3: {
        Handle h = Handle::FromBits((uint64_t{next()} << 56) | (uint64_t{next()} << 32) | next());
        auto r = arena.Resolve(h, next() * 100);
        if (r.ok() && !model.count(h.bits())) std::abort();  // resolved a slab nobody holds
        break;
      }
      case 4: {
        const uint32_t freed = arena.ReclaimOwner(owner);
        uint32_t expected = 0;
        for (auto it = model.begin(); it != model.end();) {
          if (it->second == owner) {
            ++expected;
            it = model.erase(it);
          } else {
            ++it;
          }
        }
        if (freed != expected) std::abort();
        break;
      }
      case 5:
        if (arena.SlabsInUse() != model.size()) std::abort();
        break;
    }
  }
  for (uint32_t owner = 2; owner < 5; ++owner) arena.ReclaimOwner(owner);
  if (arena.SlabsInUse() != 0) std::abort();
  return 0;
}
