// Authentication and access control for the console and the API.
//
//   AuthService auth(repository, blocking_executor, Settings::from_config(c));
//   auth.load();                      // users, sessions, tokens into memory
//   auth.register_routes(router);     // /api/v1/session, /users, /tokens
//   auth.register_control(control);   // user add/list/passwd/lock/unlock
//   router.use(auth.middleware(router));  // after every route is registered
//
// middleware() is what every request passes: it authenticates the
// caller (session cookie __Host-privstack_session, or Authorization: Bearer
// for API tokens), enforces the CSRF token and the Origin check on
// state-changing requests made with a cookie, and asks the permission matrix
// (permissions.h) whether the caller's role may use the route. Routes that
// modules register later are checked the same way; a route missing from the
// matrix is denied to everyone.
//
// Every authentication event goes to the journal (with its MESSAGE_ID) and
// to the AuthEventSink, which the audit log (daemon/audit) will implement.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/password.h"
#include "auth/permissions.h"
#include "auth/repository.h"
#include "core/config.h"
#include "core/error.h"
#include "core/identity.h"
#include "core/module.h"
#include "core/secret.h"
#include "core/time.h"
#include "http/http.h"

namespace privstack::http {
class ControlServer;
}

namespace privstack::auth {

inline constexpr std::string_view kSessionCookie = "__Host-privstack_session";
inline constexpr std::string_view kCsrfHeader = "X-CSRF-Token";

struct Settings {
  std::chrono::seconds session_idle_timeout{std::chrono::minutes(30)};
  std::chrono::seconds session_lifetime{std::chrono::hours(12)};
  int lockout_threshold = 5;
  std::chrono::seconds lockout_duration{std::chrono::minutes(15)};
  std::vector<Role> require_totp_for;
  Argon2Params argon2;
  std::string totp_issuer = "privstack";

  static Settings from_config(const Config& config);
};

// One authentication event, for the audit log. `type` is the journal event
// name (auth.login_failed, ...).
struct AuthEvent {
  std::string type;
  std::string user;     // the account concerned (as typed, for failed logins)
  std::string actor;    // who did it, when not the user, as journal text (a user name, "privstackctl (uid 0)")
  std::optional<Identity> by;  // the same actor, typed, when the change was made by someone
  std::string remote;   // client address; empty for the control socket
  std::string action;   // for user/token changes: "create", "lock", "role", ...
  std::string reason;   // for failures and denials
  std::string token_id;
  std::string message;  // the journal message
};

// Where authentication events go besides the journal. The audit log
// implements this (issue 5); until then there is none.
class AuthEventSink {
 public:
  virtual ~AuthEventSink() = default;
  virtual void record(const AuthEvent& event) = 0;
};

class AuthService {
 public:
  // `blocking` runs Argon2 hashing (a thread pool, never the io threads).
  // `clock`: session and token times, TOTP steps, the login throttles.
  AuthService(AuthRepository& repository, boost::asio::any_io_executor blocking, Settings settings,
              Clock& clock = default_clock());
  ~AuthService();
  AuthService(const AuthService&) = delete;
  AuthService& operator=(const AuthService&) = delete;

  void set_event_sink(std::shared_ptr<AuthEventSink> sink);
  // Reads users, sessions and tokens (blocking; before serving).
  void load();
  // On SIGHUP: new timeouts, thresholds and TOTP requirements.
  void update_settings(Settings settings);

  void register_routes(http::Router& router);
  // The authentication and permission middleware (router.use(...)). Made
  // after every module registered its routes: it binds each route to its
  // rule in the permission table once. `router` must outlive it.
  http::Middleware middleware(const http::Router& router);
  void register_control(http::ControlServer& control);

  // Used by the control socket (and tests). Throws privstack::Error.
  boost::asio::awaitable<void> add_user(std::string name, Role role, Secret password, Identity actor);
  boost::asio::awaitable<void> set_password(std::string name, Secret password, Identity actor);
  boost::asio::awaitable<void> set_locked(std::string name, bool locked, Identity actor);
  std::size_t user_count() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// The service's routes, control commands and settings reload as a daemon
// module (core/module.h); `service` outlives it.
std::unique_ptr<Module> make_module(AuthService& service);

}  // namespace privstack::auth
