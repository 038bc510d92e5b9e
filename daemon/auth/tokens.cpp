#include "auth/tokens.h"

namespace privstack::auth {

std::optional<std::string_view> bearer_token(std::string_view v) {
  if (v.size() < 7 || !(v.substr(0, 7) == "Bearer " || v.substr(0, 7) == "bearer ")) return std::nullopt;
  return v.substr(7);
}

bool token_expired(const TokenRecord& token, std::int64_t now) {
  return token.expires_at > 0 && now >= token.expires_at;
}

TokenVerdict check_token(const TokenRecord& token, const UserRecord* owner, std::int64_t now) {
  if (token_expired(token, now)) return TokenVerdict::expired;
  if (!owner) return TokenVerdict::no_owner;
  if (owner->locked) return TokenVerdict::owner_locked;
  if (!role_covers(owner->role, token.role)) return TokenVerdict::owner_demoted;
  return TokenVerdict::valid;
}

bool TokenUseLog::due(const std::string& id, std::int64_t now) {
  auto& logged = logged_[id];
  if (now - logged < kTokenUsedLogSeconds) return false;
  logged = now;
  return true;
}

}  // namespace privstack::auth
