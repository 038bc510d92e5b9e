// Login throttling: exponential backoff after each failure and a temporary
// lockout after `threshold` consecutive failures, per key (an account name
// or a source address). In memory: a restart forgets it, which is fine for
// a lockout measured in minutes. Thread-safe; bounded in size.
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace privstack::auth {

class Throttle {
 public:
  using Clock = std::chrono::steady_clock;

  struct Settings {
    int threshold = 5;                          // failures before a lockout
    std::chrono::seconds lockout{15 * 60};      // how long a lockout lasts
    std::chrono::milliseconds base_delay{250};  // backoff after the first failure, doubling
    std::chrono::milliseconds max_delay{8000};
    std::size_t max_keys = 100000;  // oldest entries are dropped beyond this
  };

  struct Verdict {
    bool allowed = true;
    bool locked_out = false;                // in a lockout (not just backing off)
    std::chrono::seconds retry_after{0};    // when not allowed
  };

  explicit Throttle(Settings settings) : settings_(settings) {}
  void set_settings(Settings settings);

  Verdict check(const std::string& key, Clock::time_point now = Clock::now());
  // Returns true when this failure started a lockout.
  bool record_failure(const std::string& key, Clock::time_point now = Clock::now());
  void record_success(const std::string& key);
  void clear(const std::string& key) { record_success(key); }

 private:
  struct Entry {
    int failures = 0;
    Clock::time_point next_allowed{};
    Clock::time_point last_failure{};
  };
  void prune(Clock::time_point now);

  std::mutex mutex_;
  Settings settings_;
  std::unordered_map<std::string, Entry> entries_;
};

// The login throttles' settings from the configured lockout (auth.lockout_*).
// Per account: as configured.
Throttle::Settings account_throttle_settings(int lockout_threshold, std::chrono::seconds lockout_duration);
// Per source address: four times the threshold (several users behind one
// NAT mistype too) and a 100 ms first delay.
Throttle::Settings address_throttle_settings(int lockout_threshold, std::chrono::seconds lockout_duration);

// The throttle keys of an account name and of a source address (one
// namespace: a user name cannot collide with an address).
inline std::string account_throttle_key(std::string_view user) { return "u:" + std::string(user); }
inline std::string address_throttle_key(std::string_view remote) { return "a:" + std::string(remote); }

}  // namespace privstack::auth
