// A job's response: a read-only view into its slab in the arena. Nothing is copied; dropping
// the Response frees the slab. Move-only. Must not outlive the JobClient it came from (the
// agent reclaims a session's slabs when the session ends).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "shm/arena.h"

namespace jobd::client {

class Response {
 public:
  Response() = default;
  Response(std::shared_ptr<shm::Arena> arena, shm::OwnerId owner, shm::Handle handle,
           std::span<const std::byte> bytes)
      : arena_(std::move(arena)), owner_(owner), handle_(handle), bytes_(bytes) {}
  // A response that lives in ordinary memory (the local fallback).
  explicit Response(std::shared_ptr<const std::string> owned)
      : owned_(std::move(owned)), bytes_(std::as_bytes(std::span(owned_->data(), owned_->size()))) {}
  Response(Response&& other) noexcept { *this = std::move(other); }
  Response& operator=(Response&& other) noexcept {
    if (this != &other) {
      Release();
      arena_ = std::move(other.arena_);
      owned_ = std::move(other.owned_);
      owner_ = other.owner_;
      handle_ = other.handle_;
      bytes_ = other.bytes_;
      other.handle_ = shm::Handle();
      other.bytes_ = {};
    }
    return *this;
  }
  Response(const Response&) = delete;
  Response& operator=(const Response&) = delete;
  ~Response() { Release(); }

  std::span<const std::byte> bytes() const { return bytes_; }
  std::string_view view() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

  // Frees the slab now; the view becomes empty.
  void Release() {
    if (!handle_.is_null() && arena_ != nullptr) (void)arena_->Free(handle_, owner_);
    handle_ = shm::Handle();
    owned_.reset();
    bytes_ = {};
  }

 private:
  std::shared_ptr<shm::Arena> arena_;
  std::shared_ptr<const std::string> owned_;
  shm::OwnerId owner_ = shm::kNoOwner;
  shm::Handle handle_;
  std::span<const std::byte> bytes_;
};

}  // namespace jobd::client
