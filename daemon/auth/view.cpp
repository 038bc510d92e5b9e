#include "auth/view.h"

#include <boost/json.hpp>

#include <algorithm>

#include "auth/password.h"
#include "core/error.h"
#include "core/time.h"

namespace privstack::auth {

namespace json = boost::json;

namespace {

// RFC 3339, or "" for "never" (0).
std::string iso8601(std::int64_t t) { return t <= 0 ? std::string() : format_rfc3339(t); }

}  // namespace

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
  json::object o{{"name", u.name},
                 {"role", to_string(u.role)},
                 {"locked", u.locked},
                 {"totp_enabled", u.totp_enabled},
                 {"created_at", iso8601(u.created_at)},
                 {"password_changed_at", iso8601(u.password_changed_at)}};
  o["last_sign_in"] = u.last_sign_in_at > 0 ? json::value(json::object{{"at", iso8601(u.last_sign_in_at)},
                                                                       {"method", u.last_sign_in_method}})
                                            : json::value(nullptr);
  return o;
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

json::object session_json(const std::string& csrf, const UserRecord& u, std::int64_t expires, std::chrono::seconds idle,
                          bool pending) {
  return {{"csrf_token", csrf},
          {"user", json::object{{"name", u.name}, {"role", to_string(u.role)}}},
          {"expires_at", iso8601(expires)},
          {"idle_timeout_seconds", idle.count()},
          {"totp_enrollment_required", pending}};
}

json::object password_policy_json() {
  return {{"min_length", static_cast<std::int64_t>(kMinPasswordLength)},
          {"max_bytes", static_cast<std::int64_t>(kMaxPasswordBytes)},
          {"min_character_classes", kMinPasswordClasses},
          {"any_classes_from_length", static_cast<std::int64_t>(kClassesWaivedLength)},
          {"user_name_substring_from_length", static_cast<std::int64_t>(kUserNameInPasswordMin)},
          {"rejects_repeated_pattern", true},
          {"rejects_common", true}};
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

}  // namespace privstack::auth
