#include "auth/sessions.h"

#include <algorithm>
#include <utility>

#include "auth/util.h"

namespace privstack::auth {

namespace {
constexpr std::string_view kCsrfLabel = "privstack-csrf-v1";
}  // namespace

bool session_expired(const SessionRecord& s, std::int64_t now, const SessionLimits& limits) {
  return now - s.last_seen > limits.idle_timeout.count() || now - s.created_at > limits.lifetime.count();
}

std::string csrf_token(std::string_view session_token) { return hmac_sha256_b64(session_token, kCsrfLabel); }

void SessionTable::load(std::vector<SessionRecord> stored, std::int64_t now) {
  entries_.clear();
  for (auto& s : stored) {
    if (session_expired(s, now, limits_)) continue;
    std::int64_t seen = s.last_seen;
    std::string hash = s.token_hash;
    entries_[hash] = Entry{std::move(s), seen};
  }
}

SessionRecord SessionTable::create(std::string token_hash, std::string user, bool totp_pending, std::int64_t now) {
  sweep(now);
  // Bound the sessions one account can hold: drop its oldest.
  std::vector<std::pair<std::int64_t, std::string>> mine;
  for (const auto& [h, e] : entries_) {
    if (e.record.user == user) mine.emplace_back(e.record.created_at, h);
  }
  if (mine.size() >= kMaxSessionsPerUser) {
    std::sort(mine.begin(), mine.end());
    for (size_t i = 0; i + kMaxSessionsPerUser <= mine.size(); ++i) entries_.erase(mine[i].second);
  }
  SessionRecord record{std::move(token_hash), std::move(user), now, now, totp_pending};
  entries_[record.token_hash] = Entry{record, now};
  return record;
}

const SessionRecord* SessionTable::lookup(const std::string& token_hash, std::int64_t now) {
  auto it = entries_.find(token_hash);
  if (it == entries_.end()) return nullptr;
  if (session_expired(it->second.record, now, limits_)) {
    entries_.erase(it);
    return nullptr;
  }
  return &it->second.record;
}

const SessionRecord* SessionTable::find(const std::string& token_hash) const {
  auto it = entries_.find(token_hash);
  return it == entries_.end() ? nullptr : &it->second.record;
}

std::optional<SessionRecord> SessionTable::touch(const std::string& token_hash, std::int64_t now) {
  auto it = entries_.find(token_hash);
  if (it == entries_.end()) return std::nullopt;
  Entry& e = it->second;
  e.record.last_seen = now;
  if (now - e.persisted_seen < kTouchPersistSeconds) return std::nullopt;
  e.persisted_seen = now;
  return e.record;
}

void SessionTable::erase(const std::string& token_hash) { entries_.erase(token_hash); }

void SessionTable::revoke_all_but(const std::string& user, const std::string& keep_hash) {
  std::erase_if(entries_, [&](const auto& kv) { return kv.second.record.user == user && kv.first != keep_hash; });
}

std::vector<SessionRecord> SessionTable::finish_enrollment(const std::string& user) {
  std::vector<SessionRecord> changed;
  for (auto& [h, e] : entries_) {
    if (e.record.user == user && e.record.totp_enrollment_pending) {
      e.record.totp_enrollment_pending = false;
      changed.push_back(e.record);
    }
  }
  return changed;
}

std::size_t SessionTable::sweep(std::int64_t now) {
  if (now - last_sweep_ < kSweepIntervalSeconds) return 0;
  last_sweep_ = now;
  return std::erase_if(entries_, [&](const auto& kv) { return session_expired(kv.second.record, now, limits_); });
}

std::size_t SessionTable::count_of(const std::string& user) const {
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(), [&](const auto& kv) { return kv.second.record.user == user; }));
}

}  // namespace privstack::auth
