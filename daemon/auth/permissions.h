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

#include "core/identity.h"

namespace privstack::auth {

// Roles are core's (core/identity.h): every module sees the caller's role.
using privstack::kAllRoles;
using privstack::parse_role;
using privstack::Role;
using privstack::to_string;

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
  records_read_any,     // read customer data without a stated reason (support lacks it)
  records_export,       // bulk export (not a support task)
  records_grants_all,   // see every user's support-access grants, not only one's own
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
