#include "core/offload.h"
#include "auth/auth.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <ctime>
#include <mutex>
#include <unordered_map>

#include "auth/second_factor.h"
#include "auth/sessions.h"
#include "auth/throttle.h"
#include "auth/tokens.h"
#include "auth/totp.h"
#include "auth/util.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/time.h"
#include "http/body.h"
#include "http/control.h"

// AuthEvent is filled with designated initializers naming only the fields
// that apply; the rest are empty on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
// GCC 12 false positive on Asio's coroutine frame allocator (awaitable_frame
// has a matching operator new/delete pair; the warning misreads inlining).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace privstack::auth {

namespace asio = boost::asio;
namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

const std::string kNoSession;  // "keep no session" for revoke_sessions()

using privstack::offload;  // core/offload.h

// RFC 3339, or "" for "never" (0).
std::string iso8601(std::int64_t t) { return t <= 0 ? std::string() : format_rfc3339(t); }

bool valid_username(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "me") return false;
  if (!(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_state_changing(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

std::optional<std::string> cookie_value(const Request& request, std::string_view name) {
  for (const auto& h : request.headers) {
    if (h.name.size() != 6) continue;
    std::string lower = h.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower != "cookie") continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      size_t semi = v.find(';');
      std::string_view pair = v.substr(0, semi);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return std::string(pair.substr(eq + 1));
      if (semi == std::string_view::npos) break;
      v.remove_prefix(semi + 1);
    }
  }
  return std::nullopt;
}

// The Origin check for state-changing requests: a browser sends Origin on
// every POST/PUT/PATCH/DELETE; it must be this server. Non-browser clients
// that send no Origin (and no Sec-Fetch-Site saying cross-site) pass; for
// them the CSRF token is still required.
bool origin_ok(const Request& request) {
  auto origin = request.header("Origin");
  if (!origin) {
    auto site = request.header("Sec-Fetch-Site");
    return !site || *site == "same-origin" || *site == "none";
  }
  auto host = request.header("Host");
  if (!host || host->empty()) return false;
  return *origin == "https://" + std::string(*host);
}

json::object parse_body(const Request& request) { return http::read_json_object(request); }

// How an actor is named in journal messages ("created by ..."): the user, or
// the local administrator behind privstackctl.
std::string display_name(const Identity& who) {
  if (who.method == AuthMethod::control_socket) return "privstackctl (uid " + std::to_string(who.uid) + ")";
  return who.user;
}

std::optional<std::string> get_string(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_string()) throw Error(ErrorCode::invalid_argument, std::string(key) + " must be a string.");
  return std::string(it->value().as_string());
}

std::string require_string(const json::object& o, std::string_view key) {
  auto v = get_string(o, key);
  if (!v) throw Error(ErrorCode::invalid_argument, std::string(key) + " is required.");
  return *v;
}

// Takes a secret out of a JSON object and wipes the copy in it.
std::optional<Secret> take_secret(json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return std::nullopt;
  if (!it->value().is_string()) throw Error(ErrorCode::invalid_argument, std::string(key) + " must be a string.");
  json::string& s = it->value().as_string();
  Secret secret(std::string_view(s.data(), s.size()));
  std::fill(s.begin(), s.end(), '\0');
  return secret;
}

json::object user_json(const UserRecord& u) {
  return {{"name", u.name},
          {"role", to_string(u.role)},
          {"locked", u.locked},
          {"totp_enabled", u.totp_enabled},
          {"created_at", iso8601(u.created_at)},
          {"password_changed_at", iso8601(u.password_changed_at)}};
}

json::object token_json(const TokenRecord& t) {
  json::object o{{"id", t.id},
                 {"name", t.name},
                 {"owner", t.owner},
                 {"role", to_string(t.role)},
                 {"created_at", iso8601(t.created_at)}};
  o["expires_at"] = t.expires_at > 0 ? json::value(iso8601(t.expires_at)) : json::value(nullptr);
  o["last_used_at"] = t.last_used > 0 ? json::value(iso8601(t.last_used)) : json::value(nullptr);
  return o;
}

// Documents are built in plain functions, not inside coroutines: GCC 12
// destroys temporaries of a braced initializer list in a coroutine twice.
json::object session_json(const std::string& csrf, const UserRecord& u, std::int64_t expires, std::chrono::seconds idle,
                          bool pending) {
  return {{"csrf_token", csrf},
          {"user", json::object{{"name", u.name}, {"role", to_string(u.role)}}},
          {"expires_at", iso8601(expires)},
          {"idle_timeout_seconds", idle.count()},
          {"totp_enrollment_required", pending}};
}

json::object wrap_array(std::string_view key, json::array items) {
  json::object o;
  o[key] = std::move(items);
  return o;
}

json::object enrollment_json(const std::string& uri, const std::string& secret, const json::array& codes) {
  return {{"otpauth_uri", uri},
          {"secret", secret},
          {"recovery_codes", codes},
          {"confirm", "PUT /api/v1/users/me/totp with {\"code\": \"123456\"}"}};
}

}  // namespace

Settings Settings::from_config(const Config& config) {
  Settings s;
  s.session_idle_timeout = config.auth.session_idle_timeout;
  s.session_lifetime = config.auth.session_lifetime;
  s.lockout_threshold = std::max(1, config.auth.lockout_threshold);
  s.lockout_duration = config.auth.lockout_duration;
  for (const auto& name : config.auth.require_totp_for_roles) {
    if (auto r = parse_role(name)) s.require_totp_for.push_back(*r);
  }
  return s;
}

namespace {
SessionLimits session_limits(const Settings& s) { return {s.session_idle_timeout, s.session_lifetime}; }
}  // namespace

// ---------------------------------------------------------------------------

