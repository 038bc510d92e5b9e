// TOTP (RFC 6238): HMAC-SHA-1, 6 digits, 30-second steps, one step of clock
// skew either way, and no code accepted twice (the caller keeps the last
// step that was used and passes it back).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace privstack::auth {

inline constexpr int kTotpDigits = 6;
inline constexpr std::int64_t kTotpStep = 30;

// RFC 4226 HOTP value for `counter`, `digits` long with leading zeros.
std::string hotp(const std::vector<std::uint8_t>& key, std::uint64_t counter, int digits = kTotpDigits);
// The code for Unix time `now`.
std::string totp_code(const std::vector<std::uint8_t>& key, std::int64_t now);

// Checks `code` against the steps now-1, now, now+1 that are later than
// `last_used_step`; returns the matching step (store it as the new
// last_used_step) or nullopt.
std::optional<std::int64_t> totp_verify(const std::vector<std::uint8_t>& key, std::string_view code,
                                        std::int64_t now, std::int64_t last_used_step);

// A new random 160-bit TOTP key.
std::vector<std::uint8_t> new_totp_key();

// otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30
std::string otpauth_uri(std::string_view issuer, std::string_view account, const std::vector<std::uint8_t>& key);

// Recovery codes: `count` codes like "k7gq-2mxp-9tdw" (60 bits each).
std::vector<std::string> new_recovery_codes(int count = 10);
// Canonical form for hashing: lower case, separators removed.
std::string normalize_recovery_code(std::string_view code);

}  // namespace privstack::auth
