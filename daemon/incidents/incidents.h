// The incident register: security and operational events (every journal
// entry, seen through a log observer) feed rules that open or update
// incidents in the store. Incidents have a severity, a state (open,
// acknowledged, resolved), an owner, a timeline of the events that fed them
// and of operators' actions, and for a possible personal-data breach a
// notification deadline 48 hours after detection. Every change goes to
// journald with PRIORITY by severity and, when notifications.webhook.url is
// set, to a signed webhook (webhook.h).
//
// The observer only copies the event and posts it to the service's own
// thread: rules, store writes and deliveries never run on the emitting
// thread (an io thread, usually).
#pragma once

#include "core/module.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/config.h"
#include "core/time.h"
#include "incidents/rules.h"

namespace privstack::store {
class Store;
}
namespace privstack::http {
class Router;
class ControlServer;
}  // namespace privstack::http

namespace privstack::incidents {

class IncidentService {
 public:
  // `clock` stamps events, incidents and deliveries and runs the breach clock.
  IncidentService(store::Store& store, std::function<std::shared_ptr<const Config>()> config,
                  Clock& clock = default_clock());
  ~IncidentService();
  IncidentService(const IncidentService&) = delete;
  IncidentService& operator=(const IncidentService&) = delete;

  // Starts observing log events (and the webhook sender).
  void start();
  // Stops observing; pending work is finished or dropped. Idempotent.
  void stop();

  // New rule thresholds (SIGHUP); webhook and mail settings are read from
  // the current configuration at each delivery.
  void reload(const Config& next);

  void register_routes(http::Router& router);
  void register_control(http::ControlServer& control);

  // For /metrics and tests: waits until every event observed so far has
  // been processed by the rules.
  boost::asio::awaitable<void> drain();

  // Blocking queries (store thread or tests).
  // {"incidents": the newest `limit` (<= 500), "count": all that match}.
  boost::json::object list_blocking(const std::string& state_filter, std::int64_t limit = 500);
  std::optional<boost::json::object> get_blocking(std::int64_t id);
  // An operator's action: acknowledge, resolve, assign, comment, breach.
  // Throws Error (not_found, conflict, invalid_argument).
  boost::json::object act_blocking(std::int64_t id, const std::string& action, const std::string& actor,
                                   const boost::json::object& body);
  // The service's own thread, where the rules, the store writes and the
  // blocking queries above run in order.
  boost::asio::any_io_executor executor();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// This module as a daemon module (core/module.h).
std::unique_ptr<Module> make_module(ModuleContext& ctx);

}  // namespace privstack::incidents