struct AuthService::Impl : std::enable_shared_from_this<Impl> {
  Impl(AuthRepository& repo, asio::any_io_executor blocking, Settings settings)
      : repo(repo), blocking(std::move(blocking)), settings(std::move(settings)),
        sessions(session_limits(this->settings)),
        account_throttle(account_throttle_settings(this->settings.lockout_threshold, this->settings.lockout_duration)),
        address_throttle(address_throttle_settings(this->settings.lockout_threshold, this->settings.lockout_duration)) {}

  AuthRepository& repo;
  asio::any_io_executor blocking;
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

  // ---- events -------------------------------------------------------------

  void event(const log::Event& ev, AuthEvent e) {
    e.type = std::string(ev.name);
    log::emit(ev, e.message,
              {{"USER", e.user},
               {"ACTOR", e.actor},
               {"REMOTE", e.remote},
               {"ACTION", e.action},
               {"REASON", e.reason},
               {"TOKEN_ID", e.token_id}});
    std::shared_ptr<AuthEventSink> s;
    {
      std::lock_guard lock(mu);
      s = sink;
    }
    if (s) s->record(e);
  }

  // ---- helpers ------------------------------------------------------------

  bool totp_required_for(Role role) const {
    return auth::totp_required_for(settings.require_totp_for, role);
  }

  std::size_t unlocked_admins_locked() const {
    std::size_t n = 0;
    for (const auto& [name, u] : users) n += (u.role == Role::admin && !u.locked) ? 1 : 0;
    return n;
  }

  // Who is calling. `touch` updates the session's idle clock.
  // Returns nullopt for anonymous; throws Error(unauthenticated) for a bad bearer token.
  asio::awaitable<std::optional<Principal>> authenticate(const Request& request, bool touch) {
    std::int64_t now = default_clock().unix_seconds();
    if (auto authz = request.header("Authorization")) {
      auto bearer = bearer_token(*authz);
      if (!bearer) {
        throw Error(ErrorCode::unauthenticated, "Only Bearer tokens are accepted in Authorization.");
      }
      std::string hash = sha256_hex(*bearer);
      Principal p;
      bool log_use = false;
      {
        std::lock_guard lock(mu);
        auto it = tokens.find(hash);
        if (it == tokens.end()) throw Error(ErrorCode::unauthenticated, "The API token is not valid.");
        auto owner = users.find(it->second.owner);
        // Expired, or more rights than its owner has now: one answer whatever the cause.
        if (check_token(it->second, owner == users.end() ? nullptr : &owner->second, now) != TokenVerdict::valid) {
          throw Error(ErrorCode::unauthenticated, "The API token is not valid.");
        }
        p.user = owner->second;
        p.role = it->second.role;
        p.via_token = true;
        p.token_id = it->second.id;
        it->second.last_used = now;
        log_use = touch && token_log.due(p.token_id, now);
      }
      if (log_use) {
        event(log::events::auth_token_used,
              {.user = p.user.name, .remote = request.remote_address, .token_id = p.token_id,
               .message = "API token " + p.token_id + " of " + p.user.name + " used"});
      }
      co_return p;
    }
    auto cookie = cookie_value(request, kSessionCookie);
    if (!cookie || cookie->size() != 43) co_return std::nullopt;
    std::string hash = sha256_hex(*cookie);
    Principal p;
    std::optional<SessionRecord> persist;
    {
      std::lock_guard lock(mu);
      // An expired session is dropped by lookup(), one of a deleted or locked
      // user here; the stale row goes at the next write, nothing else can use it.
      const SessionRecord* session = sessions.lookup(hash, now);
      if (!session) co_return std::nullopt;
      auto user = users.find(session->user);
      if (user == users.end() || user->second.locked) {
        sessions.erase(hash);
        co_return std::nullopt;
      }
      p.user = user->second;
      p.role = user->second.role;
      p.session_hash = hash;
      p.totp_pending = session->totp_enrollment_pending;
      if (touch) persist = sessions.touch(hash, now);
    }
    p.csrf = csrf_token(*cookie);
    if (persist) co_await repo.put_session(*persist);
    co_return p;
  }

  std::string new_session_locked(const std::string& user, bool totp_pending, std::int64_t now,
                                 SessionRecord& record) {
    std::string token = random_token(32);
    record = sessions.create(sha256_hex(token), user, totp_pending, now);
    return token;
  }

  static std::string session_cookie(const std::string& token, std::chrono::seconds max_age) {
    return std::string(kSessionCookie) + "=" + token + "; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
           std::to_string(max_age.count());
  }
  static std::string clear_cookie() {
    return std::string(kSessionCookie) + "=; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=0";
  }

  asio::awaitable<void> revoke_sessions(const std::string& user, const std::string& keep_hash) {
    {
      std::lock_guard lock(mu);
      sessions.revoke_all_but(user, keep_hash);
    }
    co_await repo.delete_sessions_of(user);
    if (!keep_hash.empty()) {
      std::optional<SessionRecord> kept;
      {
        std::lock_guard lock(mu);
        if (const SessionRecord* s = sessions.find(keep_hash)) kept = *s;
      }
      if (kept) co_await repo.put_session(*kept);
    }
  }

  UserRecord get_user_copy(const std::string& name) {
    std::lock_guard lock(mu);
    auto it = users.find(name);
    if (it == users.end()) throw Error(ErrorCode::not_found, "No such user.");
    return it->second;
  }

  asio::awaitable<void> store_user(const UserRecord& u) {
    co_await repo.update_user(u);
    std::lock_guard lock(mu);
    users[u.name] = u;
  }

  // ---- login --------------------------------------------------------------

