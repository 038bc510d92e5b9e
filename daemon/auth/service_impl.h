// AuthService's state and operations, shared by its parts (internal to the
// auth module; auth.h is the public interface):
//   auth.cpp        the service: state under `mu`, events, authentication of
//                   a request, sessions, user changes, the public methods
//   middleware.cpp  the check every request passes
//   routes.cpp      the HTTP handlers and the control commands
// The rules they apply are pure and tested on their own: sessions.h,
// tokens.h, throttle.h, second_factor.h (and totp.h, permissions.h).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/auth.h"
#include "auth/sessions.h"
#include "auth/throttle.h"
#include "auth/tokens.h"
#include "core/log.h"

namespace privstack::auth {

inline const std::string kNoSession;  // "keep no session" for revoke_sessions()

struct AuthService::Impl : std::enable_shared_from_this<Impl> {
  Impl(AuthRepository& repo, boost::asio::any_io_executor blocking, Settings settings, Clock& clock);

  AuthRepository& repo;
  Clock& clock;
  boost::asio::any_io_executor blocking;
  std::shared_ptr<AuthEventSink> sink;

  mutable std::mutex mu;  // guards everything below but the throttles
  Settings settings;
  std::map<std::string, UserRecord> users;
  SessionTable sessions;
  std::unordered_map<std::string, TokenRecord> tokens;  // by token hash
  TokenUseLog token_log;
  std::string dummy_hash;  // verified against for unknown users: same timing

  Throttle account_throttle;  // thread-safe on their own
  Throttle address_throttle;

  struct Principal {
    UserRecord user;  // a copy, taken under the lock
    Role role;        // the token's role for API tokens
    bool via_token = false;
    std::string token_id;
    std::string session_hash;
    std::string csrf;  // expected X-CSRF-Token (sessions only)
    bool totp_pending = false;
  };

  // ---- the service (auth.cpp) ----------------------------------------------

  void event(const log::Event& ev, AuthEvent e);

  // Under `mu`.
  bool totp_required_for(Role role) const;
  std::size_t unlocked_admins_locked() const;

  // Who is calling. `touch` updates the session's idle clock.
  // Returns nullopt for anonymous; throws Error(unauthenticated) for a bad bearer token.
  boost::asio::awaitable<std::optional<Principal>> authenticate(const http::Request& request, bool touch);
  // For handlers: the caller again (the middleware has checked it), without touching.
  boost::asio::awaitable<Principal> caller_of(const http::Request& request);
  static Identity identity_of(const Principal& p);

  // Under `mu`: a new session; returns the cookie value, `record` is to be stored.
  std::string new_session_locked(const std::string& user, bool totp_pending, std::int64_t now,
                                 SessionRecord& record);
  boost::asio::awaitable<void> revoke_sessions(const std::string& user, const std::string& keep_hash);

  UserRecord get_user_copy(const std::string& name);
  boost::asio::awaitable<void> store_user(const UserRecord& u);
  std::size_t user_count() const;

  boost::asio::awaitable<void> add_user(std::string name, Role role, Secret password, Identity by,
                                        std::string remote);
  boost::asio::awaitable<void> set_password(std::string name, Secret password, Identity by, std::string remote,
                                            std::string keep_session);
  boost::asio::awaitable<void> set_locked(std::string name, bool locked, Identity by, std::string remote);

  // ---- the middleware (middleware.cpp) -------------------------------------

  // The permission rule of each route, by Route::index: looked up once,
  // when the middleware is made after every module registered its routes.
  // A route without a rule (nullptr) is denied to everyone.
  std::vector<const RouteRule*> rules_by_route;

  void bind_rules(const http::Router& router);
  boost::asio::awaitable<http::Response> guarded(http::Request& request, const http::Next& next);

  // ---- HTTP handlers (routes.cpp) -------------------------------------------

  using Fn = boost::asio::awaitable<http::Response> (Impl::*)(http::Request&);
  http::Handler wrap(Fn fn);
  std::string resolve_name(const http::Request& request, const Principal& p);

  boost::asio::awaitable<http::Response> login(http::Request& request);
  boost::asio::awaitable<http::Response> whoami(http::Request& request);
  boost::asio::awaitable<http::Response> logout(http::Request& request);
  boost::asio::awaitable<http::Response> list_users(http::Request& request);
  boost::asio::awaitable<http::Response> create_user(http::Request& request);
  boost::asio::awaitable<http::Response> get_user(http::Request& request);
  boost::asio::awaitable<http::Response> patch_user(http::Request& request);
  boost::asio::awaitable<http::Response> delete_user(http::Request& request);
  boost::asio::awaitable<http::Response> change_password(http::Request& request);
  boost::asio::awaitable<http::Response> revoke_all(http::Request& request);
  boost::asio::awaitable<http::Response> totp_start(http::Request& request);
  boost::asio::awaitable<http::Response> totp_confirm(http::Request& request);
  boost::asio::awaitable<http::Response> totp_disable(http::Request& request);
  boost::asio::awaitable<http::Response> password_policy(http::Request& request);
  boost::asio::awaitable<http::Response> list_tokens(http::Request& request);
  boost::asio::awaitable<http::Response> create_token(http::Request& request);
  boost::asio::awaitable<http::Response> delete_token(http::Request& request);
};

}  // namespace privstack::auth
