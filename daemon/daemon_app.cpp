#include "daemon_app.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <ctime>
#include <mutex>
#include <thread>
#include <vector>

#include "audit/audit.h"
#include "audit/routes.h"
#include "auth/auth.h"
#include "backup/service.h"
#include "core/health.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/module.h"
#include "core/version.h"
#include "hostaudit/hostaudit.h"
#include "http/control.h"
#include "http/server.h"
#include "http/static_files.h"
#include "http/tls.h"
#include "incidents/incidents.h"
#include "records/records.h"
#include "store/admin.h"
#include "store/store.h"
#include "wallet/module.h"

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

// Threads for CPU-heavy work (Argon2 password hashing). They run at a lower
// priority (nice 10) than the io threads, so a burst of logins slows logins
// down, not every other request.
class BlockingPool {
 public:
  explicit BlockingPool(unsigned threads) : work_(asio::make_work_guard(ctx_)) {
    for (unsigned i = 0; i < threads; ++i) {
      threads_.emplace_back([this] {
        ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
        ctx_.run();
      });
    }
  }
  ~BlockingPool() {
    work_.reset();
    ctx_.stop();
    for (auto& t : threads_) t.join();
  }
  asio::any_io_executor executor() { return ctx_.get_executor(); }

 private:
  asio::io_context ctx_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

// Authentication events into the audit log (auth knows nothing of audit).
// The actor is the event's typed identity when someone else made the change
// (an administrator, privstackctl), else the account concerned.
class AuditAuthSink : public auth::AuthEventSink {
 public:
  AuditAuthSink(audit::AuditLog& log, asio::any_io_executor executor, const ModuleEvents& events)
      : log_(log), executor_(std::move(executor)), events_(events) {}
  void record(const auth::AuthEvent& e) override {
    audit::Entry a;
    if (e.by) {
      a.actor = audit::actor_of(*e.by);
      a.source = e.by->method == AuthMethod::control_socket ? std::string(audit::kControlSource) : e.remote;
    } else {
      a.actor = !e.user.empty() ? audit::actor_user(e.user) : "anonymous";
      if (!e.token_id.empty()) a.actor = audit::actor_token(e.token_id, e.user);
      a.source = e.remote;
    }
    a.action = e.type;
    a.object = !e.user.empty() ? "user:" + e.user : !e.token_id.empty() ? "token:" + e.token_id : "";
    bool denied = e.type.find("denied") != std::string::npos;
    bool failed = e.type.find("failed") != std::string::npos || e.type.find("lockout") != std::string::npos;
    a.outcome = std::string(denied ? audit::kDenied : failed ? audit::kFailure : audit::kSuccess);
    std::string detail;
    auto add = [&](std::string_view k, const std::string& v) {
      if (!v.empty()) detail += (detail.empty() ? "" : "; ") + std::string(k) + "=" + v;
    };
    add("change", e.action);
    add("reason", e.reason);
    add("token", e.token_id);
    add("message", e.message);
    a.detail = std::move(detail);
    log_.post_append(executor_, std::move(a));
    if ((e.type == "auth.logout" || e.type == "auth.sessions_revoked") && !e.user.empty()) events_.signed_out(e.user);
  }

 private:
  audit::AuditLog& log_;
  asio::any_io_executor executor_;
  const ModuleEvents& events_;
};

struct DaemonApp::Impl {
  explicit Impl(Config c) : config(std::make_shared<const Config>(std::move(c))) {}

  std::shared_ptr<const Config> config;  // replaced whole on reload
  std::mutex config_mutex;
  asio::io_context io;
  Health health;
  // Infrastructure, made before any module: the encrypted store (open
  // before READY=1), the hash-chained audit log, and authentication (its
  // middleware guards every route; Argon2 runs on blocking_pool, never on
  // the io threads).
  std::unique_ptr<store::Store> store;
  std::unique_ptr<audit::AuditLog> audit_log;
  std::unique_ptr<BlockingPool> blocking_pool;
  std::unique_ptr<auth::StoreAuthRepository> auth_repository;
  std::unique_ptr<auth::AuthService> auth_service;
  ModuleEvents module_events;
  std::shared_ptr<AuditAuthSink> audit_sink;
  std::unique_ptr<ModuleContext> context;
  // The modules, in the order of module_list(); each registers its routes
  // and control commands and gets every lifecycle call (core/module.h).
  std::vector<std::unique_ptr<Module>> modules;
  std::unique_ptr<http::StaticFiles> static_files;
  http::Router router;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<http::ControlServer> control;
  // The daemon's clock, handed to every module through ModuleContext.
  Clock& clock = default_clock();
  std::chrono::steady_clock::time_point started = clock.steady_now();
  bool stopping = false;