  asio::awaitable<Response> login(Request& request) {
    json::object body = parse_body(request);
    wipe(request.body);
    auto username_opt = get_string(body, "username");
    auto password = take_secret(body, "password");
    auto totp = get_string(body, "totp");
    if (!username_opt || !password) throw Error(ErrorCode::invalid_argument, "username and password are required.");
    std::string username = *username_opt;
    if (username.size() > 256) username.resize(256);
    const std::string& remote = request.remote_address;

    if (user_count() == 0) {
      throw Error(ErrorCode::unavailable, "No administrator exists yet: run `privstackctl user add NAME --role admin "
                      "--password-stdin` on the server.");
    }
    if (!origin_ok(request)) {
      event(log::events::auth_permission_denied,
            {.user = username, .remote = remote, .reason = "origin", .message = "login refused: foreign Origin"});
      throw Error(ErrorCode::forbidden, "Cross-origin request refused.");
    }

    std::string account_key = account_throttle_key(username);
    std::string address_key = address_throttle_key(remote);
    for (auto* which : {&account_throttle, &address_throttle}) {
      auto verdict = which->check(which == &account_throttle ? account_key : address_key);
      if (!verdict.allowed) {
        event(log::events::auth_login_failed,
              {.user = username, .remote = remote,
               .reason = verdict.locked_out ? "locked_out" : "throttled",
               .message = "login refused for " + username + ": too many failed attempts"});
        Error e(ErrorCode::rate_limited, verdict.locked_out
                                             ? "Too many failed logins: temporarily locked. Try again later."
                                             : "Too many failed logins: wait before trying again.");
        e.with_reason(verdict.locked_out ? "locked_out" : "throttled");
        e.retry_after = verdict.retry_after;
        throw e;
      }
    }

    std::optional<UserRecord> user;
    std::string hash;
    Argon2Params params;
    {
      std::lock_guard lock(mu);
      auto it = users.find(username);
      if (it != users.end()) user = it->second;
      hash = user ? user->password_hash : dummy_hash;
      params = settings.argon2;
    }
    // The same Argon2 work whether or not the user exists.
    auto pw = std::make_shared<Secret>(std::move(*password));
    auto job1 = [hash, pw] { return verify_password(hash, pw->reveal()); };
    bool ok = co_await offload(blocking, std::move(job1));

    auto fail = [&](std::string reason, std::string detail,
                    const log::Event& ev = log::events::auth_login_failed) -> Response {
      bool account_locked = account_throttle.record_failure(account_key);
      bool address_locked = address_throttle.record_failure(address_key);
      event(ev, {.user = username, .remote = remote, .reason = reason,
                 .message = "login failed for " + username + " (" + reason + ")"});
      if (account_locked || address_locked) {
        event(log::events::auth_lockout,
              {.user = username, .remote = remote, .reason = account_locked ? "account" : "address",
               .message = std::string("login locked out for ") +
                          (account_locked ? "account " + username : "address " + remote) + " for " +
                          std::to_string(settings.lockout_duration.count()) + " s"});
      }
      // No reason member: the journal has the cause, the client must not learn it.
      return Response::problem(Error(ErrorCode::unauthenticated, std::move(detail)));
    };

    if (!user || !ok || user->locked) {
      // One reason for the client whatever the cause: it must not learn
      // which accounts exist or are locked (the journal has the cause).
      co_return fail(!user ? "unknown_user" : !ok ? "bad_password" : "account_locked",
                     "Wrong user name or password.");
    }

    // Second factor.
    bool recovery_used = false;
    if (user->totp_enabled) {
      if (!totp || totp->empty()) {
        Response r = Response::problem(
            Error(ErrorCode::unauthenticated, "Enter the 6-digit code from your authenticator app (or a recovery code).")
                .with_reason("totp_required"));
        json::value doc = json::parse(r.body);
        doc.as_object()["totp_required"] = true;
        r.body = json::serialize(doc);
        co_return r;
      }
      std::int64_t now = default_clock().unix_seconds();
      SecondFactor second = SecondFactor::rejected;
      UserRecord updated;
      {
        std::lock_guard lock(mu);
        auto it = users.find(username);
        if (it != users.end()) {
          second = verify_second_factor(it->second, *totp, now);
          updated = it->second;
        }
      }
      recovery_used = second == SecondFactor::recovery_code;
      if (second == SecondFactor::rejected) {
        co_return fail("bad_totp", "Wrong or already used code.", log::events::auth_totp_failed);
      }
      co_await repo.update_user(updated);
      *user = updated;
    }

    account_throttle.record_success(account_key);

    // Rehash with the current parameters (off the io thread).
    if (needs_rehash(user->password_hash, params)) {
      auto job2 = [pw, params] { return hash_password(pw->reveal(), params); };
      std::string fresh = co_await offload(blocking, std::move(job2));
      UserRecord u = get_user_copy(username);
      u.password_hash = fresh;
      co_await store_user(u);
    }

    std::int64_t now = default_clock().unix_seconds();
    SessionRecord record;
    std::string token;
    std::chrono::seconds lifetime, idle;
    bool pending = false;
    {
      std::lock_guard lock(mu);
      pending = totp_enrollment_pending(*user, settings.require_totp_for);
      token = new_session_locked(username, pending, now, record);
      lifetime = settings.session_lifetime;
      idle = settings.session_idle_timeout;
    }
    co_await repo.put_session(record);
    event(log::events::auth_login_succeeded,
          {.user = username, .remote = remote, .reason = recovery_used ? "recovery_code" : "",
           .message = "user " + username + " logged in" + (recovery_used ? " with a recovery code" : "")});

    json::object doc = session_json(csrf_token(token), *user, now + lifetime.count(), idle,
                                    pending);
    if (recovery_used) {
      doc["recovery_codes_left"] = static_cast<std::int64_t>(user->recovery_codes.size());
    }
    Response r = Response::json(201, doc);
    r.set_header("Set-Cookie", session_cookie(token, lifetime));
    wipe(token);
    co_return r;
  }

  std::size_t user_count() const {
    std::lock_guard lock(mu);
    return users.size();
  }

  // ---- the middleware ------------------------------------------------------

  // The permission rule of each route, by Route::index: looked up once,
  // when the middleware is made after every module registered its routes.
  // A route without a rule (nullptr) is denied to everyone.
  std::vector<const RouteRule*> rules_by_route;

