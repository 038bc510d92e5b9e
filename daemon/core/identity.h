// Who is calling: the typed identity that authentication produces and every
// handler receives. Nothing downstream parses a role or an actor back from
// text: the role is an enum, the way in is an enum, and the audit log's actor
// text is derived from this value in one function (audit::actor_of).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace privstack {

enum class Role { admin, operator_, auditor, issuer, support };
inline constexpr Role kAllRoles[] = {Role::admin, Role::operator_, Role::auditor, Role::issuer, Role::support};
// "admin", "operator", "auditor", "issuer", "support".
std::string_view to_string(Role role);
std::optional<Role> parse_role(std::string_view name);

// How the caller proved who they are.
enum class AuthMethod {
  session,         // the console's session cookie
  api_token,       // Authorization: Bearer
  control_socket,  // privstackctl on the local socket (SO_PEERCRED)
};
std::string_view to_string(AuthMethod method);

struct Identity {
  std::string user;  // account name; empty for the control socket
  // The effective role: for an API token, the token's own role (its scope,
  // never above its creator's); for the control socket, admin.
  Role role = Role::support;
  AuthMethod method = AuthMethod::session;
  std::string token_id;  // api_token only
  unsigned uid = 0;      // control_socket only: the peer's uid

  static Identity local(unsigned uid) { return Identity{{}, Role::admin, AuthMethod::control_socket, {}, uid}; }
};

}  // namespace privstack
