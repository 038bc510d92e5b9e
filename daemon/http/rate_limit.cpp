#include "http/rate_limit.h"

#include <algorithm>
#include <cmath>

namespace privstack::http {

RateLimiter::RateLimiter(double rate, double burst, std::size_t max_keys)
    : rate_(rate), burst_(std::max(burst, 1.0)), max_keys_(max_keys) {}

bool RateLimiter::allow(const std::string& key, Clock::time_point now) {
  if (rate_ <= 0) return true;
  std::lock_guard lock(mutex_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) prune(now);
    it = buckets_.emplace(key, Bucket{burst_, now}).first;
  }
  Bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.updated).count();
  if (elapsed > 0) {
    b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
    b.updated = now;
  }
  if (b.tokens < 1.0) return false;
  b.tokens -= 1.0;
  return true;
}

int RateLimiter::retry_after_seconds() const {
  if (rate_ <= 0) return 1;
  return std::max(1, static_cast<int>(std::ceil(1.0 / rate_)));
}

void RateLimiter::prune(Clock::time_point now) {
  // A bucket that would be full by now carries no state: drop it.
  std::erase_if(buckets_, [&](const auto& kv) {
    double elapsed = std::chrono::duration<double>(now - kv.second.updated).count();
    return kv.second.tokens + elapsed * rate_ >= burst_;
  });
  if (buckets_.size() >= max_keys_) buckets_.clear();  // under a spray of addresses: forget all
}

}  // namespace privstack::http