  void bind_rules(const http::Router& router) {
    rules_by_route.clear();
    for (const http::Route& route : router.routes()) {
      rules_by_route.push_back(find_rule(route.method, route.pattern));
    }
  }

  static Identity identity_of(const Principal& p) {
    Identity id;
    id.user = p.user.name;
    id.role = p.role;
    id.method = p.via_token ? AuthMethod::api_token : AuthMethod::session;
    id.token_id = p.token_id;
    return id;
  }

  asio::awaitable<Response> guarded(Request& request, const http::Next& next) {
    if (!request.route) co_return co_await next(request);  // 404/405 or static files: public
    const http::Route& route_entry = *request.route;
    const RouteRule* rule = route_entry.index < rules_by_route.size() ? rules_by_route[route_entry.index] : nullptr;
    std::optional<Principal> principal;
    try {
      principal = co_await authenticate(request, true);
    } catch (const Error& e) {
      Response r = Response::problem(e);
      r.set_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
      co_return r;
    }
    Caller caller;
    if (principal) {
      caller.role = principal->role;
      caller.user = principal->user.name;
      caller.via_token = principal->via_token;
      caller.totp_enrollment_pending = principal->totp_pending;
    }
    std::optional<std::string_view> name_param;
    if (auto it = request.params.find("name"); it != request.params.end()) name_param = it->second;
    Decision d = decide(rule, caller, name_param);
    const std::string& remote = request.remote_address;
    std::string route = route_entry.method + " " + route_entry.pattern;
    switch (d) {
      case Decision::allow:
        break;
      case Decision::unauthenticated:
        throw Error(ErrorCode::unauthenticated, "Sign in first.");
      case Decision::not_in_matrix:
        event(log::events::auth_permission_denied,
              {.user = caller.user, .remote = remote, .reason = "route not in permission matrix",
               .message = "denied " + route + ": the route is missing from the permission matrix"});
        throw Error(ErrorCode::forbidden, "This operation is not permitted.").with_reason("not_in_matrix");
      case Decision::forbidden: {
        std::string why = caller.totp_enrollment_pending && !(rule->flags & kDuringEnrollment)
                              ? "totp enrollment required"
                          : (rule->flags & kSessionOnly) && caller.via_token ? "not with an API token"
                                                                              : "role";
        event(log::events::auth_permission_denied,
              {.user = caller.user, .remote = remote, .reason = why, .token_id = principal->token_id,
               .message = "denied " + route + " to " + caller.user + " (" + std::string(to_string(*caller.role)) +
                          "): " + why});
        if (why == "totp enrollment required") {
          throw Error(ErrorCode::forbidden, "Your role requires two-factor authentication: enroll TOTP first.")
              .with_reason("totp_enrollment_required");
        }
        throw Error(ErrorCode::forbidden, "Your role does not allow this.")
            .with_reason(why == "role" ? "role" : "session_only");
      }
    }
    if (principal && !principal->via_token && is_state_changing(request.method)) {
      auto sent = request.header(kCsrfHeader);
      bool csrf_ok = sent && constant_time_equals(*sent, principal->csrf);
      if (!csrf_ok || !origin_ok(request)) {
        event(log::events::auth_permission_denied,
              {.user = caller.user, .remote = remote, .reason = csrf_ok ? "origin" : "csrf",
               .message = "denied " + route + " to " + caller.user + ": " +
                          (csrf_ok ? "foreign Origin" : "missing or wrong CSRF token")});
        throw Error(ErrorCode::forbidden, csrf_ok ? "Cross-origin request refused." : "Missing or wrong X-CSRF-Token.")
            .with_reason(csrf_ok ? "origin" : "csrf");
      }
    }
    if (principal) request.identity = identity_of(*principal);
    co_return co_await next(request);
  }

  // For handlers: the caller again (guard() has checked it), without touching.
  asio::awaitable<Principal> caller_of(const Request& request) {
    auto p = co_await authenticate(request, false);
    if (!p) throw Error(ErrorCode::unauthenticated, "Sign in first.");
    co_return *p;
  }

  // ---- user management -----------------------------------------------------

  asio::awaitable<void> add_user(std::string name, Role role, Secret password, Identity by,
                                 std::string remote) {
    const std::string actor = display_name(by);
    if (!valid_username(name)) {
      throw Error(ErrorCode::validation_failed, "User names are 1-64 characters: a-z first, then a-z, 0-9, '.', '_' or '-' (not \"me\").");
    }
    if (auto why = password_policy_violation(password.reveal(), name)) {
      throw Error(ErrorCode::validation_failed, *why);
    }
    Argon2Params params;
    {
      std::lock_guard lock(mu);
      if (users.contains(name)) throw Error(ErrorCode::conflict, "A user with that name exists.");
      params = settings.argon2;
    }
    auto pw = std::make_shared<Secret>(std::move(password));
    auto job3 = [pw, params] { return hash_password(pw->reveal(), params); };
    std::string hash = co_await offload(blocking, std::move(job3));
    std::int64_t now = default_clock().unix_seconds();
    UserRecord u;
    u.name = name;
    u.role = role;
    u.password_hash = hash;
    u.created_at = now;
    u.password_changed_at = now;
    if (!co_await repo.insert_user(u)) throw Error(ErrorCode::conflict, "A user with that name exists.");
    {
      std::lock_guard lock(mu);
      users[name] = u;
    }
    event(log::events::auth_user_changed,
          {.user = name, .actor = actor, .by = by, .remote = remote, .action = "create",
           .message = "user " + name + " (" + std::string(to_string(role)) + ") created by " + actor});
  }

