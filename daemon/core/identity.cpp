#include "core/identity.h"

namespace privstack {
namespace {

struct RoleName {
  Role role;
  std::string_view name;
};
constexpr RoleName kRoleNames[] = {
    {Role::admin, "admin"},   {Role::operator_, "operator"}, {Role::auditor, "auditor"},
    {Role::issuer, "issuer"}, {Role::support, "support"},
};

}  // namespace

std::string_view to_string(Role role) {
  for (const RoleName& r : kRoleNames) {
    if (r.role == role) return r.name;
  }
  return "unknown";
}

std::optional<Role> parse_role(std::string_view name) {
  for (const RoleName& r : kRoleNames) {
    if (r.name == name) return r.role;
  }
  return std::nullopt;
}

std::string_view to_string(AuthMethod method) {
  switch (method) {
    case AuthMethod::session: return "session";
    case AuthMethod::api_token: return "api_token";
    case AuthMethod::control_socket: return "control_socket";
  }
  return "unknown";
}

}  // namespace privstack
