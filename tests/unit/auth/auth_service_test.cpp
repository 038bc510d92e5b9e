// AuthService end to end through its middleware on a router, with an in-memory repository:
// login, cookie, CSRF/Origin, permissions, logout, lockout, tokens, TOTP.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <thread>

#include "auth/auth.h"
#include "auth/totp.h"
#include "auth/util.h"
#include "core/time.h"

using namespace privstack;
using namespace privstack::auth;
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* kAdminPw = "Admin-Password-1";

class AuthServiceTest : public ::testing::Test {
 protected:
  AuthServiceTest() {
    settings.argon2 = Argon2Params{.memory_kib = 1024, .iterations = 1};
    settings.lockout_threshold = 3;
    settings.lockout_duration = 2s;
    make_service();
  }
  ~AuthServiceTest() override { pool.join(); }

  void make_service() {
    auth = std::make_unique<AuthService>(repo, pool.get_executor(), settings);
    auth->load();
    router = std::make_unique<http::Router>();
    auth->register_routes(*router);
    router->add("GET", "/api/v1/unlisted", [](http::Request&) -> asio::awaitable<http::Response> {
      co_return http::Response::json(200, json::object{});
    });
    router->use(auth->middleware(*router));
    http::Router* r = router.get();
    handler = [r](http::Request& req) { return r->handle(req); };
  }

  template <class T>
  T run(asio::awaitable<T> aw) {
    auto fut = asio::co_spawn(io, std::move(aw), asio::use_future);
    while (fut.wait_for(0s) != std::future_status::ready) {
      io.restart();
      io.run_for(5ms);
    }
    return fut.get();
  }
  void run_void(asio::awaitable<void> aw) {
    auto fut = asio::co_spawn(io, std::move(aw), asio::use_future);
    while (fut.wait_for(0s) != std::future_status::ready) {
      io.restart();
      io.run_for(5ms);
    }
    fut.get();
  }

  http::Response call(std::string method, std::string path, std::string body = {},
                      std::vector<http::Header> headers = {}) {
    http::Request req;
    req.method = method;
    req.target = path;
    req.path = path;
    req.body = body;
    req.remote_address = "192.0.2.7";
    req.headers = std::move(headers);
    req.headers.push_back({"Host", "console.test"});
    if (!body.empty()) req.headers.push_back({"Content-Type", "application/json"});
    return run(invoke(handler, std::move(req)));
  }

  static asio::awaitable<http::Response> invoke(http::Handler h, http::Request req) { co_return co_await h(req); }

  void add(std::string name, Role role, std::string pw = kAdminPw) {
    run_void(auth->add_user(name, role, Secret(pw), privstack::Identity::local(0)));
  }

  struct Login {
    std::string cookie;  // "name=value"
    std::string csrf;
    http::Response response;
  };
  Login login(std::string user, std::string pw = kAdminPw, std::string totp = {}) {
    json::object body{{"username", user}, {"password", pw}};
    if (!totp.empty()) body["totp"] = totp;
    Login l;
    l.response = call("POST", "/api/v1/session", json::serialize(body));
    if (l.response.status == 201) {
      std::string sc(*l.response.header("Set-Cookie"));
      l.cookie = sc.substr(0, sc.find(';'));
      l.csrf = std::string(json::parse(l.response.body).at("csrf_token").as_string());
    }
    return l;
  }
  std::vector<http::Header> with(const Login& l, bool csrf = true) {
    std::vector<http::Header> h{{"Cookie", l.cookie}};
    if (csrf) h.push_back({"X-CSRF-Token", l.csrf});
    return h;
  }

  asio::io_context io;
  asio::thread_pool pool{1};
  MemoryAuthRepository repo;
  Settings settings;
  std::unique_ptr<AuthService> auth;
  std::unique_ptr<http::Router> router;
  http::Handler handler;
};

TEST_F(AuthServiceTest, LoginClosedUntilFirstUser) {
  auto r = call("POST", "/api/v1/session", R"({"username":"root","password":"whatever-it-is"})");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("privstackctl user add"), std::string::npos);
  EXPECT_EQ(*r.header("Content-Type"), "application/problem+json");
}

TEST_F(AuthServiceTest, WeakPasswordsAndBadNamesRejected) {
  EXPECT_THROW(add("alice", Role::admin, "password1234"), privstack::Error);
  EXPECT_THROW(add("Alice", Role::admin), privstack::Error);
  EXPECT_THROW(add("me", Role::admin), privstack::Error);
  add("alice", Role::admin);
  EXPECT_THROW(add("alice", Role::admin), privstack::Error);  // exists
  EXPECT_EQ(auth->user_count(), 1u);
}

