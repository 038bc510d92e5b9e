// The backup API (docs/openapi.yaml) and control commands: each one calls
// the service (a run, a listing, a verification) and shapes its answer.
#include <boost/asio/awaitable.hpp>
#include <boost/json.hpp>

#include "audit/routes.h"
#include "backup/service_impl.h"
#include "core/offload.h"
#include "http/control.h"
#include "http/http.h"

namespace privstack::backup {

namespace asio = boost::asio;
namespace json = boost::json;

void BackupService::register_routes(http::Router& router) {
  // Failures are Errors (already_running, not_configured, ...) or become
  // `internal` at the router's boundary: no exception text reaches clients.
  router.add("POST", "/api/v1/backups", [this](http::Request& req) -> asio::awaitable<http::Response> {
    json::object doc = co_await run("api", audit::actor_of(req), req.remote_address);
    http::Response r = http::Response::json(201, doc);
    r.set_header("Location", "/api/v1/backups");
    co_return r;
  });
  // The keyless check of every stored copy (the console's "Verify stored
  // copies"): 200 with the report, damaged copies included (each also opens
  // an incident); 409 already_running while a backup runs.
  router.add("POST", "/api/v1/backups/verify", [this](http::Request& req) -> asio::awaitable<http::Response> {
    json::object doc = co_await verify_stored(audit::actor_of(req), req.remote_address);
    co_return http::Response::json(200, doc);
  });
  router.add("GET", "/api/v1/backups", [this](http::Request& req) -> asio::awaitable<http::Response> {
    json::object doc = co_await list(req.query_param("refresh").value_or("") == "true");
    co_return http::Response::json(200, doc);
  });
  // The history of runs, newest first (run_history.cpp).
  router.add("GET", "/api/v1/backups/runs", [this](http::Request&) -> asio::awaitable<http::Response> {
    auto impl = impl_;
    auto job = [impl]() { return impl->runs_blocking(); };
    json::object doc = co_await offload(impl->blocking, std::move(job));
    co_return http::Response::json(200, doc);
  });
}

void BackupService::register_control(http::ControlServer& control) {
  control.add("backup run", [this](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    json::object doc = co_await run("manual", audit::actor_of(req), std::string(audit::kControlSource));
    co_return doc;
  });
  control.add("backup list", [this](const http::ControlRequest&) -> asio::awaitable<json::value> {
    json::object doc = co_await list();
    co_return doc;
  });
  control.add("backup verify", [this](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    auto impl = impl_;
    std::string id;
    if (const auto* v = req.args.if_contains("id"); v != nullptr && v->is_string()) id = std::string(v->as_string());
    std::string actor = audit::actor_of(req);
    if (id == "all") {
      json::object doc = co_await verify_stored(actor, std::string(audit::kControlSource));
      co_return doc;
    }
    auto job = [impl, id, actor]() { return impl->verify_blocking(id, actor); };
    json::object doc = co_await offload(impl->blocking, std::move(job));
    co_return doc;
  });
}

}  // namespace privstack::backup
