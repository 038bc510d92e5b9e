// AuthService: users, sessions and API tokens in memory under one mutex,
// written through the AuthRepository; authentication of a request, the
// journal and audit events, and the user changes shared by the API and the
// control socket. The pure rules are sessions.h, tokens.h, throttle.h and
// second_factor.h; the middleware is middleware.cpp, the HTTP handlers and
// control commands routes.cpp.
#include "auth/service_impl.h"

#include <algorithm>

#include "auth/request.h"
#include "auth/second_factor.h"
#include "auth/util.h"
#include "core/offload.h"
#include "core/time.h"

// AuthEvent is filled with designated initializers naming only the fields
// that apply; the rest are empty on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace privstack::auth {

namespace asio = boost::asio;
using http::Request;

namespace {

using privstack::offload;  // core/offload.h

bool valid_username(std::string_view name) {
  if (name.empty() || name.size() > 64 || name == "me") return false;
  if (!(name[0] >= 'a' && name[0] <= 'z')) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// How an actor is named in journal messages ("created by ..."): the user, or
// the local administrator behind privstackctl.
std::string display_name(const Identity& who) {
  if (who.method == AuthMethod::control_socket) return "privstackctl (uid " + std::to_string(who.uid) + ")";
  return who.user;
}

// A 422 whose message also names the body member it is about, so that the
// console shows it at that field.
Error field_error(std::string field, std::string message) {
  Error e(ErrorCode::validation_failed, message);
  e.field_errors.push_back({std::move(field), std::move(message)});
  return e;
}

SessionLimits session_limits(const Settings& s) { return {s.session_idle_timeout, s.session_lifetime}; }

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

// ---------------------------------------------------------------------------

AuthService::Impl::Impl(AuthRepository& repo, asio::any_io_executor blocking, Settings settings, Clock& clock)
    : repo(repo), clock(clock), blocking(std::move(blocking)), settings(std::move(settings)), sessions(session_limits(this->settings)),
      account_throttle(account_throttle_settings(this->settings.lockout_threshold, this->settings.lockout_duration)),
      address_throttle(address_throttle_settings(this->settings.lockout_threshold, this->settings.lockout_duration)) {}

// ---- events -----------------------------------------------------------------

void AuthService::Impl::event(const log::Event& ev, AuthEvent e) {
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

// ---- helpers ----------------------------------------------------------------

bool AuthService::Impl::totp_required_for(Role role) const {
  return auth::totp_required_for(settings.require_totp_for, role);
}

std::size_t AuthService::Impl::unlocked_admins_locked() const {
  std::size_t n = 0;
  for (const auto& [name, u] : users) n += (u.role == Role::admin && !u.locked) ? 1 : 0;
  return n;
}

asio::awaitable<std::optional<AuthService::Impl::Principal>> AuthService::Impl::authenticate(const Request& request,
                                                                                            bool touch) {
  std::int64_t now = clock.unix_seconds();
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

std::string AuthService::Impl::new_session_locked(const std::string& user, bool totp_pending, std::int64_t now,
                                                 SessionRecord& record) {
  std::string token = random_token(32);
  record = sessions.create(sha256_hex(token), user, totp_pending, now);
  return token;
}

asio::awaitable<void> AuthService::Impl::revoke_sessions(const std::string& user, const std::string& keep_hash) {
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

UserRecord AuthService::Impl::get_user_copy(const std::string& name) {
  std::lock_guard lock(mu);
  auto it = users.find(name);
  if (it == users.end()) throw Error(ErrorCode::not_found, "No such user.");
  return it->second;
}

asio::awaitable<void> AuthService::Impl::store_user(const UserRecord& u) {
  co_await repo.update_user(u);
  std::lock_guard lock(mu);
  UserRecord& current = users[u.name];
  // `u` may be a copy from before a sign-in that finished meanwhile: the
  // last sign-in is login()'s to change (as in the repository).
  std::int64_t at = current.last_sign_in_at;
  std::string method = current.last_sign_in_method;
  current = u;
  current.last_sign_in_at = at;
  current.last_sign_in_method = std::move(method);
}

std::size_t AuthService::Impl::user_count() const {
  std::lock_guard lock(mu);
  return users.size();
}

Identity AuthService::Impl::identity_of(const Principal& p) {
  Identity id;
  id.user = p.user.name;
  id.role = p.role;
  id.method = p.via_token ? AuthMethod::api_token : AuthMethod::session;
  id.token_id = p.token_id;
  return id;
}

asio::awaitable<AuthService::Impl::Principal> AuthService::Impl::caller_of(const Request& request) {
  auto p = co_await authenticate(request, false);
  if (!p) throw Error(ErrorCode::unauthenticated, "Sign in first.");
  co_return *p;
}

// ---- user management ----------------------------------------------------------

asio::awaitable<void> AuthService::Impl::add_user(std::string name, Role role, Secret password, Identity by,
                                                 std::string remote) {
  const std::string actor = display_name(by);
  if (!valid_username(name)) {
    throw field_error("name", "User names are 1-64 characters: a-z first, then a-z, 0-9, '.', '_' or '-' (not \"me\").");
  }
  if (auto why = password_policy_violation(password.reveal(), name)) throw field_error("password", *why);
  Argon2Params params;
  {
    std::lock_guard lock(mu);
    if (users.contains(name)) throw Error(ErrorCode::conflict, "A user with that name exists.");
    params = settings.argon2;
  }
  auto pw = std::make_shared<Secret>(std::move(password));
  auto job3 = [pw, params] { return hash_password(pw->reveal(), params); };
  std::string hash = co_await offload(blocking, std::move(job3));
  std::int64_t now = clock.unix_seconds();
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

asio::awaitable<void> AuthService::Impl::set_password(std::string name, Secret password, Identity by,
                                                     std::string remote, std::string keep_session) {
  const std::string actor = display_name(by);
  // The API's member (PUT .../password); the control socket ignores fields.
  if (auto why = password_policy_violation(password.reveal(), name)) throw field_error("new_password", *why);
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
  u.password_changed_at = clock.unix_seconds();
  co_await store_user(u);
  co_await revoke_sessions(name, keep_session);
  event(log::events::auth_user_changed, {.user = name, .actor = actor, .by = by, .remote = remote, .action = "password",
                                         .message = "password of " + name + " changed by " + actor});
}

asio::awaitable<void> AuthService::Impl::set_locked(std::string name, bool locked, Identity by, std::string remote) {
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

// ---------------------------------------------------------------------------

AuthService::AuthService(AuthRepository& repository, asio::any_io_executor blocking, Settings settings, Clock& clock)
    : impl_(std::make_shared<Impl>(repository, std::move(blocking), std::move(settings), clock)) {}

AuthService::~AuthService() = default;

void AuthService::set_event_sink(std::shared_ptr<AuthEventSink> sink) {
  std::lock_guard lock(impl_->mu);
  impl_->sink = std::move(sink);
}

void AuthService::load() {
  AuthSnapshot snap = impl_->repo.load();
  std::string dummy = hash_password(random_token(24), impl_->settings.argon2);
  std::int64_t now = impl_->clock.unix_seconds();
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

}  // namespace privstack::auth
