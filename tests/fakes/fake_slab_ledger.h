// A SlabLedger over a vector of slots, for coordinator unit tests. It answers with the arena's
// error codes and words (shm/arena.cc), and reuses a freed slot under a new generation as the
// arena does, so a stale handle is a real possibility:
//   InvalidArgument     null handle, a slot it never handed out, owner 0 in Free/Transfer
//   FailedPrecondition  stale generation, or the slab is free
//   PermissionDenied    held by another owner
//   OutOfRange          size beyond the slab
// Not thread-safe; one size class (class 0).
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "coordinator/slab_ledger.h"
#include "shm/handle.h"

namespace jobd::testing {

class FakeSlabLedger final : public coordinator::SlabLedger {
 public:
  // A live slab held by `owner`: the lowest free slot under its next generation, else a new one.
  shm::Handle Allocate(shm::OwnerId owner, uint64_t slab_size = 4096) {
    uint32_t index = 0;
    while (index < slots_.size() && slots_[index].owner != shm::kNoOwner) ++index;
    if (index == slots_.size()) slots_.push_back({});
    Slot& s = slots_[index];
    ++s.generation;
    s.owner = owner;
    s.size = slab_size;
    return shm::Handle::Make(0, index, s.generation);
  }

  absl::Status Transfer(shm::OwnerId, shm::Handle h, shm::OwnerId from, shm::OwnerId to) override {
    return Transfer(h, from, to);
  }
  absl::Status Free(shm::OwnerId, shm::Handle h, shm::OwnerId owner) override { return Free(h, owner); }
  absl::Status Check(shm::OwnerId, shm::Handle h, uint64_t size, shm::OwnerId owner) const override {
    return Check(h, size, owner);
  }

  // The fake has one segment for every session: the segment argument is ignored.
  absl::Status Transfer(shm::Handle h, shm::OwnerId from, shm::OwnerId to) {
    if (from == shm::kNoOwner || to == shm::kNoOwner) {
      return absl::InvalidArgumentError("transfer needs two owners; owner 0 means free");
    }
    if (!fail_next_transfer_.ok()) {
      absl::Status s = fail_next_transfer_;
      fail_next_transfer_ = absl::OkStatus();
      return s;
    }
    absl::Status s = CheckLive(h, from);
    if (!s.ok()) return s;
    slots_[h.index()].owner = to;
    ++transfers_;
    return absl::OkStatus();
  }

  absl::Status Free(shm::Handle h, shm::OwnerId owner) {
    if (owner == shm::kNoOwner) return absl::InvalidArgumentError("cannot free as owner 0 (it means free)");
    absl::Status s = CheckLive(h, owner);
    if (!s.ok()) return s;
    slots_[h.index()].owner = shm::kNoOwner;
    ++frees_;
    return absl::OkStatus();
  }

  absl::Status Check(shm::Handle h, uint64_t size, shm::OwnerId owner) const {
    absl::Status s = CheckLive(h, owner);
    if (!s.ok()) return s;
    if (size > slots_[h.index()].size) {
      return absl::OutOfRangeError(absl::StrCat("size ", size, " exceeds the ", slots_[h.index()].size,
                                                "-byte slab ", Name(h)));
    }
    return absl::OkStatus();
  }

  // ---- for tests
  // The next Transfer fails with `s` and changes nothing (a slab reclaimed under our feet).
  void FailNextTransfer(absl::Status s) { fail_next_transfer_ = std::move(s); }

  // kNoOwner for a free, stale or unknown handle.
  shm::OwnerId OwnerOf(shm::Handle h) const { return Live(h) ? slots_[h.index()].owner : shm::kNoOwner; }
  size_t CountOwnedBy(shm::OwnerId owner) const { return SlabsOwnedBy(owner).size(); }
  std::vector<shm::Handle> SlabsOwnedBy(shm::OwnerId owner) const {
    std::vector<shm::Handle> out;
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].owner == owner && owner != shm::kNoOwner) out.push_back(shm::Handle::Make(0, i, slots_[i].generation));
    }
    return out;
  }
  // Every live slab with its owner.
  std::vector<std::pair<shm::Handle, shm::OwnerId>> LiveSlabList() const {
    std::vector<std::pair<shm::Handle, shm::OwnerId>> out;
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].owner != shm::kNoOwner) out.push_back({shm::Handle::Make(0, i, slots_[i].generation), slots_[i].owner});
    }
    return out;
  }
  size_t LiveSlabs() const { return LiveSlabList().size(); }
  // What the agent does for a session or worker that is gone: frees all it holds.
  size_t ReclaimOwner(shm::OwnerId owner) {
    size_t n = 0;
    for (Slot& s : slots_) {
      if (s.owner == owner && owner != shm::kNoOwner) {
        s.owner = shm::kNoOwner;
        ++n;
      }
    }
    return n;
  }
  size_t frees() const { return frees_; }
  size_t transfers() const { return transfers_; }

 private:
  struct Slot {
    uint32_t generation = 0;
    shm::OwnerId owner = shm::kNoOwner;
    uint64_t size = 0;
  };

  bool Live(shm::Handle h) const {
    return !h.is_null() && h.size_class() == 0 && h.index() < slots_.size() &&
           slots_[h.index()].generation == h.generation() && slots_[h.index()].owner != shm::kNoOwner;
  }
  static std::string Name(shm::Handle h) { return absl::StrCat(h.size_class(), "/", h.index()); }

  // `owner` kNoOwner: held by anyone.
  absl::Status CheckLive(shm::Handle h, shm::OwnerId owner) const {
    if (h.is_null()) return absl::InvalidArgumentError("null slab handle");
    if (h.size_class() != 0 || h.index() >= slots_.size()) {
      return absl::InvalidArgumentError(absl::StrCat("handle ", Name(h), " is out of range: ", slots_.size(),
                                                     " slabs in class 0"));
    }
    const Slot& s = slots_[h.index()];
    if (s.generation != h.generation()) {
      return absl::FailedPreconditionError(absl::StrCat("stale handle: generation ", h.generation(), ", slab ",
                                                        Name(h), " is at generation ", s.generation));
    }
    if (s.owner == shm::kNoOwner) {
      return absl::FailedPreconditionError(absl::StrCat("slab ", Name(h), " is free (a double free or a use after free)"));
    }
    if (owner != shm::kNoOwner && s.owner != owner) {
      return absl::PermissionDeniedError(absl::StrCat("slab ", Name(h), " is held by owner ", s.owner, ", not ", owner));
    }
    return absl::OkStatus();
  }

  std::vector<Slot> slots_;
  absl::Status fail_next_transfer_;
  size_t frees_ = 0;
  size_t transfers_ = 0;
};

}  // namespace jobd::testing