TEST_F(AuthServiceTest, LoginSetsHardenedCookieAndCsrf) {
  add("alice", Role::admin);
  auto l = login("alice");
  ASSERT_EQ(l.response.status, 201) << l.response.body;
  std::string sc(*l.response.header("Set-Cookie"));
  EXPECT_TRUE(sc.starts_with("__Host-privstack_session="));
  for (const char* attr : {"; Secure", "; HttpOnly", "; SameSite=Strict", "; Path=/"}) {
    EXPECT_NE(sc.find(attr), std::string::npos) << attr;
  }
  EXPECT_EQ(sc.find("Domain"), std::string::npos);
  EXPECT_EQ(l.cookie.size(), std::string("__Host-privstack_session=").size() + 43);  // 256-bit token
  auto doc = json::parse(l.response.body);
  EXPECT_EQ(doc.at("user").at("role").as_string(), "admin");

  // Only the token's SHA-256 is stored.
  auto snap = repo.load();
  ASSERT_EQ(snap.sessions.size(), 1u);
  std::string token = l.cookie.substr(l.cookie.find('=') + 1);
  EXPECT_EQ(snap.sessions[0].token_hash, sha256_hex(token));

  auto me = call("GET", "/api/v1/session", {}, with(l, false));
  EXPECT_EQ(me.status, 200);
  EXPECT_EQ(json::parse(me.body).at("csrf_token").as_string(), l.csrf);

  // A second login gets a different token.
  auto l2 = login("alice");
  EXPECT_NE(l2.cookie, l.cookie);
}

TEST_F(AuthServiceTest, WrongPasswordAndUnknownUserLookTheSame) {
  add("alice", Role::admin);
  auto a = login("alice", "Wrong-Password-9");
  std::this_thread::sleep_for(250ms);  // the source address's backoff
  auto b = login("nobody", "Wrong-Password-9");
  EXPECT_EQ(a.response.status, 401);
  EXPECT_EQ(b.response.status, 401);
  // The same document but for the correlation id, which every error has its own of.
  auto without_id = [](const std::string& body) {
    json::object o = json::parse(body).as_object();
    EXPECT_TRUE(o.erase("correlation_id"));
    return json::serialize(o);
  };
  EXPECT_EQ(without_id(a.response.body), without_id(b.response.body));
}

TEST_F(AuthServiceTest, CsrfAndOriginRequiredForWrites) {
  add("alice", Role::admin);
  auto l = login("alice");
  std::string body = R"({"name":"bob","role":"operator","password":"Bob-Password-12"})";
  EXPECT_EQ(call("POST", "/api/v1/users", body, with(l, false)).status, 403);  // no token
  auto wrong = with(l, false);
  std::string wrong_token = l.csrf;
  wrong_token[0] = wrong_token[0] == 'x' ? 'y' : 'x';  // differs from the real token in its first character
  wrong.push_back({"X-CSRF-Token", wrong_token});
  EXPECT_EQ(call("POST", "/api/v1/users", body, wrong).status, 403);
  auto foreign = with(l);
  foreign.push_back({"Origin", "https://evil.example"});
  EXPECT_EQ(call("POST", "/api/v1/users", body, foreign).status, 403);
  auto same = with(l);
  same.push_back({"Origin", "https://console.test"});
  EXPECT_EQ(call("POST", "/api/v1/users", body, same).status, 201);
  // Reads need no CSRF token.
  EXPECT_EQ(call("GET", "/api/v1/users", {}, with(l, false)).status, 200);
}

TEST_F(AuthServiceTest, RolesAreEnforced) {
  add("alice", Role::admin);
  add("olga", Role::operator_);
  auto l = login("olga");
  EXPECT_EQ(call("GET", "/api/v1/users", {}, with(l)).status, 403);
  EXPECT_EQ(call("GET", "/api/v1/users/alice", {}, with(l)).status, 403);
  EXPECT_EQ(call("GET", "/api/v1/users/olga", {}, with(l)).status, 200);  // self
  EXPECT_EQ(call("GET", "/api/v1/users/me", {}, with(l)).status, 200);
  EXPECT_EQ(call("GET", "/api/v1/users", {}).status, 401);  // anonymous
  // A route the matrix does not list is denied even to admins.
  auto a = login("alice");
  EXPECT_EQ(call("GET", "/api/v1/unlisted", {}, with(a)).status, 403);
}

