#include "auth/second_factor.h"

#include <algorithm>

#include "auth/totp.h"
#include "auth/util.h"
#include "core/crypto.h"

namespace privstack::auth {

bool totp_required_for(const std::vector<Role>& required, Role role) {
  return std::find(required.begin(), required.end(), role) != required.end();
}

bool totp_enrollment_pending(const UserRecord& user, const std::vector<Role>& required) {
  return !user.totp_enabled && totp_required_for(required, user.role);
}

std::string recovery_code_hash(std::string_view code) { return sha256_hex(normalize_recovery_code(code)); }

SecondFactor verify_second_factor(UserRecord& u, std::string_view code, std::int64_t now) {
  auto key = base32_decode(u.totp_secret);
  if (code.size() == 6 && key) {
    if (auto step = totp_verify(*key, code, now, u.totp_last_step)) {
      u.totp_last_step = *step;
      return SecondFactor::totp;
    }
    return SecondFactor::rejected;
  }
  std::string h = recovery_code_hash(code);
  auto rc = std::find_if(u.recovery_codes.begin(), u.recovery_codes.end(),
                         [&](const std::string& c) { return constant_time_equals(c, h); });
  if (rc == u.recovery_codes.end()) return SecondFactor::rejected;
  u.recovery_codes.erase(rc);
  return SecondFactor::recovery_code;
}

void begin_totp_enrollment(UserRecord& u, const std::vector<std::uint8_t>& key,
                           const std::vector<std::string>& recovery_codes) {
  u.totp_secret = base32_encode(key);
  u.totp_last_step = -1;
  u.recovery_codes.clear();
  for (const auto& c : recovery_codes) u.recovery_codes.push_back(recovery_code_hash(c));
}

Enrollment confirm_totp_enrollment(UserRecord& u, std::string_view code, std::int64_t now) {
  if (u.totp_enabled) return Enrollment::already_enabled;
  auto key = base32_decode(u.totp_secret);
  if (u.totp_secret.empty() || !key) return Enrollment::not_started;
  auto step = totp_verify(*key, code, now, u.totp_last_step);
  if (!step) return Enrollment::wrong_code;
  u.totp_enabled = true;
  u.totp_last_step = *step;
  return Enrollment::confirmed;
}

void disable_totp(UserRecord& u) {
  u.totp_enabled = false;
  u.totp_secret.clear();
  u.recovery_codes.clear();
}

}  // namespace privstack::auth
