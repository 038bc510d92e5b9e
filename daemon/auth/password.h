// Password hashing (Argon2id, PHC string format) and the password policy.
//
// Hashing is deliberately slow (tens of milliseconds, 19 MiB): never call
// these on an io thread; AuthService runs them on the blocking pool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace privstack::auth {

struct Argon2Params {
  std::uint32_t memory_kib = 19 * 1024;  // OWASP minimum for Argon2id: 19 MiB
  std::uint32_t iterations = 2;
  std::uint32_t parallelism = 1;
  std::uint32_t salt_bytes = 16;  // per hash, from the CSPRNG
  std::uint32_t hash_bytes = 32;
};

// "$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"
std::string hash_password(std::string_view password, const Argon2Params& params = {});
// False for a wrong password and for a malformed or non-Argon2id hash.
bool verify_password(std::string_view phc, std::string_view password);
// True when `phc` was made with other parameters than `params` (or is not
// Argon2id v19): rehash after the next successful login.
bool needs_rehash(std::string_view phc, const Argon2Params& params = {});

// Longest accepted password (bytes): bounds hashing work per request.
inline constexpr std::size_t kMaxPasswordBytes = 1024;
inline constexpr std::size_t kMinPasswordLength = 12;  // characters (code points)
// Character classes: lower case, upper case, digits, others (ASCII letters
// and digits; everything else is "other").
inline constexpr int kMinPasswordClasses = 3;
inline constexpr std::size_t kClassesWaivedLength = 16;  // this long, any classes do
// A user name this long or longer must not occur in the password at all
// (a shorter one: the password must not be it).
inline constexpr std::size_t kUserNameInPasswordMin = 4;

// Why `password` is not acceptable for `username`, or nullopt. The reason is
// safe to show the user. GET /api/v1/password-policy publishes the rules
// (view.h: password_policy_json) so that the console checks them as the
// user types; the common-password list stays here. Rules: at least 12 characters; at least three of
// lower case, upper case, digits, other characters, unless 16 or more
// characters long; not the user name (nor containing it); not in the bundled
// list of common passwords, also after stripping leading and trailing digits
// and punctuation ("Password2024!" is "password").
std::optional<std::string> password_policy_violation(std::string_view password, std::string_view username);

// Case-insensitive membership in the bundled common-password list.
bool is_common_password(std::string_view password);

}  // namespace privstack::auth
