// The permission matrix, asserted route by route for every role and for
// anonymous callers. This table restates the policy on purpose: a change to
// kRouteRules or to a role's permissions must change this test too.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "auth/permissions.h"

using namespace privstack::auth;

namespace {

// Who may call: "anon" (everyone), role names, and "self" for routes where a
// user may act on their own {name} whatever the role.
struct Expect {
  const char* method;
  const char* pattern;
  const char* allowed;  // space-separated
  bool self = false;    // also allowed for any signed-in user on their own {name}
  bool tokens = true;   // usable with an API token
};

constexpr const char* kAll = "admin operator auditor issuer support";

const Expect kExpected[] = {
    {"GET", "/healthz", "anon"},
    {"GET", "/api/v1/health", kAll},
    {"GET", "/metrics", "admin operator auditor"},
    {"POST", "/api/v1/session", "anon"},
    {"GET", "/api/v1/session", kAll, false, false},
    {"DELETE", "/api/v1/session", kAll, false, false},
    {"GET", "/api/v1/users", "admin auditor"},
    {"POST", "/api/v1/users", "admin", false, false},
    {"GET", "/api/v1/users/{name}", "admin auditor", true},
    {"PATCH", "/api/v1/users/{name}", "admin", false, false},
    {"DELETE", "/api/v1/users/{name}", "admin", false, false},
    {"PUT", "/api/v1/users/{name}/password", "admin", true, false},
    {"DELETE", "/api/v1/users/{name}/sessions", "admin", true, false},
    {"POST", "/api/v1/users/me/totp", kAll, false, false},
    {"PUT", "/api/v1/users/me/totp", kAll, false, false},
    {"DELETE", "/api/v1/users/me/totp", kAll, false, false},
    {"GET", "/api/v1/password-policy", kAll},
    {"GET", "/api/v1/tokens", kAll, false, false},
    {"POST", "/api/v1/tokens", kAll, false, false},
    {"DELETE", "/api/v1/tokens/{id}", kAll, false, false},
    {"GET", "/api/v1/audit", "admin auditor"},
    {"GET", "/api/v1/audit/verify", "admin auditor"},
    {"GET", "/api/v1/audit/export", "admin auditor"},
    {"GET", "/api/v1/recipients", "admin issuer support"},
    {"POST", "/api/v1/recipients", "admin issuer"},
    {"GET", "/api/v1/recipients/{id}", "admin issuer support"},
    {"PATCH", "/api/v1/recipients/{id}", "admin issuer"},
    {"DELETE", "/api/v1/recipients/{id}", "admin issuer"},
    {"GET", "/api/v1/results", "admin issuer support"},
    {"POST", "/api/v1/results", "admin issuer"},
    {"GET", "/api/v1/results/{id}", "admin issuer support"},
    {"PATCH", "/api/v1/results/{id}", "admin issuer"},
    {"DELETE", "/api/v1/results/{id}", "admin issuer"},
    {"POST", "/api/v1/records/access-grants", "admin issuer support"},
    {"GET", "/api/v1/records/access-grants", "admin issuer support"},
    {"GET", "/api/v1/export/records.csv", "admin issuer"},
    {"GET", "/api/v1/export/records.jsonl", "admin issuer"},
    {"POST", "/api/v1/import/records.csv", "admin issuer"},
    {"GET", "/api/v1/backups", "admin operator"},
    {"GET", "/api/v1/backups/runs", "admin operator"},
    {"POST", "/api/v1/backups", "admin operator"},
    {"POST", "/api/v1/backups/verify", "admin operator"},
    {"GET", "/api/v1/host-audit/scans", "admin operator auditor"},
    {"POST", "/api/v1/host-audit/scans", "admin operator"},
    {"GET", "/api/v1/host-audit/scans/{id}", "admin operator auditor"},
    {"GET", "/api/v1/host-audit/findings", "admin operator auditor"},
    {"POST", "/api/v1/host-audit/acceptances", "admin operator"},
    {"DELETE", "/api/v1/host-audit/acceptances", "admin operator"},
    {"GET", "/api/v1/incidents", "admin operator auditor"},
    {"GET", "/api/v1/incidents/{id}", "admin operator auditor"},
    {"POST", "/api/v1/incidents/{id}/acknowledge", "admin operator"},
    {"POST", "/api/v1/incidents/{id}/resolve", "admin operator"},
    {"POST", "/api/v1/incidents/{id}/assign", "admin operator"},
    {"POST", "/api/v1/incidents/{id}/comments", "admin operator"},
    {"POST", "/api/v1/incidents/{id}/breach", "admin operator"},
    {"GET", "/api/v1/wallet", "admin issuer"},
    {"POST", "/api/v1/wallet/init", "admin", false, false},
    {"POST", "/api/v1/wallet/init/confirm", "admin", false, false},
    {"POST", "/api/v1/wallet/unlock", "admin issuer", false, false},
    {"POST", "/api/v1/wallet/extend", "admin issuer", false, false},
    {"POST", "/api/v1/wallet/lock", "admin issuer"},
    {"GET", "/api/v1/wallet/derive", "admin issuer"},
    {"POST", "/api/v1/credentials/issue", "admin issuer"},
    {"POST", "/api/v1/credentials/verify", kAll},
    {"GET", "/api/v1/credentials/batches", "admin issuer"},
    {"GET", "/api/v1/credentials/revocations", kAll},
    {"GET", "/api/v1/credentials/{id}", "admin issuer"},
    {"POST", "/api/v1/credentials/{id}/revoke", "admin issuer"},
};

std::set<std::string> words(const char* s) {
  std::set<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.insert(w);
  return out;
}

}  // namespace