TEST_F(AuthServiceTest, LogoutAndRevokeAllAreImmediate) {
  add("alice", Role::admin);
  add("bob", Role::issuer, "Bob-Password-12");
  auto l = login("alice");
  auto r = call("DELETE", "/api/v1/session", {}, with(l));
  EXPECT_EQ(r.status, 204);
  EXPECT_NE(r.header("Set-Cookie")->find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(call("GET", "/api/v1/session", {}, with(l)).status, 401);

  auto b1 = login("bob", "Bob-Password-12");
  auto b2 = login("bob", "Bob-Password-12");
  auto a = login("alice");
  EXPECT_EQ(call("DELETE", "/api/v1/users/bob/sessions", {}, with(a)).status, 204);
  EXPECT_EQ(call("GET", "/api/v1/session", {}, with(b1)).status, 401);
  EXPECT_EQ(call("GET", "/api/v1/session", {}, with(b2)).status, 401);
  EXPECT_EQ(call("GET", "/api/v1/session", {}, with(a)).status, 200);
}

TEST_F(AuthServiceTest, RoleChangeEndsSessions) {
  add("alice", Role::admin);
  add("bob", Role::issuer, "Bob-Password-12");
  auto b = login("bob", "Bob-Password-12");
  auto a = login("alice");
  EXPECT_EQ(call("PATCH", "/api/v1/users/bob", R"({"role":"auditor"})", with(a)).status, 200);
  EXPECT_EQ(call("GET", "/api/v1/session", {}, with(b)).status, 401);
  auto b2 = login("bob", "Bob-Password-12");
  EXPECT_EQ(json::parse(b2.response.body).at("user").at("role").as_string(), "auditor");
  // The last admin cannot be demoted, locked or deleted.
  EXPECT_EQ(call("PATCH", "/api/v1/users/alice", R"({"role":"operator"})", with(a)).status, 409);
}

TEST_F(AuthServiceTest, ThrottleAndLockout) {
  add("alice", Role::admin);
  EXPECT_EQ(login("alice", "Wrong-Password-1").response.status, 401);
  auto throttled = login("alice");  // too soon, even with the right password
  EXPECT_EQ(throttled.response.status, 429);
  EXPECT_TRUE(throttled.response.header("Retry-After"));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(login("alice", "Wrong-Password-2").response.status, 401);
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(login("alice", "Wrong-Password-3").response.status, 401);  // third: locked for 2 s
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(login("alice").response.status, 429);
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(login("alice").response.status, 201);  // released after the window
}

TEST_F(AuthServiceTest, ApiTokens) {
  add("alice", Role::admin);
  add("ivan", Role::issuer, "Issuer-Password-12");
  auto a = login("alice");
  auto r = call("POST", "/api/v1/tokens", R"({"name":"ci","role":"auditor","expires_in_days":7})", with(a));
  ASSERT_EQ(r.status, 201) << r.body;
  auto doc = json::parse(r.body);
  std::string token(doc.at("token").as_string());
  std::string id(doc.at("id").as_string());
  EXPECT_TRUE(token.starts_with("pst_"));
  std::vector<http::Header> bearer{{"Authorization", "Bearer " + token}};
  EXPECT_EQ(call("GET", "/api/v1/users", {}, bearer).status, 200);  // auditor reads users
  EXPECT_EQ(call("POST", "/api/v1/users", R"({"name":"x","role":"admin","password":"Xx-Password-123"})", bearer)
                .status,
            403);
  EXPECT_EQ(call("GET", "/api/v1/tokens", {}, bearer).status, 403);  // session only
  // Stored hashed, listed without the secret.
  auto list = call("GET", "/api/v1/tokens", {}, with(a));
  EXPECT_EQ(list.body.find(token), std::string::npos);
  EXPECT_EQ(repo.load().tokens.at(0).token_hash, sha256_hex(token));
  // No escalation: an issuer cannot mint an admin or auditor token.
  auto i = login("ivan", "Issuer-Password-12");
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"name":"x","role":"admin"})", with(i)).status, 403);
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"name":"x","role":"auditor"})", with(i)).status, 403);
  EXPECT_EQ(call("POST", "/api/v1/tokens", R"({"name":"x","role":"support"})", with(i)).status, 201);
  // Revocation is immediate.
  EXPECT_EQ(call("DELETE", "/api/v1/tokens/" + id, {}, with(a)).status, 204);
  EXPECT_EQ(call("GET", "/api/v1/users", {}, bearer).status, 401);
  EXPECT_EQ(call("GET", "/api/v1/users", {}, {{"Authorization", "Bearer pst_nonsense"}}).status, 401);
}

