// The auth API (docs/openapi.yaml: /api/v1/session, /users, /tokens, TOTP
// enrollment) and the `user ...` control commands.
#include "auth/service_impl.h"

#include <boost/json.hpp>

#include <algorithm>

#include "auth/request.h"
#include "auth/second_factor.h"
#include "auth/totp.h"
#include "auth/util.h"
#include "auth/view.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/offload.h"
#include "core/time.h"
#include "http/body.h"
#include "http/control.h"

// AuthEvent is filled with designated initializers naming only the fields
// that apply; the rest are empty on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace privstack::auth {

namespace asio = boost::asio;
namespace json = boost::json;
using http::Request;
using http::Response;

namespace {

using privstack::offload;  // core/offload.h

json::object parse_body(const Request& request) { return http::read_json_object(request); }

std::string session_cookie(const std::string& token, std::chrono::seconds max_age) {
  return std::string(kSessionCookie) + "=" + token + "; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=" +
         std::to_string(max_age.count());
}
std::string clear_cookie() {
  return std::string(kSessionCookie) + "=; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=0";
}

}  // namespace

// ---- login --------------------------------------------------------------------

asio::awaitable<Response> AuthService::Impl::login(Request& request) {
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
    auto verdict = which->check(which == &account_throttle ? account_key : address_key, clock.steady_now());
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
    bool account_locked = account_throttle.record_failure(account_key, clock.steady_now());
    bool address_locked = address_throttle.record_failure(address_key, clock.steady_now());
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
    std::int64_t now = clock.unix_seconds();
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

  std::int64_t now = clock.unix_seconds();
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
  // The session and the user's last sign-in in one write.
  std::string method = !user->totp_enabled ? "password" : recovery_used ? "password+recovery_code" : "password+totp";
  co_await repo.begin_session(record, method);
  {
    std::lock_guard lock(mu);
    if (auto it = users.find(username); it != users.end()) {
      it->second.last_sign_in_at = record.created_at;
      it->second.last_sign_in_method = method;
    }
  }
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

// ---- HTTP handlers --------------------------------------------------------------

http::Handler AuthService::Impl::wrap(Fn fn) {
  auto self = shared_from_this();
  return [self, fn](Request& r) -> asio::awaitable<Response> {
    co_return co_await ((*self).*fn)(r);  // errors: the router's boundary
  };
}

asio::awaitable<Response> AuthService::Impl::whoami(Request& request) {
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

asio::awaitable<Response> AuthService::Impl::logout(Request& request) {
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

asio::awaitable<Response> AuthService::Impl::list_users(Request&) {
  json::array out;
  {
    std::lock_guard lock(mu);
    for (const auto& [name, u] : users) out.push_back(user_json(u));
  }
  co_return Response::json(200, wrap_array("users", std::move(out)));
}

std::string AuthService::Impl::resolve_name(const Request& request, const Principal& p) {
  auto it = request.params.find("name");
  if (it == request.params.end()) throw Error(ErrorCode::not_found, "No such user.");
  return it->second == "me" ? p.user.name : it->second;
}

asio::awaitable<Response> AuthService::Impl::create_user(Request& request) {
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

asio::awaitable<Response> AuthService::Impl::get_user(Request& request) {
  Principal p = co_await caller_of(request);
  co_return Response::json(200, user_json(get_user_copy(resolve_name(request, p))));
}

asio::awaitable<Response> AuthService::Impl::patch_user(Request& request) {
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

asio::awaitable<Response> AuthService::Impl::delete_user(Request& request) {
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

asio::awaitable<Response> AuthService::Impl::change_password(Request& request) {
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
      account_throttle.record_failure(account_throttle_key(name), clock.steady_now());
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

asio::awaitable<Response> AuthService::Impl::revoke_all(Request& request) {
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

asio::awaitable<Response> AuthService::Impl::totp_start(Request& request) {
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

asio::awaitable<Response> AuthService::Impl::totp_confirm(Request& request) {
  Principal p = co_await caller_of(request);
  json::object body = parse_body(request);
  std::string code = require_string(body, "code");
  UserRecord u = get_user_copy(p.user.name);
  switch (confirm_totp_enrollment(u, code, clock.unix_seconds())) {
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

asio::awaitable<Response> AuthService::Impl::totp_disable(Request& request) {
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

asio::awaitable<Response> AuthService::Impl::password_policy(Request&) {
  co_return Response::json(200, password_policy_json());
}

// ---- API tokens -----------------------------------------------------------

asio::awaitable<Response> AuthService::Impl::list_tokens(Request& request) {
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

asio::awaitable<Response> AuthService::Impl::create_token(Request& request) {
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
  std::int64_t now = clock.unix_seconds();
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

asio::awaitable<Response> AuthService::Impl::delete_token(Request& request) {
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
  router.add("GET", "/api/v1/password-policy", i.wrap(&Impl::password_policy));
  router.add("GET", "/api/v1/tokens", i.wrap(&Impl::list_tokens));
  router.add("POST", "/api/v1/tokens", i.wrap(&Impl::create_token));
  router.add("DELETE", "/api/v1/tokens/{id}", i.wrap(&Impl::delete_token));
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
