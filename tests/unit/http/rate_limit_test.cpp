#include <gtest/gtest.h>

#include "http/rate_limit.h"

using namespace privstack::http;
using namespace std::chrono_literals;

TEST(RateLimiter, BurstThenSustainedRate) {
  RateLimiter limiter(10, 5);  // 10/s, burst 5
  auto now = RateLimiter::Clock::now();
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(limiter.allow("a", now)) << i;
  EXPECT_FALSE(limiter.allow("a", now));
  EXPECT_TRUE(limiter.allow("b", now));  // per key
  EXPECT_FALSE(limiter.allow("a", now + 50ms));
  EXPECT_TRUE(limiter.allow("a", now + 100ms));  // one token per 100 ms
  EXPECT_FALSE(limiter.allow("a", now + 100ms));
  // Refills up to the burst only.
  int allowed = 0;
  for (int i = 0; i < 20; ++i) allowed += limiter.allow("a", now + 10s) ? 1 : 0;
  EXPECT_EQ(allowed, 5);
}

TEST(RateLimiter, DisabledAllowsEverything) {
  RateLimiter limiter(0, 0);
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(limiter.allow("a"));
  EXPECT_FALSE(limiter.enabled());
}

TEST(RateLimiter, BoundedKeys) {
  RateLimiter limiter(1, 1, 100);
  auto now = RateLimiter::Clock::now();
  for (int i = 0; i < 10000; ++i) limiter.allow("k" + std::to_string(i), now);
  EXPECT_FALSE(limiter.allow("k9999", now));
}