TEST_F(AuthServiceTest, TotpEnrollmentAndLogin) {
  add("alice", Role::admin);
  auto a = login("alice");
  auto start = call("POST", "/api/v1/users/me/totp", {}, with(a));
  ASSERT_EQ(start.status, 201) << start.body;
  auto doc = json::parse(start.body);
  std::string uri(doc.at("otpauth_uri").as_string());
  EXPECT_TRUE(uri.starts_with("otpauth://totp/privstack:alice?secret="));
  auto key = *base32_decode(std::string(doc.at("secret").as_string()));
  std::string recovery(doc.at("recovery_codes").as_array().at(0).as_string());
  EXPECT_EQ(call("PUT", "/api/v1/users/me/totp", R"({"code":"000000"})", with(a)).status, 422);
  std::int64_t now = default_clock().unix_seconds();
  std::string code = totp_code(key, now);
  EXPECT_EQ(call("PUT", "/api/v1/users/me/totp", json::serialize(json::object{{"code", code}}), with(a)).status,
            200);

  // Now the password alone is not enough.
  auto no_code = login("alice");
  EXPECT_EQ(no_code.response.status, 401);
  EXPECT_TRUE(json::parse(no_code.response.body).at("totp_required").as_bool());
  // The code used for enrollment cannot be used again.
  EXPECT_EQ(login("alice", kAdminPw, code).response.status, 401);
  std::this_thread::sleep_for(300ms);  // the failure's backoff
  std::string next = totp_code(key, now + 30);
  EXPECT_EQ(login("alice", kAdminPw, next).response.status, 201);
  // A recovery code works once.
  EXPECT_EQ(login("alice", kAdminPw, recovery).response.status, 201);
  EXPECT_EQ(login("alice", kAdminPw, recovery).response.status, 401);
}

TEST_F(AuthServiceTest, TotpRequiredForRoleForcesEnrollment) {
  settings.require_totp_for = {Role::admin};
  make_service();
  add("alice", Role::admin);
  auto a = login("alice");
  ASSERT_EQ(a.response.status, 201);
  EXPECT_TRUE(json::parse(a.response.body).at("totp_enrollment_required").as_bool());
  auto denied = call("GET", "/api/v1/users", {}, with(a));
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(json::parse(denied.body).at("reason").as_string(), "totp_enrollment_required") << denied.body;
  auto start = call("POST", "/api/v1/users/me/totp", {}, with(a));
  ASSERT_EQ(start.status, 201);
  auto key = *base32_decode(std::string(json::parse(start.body).at("secret").as_string()));
  auto code = json::serialize(json::object{{"code", totp_code(key, default_clock().unix_seconds())}});
  EXPECT_EQ(call("PUT", "/api/v1/users/me/totp", code, with(a)).status, 200);
  EXPECT_EQ(call("GET", "/api/v1/users", {}, with(a)).status, 200);
}

TEST_F(AuthServiceTest, PasswordChangeAndRehash) {
  add("alice", Role::admin);
  std::string before = repo.load().users.at(0).password_hash;
  // New parameters: the next successful login rehashes.
  settings.argon2 = Argon2Params{.memory_kib = 2048, .iterations = 1};
  auth->update_settings(settings);
  auto a = login("alice");
  ASSERT_EQ(a.response.status, 201);
  std::string after = repo.load().users.at(0).password_hash;
  EXPECT_NE(before, after);
  EXPECT_TRUE(after.find("m=2048") != std::string::npos);

  // Own password: the current one is required; the policy applies.
  auto h = with(a);
  EXPECT_EQ(call("PUT", "/api/v1/users/me/password", R"({"new_password":"New-Password-123"})", h).status, 400);
  EXPECT_EQ(call("PUT", "/api/v1/users/me/password",
                 R"({"current_password":"Admin-Password-1","new_password":"short"})", h)
                .status,
            422);
  EXPECT_EQ(call("PUT", "/api/v1/users/me/password",
                 R"({"current_password":"Admin-Password-1","new_password":"New-Password-123"})", h)
                .status,
            204);
  EXPECT_EQ(call("GET", "/api/v1/session", {}, h).status, 200);  // this session stays
  EXPECT_EQ(login("alice", "New-Password-123").response.status, 201);
}

TEST_F(AuthServiceTest, SessionsSurviveReload) {
  add("alice", Role::admin);
  auto a = login("alice");
  make_service();  // a restart: everything comes back from the repository
  EXPECT_EQ(call("GET", "/api/v1/session", {}, with(a)).status, 200);
}

}  // namespace
