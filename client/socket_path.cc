#include "client/socket_path.h"

#include <cstdlib>

namespace jobd::client {

std::string DefaultSocketPath() {
  if (const char* s = std::getenv("JOBD_SOCKET"); s != nullptr && *s != '\0') return s;
  if (const char* d = std::getenv("JOBD_RUN_DIR"); d != nullptr && *d != '\0') {
    return std::string(d) + "/jobd.sock";
  }
  return "/run/jobd/jobd.sock";
}

std::string GrpcAddress(const std::string& socket_path) {
  if (!socket_path.empty() && socket_path[0] == '/') return "unix://" + socket_path;
  return "unix:" + socket_path;
}

bool IsInsideWorker() {
  const char* t = std::getenv("JOBD_WORKER_TOKEN");
  return t != nullptr && *t != '\0';
}

}  // namespace jobd::client