  asio::awaitable<void> set_password(std::string name, Secret password, Identity by, std::string remote,
                                     std::string keep_session) {
    const std::string actor = display_name(by);
    if (auto why = password_policy_violation(password.reveal(), name)) {
      throw Error(ErrorCode::validation_failed, *why);
    }
    Argon2Params params;
    {
      std::lock_guard lock(mu);
      if (!users.contains(name)) throw Error(ErrorCode::not_found, "No such user.");
      params = settings.argon2;
    }
    auto pw = std::make_shared<Secret>(std::move(password));
    auto job4 = [pw, params] { return hash_password(pw->reveal(), params); };
    std::string hash = co_await offload(blocking, std::move(job4));
    UserRecord u = get_user_copy(name);
    u.password_hash = hash;
    u.password_changed_at = default_clock().unix_seconds();
    co_await store_user(u);
    co_await revoke_sessions(name, keep_session);
    event(log::events::auth_user_changed, {.user = name, .actor = actor, .by = by, .remote = remote, .action = "password",
                                           .message = "password of " + name + " changed by " + actor});
  }

  asio::awaitable<void> set_locked(std::string name, bool locked, Identity by, std::string remote) {
    const std::string actor = display_name(by);
    UserRecord u = get_user_copy(name);
    if (locked && u.role == Role::admin && !u.locked) {
      std::lock_guard lock(mu);
      if (unlocked_admins_locked() <= 1) {
        throw Error(ErrorCode::conflict, "This is the last active administrator; it cannot be locked.");
      }
    }
    u.locked = locked;
    co_await store_user(u);
    if (locked) {
      co_await revoke_sessions(name, kNoSession);
      event(log::events::auth_sessions_revoked, {.user = name, .actor = actor, .by = by, .remote = remote, .reason = "locked",
                                                 .message = "sessions of " + name + " revoked: account locked"});
    } else {
      account_throttle.clear(account_throttle_key(name));
    }
    event(log::events::auth_user_changed,
          {.user = name, .actor = actor, .by = by, .remote = remote, .action = locked ? "lock" : "unlock",
           .message = "user " + name + (locked ? " locked" : " unlocked") + " by " + actor});
  }

  // ---- HTTP handlers -------------------------------------------------------

  using Fn = asio::awaitable<Response> (Impl::*)(Request&);

  http::Handler wrap(Fn fn) {
    auto self = shared_from_this();
    return [self, fn](Request& r) -> asio::awaitable<Response> {
      co_return co_await ((*self).*fn)(r);  // errors: the router's boundary
    };
  }

  asio::awaitable<Response> whoami(Request& request) {
    Principal p = co_await caller_of(request);
    std::int64_t created = 0;
    std::chrono::seconds lifetime, idle;
    {
      std::lock_guard lock(mu);
      if (const SessionRecord* s = sessions.find(p.session_hash)) created = s->created_at;
      lifetime = settings.session_lifetime;
      idle = settings.session_idle_timeout;
    }
    json::object doc = session_json(p.csrf, p.user, created + lifetime.count(), idle, p.totp_pending);
    doc["user"] = user_json(p.user);
    co_return Response::json(200, doc);
  }

  asio::awaitable<Response> logout(Request& request) {
    Principal p = co_await caller_of(request);
    {
      std::lock_guard lock(mu);
      sessions.erase(p.session_hash);
    }
    co_await repo.delete_session(p.session_hash);
    event(log::events::auth_logout, {.user = p.user.name, .remote = request.remote_address,
                                     .message = "user " + p.user.name + " logged out"});
    Response r;
    r.status = 204;
    r.set_header("Set-Cookie", clear_cookie());
    co_return r;
  }

  asio::awaitable<Response> list_users(Request&) {
    json::array out;
    {
      std::lock_guard lock(mu);
      for (const auto& [name, u] : users) out.push_back(user_json(u));
    }
    co_return Response::json(200, wrap_array("users", std::move(out)));
  }

  std::string resolve_name(const Request& request, const Principal& p) {
    auto it = request.params.find("name");
    if (it == request.params.end()) throw Error(ErrorCode::not_found, "No such user.");
    return it->second == "me" ? p.user.name : it->second;
  }

  asio::awaitable<Response> create_user(Request& request) {
    Principal p = co_await caller_of(request);
    json::object body = parse_body(request);
    wipe(request.body);
    std::string name = require_string(body, "name");
    auto role = parse_role(require_string(body, "role"));
    if (!role) throw Error(ErrorCode::validation_failed, "role is one of admin, operator, auditor, issuer, support.");
    auto password = take_secret(body, "password");
    if (!password) throw Error(ErrorCode::invalid_argument, "password is required.");
    co_await add_user(name, *role, std::move(*password), identity_of(p), request.remote_address);
    co_return Response::json(201, user_json(get_user_copy(name)));
  }

  asio::awaitable<Response> get_user(Request& request) {
    Principal p = co_await caller_of(request);
    co_return Response::json(200, user_json(get_user_copy(resolve_name(request, p))));
  }

  asio::awaitable<Response> patch_user(Request& request) {
    Principal p = co_await caller_of(request);
    std::string name = resolve_name(request, p);
    json::object body = parse_body(request);
    UserRecord u = get_user_copy(name);
    std::optional<Role> new_role;
    if (auto r = get_string(body, "role")) {
      new_role = parse_role(*r);
      if (!new_role) throw Error(ErrorCode::validation_failed, "role is one of admin, operator, auditor, issuer, support.");
    }
    std::optional<bool> lock;
    if (auto it = body.find("locked"); it != body.end()) {
      if (!it->value().is_bool()) throw Error(ErrorCode::invalid_argument, "locked must be true or false.");
      lock = it->value().as_bool();
    }
    if (!new_role && !lock) throw Error(ErrorCode::invalid_argument, "Nothing to change: send role and/or locked.");
    if (new_role && *new_role != u.role) {
      if (u.role == Role::admin) {
        std::lock_guard guard(mu);
        if (unlocked_admins_locked() <= 1 && !u.locked) {
          throw Error(ErrorCode::conflict, "This is the last active administrator; its role cannot change.");
        }
      }
      u.role = *new_role;
      co_await store_user(u);
      // A privilege change ends every session: the next login gets a new token.
      co_await revoke_sessions(name, kNoSession);
      event(log::events::auth_user_changed,
            {.user = name, .actor = p.user.name, .by = identity_of(p), .remote = request.remote_address, .action = "role",
             .message = "role of " + name + " changed to " + std::string(to_string(*new_role)) + " by " +
                        p.user.name});
      event(log::events::auth_sessions_revoked,
            {.user = name, .actor = p.user.name, .by = identity_of(p), .remote = request.remote_address, .reason = "role change",
             .message = "sessions of " + name + " revoked: role changed"});
    }
    if (lock) {
      if (*lock && name == p.user.name) throw Error(ErrorCode::conflict, "You cannot lock yourself.");
      co_await set_locked(name, *lock, identity_of(p), request.remote_address);
    }
    co_return Response::json(200, user_json(get_user_copy(name)));
  }

