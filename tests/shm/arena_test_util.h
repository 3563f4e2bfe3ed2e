// A fresh arena file path per test, removed afterwards.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <string>

namespace jobd::testing {

class TempArenaPath {
 public:
  TempArenaPath() {
    char dir[] = "/dev/shm/jobd-arena-test.XXXXXX";
    if (mkdtemp(dir) != nullptr) dir_ = dir;
    path_ = dir_ + "/arena";
  }
  ~TempArenaPath() {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_ = "/tmp";
  std::string path_;
};

}  // namespace jobd::testing
