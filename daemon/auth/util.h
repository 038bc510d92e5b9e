// Small cryptographic helpers shared by the auth module: randomness,
// encodings, hashing and constant-time comparison. All randomness comes from
// OpenSSL's CSPRNG (RAND_bytes); a failure there throws, never degrades.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace privstack::auth {

std::vector<std::uint8_t> random_bytes(std::size_t n);
// `n` random bytes, base64url without padding (256-bit tokens: n = 32).
std::string random_token(std::size_t n = 32);

std::string base64url(const std::uint8_t* data, std::size_t size);
std::string hex(const std::uint8_t* data, std::size_t size);
// SHA-256 of `data` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);
// HMAC-SHA256(key, data) as base64url.
std::string hmac_sha256_b64(std::string_view key, std::string_view data);

// Compares in time that depends only on the lengths.
bool constant_time_equals(std::string_view a, std::string_view b);

// RFC 4648 base32 (upper case, no padding on output; padding and lower case
// accepted on input).
std::string base32_encode(const std::vector<std::uint8_t>& data);
std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text);

std::int64_t unix_now();

}  // namespace privstack::auth