  std::shared_ptr<const Config> current_config() {
    std::lock_guard lock(config_mutex);
    return config;
  }

  void update_certificate_health(const http::TlsContext& context) {
    auto left = http::certificate_info(context).not_after - clock.system_now();
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

  // Request counts and latency by route pattern (never by raw path: the
  // label set stays bounded) for /metrics. Outermost: it sees the status of
  // failed requests too (the error boundary runs inside it).
  static http::Middleware request_metrics() {
    return [](http::Request& req, const http::Next& next) -> asio::awaitable<http::Response> {
      auto t0 = std::chrono::steady_clock::now();
      std::string route = req.route                                           ? req.route->pattern
                          : (req.method == "GET" || req.method == "HEAD") ? "(static)"
                                                                            : "(unmatched)";
      std::string method = req.method;
      http::Response response = co_await next(req);
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      metrics::inc(metrics::names::http_requests,
                   {{"method", method}, {"route", route}, {"status", std::to_string(response.status)}});
      metrics::observe(metrics::names::http_duration, seconds, {{"route", route}});
      co_return response;
    };
  }

  // A full disk is the operator's to fix, not a bug: say so in the journal
  // (the transaction was rolled back; the client gets insufficient_storage).
  static http::Middleware disk_full_alert() {
    return [](http::Request& req, const http::Next& next) -> asio::awaitable<http::Response> {
      try {
        co_return co_await next(req);
      } catch (const Error& e) {
        if (e.code() == ErrorCode::insufficient_storage) {
          log::emit(log::events::store_disk_full, "store write failed: the disk holding the store is full",
                    {{"METHOD", req.method}, {"PATH", req.path}});
        }
        throw;
      }
    };
  }

  // Gauges computed when /metrics is read.
  asio::awaitable<void> refresh_metrics() {
    using namespace metrics::names;
    metrics::set(uptime, std::chrono::duration<double>(clock.steady_now() - started).count());
    std::error_code ec;
    auto db = store::database_path(*current_config());
    double size = 0;
    for (const char* suffix : {"", "-wal"}) {
      auto n = std::filesystem::file_size(db.string() + suffix, ec);
      if (!ec) size += static_cast<double>(n);
    }
    metrics::set(store_size, size);
    for (const auto& [name, c] : health.snapshot()) {
      metrics::set(health_component, static_cast<double>(static_cast<int>(c.state)), {{"component", name}});
    }
    for (auto& m : modules) co_await m->refresh_metrics();
  }

  // The daemon's own routes: health (anonymous states, and the authenticated
  // report with details) and metrics.
  void register_system_routes() {
    router.add("GET", "/healthz", [this](http::Request&) -> asio::awaitable<http::Response> {
      // Anonymous: states only, no details that would describe internals.
      json::object doc = health_document(false);
      int status = health.overall() == HealthState::failed ? 503 : 200;
      co_return http::Response::json(status, doc);
    });
    router.add("GET", "/api/v1/health", [this](http::Request&) -> asio::awaitable<http::Response> {
      // Any signed-in caller: the same document with each component's
      // detail (why it is degraded, when the certificate expires), which
      // the console shows next to the state. Always 200: the caller asked
      // for the report, not for a liveness probe.
      co_return http::Response::json(200, health_document(true));
    });
    router.add("GET", "/metrics", [this](http::Request&) -> asio::awaitable<http::Response> {
      co_await refresh_metrics();
      co_return http::Response::text(200, metrics::global().render(), "text/plain; version=0.0.4; charset=utf-8");
    });
  }

  // Every route, then the middleware: metrics outermost, then the error
  // boundary, the disk-full alert and authentication, which binds each
  // route to its permission rule once, now that all are registered.
  void register_routes() {
    register_system_routes();
    for (auto& m : modules) m->register_routes(router);
    // Everything else is the console's static files (public).
    static_files = std::make_unique<http::StaticFiles>(current_config()->console.web_root);
    router.set_fallback(static_files->handler());
    router.use(request_metrics());
    router.use(http::error_boundary());
    router.use(disk_full_alert());
    router.use(auth_service->middleware(router));
  }

  // Users, sessions and API tokens from the store; auth events also go to
  // the audit log.
  void open_auth(const Config& c) {
    blocking_pool = std::make_unique<BlockingPool>(2);
    auth_repository = std::make_unique<auth::StoreAuthRepository>(*store);
    auth_service = std::make_unique<auth::AuthService>(*auth_repository, blocking_pool->executor(),
                                                       auth::Settings::from_config(c), clock);
    auth_service->load();
    auth_service->set_event_sink(audit_sink);
  }

  static http::ServerLimits server_limits(const Config& c) {
    http::ServerLimits limits;
    limits.requests_per_second_per_address = c.listen.requests_per_second;
    limits.request_burst = 2.0 * c.listen.requests_per_second;
    limits.max_connections_per_address = static_cast<std::size_t>(c.listen.connections_per_address);
    return limits;
  }

  // Opens the audit log (anchor key outside the store) on the open store;
  // writes a first anchor.
  void open_audit(const Config& c) {
    bool created = false;
    Secret key = audit::AuditLog::load_or_create_anchor_key(c.state_directory, &created);
    if (created) {
      log::emit(log::events::audit_anchor_key_created, "created the audit anchor key",
                {{"KEY_FILE", (c.state_directory / "audit-anchor.key").string()}});
    }
    audit_log = std::make_unique<audit::AuditLog>(*store, std::move(key), c.state_directory / "audit-anchor.json");
    audit_sink = std::make_shared<AuditAuthSink>(*audit_log, io.get_executor(), module_events);
    system_audit("daemon.start", "daemon", std::string("privstackd ") + kVersion);
    audit_log->write_anchor(true);
  }

  // An audit entry for something the daemon or an administrator did outside
  // any module (configuration, keys), from a non-io thread or before serving.
  void system_audit(std::string action, std::string object, std::string detail,
                    std::string actor = "system", std::string_view outcome = audit::kSuccess) {
    audit::Entry e;
    if (actor.starts_with("local:")) e.source = std::string(audit::kControlSource);
    e.actor = std::move(actor);
    e.action = std::move(action);
    e.object = std::move(object);
    e.outcome = std::string(outcome);
    e.detail = std::move(detail);
    audit_log->post_append(io.get_executor(), std::move(e));
  }

  asio::awaitable<void> anchor_loop() {
    asio::steady_timer timer(io);
    while (!stopping) {
      timer.expires_after(std::chrono::seconds(60));
      co_await timer.async_wait(asio::use_awaitable);
      try {
        co_await audit_log->async_write_anchor();
      } catch (const std::exception& e) {
        log::emit(log::events::audit_write_failed, std::string("cannot write the audit anchor: ") + e.what());
      }
    }
  }

  // Opens the store (creating the database on first start). On failure logs
  // one store.open_failed entry and returns false; the file is untouched.
  bool open_store(const Config& c) {
    store::Options options;
    options.database = store::database_path(c);
    options.key = store::key_location(c);
    try {
      store = store::Store::open(options);
    } catch (const std::exception& e) {
      log::emit(log::events::store_open_failed, std::string("cannot open the encrypted store: ") + e.what(),
                {{"DATABASE", options.database.string()}, {"KEY_FILE", options.key.path.string()}});
      notify_status(std::string("failed: cannot open the encrypted store: ") + e.what());
      return false;
    }
    std::string source = options.key.credential ? "credential store.key" : options.key.path.string();
    log::emit(log::events::store_opened, "encrypted store open (SQLCipher " + store->cipher_version() + ")",
              {{"DATABASE", options.database.string()},
               {"KEY_SOURCE", source},
               {"CIPHER_VERSION", store->cipher_version()}});
    health.set("store", HealthState::ok, "SQLCipher " + store->cipher_version());
    return true;
  }

  void register_store_commands() {
    control->add("store check", [this](const http::ControlRequest&) -> asio::awaitable<json::value> {
      store::CheckReport r = co_await store->async_check();
      json::object doc = store::admin::to_json(r);
      if (r.ok) {
        log::emit(log::events::store_check_passed, "store integrity check passed",
                  {{"PAGE_COUNT", static_cast<std::int64_t>(r.page_count)}});
        health.set("store", HealthState::ok, "SQLCipher " + r.cipher_version + "; last check passed");
      } else {
        log::emit(log::events::store_check_failed, "store integrity check found problems",
                  {{"PAGE_COUNT", static_cast<std::int64_t>(r.page_count)}});
        health.set("store", HealthState::failed, "integrity check failed");
        throw Error(ErrorCode::integrity_failed, "store integrity check FAILED:\n" + json::serialize(doc));
      }
      co_return doc;
    });
    control->add("store rekey", [this](const http::ControlRequest& req) -> asio::awaitable<json::value> {
      try {
        store::RekeyResult r = co_await store->async_rekey();
        system_audit("store.rekey", "key:store", "store re-encrypted with a new key", audit::actor_of(req));
        json::object doc;
        doc["key_file"] = r.key_file.string();
        doc["duration_ms"] = static_cast<std::int64_t>(r.duration.count());
        co_return doc;
      } catch (const store::Error&) {
        throw current_error_as("rekey failed");
      }
    });
  }

  void register_control_commands() {
    register_store_commands();
    for (auto& m : modules) m->register_control_commands(*control);
    control->add("status", [this](const http::ControlRequest&) -> asio::awaitable<json::value> {
      auto c = current_config();
      json::object doc = health_document(true);
      doc["version"] = kVersion;
      doc["pid"] = static_cast<std::int64_t>(::getpid());
      doc["uptime_seconds"] =
          std::chrono::duration_cast<std::chrono::seconds>(clock.steady_now() - started).count();
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
      notify("READY=1\nSTATUS=serving on " + listen_description(*old) + "; last reload rejected, see the log");
      return;
    }
    Config next = std::move(*result.config);
    std::shared_ptr<http::TlsContext> tls;
    try {
      tls = load_tls(next);
    } catch (const std::exception& e) {
      log::emit(log::events::config_rejected, std::string("configuration rejected: ") + e.what(),
                {{"CONFIG", old->source.string()}});
      notify("READY=1\nSTATUS=serving on " + listen_description(*old) + "; last reload rejected, see the log");
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
    // Every module with reloadable settings (auth's timeouts, the wallet's
    // window, the incident rules) gets the configuration now in force.
    auto now_in_force = current_config();
    for (auto& m : modules) m->reload(*now_in_force);
    log::emit(log::events::config_reloaded, "configuration reloaded", {{"CONFIG", old->source.string()}});
    system_audit("config.reload", "config:" + old->source.string(), "configuration reloaded (SIGHUP)");
    notify("READY=1\nSTATUS=serving on " + listen_description(*current_config()));
  }

  asio::awaitable<void> drain_and_stop() {
    stopping = true;
    notify("STOPPING=1");
    notify_status("stopping: draining requests");
    log::emit(log::events::daemon_stopping, "stopping; draining in-flight requests");
    server->shutdown();
    control->stop();
    for (auto& m : modules) m->begin_drain();
    auto deadline = std::chrono::steady_clock::now() + kDrainDeadline;
    asio::steady_timer timer(io);
    while (server->open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
      timer.expires_after(20ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    // Audit entries posted by the last requests (logins, logouts) commit
    // before the final anchor, so the anchor covers them.
    while (audit_log->pending_appends() > 0 && std::chrono::steady_clock::now() < deadline + 500ms) {
      timer.expires_after(5ms);
      co_await timer.async_wait(asio::use_awaitable);
    }
    for (auto& m : modules) co_await m->stop();  // e.g. the wallet closes an open issuance window (audited)
    try {
      co_await audit_log->async_write_anchor();  // the final head, so a cut tail is detectable
    } catch (const std::exception& e) {
      log::emit(log::events::audit_write_failed, std::string("cannot write the audit anchor: ") + e.what());
    }
    io.stop();
  }

  // `signals` is installed before READY=1 is sent: a supervisor may send
  // SIGTERM the moment it sees READY, before the io loop has run at all.
  asio::awaitable<void> signal_loop(asio::signal_set& signals) {
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

  // THE module list: adding a module is one line here (and its folder).
  // The order is the order of route registration and of every lifecycle
  // call; incidents come early so that they observe the others' events.
  std::vector<ModuleFactory> module_list() {
    return {
        [this](ModuleContext&) { return auth::make_module(*auth_service); },
        audit::make_module,
        incidents::make_module,
        records::make_module,
        hostaudit::make_module,
        backup::make_module,
        wallet::make_module,
    };
  }

  void open_modules() {
    context = std::make_unique<ModuleContext>(ModuleContext{
        .store = *store,
        .audit = *audit_log,
        .health = health,
        .io = io,
        .blocking = blocking_pool->executor(),
        .config = [this] { return current_config(); },
        .stopping = [this] { return stopping; },
        .spawn = [this](asio::awaitable<void> loop) { asio::co_spawn(io, std::move(loop), asio::detached); },
        .events = module_events,
        .clock = clock,
    });
    for (const ModuleFactory& make : module_list()) modules.push_back(make(*context));
  }

  int run() {
    auto c = current_config();
    log::emit(log::events::daemon_started, std::string("privstackd ") + kVersion + " starting",
              {{"VERSION", kVersion}, {"CONFIG", c->source.string()}});
    notify_status("starting");
    hostaudit::confine_net_admin();  // only the nft child gets CAP_NET_ADMIN (docs/hostaudit.md)
    try {
      std::filesystem::create_directories(c->state_directory);
      std::filesystem::permissions(c->state_directory, std::filesystem::perms(0750));
      if (!open_store(*c)) return 1;
      open_audit(*c);
      open_auth(*c);
      metrics::set(metrics::names::build_info, 1, {{"version", kVersion}});
      metrics::set(metrics::names::start_time,
                   static_cast<double>(clock.unix_seconds()));
      open_modules();

      auto tls = load_tls(*c);
      register_routes();
      // The router resolves each request once and runs the middleware
      // (metrics, errors, authentication and permissions) before the route.
      server = std::make_unique<http::Server>(
          io, [this](http::Request& r) { return router.handle(r); }, server_limits(*c));
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
    asio::signal_set signals(io, SIGHUP, SIGTERM, SIGINT);
    asio::co_spawn(io, signal_loop(signals), asio::detached);
    asio::co_spawn(io, anchor_loop(), asio::detached);
    for (auto& m : modules) m->start();
    std::uint64_t watchdog_usec = 0;
    if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
      asio::co_spawn(io, watchdog_loop(std::chrono::microseconds(watchdog_usec / 2)), asio::detached);
    }
    // One datagram, so a supervisor never sees READY without the status.
    notify("READY=1\nSTATUS=serving on " + listen_description(*c));
    log::emit(log::events::daemon_ready, "ready", {{"LISTEN", listen_description(*c)}});

    unsigned n = std::max(2u, std::min(4u, std::thread::hardware_concurrency()));
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < n; ++i) threads.emplace_back([this] { io.run(); });
    io.run();
    for (auto& t : threads) t.join();
    for (auto& m : modules) m->stopped();
    log::emit(log::events::daemon_stopped, "stopped");
    return 0;
  }
};

DaemonApp::DaemonApp(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
DaemonApp::~DaemonApp() = default;
int DaemonApp::run() { return impl_->run(); }

std::vector<std::string> DaemonApp::served_routes(Config config) {
  Impl impl(std::move(config));
  auto c = impl.current_config();
  std::filesystem::create_directories(c->state_directory);
  if (!impl.open_store(*c)) throw std::runtime_error("cannot open the store");
  impl.open_audit(*c);
  impl.open_auth(*c);
  impl.open_modules();
  impl.register_routes();
  std::vector<std::string> out;
  for (const http::Route& r : impl.router.routes()) out.push_back(r.method + " " + r.pattern);
  return out;
}

}  // namespace privstack
