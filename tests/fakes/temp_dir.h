// A fresh directory under /tmp per test (sockets, run dirs), removed with what it holds.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace jobd::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "jobd-test") {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    if (!path_.empty()) std::filesystem::remove_all(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Empty when the directory could not be made.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace jobd::testing