  asio::awaitable<Response> delete_user(Request& request) {
    Principal p = co_await caller_of(request);
    std::string name = resolve_name(request, p);
    if (name == p.user.name) throw Error(ErrorCode::conflict, "You cannot delete yourself.");
    UserRecord u = get_user_copy(name);
    if (u.role == Role::admin && !u.locked) {
      std::lock_guard guard(mu);
      if (unlocked_admins_locked() <= 1) throw Error(ErrorCode::conflict, "This is the last active administrator.");
    }
    co_await repo.delete_user(name);
    {
      std::lock_guard guard(mu);
      users.erase(name);
      sessions.revoke_all_but(name, kNoSession);
      std::erase_if(tokens, [&](const auto& kv) { return kv.second.owner == name; });
    }
    event(log::events::auth_user_changed, {.user = name, .actor = p.user.name, .by = identity_of(p), .remote = request.remote_address,
                                           .action = "delete", .message = "user " + name + " deleted by " +
                                                                          p.user.name});
    Response r;
    r.status = 204;
    co_return r;
  }

  asio::awaitable<Response> change_password(Request& request) {
    Principal p = co_await caller_of(request);
    std::string name = resolve_name(request, p);
    json::object body = parse_body(request);
    wipe(request.body);
    auto new_password = take_secret(body, "new_password");
    if (!new_password) throw Error(ErrorCode::invalid_argument, "new_password is required.");
    bool self = name == p.user.name;
    if (self) {
      // Changing one's own password needs the current one, even for admins.
      auto current = take_secret(body, "current_password");
      if (!current) throw Error(ErrorCode::invalid_argument, "current_password is required.");
      auto cur = std::make_shared<Secret>(std::move(*current));
      std::string hash = p.user.password_hash;
      auto job5 = [hash, cur] { return verify_password(hash, cur->reveal()); };
      bool ok = co_await offload(blocking, std::move(job5));
      if (!ok) {
        event(log::events::auth_login_failed,
              {.user = name, .remote = request.remote_address, .reason = "bad_current_password",
               .message = "password change for " + name + " refused: wrong current password"});
        account_throttle.record_failure(account_throttle_key(name));
        throw Error(ErrorCode::forbidden, "The current password is wrong.");
      }
    } else {
      get_user_copy(name);  // 404 before the policy check
    }
    // Named arguments only: GCC 12 mishandles temporaries in co_await operands.
    std::string keep = self ? p.session_hash : std::string();
    co_await set_password(name, std::move(*new_password), identity_of(p), request.remote_address, keep);
    Response r;
    r.status = 204;
    co_return r;
  }

  asio::awaitable<Response> revoke_all(Request& request) {
    Principal p = co_await caller_of(request);
    std::string name = resolve_name(request, p);
    get_user_copy(name);
    co_await revoke_sessions(name, kNoSession);
    event(log::events::auth_sessions_revoked,
          {.user = name, .actor = p.user.name, .by = identity_of(p), .remote = request.remote_address, .reason = "revoked",
           .message = "all sessions of " + name + " revoked by " + p.user.name});
    Response r;
    r.status = 204;
    if (name == p.user.name) r.set_header("Set-Cookie", clear_cookie());
    co_return r;
  }

  // ---- TOTP ---------------------------------------------------------------

  asio::awaitable<Response> totp_start(Request& request) {
    Principal p = co_await caller_of(request);
    UserRecord u = get_user_copy(p.user.name);
    if (u.totp_enabled) {
      throw Error(ErrorCode::conflict, "TOTP is already enabled; disable it first to enroll a new device.");
    }
    auto key = new_totp_key();
    auto codes = new_recovery_codes(10);
    begin_totp_enrollment(u, key, codes);
    std::string issuer;
    {
      std::lock_guard lock(mu);
      issuer = settings.totp_issuer;
    }
    co_await store_user(u);
    json::array code_array;
    for (const auto& c : codes) code_array.emplace_back(c);
    json::object doc = enrollment_json(otpauth_uri(issuer, u.name, key), u.totp_secret, code_array);
    co_return Response::json(201, doc);
  }

  asio::awaitable<Response> totp_confirm(Request& request) {
    Principal p = co_await caller_of(request);
    json::object body = parse_body(request);
    std::string code = require_string(body, "code");
    UserRecord u = get_user_copy(p.user.name);
    switch (confirm_totp_enrollment(u, code, default_clock().unix_seconds())) {
      case Enrollment::confirmed:
        break;
      case Enrollment::already_enabled:
        throw Error(ErrorCode::conflict, "TOTP is already enabled.");
      case Enrollment::not_started:
        throw Error(ErrorCode::conflict, "Start the enrollment first (POST).");
      case Enrollment::wrong_code:
        event(log::events::auth_totp_failed, {.user = u.name, .remote = request.remote_address,
                                              .reason = "enrollment", .message = "TOTP enrollment code wrong for " +
                                                                                 u.name});
        throw Error(ErrorCode::validation_failed, "The code does not match; check the device's clock and try again.");
    }
    co_await store_user(u);
    std::vector<SessionRecord> changed;
    {
      std::lock_guard lock(mu);
      changed = sessions.finish_enrollment(u.name);
    }
    for (const auto& s : changed) co_await repo.put_session(s);
    event(log::events::auth_user_changed, {.user = u.name, .actor = u.name, .remote = request.remote_address,
                                           .action = "totp_enabled", .message = "TOTP enabled for " + u.name});
    co_return Response::json(200, user_json(u));
  }

