// API token rules: reading the Bearer token from Authorization, whether a
// token may be used now (expiry, its owner's state and role), and how often
// a token's use is logged.
//
// Pure: no lock, no clock (`now` is Unix seconds), no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/repository.h"

namespace privstack::auth {

inline constexpr std::int64_t kTokenUsedLogSeconds = 60;  // auth.token_used at most this often per token
inline constexpr std::int64_t kMaxTokenDays = 366;        // longest expires_in_days

// The token of an Authorization header "Bearer TOKEN" (or "bearer TOKEN");
// nullopt for any other scheme or a header too short to hold one. "Bearer "
// alone gives an empty token (which matches no token).
std::optional<std::string_view> bearer_token(std::string_view authorization);

// Expired at `now`: an expiry is set (0 is never) and reached.
bool token_expired(const TokenRecord& token, std::int64_t now);

enum class TokenVerdict {
  valid,
  expired,
  no_owner,      // the owner was deleted
  owner_locked,
  owner_demoted,  // the owner's role no longer covers the token's
};

// Whether `token` may be used at `now` by its owner `owner` (nullptr: no
// such user). A token never has more rights than its owner has now.
TokenVerdict check_token(const TokenRecord& token, const UserRecord* owner, std::int64_t now);

// Rate limit of the auth.token_used log: once per token per
// kTokenUsedLogSeconds.
class TokenUseLog {
 public:
  // True when a use of token `id` at `now` is to be logged (and records it).
  bool due(const std::string& id, std::int64_t now);

 private:
  std::unordered_map<std::string, std::int64_t> logged_;  // id -> last token_used log
};

}  // namespace privstack::auth
