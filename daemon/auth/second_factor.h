// The second factor's rules on a user record: which roles must have TOTP,
// checking a login's code (TOTP, or a recovery code used once), and the
// enrollment (start, confirm with a first code, disable).
//
// Pure: no lock, no clock (`now` is Unix seconds), no I/O; the caller stores
// the record a call changed. The TOTP algorithm itself is totp.h.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "auth/permissions.h"
#include "auth/repository.h"

namespace privstack::auth {

// Whether `role` is one of `required` (auth.require_totp_for_roles).
bool totp_required_for(const std::vector<Role>& required, Role role);
// A new session of `user` waits for TOTP enrollment: the role requires TOTP
// and the user has none yet.
bool totp_enrollment_pending(const UserRecord& user, const std::vector<Role>& required);

// How a recovery code is stored: SHA-256 hex of its canonical form.
std::string recovery_code_hash(std::string_view code);

enum class SecondFactor { rejected, totp, recovery_code };

// A login's second factor for `user` (who has TOTP enabled): six
// characters are a TOTP code, accepted once (its step becomes
// totp_last_step, so neither it nor an earlier one is accepted again);
// anything else is a recovery code, removed when it matches.
SecondFactor verify_second_factor(UserRecord& user, std::string_view code, std::int64_t now);

// Starts an enrollment: the new key (base32 in totp_secret), no step used
// yet, and the hashes of the new recovery codes. TOTP is not enabled until
// confirm_totp_enrollment() accepts a first code.
void begin_totp_enrollment(UserRecord& user, const std::vector<std::uint8_t>& key,
                           const std::vector<std::string>& recovery_codes);

enum class Enrollment { confirmed, already_enabled, not_started, wrong_code };

// Confirms a pending enrollment with a current code from the device; on
// `confirmed` TOTP is enabled and the code's step is used up.
Enrollment confirm_totp_enrollment(UserRecord& user, std::string_view code, std::int64_t now);

// TOTP off: no key, no recovery codes.
void disable_totp(UserRecord& user);

}  // namespace privstack::auth
