#include <gtest/gtest.h>

#include "auth/throttle.h"

using namespace privstack::auth;
using namespace std::chrono_literals;

TEST(Throttle, BackoffDoublesThenLocksOut) {
  Throttle t({.threshold = 4, .lockout = 60s, .base_delay = 1000ms, .max_delay = 8000ms});
  auto now = Throttle::Clock::now();
  EXPECT_TRUE(t.check("u", now).allowed);
  EXPECT_FALSE(t.record_failure("u", now));  // next allowed +1 s
  EXPECT_FALSE(t.check("u", now + 500ms).allowed);
  EXPECT_TRUE(t.check("u", now + 1000ms).allowed);
  now += 1000ms;
  t.record_failure("u", now);  // +2 s
  EXPECT_FALSE(t.check("u", now + 1900ms).allowed);
  EXPECT_TRUE(t.check("u", now + 2000ms).allowed);
  now += 2000ms;
  t.record_failure("u", now);  // +4 s
  EXPECT_EQ(t.check("u", now).retry_after, 4s);
  now += 4000ms;
  EXPECT_TRUE(t.record_failure("u", now));  // 4th: lockout
  auto v = t.check("u", now + 1s);
  EXPECT_FALSE(v.allowed);
  EXPECT_TRUE(v.locked_out);
  EXPECT_EQ(v.retry_after, 59s);
  EXPECT_TRUE(t.check("u", now + 60s).allowed);  // released after the window
  EXPECT_FALSE(t.record_failure("u", now + 61s));  // and counting starts over
  EXPECT_TRUE(t.check("other", now).allowed);  // keys are independent
}

TEST(Throttle, SuccessClears) {
  Throttle t({.threshold = 2, .lockout = 60s, .base_delay = 1000ms});
  auto now = Throttle::Clock::now();
  t.record_failure("u", now);
  t.record_success("u");
  EXPECT_TRUE(t.check("u", now).allowed);
}

TEST(Throttle, BoundedMemory) {
  Throttle t({.threshold = 5, .lockout = 60s, .base_delay = 10ms, .max_keys = 100});
  auto now = Throttle::Clock::now();
  for (int i = 0; i < 1000; ++i) t.record_failure("k" + std::to_string(i), now + std::chrono::milliseconds(i));
  // The newest keys are still tracked.
  EXPECT_FALSE(t.check("k999", now + 999ms).allowed);
}

TEST(ThrottleSettings, AccountIsAsConfigured) {
  Throttle::Settings s = account_throttle_settings(5, 15min);
  EXPECT_EQ(s.threshold, 5);
  EXPECT_EQ(s.lockout, 15min);
  EXPECT_EQ(s.base_delay, Throttle::Settings{}.base_delay);
  EXPECT_EQ(s.max_delay, Throttle::Settings{}.max_delay);
}

TEST(ThrottleSettings, AddressAllowsFourTimesTheFailuresWithAShorterFirstDelay) {
  Throttle::Settings s = address_throttle_settings(5, 15min);
  EXPECT_EQ(s.threshold, 20);
  EXPECT_EQ(s.lockout, 15min);
  EXPECT_EQ(s.base_delay, 100ms);
  EXPECT_EQ(s.max_delay, Throttle::Settings{}.max_delay);
  EXPECT_EQ(address_throttle_settings(1, 60s).threshold, 4);
}

TEST(ThrottleSettings, AddressLocksOutAtFourTimesTheThreshold) {
  Throttle address(address_throttle_settings(2, 60s));
  auto now = Throttle::Clock::now();
  for (int i = 1; i < 8; ++i) {
    EXPECT_FALSE(address.record_failure("a:192.0.2.7", now)) << i;
    now += 10s;  // past each backoff
  }
  EXPECT_TRUE(address.record_failure("a:192.0.2.7", now));  // the 8th
  EXPECT_TRUE(address.check("a:192.0.2.7", now).locked_out);
}

TEST(ThrottleSettings, KeysOfAccountsAndAddressesNeverCollide) {
  EXPECT_EQ(account_throttle_key("alice"), "u:alice");
  EXPECT_EQ(address_throttle_key("192.0.2.7"), "a:192.0.2.7");
  EXPECT_NE(account_throttle_key("a:x"), address_throttle_key("x"));
}
