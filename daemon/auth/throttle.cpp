#include "auth/throttle.h"

#include <algorithm>

namespace privstack::auth {

void Throttle::set_settings(Settings settings) {
  std::lock_guard lock(mutex_);
  settings_ = settings;
}

Throttle::Verdict Throttle::check(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return {};
  Entry& e = it->second;
  if (now - e.last_failure > settings_.lockout && now >= e.next_allowed) {
    entries_.erase(it);  // quiet for a whole lockout period: forgotten
    return {};
  }
  if (now >= e.next_allowed) {
    if (e.failures >= settings_.threshold) {
      e.failures = 0;  // the lockout has run out: a fresh start
    }
    return {};
  }
  auto left = std::chrono::ceil<std::chrono::seconds>(e.next_allowed - now);
  return {false, e.failures >= settings_.threshold, std::max(left, std::chrono::seconds(1))};
}

bool Throttle::record_failure(const std::string& key, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (entries_.size() >= settings_.max_keys && !entries_.contains(key)) prune(now);
  Entry& e = entries_[key];
  if (e.failures > 0 && now - e.last_failure > settings_.lockout && now >= e.next_allowed) e.failures = 0;
  if (e.failures >= settings_.threshold && now >= e.next_allowed) e.failures = 0;  // lockout over
  ++e.failures;
  e.last_failure = now;
  if (e.failures >= settings_.threshold) {
    e.next_allowed = now + settings_.lockout;
    return e.failures == settings_.threshold;
  }
  auto delay = settings_.base_delay * (1LL << std::min(e.failures - 1, 20));
  e.next_allowed = now + std::min<std::chrono::milliseconds>(delay, settings_.max_delay);
  return false;
}

void Throttle::record_success(const std::string& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key);
}

void Throttle::prune(Clock::time_point now) {
  // Drop everything that no longer restricts anyone; if that is not enough,
  // drop the oldest half (an attacker spraying keys cannot grow us forever).
  std::erase_if(entries_, [&](const auto& kv) {
    return kv.second.next_allowed <= now && now - kv.second.last_failure > settings_.lockout;
  });
  if (entries_.size() < settings_.max_keys) return;
  std::vector<Clock::time_point> times;
  times.reserve(entries_.size());
  for (const auto& [k, e] : entries_) times.push_back(e.last_failure);
  auto mid = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
  std::nth_element(times.begin(), mid, times.end());
  Clock::time_point cutoff = *mid;
  std::erase_if(entries_, [&](const auto& kv) { return kv.second.last_failure <= cutoff; });
}

Throttle::Settings account_throttle_settings(int lockout_threshold, std::chrono::seconds lockout_duration) {
  Throttle::Settings t;
  t.threshold = lockout_threshold;
  t.lockout = lockout_duration;
  return t;
}

Throttle::Settings address_throttle_settings(int lockout_threshold, std::chrono::seconds lockout_duration) {
  Throttle::Settings t;
  t.threshold = lockout_threshold * 4;
  t.lockout = lockout_duration;
  t.base_delay = std::chrono::milliseconds(100);
  return t;
}

}  // namespace privstack::auth
