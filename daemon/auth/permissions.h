// Roles, permissions, and THE permission matrix: one table in
// permissions.cpp maps every (method, route pattern) the daemon serves to
// the permission it needs, and one table maps each role to its permissions.
// A route that is not in the table is denied to everyone (fail closed); a
// unit test checks every route against every role and anonymous callers.
//
// Modules that add routes add their rows to kRouteRules in permissions.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace privstack::auth {

enum class Role { admin, operator_, auditor, issuer, support };
inline constexpr Role kAllRoles[] = {Role::admin, Role::operator_, Role::auditor, Role::issuer, Role::support};
std::string_view to_string(Role role);
std::optional<Role> parse_role(std::string_view name);

enum class Permission {
  anonymous,      // anyone, no credential needed
  authenticated,  // any signed-in user or API token
  users_read,
  users_manage,
  tokens_manage_all,  // see and revoke every user's API tokens
  metrics_read,
  audit_read,
  hostaudit_read,
  hostaudit_run,
  incidents_read,
  incidents_manage,
  backup_read,
  backup_manage,
  records_read,
  records_write,
  wallet_issue,
  wallet_manage,
};
std::string_view to_string(Permission permission);

bool role_has(Role role, Permission permission);
std::span<const Permission> permissions_of(Role role);
// True when `role`'s permissions include every permission of `other`: API
// tokens may only get a role no higher than their creator's.
bool role_covers(Role role, Role other);

// Route flags.
inline constexpr unsigned kSelf = 1;          // {name} equal to the caller (or "me") needs only `authenticated`
inline constexpr unsigned kSessionOnly = 2;   // not with an API token (console-only actions)
inline constexpr unsigned kDuringEnrollment = 4;  // allowed while TOTP enrollment is still required

struct RouteRule {
  std::string_view method;
  std::string_view pattern;
  Permission permission;
  unsigned flags = 0;
};

std::span<const RouteRule> route_rules();
// The rule for a route; HEAD uses GET's. nullptr when the route is missing
// from the table.
const RouteRule* find_rule(std::string_view method, std::string_view pattern);

// Who is asking, for decide().
struct Caller {
  std::optional<Role> role;  // nullopt: anonymous
  std::string user;
  bool via_token = false;
  bool totp_enrollment_pending = false;
};

enum class Decision { allow, unauthenticated, forbidden, not_in_matrix };

// The whole authorization rule in one function. `name_param` is the route's
// {name} parameter if it has one.
Decision decide(const RouteRule* rule, const Caller& caller, std::optional<std::string_view> name_param);

}  // namespace privstack::auth
