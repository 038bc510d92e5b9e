#include "daemon_app.h"

#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <mutex>
#include <thread>
#include <vector>

#include "core/health.h"
#include "core/log.h"
#include "core/version.h"
#include "http/control.h"
#include "http/server.h"
#include "http/tls.h"

namespace privstack {

namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr auto kDrainDeadline = 4500ms;  // systemd's stop timeout is longer; tests expect < 5 s

void notify(const std::string& state) { sd_notify(0, state.c_str()); }

void notify_status(const std::string& status) { notify("STATUS=" + status); }

std::string listen_description(const Config& c) {
  bool v6 = c.listen.address.find(':') != std::string::npos;
  return (v6 ? "[" + c.listen.address + "]" : c.listen.address) + ":" + std::to_string(c.listen.port);
}

struct TlsPaths {
  std::filesystem::path certificate;
  std::filesystem::path private_key;
  bool self_signed;
};

TlsPaths tls_paths(const Config& c) {
  if (!c.tls.certificate.empty()) return {c.tls.certificate, c.tls.private_key, false};
  return {c.state_directory / "tls" / "certificate.pem", c.state_directory / "tls" / "private_key.pem", true};
}

// Loads the configured certificate, or the self-signed one, making it first
// when it does not exist yet.
std::shared_ptr<http::TlsContext> load_tls(const Config& c) {
  TlsPaths paths = tls_paths(c);
  if (paths.self_signed && !std::filesystem::exists(paths.private_key)) {
    std::filesystem::create_directories(paths.private_key.parent_path());
    std::filesystem::permissions(paths.private_key.parent_path(), std::filesystem::perms(0700));
    http::generate_self_signed(paths.certificate, paths.private_key, http::default_certificate_names(c.listen.address));
    log::emit(log::events::tls_certificate_generated, "generated a self-signed TLS certificate",
              {{"CERTIFICATE", paths.certificate.string()}});
  }
  auto context = http::make_tls_context(paths.certificate, paths.private_key);
  auto info = http::certificate_info(*context);
  log::emit(log::events::tls_certificate_loaded, "TLS certificate loaded: " + info.subject,
            {{"CERTIFICATE", paths.certificate.string()},
             {"NOT_AFTER", static_cast<std::int64_t>(std::chrono::system_clock::to_time_t(info.not_after))}});
  return context;
}

}  // namespace

struct DaemonApp::Impl {
  explicit Impl(Config c) : config(std::make_shared<const Config>(std::move(c))) {}

  std::shared_ptr<const Config> config;  // replaced whole on reload
  std::mutex config_mutex;
  asio::io_context io;
  Health health;
  http::Router router;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<http::ControlServer> control;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  bool stopping = false;

  std::shared_ptr<const Config> current_config() {
    std::lock_guard lock(config_mutex);
    return config;
  }

  void update_certificate_health(const http::TlsContext& context) {
    auto left = http::certificate_info(context).not_after - std::chrono::system_clock::now();
    auto days = std::chrono::duration_cast<std::chrono::hours>(left).count() / 24;
    if (left < std::chrono::hours(0)) {
      health.set("certificate", HealthState::failed, "expired");
    } else if (left < std::chrono::hours(24 * 30)) {
      health.set("certificate", HealthState::degraded, "expires in " + std::to_string(days) + " days");
      log::emit(log::events::tls_certificate_expiring, "TLS certificate expires in " + std::to_string(days) + " days",
                {{"DAYS_LEFT", static_cast<std::int64_t>(days)}});
    } else {
      health.set("certificate", HealthState::ok, "valid for " + std::to_string(days) + " days");
    }
  }

  json::object health_document(bool with_details) {
    json::object components;
    for (const auto& [name, c] : health.snapshot()) {
      json::object entry;
      entry["state"] = to_string(c.state);
      if (with_details && !c.detail.empty()) entry["detail"] = c.detail;
      components[name] = entry;
    }
    json::object doc;
    doc["status"] = to_string(health.overall());
    doc["components"] = components;
    return doc;
  }

  void register_routes() {
    router.add("GET", "/healthz", [this](http::Request&) -> asio::awaitable<http::Response> {
      // Anonymous: states only, no details that would describe internals.
      json::object doc = health_document(false);
      int status = health.overall() == HealthState::failed ? 503 : 200;
      co_return http::Response::json(status, doc);
    });
  }

