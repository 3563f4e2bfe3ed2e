// One open gRPC stream the agent writes to from several threads. gRPC allows one writer at a
// time per stream, and the stream object dies when its handler returns: both are handled here.
#pragma once

#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/sync_stream.h"

namespace jobd::agent {

template <typename Out, typename In>
class StreamConn {
 public:
  explicit StreamConn(grpc::ServerReaderWriter<Out, In>* stream, grpc::ServerContext* context = nullptr)
      : stream_(stream), context_(context) {}

  // False when the stream is closed or broken; the caller treats the peer as gone.
  bool Write(const Out& message) {
    absl::MutexLock lock(&mu_);
    if (stream_ == nullptr) return false;
    return stream_->Write(message);
  }
  // Called by the handler before it returns; later writes are dropped.
  void Close() {
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
    context_ = nullptr;
  }
  // Ends the stream from our side (the peer broke the protocol); its handler then returns.
  // False when there is no stream to end: closed, or the peer detached from it.
  bool Abort() {
    absl::MutexLock lock(&mu_);
    aborted_ = true;
    if (context_ == nullptr) return false;
    context_->TryCancel();
    return true;
  }
  // The peer leaves the stream for good (a worker's Detach; its handler then returns): later
  // writes are dropped and Abort ends nothing. False when the stream was already aborted, so that
  // a peer the agent meant to end is ended rather than detached.
  bool Detach() {
    absl::MutexLock lock(&mu_);
    if (aborted_) return false;
    stream_ = nullptr;
    context_ = nullptr;
    detached_ = true;
    return true;
  }
  bool detached() {
    absl::MutexLock lock(&mu_);
    return detached_;
  }

 private:
  absl::Mutex mu_;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  bool detached_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ServerReaderWriter<Out, In>* stream_ ABSL_GUARDED_BY(mu_);
  grpc::ServerContext* context_ ABSL_GUARDED_BY(mu_);
};

}  // namespace jobd::agent
