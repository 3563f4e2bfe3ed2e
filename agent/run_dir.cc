#include "agent/run_dir.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace jobd::agent {
namespace {

absl::Status CheckDir(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("run dir ", path, ": ", strerror(errno)));
  }
  if (S_ISLNK(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("run dir ", path, " is a symbolic link; give the real path"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("run dir ", path, " is not a directory"));
  }
  if ((st.st_mode & S_IWOTH) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run dir ", path, " is world-writable (mode ", absl::StrFormat("%o", st.st_mode & 07777),
        "): anyone could replace the socket; use a private directory"));
  }
  if (access(path.c_str(), W_OK | X_OK) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("run dir ", path, " is not writable by this user"));
  }
  return absl::OkStatus();
}

absl::Status MakeDir(const std::string& path) {
  if (mkdir(path.c_str(), 0750) != 0 && errno != EEXIST) {
    return absl::PermissionDeniedError(absl::StrCat("cannot create run dir ", path, ": ", strerror(errno)));
  }
  return CheckDir(path);
}

}  // namespace

absl::StatusOr<std::string> PrepareRunDir(const std::string& requested) {
  if (!requested.empty()) {
    if (requested[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat("run dir '", requested, "' must be an absolute path"));
    }
    if (absl::Status s = MakeDir(requested); !s.ok()) return s;
    // A symlink anywhere on the path lets whoever controls it redirect the socket.
    char real[PATH_MAX];
    if (realpath(requested.c_str(), real) == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat("run dir ", requested, ": ", strerror(errno)));
    }
    std::string normal = requested;
    while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
    if (normal != real) {
      return absl::FailedPreconditionError(absl::StrCat("run dir ", requested, " goes through a symbolic link (it is ",
                                                        real, "); give the real path"));
    }
    return requested;
  }
  if (MakeDir("/run/jobd").ok()) return std::string("/run/jobd");
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/jobd.XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot create a temp run dir: ", strerror(errno)));
  }
  chmod(templ.c_str(), 0750);
  return templ;
}

}  // namespace jobd::agent
