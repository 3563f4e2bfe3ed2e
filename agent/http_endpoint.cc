#include "agent/http_endpoint.h"

#include <civetweb.h>

#include <CivetServer.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace jobd::agent {
namespace {

void Reply(mg_connection* conn, int code, const char* status, const std::string& content_type,
           const std::string& body) {
  mg_printf(conn, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", code,
            status, content_type.c_str(), body.size());
  mg_write(conn, body.data(), body.size());
}

class MetricsHandler final : public CivetHandler {
 public:
  explicit MetricsHandler(HttpEndpoint::MetricsFn fn) : fn_(std::move(fn)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    Reply(conn, 200, "OK", "text/plain; version=0.0.4", fn_());
    return true;
  }

 private:
  HttpEndpoint::MetricsFn fn_;
};

class HealthHandler final : public CivetHandler {
 public:
  explicit HealthHandler(HttpEndpoint::HealthFn fn) : fn_(std::move(fn)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    const absl::Status s = fn_();
    if (s.ok()) {
      Reply(conn, 200, "OK", "text/plain", "ok\n");
    } else {
      Reply(conn, 503, "Service Unavailable", "text/plain", std::string(s.message()) + "\n");
    }
    return true;
  }

 private:
  HttpEndpoint::HealthFn fn_;
};

}  // namespace

struct HttpEndpoint::Handlers {
  MetricsHandler metrics;
  HealthHandler health;
};

absl::StatusOr<std::unique_ptr<HttpEndpoint>> HttpEndpoint::Start(const std::string& address, MetricsFn metrics,
                                                                  HealthFn health) {
  std::unique_ptr<HttpEndpoint> ep(new HttpEndpoint());
  ep->handlers_.reset(new Handlers{MetricsHandler(std::move(metrics)), HealthHandler(std::move(health))});
  std::vector<std::string> options = {"listening_ports", address, "num_threads", "2"};
  try {
    ep->server_ = std::make_unique<CivetServer>(options);
  } catch (const CivetException& e) {
    // CivetWeb says only "problem binding to port"; the operator needs the flag to change.
    return absl::UnavailableError(absl::StrCat(
        "cannot serve metrics on ", address, ": the port is in use or the address is not valid (", e.what(),
        "); set --metrics-address=HOST:PORT to another port, HOST:0 for any free port, or empty to turn it off"));
  }
  ep->server_->addHandler("/metrics", &ep->handlers_->metrics);
  ep->server_->addHandler("/healthz", &ep->handlers_->health);
  std::vector<int> ports = ep->server_->getListeningPorts();
  ep->port_ = ports.empty() ? 0 : ports[0];
  return ep;
}

HttpEndpoint::~HttpEndpoint() {
  if (server_ != nullptr) server_->close();
}

}  // namespace jobd::agent
