// A SlabLedger over a map, with the arena's error codes, for coordinator unit tests.
#pragma once

#include <map>

#include "absl/strings/str_cat.h"
#include "coordinator/slab_ledger.h"

namespace jobd::testing {

class FakeSlabLedger final : public coordinator::SlabLedger {
 public:
  // A new live slab held by `owner`.
  shm::Handle Allocate(shm::OwnerId owner, uint64_t slab_size = 4096) {
    const shm::Handle h = shm::Handle::Make(0, next_index_++, 1);
    slabs_[h.bits()] = {owner, slab_size};
    return h;
  }
  absl::Status Transfer(shm::Handle h, shm::OwnerId from, shm::OwnerId to) override {
    auto it = Find(h);
    if (!it.ok()) return it.status();
    if ((*it)->second.owner != from) return WrongOwner((*it)->second.owner, from);
    (*it)->second.owner = to;
    return absl::OkStatus();
  }
  absl::Status Free(shm::Handle h, shm::OwnerId owner) override {
    auto it = Find(h);
    if (!it.ok()) return it.status();
    if ((*it)->second.owner != owner) return WrongOwner((*it)->second.owner, owner);
    slabs_.erase(*it);
    ++frees_;
    return absl::OkStatus();
  }
  absl::Status Check(shm::Handle h, uint64_t size, shm::OwnerId owner) const override {
    auto it = slabs_.find(h.bits());
    if (h.is_null() || it == slabs_.end()) return absl::FailedPreconditionError("stale handle or free slab");
    if (owner != shm::kNoOwner && it->second.owner != owner) return WrongOwner(it->second.owner, owner);
    if (size > it->second.size) return absl::OutOfRangeError(absl::StrCat("size ", size, " exceeds the slab"));
    return absl::OkStatus();
  }

  // kNoOwner for a freed or unknown slab.
  shm::OwnerId OwnerOf(shm::Handle h) const {
    auto it = slabs_.find(h.bits());
    return it == slabs_.end() ? shm::kNoOwner : it->second.owner;
  }
  size_t CountOwnedBy(shm::OwnerId owner) const {
    size_t n = 0;
    for (const auto& [bits, slab] : slabs_) n += slab.owner == owner;
    return n;
  }
  size_t LiveSlabs() const { return slabs_.size(); }
  size_t frees() const { return frees_; }

 private:
  struct Slab {
    shm::OwnerId owner;
    uint64_t size;
  };
  using Map = std::map<uint64_t, Slab>;
  absl::StatusOr<Map::iterator> Find(shm::Handle h) {
    if (h.is_null()) return absl::InvalidArgumentError("null slab handle");
    auto it = slabs_.find(h.bits());
    if (it == slabs_.end()) return absl::FailedPreconditionError("stale handle or free slab");
    return it;
  }
  static absl::Status WrongOwner(shm::OwnerId actual, shm::OwnerId claimed) {
    return absl::PermissionDeniedError(absl::StrCat("slab is held by owner ", actual, ", not ", claimed));
  }
  Map slabs_;
  uint32_t next_index_ = 0;
  size_t frees_ = 0;
};

}  // namespace jobd::testing
