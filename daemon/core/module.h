// The module contract: what every part of privstackd that serves routes or
// control commands, runs loops, or has reloadable settings implements, and
// the context through which it gets what it uses.
//
// daemon_app.cpp is a list of modules: it builds the infrastructure (store,
// audit log, authentication, TLS listener, control socket), makes a
// ModuleContext, asks each module's factory for its Module, and then calls
// the same hooks on each, in list order:
//   register_routes, register_control_commands  before serving;
//   start                                       once serving (spawn loops);
//   reload(next)                                on SIGHUP, with the new config;
//   refresh_metrics                             when /metrics is read;
//   begin_drain                                 SIGTERM: draining starts;
//   stop                                        once in-flight requests ended.
// Adding a module is its own folder (its library, with a make_module()
// factory) plus one line in daemon_app's module list. docs/architecture.md
// walks through it.
//
// The types named here are forward declarations only: core links against
// nothing above it, the modules bring the definitions they use.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace privstack {

class Clock;
struct Config;
class Health;
namespace store {
class Store;
}
namespace audit {
class AuditLog;
}
namespace http {
class Router;
class ControlServer;
}  // namespace http

// Signals between modules that the daemon relays, so that no module holds a
// pointer to another. Subscribe in the factory or in start().
class ModuleEvents {
 public:
  using SignedOut = std::function<void(const std::string& user)>;
  // A user's session ended (logout, or all sessions revoked).
  void on_signed_out(SignedOut handler) { signed_out_.push_back(std::move(handler)); }
  void signed_out(const std::string& user) const {
    for (const auto& h : signed_out_) h(user);
  }

 private:
  std::vector<SignedOut> signed_out_;
};

struct ModuleContext {
  store::Store& store;       // the encrypted store (open)
  audit::AuditLog& audit;    // the hash-chained audit log
  Health& health;            // components for /healthz and `privstackctl status`
  boost::asio::io_context& io;
  // Threads for CPU-heavy or blocking work shared by modules (Argon2,
  // signing); a module with long jobs (backups, scans) makes its own pool.
  boost::asio::any_io_executor blocking;
  // The configuration now in force; replaced whole on SIGHUP.
  std::function<std::shared_ptr<const Config>()> config;
  // True once the daemon drains: loops end when it is.
  std::function<bool()> stopping;
  // Runs a coroutine (a module's schedule loop) on the io threads.
  std::function<void(boost::asio::awaitable<void>)> spawn;
  ModuleEvents& events;
  // The time: default_clock() in the daemon; tests make a module with a
  // ManualClock and move it. Modules read no other clock.
  Clock& clock;
  // The journal is process-wide (core/log.h: log::emit); events with an
  // incident rule open incidents (daemon/incidents), so emitting the event
  // is a module's incident hook.
};

class Module {
 public:
  virtual ~Module() = default;
  // A short name for logs and the module list ("backup").
  virtual std::string_view name() const = 0;
  virtual void register_routes(http::Router&) {}
  virtual void register_control_commands(http::ControlServer&) {}
  // Once the daemon serves: spawn schedule loops through ctx.spawn.
  virtual void start() {}
  // SIGHUP: the configuration that is now in force, already validated.
  virtual void reload(const Config&) {}
  // When /metrics is read: set the gauges this module computes on demand.
  virtual boost::asio::awaitable<void> refresh_metrics() { co_return; }
  // SIGTERM, as draining starts: cancel long jobs, so that the requests
  // waiting for them end in time.
  virtual void begin_drain() {}
  // After the in-flight requests ended (or the drain deadline passed):
  // close what must be closed (and audited) before the final anchor.
  virtual boost::asio::awaitable<void> stop() { co_return; }
  // After the io loop has ended: join the module's own threads.
  virtual void stopped() {}
};

using ModuleFactory = std::function<std::unique_ptr<Module>(ModuleContext&)>;

}  // namespace privstack