TEST(PermissionMatrix, EveryRouteEveryRole) {
  for (const auto& e : kExpected) {
    SCOPED_TRACE(std::string(e.method) + " " + e.pattern);
    const RouteRule* rule = find_rule(e.method, e.pattern);
    ASSERT_NE(rule, nullptr);
    auto allowed = words(e.allowed);
    // Anonymous.
    EXPECT_EQ(decide(rule, Caller{}, std::string_view("bob")) == Decision::allow, allowed.contains("anon"));
    if (!allowed.contains("anon")) {
      EXPECT_EQ(decide(rule, Caller{}, std::nullopt), Decision::unauthenticated);
    }
    for (Role role : kAllRoles) {
      std::string name(to_string(role));
      SCOPED_TRACE(name);
      bool expect = allowed.contains("anon") || allowed.contains(name);
      // On someone else's {name}.
      Caller session{role, "alice", false, false};
      EXPECT_EQ(decide(rule, session, std::string_view("bob")) == Decision::allow, expect);
      // On their own {name} (and "me").
      bool expect_self = expect || e.self;
      EXPECT_EQ(decide(rule, session, std::string_view("alice")) == Decision::allow, expect_self);
      EXPECT_EQ(decide(rule, session, std::string_view("me")) == Decision::allow, expect_self);
      // With an API token of that role.
      Caller token{role, "alice", true, false};
      EXPECT_EQ(decide(rule, token, std::string_view("bob")) == Decision::allow,
                expect && (e.tokens || allowed.contains("anon")));
    }
  }
}

TEST(PermissionMatrix, TableAndTestListTheSameRoutes) {
  std::set<std::string> in_test, in_code;
  for (const auto& e : kExpected) in_test.insert(std::string(e.method) + " " + e.pattern);
  for (const auto& r : route_rules()) in_code.insert(std::string(r.method) + " " + std::string(r.pattern));
  EXPECT_EQ(in_test, in_code) << "update kExpected in this test with the new route and its roles";
}

TEST(PermissionMatrix, UnknownRouteIsDeniedToEveryone) {
  const RouteRule* rule = find_rule("GET", "/api/v1/not-in-the-table");
  EXPECT_EQ(rule, nullptr);
  for (Role role : kAllRoles) {
    EXPECT_EQ(decide(rule, Caller{role, "admin", false, false}, std::nullopt), Decision::not_in_matrix);
  }
  EXPECT_EQ(decide(rule, Caller{}, std::nullopt), Decision::not_in_matrix);
}

TEST(PermissionMatrix, HeadUsesGet) { EXPECT_EQ(find_rule("HEAD", "/healthz"), find_rule("GET", "/healthz")); }

TEST(PermissionMatrix, TotpEnrollmentPendingOnlyReachesEnrollment) {
  Caller pending{Role::admin, "alice", false, true};
  EXPECT_EQ(decide(find_rule("GET", "/api/v1/users"), pending, std::nullopt), Decision::forbidden);
  EXPECT_EQ(decide(find_rule("POST", "/api/v1/users/me/totp"), pending, std::nullopt), Decision::allow);
  EXPECT_EQ(decide(find_rule("PUT", "/api/v1/users/me/totp"), pending, std::nullopt), Decision::allow);
  EXPECT_EQ(decide(find_rule("GET", "/api/v1/session"), pending, std::nullopt), Decision::allow);
  EXPECT_EQ(decide(find_rule("DELETE", "/api/v1/session"), pending, std::nullopt), Decision::allow);
  // The password change it allows needs the rules.
  EXPECT_EQ(decide(find_rule("GET", "/api/v1/password-policy"), pending, std::nullopt), Decision::allow);
}

TEST(Roles, NamesAndCoverage) {
  for (Role r : kAllRoles) EXPECT_EQ(parse_role(to_string(r)), r);
  EXPECT_FALSE(parse_role("root"));
  for (Role r : kAllRoles) {
    EXPECT_TRUE(role_covers(Role::admin, r));
    EXPECT_TRUE(role_covers(r, r));
  }
  EXPECT_FALSE(role_covers(Role::operator_, Role::admin));
  EXPECT_FALSE(role_covers(Role::support, Role::issuer));
  EXPECT_TRUE(role_covers(Role::issuer, Role::support));  // issuer's rights include support's
  EXPECT_FALSE(role_covers(Role::auditor, Role::operator_));
}
