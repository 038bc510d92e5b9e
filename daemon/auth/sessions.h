// The console sessions in memory, by SHA-256 hex of the cookie value: expiry
// (idle timeout and lifetime), the per-user bound, the idle clock and when a
// touched session is worth writing back.
//
// Pure: no lock (AuthService's mutex guards the table), no clock (every
// call that needs the time takes `now`, Unix seconds), no I/O (a call whose
// change must reach the repository returns the record to write).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/repository.h"

namespace privstack::auth {

inline constexpr std::int64_t kTouchPersistSeconds = 60;  // last_seen is written at most this often
inline constexpr std::size_t kMaxSessionsPerUser = 50;   // beyond this a new login drops the oldest
inline constexpr std::int64_t kSweepIntervalSeconds = 60;  // expired sessions are swept at most this often

struct SessionLimits {
  std::chrono::seconds idle_timeout{std::chrono::minutes(30)};
  std::chrono::seconds lifetime{std::chrono::hours(12)};
};

// More than `idle_timeout` since last_seen, or more than `lifetime` since
// created_at (exactly the limit is still valid).
bool session_expired(const SessionRecord& s, std::int64_t now, const SessionLimits& limits);

// The X-CSRF-Token of the session whose cookie value is `session_token`.
std::string csrf_token(std::string_view session_token);

class SessionTable {
 public:
  explicit SessionTable(SessionLimits limits = {}) : limits_(limits) {}
  void set_limits(SessionLimits limits) { limits_ = limits; }
  const SessionLimits& limits() const { return limits_; }

  // Replaces the table with the stored sessions that have not expired.
  void load(std::vector<SessionRecord> stored, std::int64_t now);

  // A new session of `user` (sweeps first; when the user already holds
  // kMaxSessionsPerUser, the oldest are dropped to make room). Counts as
  // persisted now: the caller writes the returned record.
  SessionRecord create(std::string token_hash, std::string user, bool totp_pending, std::int64_t now);

  // The session, or nullptr when there is none or it expired (an expired
  // session is removed here; its row goes at the next write).
  const SessionRecord* lookup(const std::string& token_hash, std::int64_t now);
  // The session as it is, expired or not.
  const SessionRecord* find(const std::string& token_hash) const;

  // Moves the idle clock to `now`. Returns the record when it should be
  // written back: kTouchPersistSeconds or more since it was last written.
  std::optional<SessionRecord> touch(const std::string& token_hash, std::int64_t now);

  void erase(const std::string& token_hash);
  // Every session of `user` except `keep_hash` (empty: keep none).
  void revoke_all_but(const std::string& user, const std::string& keep_hash);
  // The user's sessions that waited for TOTP enrollment no longer do;
  // returns them, to be written.
  std::vector<SessionRecord> finish_enrollment(const std::string& user);

  // Removes the expired sessions, at most once per kSweepIntervalSeconds;
  // returns how many went.
  std::size_t sweep(std::int64_t now);

  std::size_t size() const { return entries_.size(); }
  std::size_t count_of(const std::string& user) const;

 private:
  struct Entry {
    SessionRecord record;
    std::int64_t persisted_seen = 0;  // last_seen as stored
  };

  SessionLimits limits_;
  std::unordered_map<std::string, Entry> entries_;  // by token hash
  std::int64_t last_sweep_ = 0;
};

}  // namespace privstack::auth
