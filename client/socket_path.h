// Where clients, workers and tools find the agent.
#pragma once

#include <string>

namespace jobd::client {

// $JOBD_SOCKET, else $JOBD_RUN_DIR/jobd.sock, else /run/jobd/jobd.sock.
std::string DefaultSocketPath();

// "unix:///abs/path.sock" for gRPC (three slashes for an absolute path).
std::string GrpcAddress(const std::string& socket_path);

// True inside a process the agent started as a worker (JOBD_WORKER_TOKEN is set).
bool IsInsideWorker();

}  // namespace jobd::client
