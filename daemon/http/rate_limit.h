// A token-bucket rate limiter keyed by a string (a client address). Used by
// the server for the per-address request rate; thread-safe; memory bounded
// (idle buckets are full again and are dropped).
#pragma once

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace privstack::http {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `rate` tokens per second, bucket size `burst`. rate <= 0 disables.
  RateLimiter(double rate, double burst, std::size_t max_keys = 65536);

  // Takes one token for `key`; false when its bucket is empty.
  bool allow(const std::string& key, Clock::time_point now = Clock::now());
  // Seconds until `key` has a token again (at least 1).
  int retry_after_seconds() const;
  bool enabled() const { return rate_ > 0; }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point updated;
  };
  void prune(Clock::time_point now);

  double rate_;
  double burst_;
  std::size_t max_keys_;
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace privstack::http
