// The agent's HTTP side: GET /metrics (Prometheus text) and GET /healthz (200 "ok" when
// serving, 503 with the reason otherwise). prometheus-cpp's own Exposer serves only metrics
// and always answers 200, so a health probe could not fail through it; this serves both from
// the same CivetWeb server the Exposer is built on.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

class CivetServer;

namespace jobd::agent {

class HttpEndpoint {
 public:
  using MetricsFn = std::function<std::string()>;
  using HealthFn = std::function<absl::Status()>;  // OK: serving; else the reason

  // Listens on "host:port" (port 0 picks one; see port()). UNAVAILABLE when the address is bad
  // or busy, naming --metrics-address (the only caller serves that flag).
  static absl::StatusOr<std::unique_ptr<HttpEndpoint>> Start(const std::string& address, MetricsFn metrics,
                                                             HealthFn health);
  ~HttpEndpoint();
  int port() const { return port_; }

  struct Handlers;

 private:
  HttpEndpoint() = default;
  std::unique_ptr<Handlers> handlers_;
  std::unique_ptr<CivetServer> server_;
  int port_ = 0;
};

}  // namespace jobd::agent