  asio::awaitable<Response> totp_disable(Request& request) {
    Principal p = co_await caller_of(request);
    json::object body = parse_body(request);
    wipe(request.body);
    auto password = take_secret(body, "password");
    if (!password) throw Error(ErrorCode::invalid_argument, "password is required to disable TOTP.");
    UserRecord u = get_user_copy(p.user.name);
    bool required;
    {
      std::lock_guard lock(mu);
      required = totp_required_for(u.role);
    }
    if (required) throw Error(ErrorCode::conflict, "Your role requires TOTP; it cannot be disabled.");
    auto pw = std::make_shared<Secret>(std::move(*password));
    std::string hash = u.password_hash;
    auto job6 = [hash, pw] { return verify_password(hash, pw->reveal()); };
    bool ok = co_await offload(blocking, std::move(job6));
    if (!ok) throw Error(ErrorCode::forbidden, "The password is wrong.");
    disable_totp(u);
    co_await store_user(u);
    event(log::events::auth_user_changed, {.user = u.name, .actor = u.name, .remote = request.remote_address,
                                           .action = "totp_disabled", .message = "TOTP disabled for " + u.name});
    Response r;
    r.status = 204;
    co_return r;
  }

  // ---- API tokens -----------------------------------------------------------

  asio::awaitable<Response> list_tokens(Request& request) {
    Principal p = co_await caller_of(request);
    bool all = role_has(p.role, Permission::tokens_manage_all);
    std::vector<TokenRecord> list;
    {
      std::lock_guard lock(mu);
      for (const auto& [h, t] : tokens) {
        if (all || t.owner == p.user.name) list.push_back(t);
      }
    }
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.created_at < b.created_at; });
    json::array out;
    for (const auto& t : list) out.push_back(token_json(t));
    co_return Response::json(200, wrap_array("tokens", std::move(out)));
  }

  asio::awaitable<Response> create_token(Request& request) {
    Principal p = co_await caller_of(request);
    json::object body = parse_body(request);
    std::string name = require_string(body, "name");
    if (name.empty() || name.size() > 100) throw Error(ErrorCode::validation_failed, "name is 1-100 characters.");
    Role role = p.role;
    if (auto r = get_string(body, "role")) {
      auto parsed = parse_role(*r);
      if (!parsed) throw Error(ErrorCode::validation_failed, "role is one of admin, operator, auditor, issuer, support.");
      role = *parsed;
    }
    if (!role_covers(p.role, role)) {
      throw Error(ErrorCode::forbidden, "A token cannot have a role with rights you do not have.");
    }
    std::int64_t days = 90;
    if (auto it = body.find("expires_in_days"); it != body.end()) {
      if (!it->value().is_int64() || it->value().as_int64() < 1 || it->value().as_int64() > kMaxTokenDays) {
        throw Error(ErrorCode::validation_failed, "expires_in_days is 1 to 366.");
      }
      days = it->value().as_int64();
    }
    std::int64_t now = default_clock().unix_seconds();
    std::string secret = "pst_" + random_token(32);
    auto id_bytes = random_bytes(8);
    TokenRecord t;
    t.id = hex_encode(id_bytes);
    t.name = name;
    t.owner = p.user.name;
    t.role = role;
    t.token_hash = sha256_hex(secret);
    t.created_at = now;
    t.expires_at = now + days * 86400;
    co_await repo.put_token(t);
    {
      std::lock_guard lock(mu);
      tokens[t.token_hash] = t;
    }
    event(log::events::auth_token_changed,
          {.user = p.user.name, .remote = request.remote_address, .action = "create", .token_id = t.id,
           .message = "API token " + t.id + " (" + std::string(to_string(role)) + ") created by " + p.user.name});
    json::object doc = token_json(t);
    doc["token"] = secret;  // shown once, never again
    wipe(secret);
    co_return Response::json(201, doc);
  }

  asio::awaitable<Response> delete_token(Request& request) {
    Principal p = co_await caller_of(request);
    std::string id = request.params["id"];
    bool all = role_has(p.role, Permission::tokens_manage_all);
    std::optional<TokenRecord> found;
    {
      std::lock_guard lock(mu);
      for (const auto& [h, t] : tokens) {
        if (t.id == id && (all || t.owner == p.user.name)) found = t;
      }
    }
    if (!found) throw Error(ErrorCode::not_found, "No such token.");
    co_await repo.delete_token(id);
    {
      std::lock_guard lock(mu);
      tokens.erase(found->token_hash);
    }
    event(log::events::auth_token_changed,
          {.user = found->owner, .actor = p.user.name, .by = identity_of(p), .remote = request.remote_address, .action = "revoke",
           .token_id = id, .message = "API token " + id + " revoked by " + p.user.name});
    Response r;
    r.status = 204;
    co_return r;
  }
};

// ---------------------------------------------------------------------------

AuthService::AuthService(AuthRepository& repository, asio::any_io_executor blocking, Settings settings)
    : impl_(std::make_shared<Impl>(repository, std::move(blocking), std::move(settings))) {}

AuthService::~AuthService() = default;

void AuthService::set_event_sink(std::shared_ptr<AuthEventSink> sink) {
  std::lock_guard lock(impl_->mu);
  impl_->sink = std::move(sink);
}

