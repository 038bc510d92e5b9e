// The incident register's HTTP routes and control commands. The work runs
// on the service's own thread (executor()), in order with the rules.
#include <algorithm>
#include <boost/json.hpp>

#include "audit/routes.h"
#include "core/error.h"
#include "core/offload.h"
#include "http/body.h"
#include "http/control.h"
#include "http/http.h"
#include "incidents/incidents.h"

namespace privstack::incidents {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

std::optional<std::int64_t> parse_id(const std::string& text) {
  if (text.empty() || text.size() > 18 || !std::all_of(text.begin(), text.end(), ::isdigit)) return std::nullopt;
  return std::stoll(text);
}

}  // namespace

void IncidentService::register_routes(http::Router& router) {
  IncidentService* service = this;
  router.add("GET", "/api/v1/incidents", [service](http::Request& req) -> asio::awaitable<http::Response> {
    std::string state = req.query_param("state").value_or("");
    if (!state.empty() && state != "all" && state != "unresolved" && state != "open" && state != "acknowledged" &&
        state != "resolved") {
      throw Error(ErrorCode::invalid_argument, "state must be open, acknowledged, resolved, unresolved or all.");
    }
    std::int64_t limit = 500;
    if (auto l = req.query_param("limit")) {
      auto n = parse_id(*l);  // digits only
      if (!n) throw Error(ErrorCode::invalid_argument, "limit must be a number from 0 to 500.");
      limit = std::min<std::int64_t>(*n, 500);
    }
    auto job = [service, state, limit] { return service->list_blocking(state, limit); };
    json::object doc = co_await offload(service->executor(), std::move(job));
    co_return http::Response::json(200, doc);
  });
  router.add("GET", "/api/v1/incidents/{id}", [service](http::Request& req) -> asio::awaitable<http::Response> {
    auto id = parse_id(req.params["id"]);
    if (!id) throw Error(ErrorCode::not_found, "No such incident.");
    auto job = [service, i = *id] { return service->get_blocking(i); };
    auto doc = co_await offload(service->executor(), std::move(job));
    if (!doc) throw Error(ErrorCode::not_found, "No such incident.");
    co_return http::Response::json(200, *doc);
  });
  for (std::string action : {"acknowledge", "resolve", "assign", "comments", "breach"}) {
    std::string name = action == "comments" ? "comment" : action;
    router.add("POST", "/api/v1/incidents/{id}/" + action,
               [service, name](http::Request& req) -> asio::awaitable<http::Response> {
                 auto id = parse_id(req.params["id"]);
                 if (!id) throw Error(ErrorCode::not_found, "No such incident.");
                 json::object body = http::read_json_object(req);
                 std::string actor = audit::actor_of(req);
                 auto job = [service, i = *id, name, actor, body] { return service->act_blocking(i, name, actor, body); };
                 json::object v = co_await offload(service->executor(), std::move(job));
                 co_return http::Response::json(200, v);
               });
  }
}

void IncidentService::register_control(http::ControlServer& control) {
  IncidentService* service = this;
  control.add("incidents list", [service](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    std::string state = "unresolved";
    if (auto it = req.args.find("state"); it != req.args.end() && it->value().is_string()) {
      state = it->value().as_string().c_str();
    }
    auto job = [service, state] { return service->list_blocking(state); };
    json::object doc = co_await offload(service->executor(), std::move(job));
    co_return doc;
  });
  control.add("incidents show", [service](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    std::optional<std::int64_t> id;
    if (auto it = req.args.find("id"); it != req.args.end() && it->value().is_string()) {
      id = parse_id(it->value().as_string().c_str());
    }
    if (!id) throw Error(ErrorCode::invalid_argument, "usage: incidents show ID");
    auto job = [service, i = *id] { return service->get_blocking(i); };
    auto doc = co_await offload(service->executor(), std::move(job));
    if (!doc) throw Error(ErrorCode::not_found, "no such incident");
    co_return *doc;
  });
  for (std::string action : {"acknowledge", "resolve", "assign", "comment"}) {
    control.add("incidents " + action, [service, action](const http::ControlRequest& req) -> asio::awaitable<json::value> {
      std::optional<std::int64_t> id;
      if (auto it = req.args.find("id"); it != req.args.end() && it->value().is_string()) {
        id = parse_id(it->value().as_string().c_str());
      }
      if (!id) throw Error(ErrorCode::invalid_argument, "usage: incidents " + action + " ID");
      std::string actor = audit::actor_of(req);
      json::object body = req.args;
      auto job = [service, i = *id, action, actor, body] { return service->act_blocking(i, action, actor, body); };
      json::object v = co_await offload(service->executor(), std::move(job));
      co_return v;
    });
  }
}

}  // namespace privstack::incidents