  void register_control_commands() {
    control->add("status", [this](const http::ControlRequest&) -> asio::awaitable<json::value> {
      auto c = current_config();
      json::object doc = health_document(true);
      doc["version"] = kVersion;
      doc["pid"] = static_cast<std::int64_t>(::getpid());
      doc["uptime_seconds"] =
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started).count();
      doc["listen"] = "https://" + listen_description(*c);
      doc["config"] = c->source.string();
      co_return doc;
    });
  }

  asio::awaitable<void> watchdog_loop(std::chrono::microseconds interval) {
    asio::steady_timer timer(io);
    while (!stopping) {
      // Sent from the io loop: if the loop is stuck, systemd stops hearing it.
      notify("WATCHDOG=1");
      timer.expires_after(interval);
      co_await timer.async_wait(asio::use_awaitable);
    }
  }

  void reload() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    notify("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(ts.tv_sec * 1000000LL + ts.tv_nsec / 1000));
    notify_status("reloading configuration");
    auto old = current_config();
    ConfigResult result = load_config(old->source);
    if (!result.config) {
      for (const auto& p : result.problems) {
        log::emit(log::events::config_rejected, "configuration rejected: " + p.to_string(),
                  {{"CONFIG", old->source.string()}});
      }
      notify("READY=1");
      notify_status("serving on " + listen_description(*old) + "; last reload rejected, see the log");
      return;
    }
    Config next = std::move(*result.config);
    std::shared_ptr<http::TlsContext> tls;
    try {
      tls = load_tls(next);
    } catch (const std::exception& e) {
      log::emit(log::events::config_rejected, std::string("configuration rejected: ") + e.what(),
                {{"CONFIG", old->source.string()}});
      notify("READY=1");
      notify_status("serving on " + listen_description(*old) + "; last reload rejected, see the log");
      return;
    }
    if (next.listen.address != old->listen.address || next.listen.port != old->listen.port ||
        next.control.socket != old->control.socket || next.state_directory != old->state_directory) {
      log::emit(log::events::config_restart_needed,
                "listen, control.socket and state_directory changes take effect at the next restart");
      // Keep serving where we are; report the values actually in use.
      next.listen = old->listen;
      next.control = old->control;
      next.state_directory = old->state_directory;
    }
    server->set_tls_context(tls);
    update_certificate_health(*tls);
    {
      std::lock_guard lock(config_mutex);
      config = std::make_shared<const Config>(std::move(next));
    }
    log::emit(log::events::config_reloaded, "configuration reloaded", {{"CONFIG", old->source.string()}});
    notify("READY=1");
    notify_status("serving on " + listen_description(*current_config()));
  }

  asio::awaitable<void> drain_and_stop() {
    stopping = true;
    notify("STOPPING=1");
    notify_status("stopping: draining requests");
    log::emit(log::events::daemon_stopping, "stopping; draining in-flight requests");
    server->shutdown();
    control->stop();
    auto deadline = std::chrono::steady_clock::now() + kDrainDeadline;
    asio::steady_timer timer(io);
    while (server->open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(20ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    io.stop();
  }

  asio::awaitable<void> signal_loop() {
    asio::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
    for (;;) {
      int signo = co_await signals.async_wait(asio::use_awaitable);
      if (signo == SIGHUP) {
        reload();
      } else {
        co_await drain_and_stop();
        co_return;
      }
    }
  }

  int run() {
    auto c = current_config();
    log::emit(log::events::daemon_started, std::string("privstackd ") + kVersion + " starting",
              {{"VERSION", kVersion}, {"CONFIG", c->source.string()}});
    notify_status("starting");
    try {
      std::filesystem::create_directories(c->state_directory);
      std::filesystem::permissions(c->state_directory, std::filesystem::perms(0750));

      auto tls = load_tls(*c);
      register_routes();
      server = std::make_unique<http::Server>(
          io, [this](http::Request& r) { return router.dispatch(r); }, http::ServerLimits{});
      server->set_tls_context(tls);
      update_certificate_health(*tls);
      server->listen(c->listen.address, c->listen.port);
      health.set("listener", HealthState::ok, "https://" + listen_description(*c));

      control = std::make_unique<http::ControlServer>(io, c->control.socket);
      register_control_commands();
      control->start();
      log::emit(log::events::control_started, "control socket ready", {{"SOCKET", c->control.socket.string()}});
    } catch (const std::exception& e) {
      log::emit(log::events::daemon_fatal, std::string("cannot start: ") + e.what());
      notify_status(std::string("failed: ") + e.what());
      return 1;
    }

    server->start();
    log::emit(log::events::listener_started, "listening on https://" + listen_description(*c),
              {{"LISTEN", listen_description(*c)}});
    asio::co_spawn(io, signal_loop(), asio::detached);
    std::uint64_t watchdog_usec = 0;
    if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
      asio::co_spawn(io, watchdog_loop(std::chrono::microseconds(watchdog_usec / 2)), asio::detached);
    }
    notify("READY=1");
    notify_status("serving on " + listen_description(*c));
    log::emit(log::events::daemon_ready, "ready", {{"LISTEN", listen_description(*c)}});

    unsigned n = std::max(2u, std::min(4u, std::thread::hardware_concurrency()));
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < n; ++i) threads.emplace_back([this] { io.run(); });
    io.run();
    for (auto& t : threads) t.join();
    log::emit(log::events::daemon_stopped, "stopped");
    return 0;
  }
};

DaemonApp::DaemonApp(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
DaemonApp::~DaemonApp() = default;
int DaemonApp::run() { return impl_->run(); }

}  // namespace privstack