void AuthService::load() {
  AuthSnapshot snap = impl_->repo.load();
  std::string dummy = hash_password(random_token(24), impl_->settings.argon2);
  std::int64_t now = default_clock().unix_seconds();
  std::lock_guard lock(impl_->mu);
  impl_->dummy_hash = dummy;
  impl_->users.clear();
  for (auto& u : snap.users) impl_->users[u.name] = std::move(u);
  impl_->sessions.load(std::move(snap.sessions), now);
  impl_->tokens.clear();
  for (auto& t : snap.tokens) impl_->tokens[t.token_hash] = std::move(t);
}

void AuthService::update_settings(Settings settings) {
  impl_->account_throttle.set_settings(account_throttle_settings(settings.lockout_threshold, settings.lockout_duration));
  impl_->address_throttle.set_settings(address_throttle_settings(settings.lockout_threshold, settings.lockout_duration));
  std::lock_guard lock(impl_->mu);
  impl_->sessions.set_limits(session_limits(settings));
  impl_->settings = std::move(settings);
}

std::size_t AuthService::user_count() const { return impl_->user_count(); }

void AuthService::register_routes(http::Router& router) {
  auto& i = *impl_;
  router.add("POST", "/api/v1/session", i.wrap(&Impl::login));
  router.add("GET", "/api/v1/session", i.wrap(&Impl::whoami));
  router.add("DELETE", "/api/v1/session", i.wrap(&Impl::logout));
  router.add("GET", "/api/v1/users", i.wrap(&Impl::list_users));
  router.add("POST", "/api/v1/users", i.wrap(&Impl::create_user));
  // Literal "me/totp" before the "{name}/..." patterns.
  router.add("POST", "/api/v1/users/me/totp", i.wrap(&Impl::totp_start));
  router.add("PUT", "/api/v1/users/me/totp", i.wrap(&Impl::totp_confirm));
  router.add("DELETE", "/api/v1/users/me/totp", i.wrap(&Impl::totp_disable));
  router.add("GET", "/api/v1/users/{name}", i.wrap(&Impl::get_user));
  router.add("PATCH", "/api/v1/users/{name}", i.wrap(&Impl::patch_user));
  router.add("DELETE", "/api/v1/users/{name}", i.wrap(&Impl::delete_user));
  router.add("PUT", "/api/v1/users/{name}/password", i.wrap(&Impl::change_password));
  router.add("DELETE", "/api/v1/users/{name}/sessions", i.wrap(&Impl::revoke_all));
  router.add("GET", "/api/v1/tokens", i.wrap(&Impl::list_tokens));
  router.add("POST", "/api/v1/tokens", i.wrap(&Impl::create_token));
  router.add("DELETE", "/api/v1/tokens/{id}", i.wrap(&Impl::delete_token));
}

http::Middleware AuthService::middleware(const http::Router& router) {
  auto impl = impl_;
  impl->bind_rules(router);
  return [impl](Request& request, const http::Next& next) -> asio::awaitable<Response> {
    co_return co_await impl->guarded(request, next);
  };
}

asio::awaitable<void> AuthService::add_user(std::string name, Role role, Secret password, Identity actor) {
  std::string none;
  co_await impl_->add_user(std::move(name), role, std::move(password), std::move(actor), none);
}

asio::awaitable<void> AuthService::set_password(std::string name, Secret password, Identity actor) {
  std::string none;
  co_await impl_->set_password(std::move(name), std::move(password), std::move(actor), none, none);
}

asio::awaitable<void> AuthService::set_locked(std::string name, bool locked, Identity actor) {
  std::string none;
  co_await impl_->set_locked(std::move(name), locked, std::move(actor), none);
}

void AuthService::register_control(http::ControlServer& control) {
  auto impl = impl_;
  auto arg = [](const http::ControlRequest& r, std::string_view key) -> std::string {
    auto it = r.args.find(key);
    if (it == r.args.end() || !it->value().is_string()) {
      throw Error(ErrorCode::invalid_argument, std::string(key) + " is required");
    }
    return std::string(it->value().as_string());
  };
  auto password_arg = [](const http::ControlRequest& r) -> Secret {
    auto it = r.args.find("password");
    if (it == r.args.end() || !it->value().is_string()) throw Error(ErrorCode::invalid_argument, "a password is required");
    const json::string& s = it->value().as_string();
    return Secret(std::string_view(s.data(), s.size()));
  };

  control.add("user add", [impl, arg, password_arg](
                              const http::ControlRequest& r) -> asio::awaitable<json::value> {
    std::string name = arg(r, "name");
    auto role = parse_role(arg(r, "role"));
    if (!role) throw Error(ErrorCode::invalid_argument, "role is one of admin, operator, auditor, issuer, support");
    Secret password = password_arg(r);
    co_await impl->add_user(name, *role, std::move(password), r.identity, std::string());
    co_return json::value(user_json(impl->get_user_copy(name)));
  });
  control.add("user list", [impl](const http::ControlRequest&) -> asio::awaitable<json::value> {
    json::array out;
    {
      std::lock_guard lock(impl->mu);
      for (const auto& [name, u] : impl->users) out.push_back(user_json(u));
    }
    co_return json::value(out);
  });
  control.add("user passwd", [impl, arg, password_arg](
                                 const http::ControlRequest& r) -> asio::awaitable<json::value> {
    std::string name = arg(r, "name");
    Secret password = password_arg(r);
    co_await impl->set_password(name, std::move(password), r.identity, std::string(), std::string());
    co_return json::value(user_json(impl->get_user_copy(name)));
  });
  for (bool locked : {true, false}) {
    control.add(locked ? "user lock" : "user unlock", [impl, arg, locked](
                                                          const http::ControlRequest& r) -> asio::awaitable<json::value> {
      std::string name = arg(r, "name");
      co_await impl->set_locked(name, locked, r.identity, std::string());
      co_return json::value(user_json(impl->get_user_copy(name)));
    });
  }
}

}  // namespace privstack::auth
