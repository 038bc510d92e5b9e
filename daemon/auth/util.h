// Small cryptographic helpers of the auth module: tokens, hashing and TOTP's
// base32. Randomness, hex/base64url and constant-time comparison are the
// shared ones (core/crypto.h, core/encoding.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace privstack::auth {

// `n` random bytes, base64url without padding (256-bit tokens: n = 32).
std::string random_token(std::size_t n = 32);

// SHA-256 of `data` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);
// HMAC-SHA256(key, data) as base64url.
std::string hmac_sha256_b64(std::string_view key, std::string_view data);

// RFC 4648 base32 (upper case, no padding on output; padding and lower case
// accepted on input).
std::string base32_encode(const std::vector<std::uint8_t>& data);
std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text);

}  // namespace privstack::auth
