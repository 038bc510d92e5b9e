#include "auth/permissions.h"

#include <algorithm>
#include <array>

namespace privstack::auth {
namespace {

using P = Permission;

// ---------------------------------------------------------------------------
// Role -> permissions. admin has everything.
struct RoleRow {
  Role role;
  std::string_view name;
  std::span<const Permission> permissions;
};

constexpr Permission kAdmin[] = {
    P::authenticated, P::users_read,    P::users_manage,     P::tokens_manage_all, P::metrics_read,
    P::audit_read,    P::hostaudit_read, P::hostaudit_run,   P::incidents_read,    P::incidents_manage,
    P::backup_read,   P::backup_manage, P::records_read,     P::records_read_any,  P::records_export,
    P::records_grants_all, P::records_write, P::wallet_issue, P::wallet_manage,
};
// Backups, host audit, incidents; no users, no customer data.
constexpr Permission kOperator[] = {
    P::authenticated, P::metrics_read,   P::hostaudit_read, P::hostaudit_run,
    P::incidents_read, P::incidents_manage, P::backup_read, P::backup_manage,
};
// Read-only: audit log, findings, incidents (and who the users are).
constexpr Permission kAuditor[] = {
    P::authenticated, P::users_read, P::audit_read, P::hostaudit_read, P::incidents_read, P::metrics_read,
};
// Records, issuance while the wallet is unlocked.
constexpr Permission kIssuer[] = {P::authenticated, P::records_read, P::records_read_any, P::records_export,
                                  P::records_write, P::wallet_issue};
// Customer data read only, each access with a stated reason (it lacks
// records_read_any), one record at a time (no records_export).
constexpr Permission kSupport[] = {P::authenticated, P::records_read};

constexpr RoleRow kRoles[] = {
    {Role::admin, "admin", kAdmin},       {Role::operator_, "operator", kOperator},
    {Role::auditor, "auditor", kAuditor}, {Role::issuer, "issuer", kIssuer},
    {Role::support, "support", kSupport},
};

// ---------------------------------------------------------------------------
// THE route table: every (method, pattern) the daemon serves.
constexpr RouteRule kRouteRules[] = {
    // Health and metrics
    {"GET", "/healthz", P::anonymous},
    // The same states with each component's detail (internals: signed-in only)
    {"GET", "/api/v1/health", P::authenticated},
    {"GET", "/metrics", P::metrics_read},
    // Session (login is anonymous; it is throttled and CSRF-free by design:
    // it has no session yet, the Origin check still applies)
    {"POST", "/api/v1/session", P::anonymous},
    {"GET", "/api/v1/session", P::authenticated, kSessionOnly | kDuringEnrollment},
    {"DELETE", "/api/v1/session", P::authenticated, kSessionOnly | kDuringEnrollment},
    // Users
    {"GET", "/api/v1/users", P::users_read},
    {"POST", "/api/v1/users", P::users_manage, kSessionOnly},
    {"GET", "/api/v1/users/{name}", P::users_read, kSelf},
    {"PATCH", "/api/v1/users/{name}", P::users_manage, kSessionOnly},
    {"DELETE", "/api/v1/users/{name}", P::users_manage, kSessionOnly},
    {"PUT", "/api/v1/users/{name}/password", P::users_manage, kSelf | kSessionOnly | kDuringEnrollment},
    {"DELETE", "/api/v1/users/{name}/sessions", P::users_manage, kSelf | kSessionOnly},
    // TOTP of the signed-in user
    {"POST", "/api/v1/users/me/totp", P::authenticated, kSessionOnly | kDuringEnrollment},
    {"PUT", "/api/v1/users/me/totp", P::authenticated, kSessionOnly | kDuringEnrollment},
    {"DELETE", "/api/v1/users/me/totp", P::authenticated, kSessionOnly},
    // API tokens (own tokens; tokens_manage_all sees and revokes everyone's)
    // The rules a new password must meet, for the forms that set one (also
    // the password change a pending TOTP enrollment allows).
    {"GET", "/api/v1/password-policy", P::authenticated, kDuringEnrollment},
    {"GET", "/api/v1/tokens", P::authenticated, kSessionOnly},
    {"POST", "/api/v1/tokens", P::authenticated, kSessionOnly},
    {"DELETE", "/api/v1/tokens/{id}", P::authenticated, kSessionOnly},
    // Audit log (daemon/audit)
    {"GET", "/api/v1/audit", P::audit_read},
    {"GET", "/api/v1/audit/verify", P::audit_read},
    {"GET", "/api/v1/audit/export", P::audit_read},
    // Customer data (daemon/records). Support callers also need an access
    // grant with a stated reason (checked by the records module), and may not
    // bulk-export.
    {"GET", "/api/v1/recipients", P::records_read},
    {"POST", "/api/v1/recipients", P::records_write},
    {"GET", "/api/v1/recipients/{id}", P::records_read},
    {"PATCH", "/api/v1/recipients/{id}", P::records_write},
    {"DELETE", "/api/v1/recipients/{id}", P::records_write},
    {"GET", "/api/v1/results", P::records_read},
    {"POST", "/api/v1/results", P::records_write},
    {"GET", "/api/v1/results/{id}", P::records_read},
    {"PATCH", "/api/v1/results/{id}", P::records_write},
    {"DELETE", "/api/v1/results/{id}", P::records_write},
    {"GET", "/api/v1/records/access-grants", P::records_read},
    {"POST", "/api/v1/records/access-grants", P::records_read},
    {"GET", "/api/v1/export/records.csv", P::records_export},
    {"GET", "/api/v1/export/records.jsonl", P::records_export},
    {"POST", "/api/v1/import/records.csv", P::records_write},
    // Host audit (daemon/hostaudit)
    {"GET", "/api/v1/host-audit/scans", P::hostaudit_read},
    {"POST", "/api/v1/host-audit/scans", P::hostaudit_run},
    {"GET", "/api/v1/host-audit/scans/{id}", P::hostaudit_read},
    {"GET", "/api/v1/host-audit/findings", P::hostaudit_read},
    // Accepting a finding as a known risk: the roles that run the host audit.
    {"POST", "/api/v1/host-audit/acceptances", P::hostaudit_run},
    {"DELETE", "/api/v1/host-audit/acceptances", P::hostaudit_run},
    // Backups (daemon/backup)
    {"GET", "/api/v1/backups", P::backup_read},
    {"GET", "/api/v1/backups/runs", P::backup_read},
    {"POST", "/api/v1/backups", P::backup_manage},
    {"POST", "/api/v1/backups/verify", P::backup_manage},
    // Incidents (daemon/incidents)
    {"GET", "/api/v1/incidents", P::incidents_read},
    {"GET", "/api/v1/incidents/{id}", P::incidents_read},
    {"POST", "/api/v1/incidents/{id}/acknowledge", P::incidents_manage},
    {"POST", "/api/v1/incidents/{id}/resolve", P::incidents_manage},
    {"POST", "/api/v1/incidents/{id}/assign", P::incidents_manage},
    {"POST", "/api/v1/incidents/{id}/comments", P::incidents_manage},
    {"POST", "/api/v1/incidents/{id}/breach", P::incidents_manage},
    // Issuing wallet and credentials (daemon/wallet). Creating the wallet is
    // an administrator's console session (or the control socket): an API
    // token never receives a mnemonic. An unlock belongs to a console
    // session (closed at its logout).
    {"GET", "/api/v1/wallet", P::wallet_issue},
    {"POST", "/api/v1/wallet/init", P::wallet_manage, kSessionOnly},
    {"POST", "/api/v1/wallet/init/confirm", P::wallet_manage, kSessionOnly},
    {"POST", "/api/v1/wallet/unlock", P::wallet_issue, kSessionOnly},
    {"POST", "/api/v1/wallet/extend", P::wallet_issue, kSessionOnly},
    {"POST", "/api/v1/wallet/lock", P::wallet_issue},
    {"GET", "/api/v1/wallet/derive", P::wallet_issue},
    {"POST", "/api/v1/credentials/issue", P::wallet_issue},
    {"POST", "/api/v1/credentials/verify", P::authenticated},
    {"GET", "/api/v1/credentials/batches", P::wallet_issue},
    {"GET", "/api/v1/credentials/revocations", P::authenticated},
    {"GET", "/api/v1/credentials/{id}", P::wallet_issue},
    {"POST", "/api/v1/credentials/{id}/revoke", P::wallet_issue},
};

}  // namespace

std::string_view to_string(Permission permission) {
  switch (permission) {
    case P::anonymous: return "anonymous";
    case P::authenticated: return "authenticated";
    case P::users_read: return "users.read";
    case P::users_manage: return "users.manage";
    case P::tokens_manage_all: return "tokens.manage_all";
    case P::metrics_read: return "metrics.read";
    case P::audit_read: return "audit.read";
    case P::hostaudit_read: return "hostaudit.read";
    case P::hostaudit_run: return "hostaudit.run";
    case P::incidents_read: return "incidents.read";
    case P::incidents_manage: return "incidents.manage";
    case P::backup_read: return "backup.read";
    case P::backup_manage: return "backup.manage";
    case P::records_read: return "records.read";
    case P::records_read_any: return "records.read_any";
    case P::records_export: return "records.export";
    case P::records_grants_all: return "records.grants_all";
    case P::records_write: return "records.write";
    case P::wallet_issue: return "wallet.issue";
    case P::wallet_manage: return "wallet.manage";
  }
  return "unknown";
}

std::span<const Permission> permissions_of(Role role) {
  for (const auto& r : kRoles) {
    if (r.role == role) return r.permissions;
  }
  return {};
}

bool role_has(Role role, Permission permission) {
  if (permission == P::anonymous) return true;
  auto perms = permissions_of(role);
  return std::find(perms.begin(), perms.end(), permission) != perms.end();
}

bool role_covers(Role role, Role other) {
  for (Permission p : permissions_of(other)) {
    if (!role_has(role, p)) return false;
  }
  return true;
}

std::span<const RouteRule> route_rules() { return kRouteRules; }

const RouteRule* find_rule(std::string_view method, std::string_view pattern) {
  if (method == "HEAD") method = "GET";
  for (const auto& rule : kRouteRules) {
    if (rule.method == method && rule.pattern == pattern) return &rule;
  }
  return nullptr;
}

Decision decide(const RouteRule* rule, const Caller& caller, std::optional<std::string_view> name_param) {
  if (rule == nullptr) return Decision::not_in_matrix;
  if (rule->permission == P::anonymous) return Decision::allow;
  if (!caller.role) return Decision::unauthenticated;
  if ((rule->flags & kSessionOnly) && caller.via_token) return Decision::forbidden;
  if (caller.totp_enrollment_pending && !(rule->flags & kDuringEnrollment)) return Decision::forbidden;
  if (role_has(*caller.role, rule->permission)) return Decision::allow;
  if ((rule->flags & kSelf) && name_param && (*name_param == caller.user || *name_param == "me")) {
    return Decision::allow;
  }
  return Decision::forbidden;
}

}  // namespace privstack::auth
