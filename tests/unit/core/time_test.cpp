#include "core/time.h"

#include <gtest/gtest.h>

#include <ctime>

namespace privstack {
namespace {

using namespace std::chrono_literals;

TEST(Time, DefaultClockIsTheSystemClock) {
  Clock& c = default_clock();
  EXPECT_EQ(&c, &SystemClock::instance());
  const auto before = std::time(nullptr);
  const auto t = c.unix_seconds();
  EXPECT_GE(t, before);
  EXPECT_LE(t, std::time(nullptr));
  EXPECT_EQ(c.unix_millis() / 1000 - t <= 1, true);
  const auto s0 = c.steady_now();
  EXPECT_LE(s0, c.steady_now());
}

TEST(Time, ManualClockMovesOnlyWhenTold) {
  ManualClock c;
  const auto t0 = c.system_now();
  const auto s0 = c.steady_now();
  EXPECT_EQ(c.system_now(), t0);
  c.advance(90s);
  EXPECT_EQ(c.system_now() - t0, 90s);
  EXPECT_EQ(c.steady_now() - s0, 90s);
  c.advance(1500ms);
  EXPECT_EQ(c.unix_millis(), std::chrono::duration_cast<std::chrono::milliseconds>(t0.time_since_epoch()).count() +
                                 91'500);
  // set() corrects the wall time, backwards too; the monotonic time stays.
  c.set_unix_seconds(1'000);
  EXPECT_EQ(c.unix_seconds(), 1'000);
  EXPECT_EQ(c.unix_micros(), 1'000'000'000);
  EXPECT_EQ(c.steady_now() - s0, 91'500ms);
  Clock& as_clock = c;
  EXPECT_EQ(as_clock.unix_seconds(), 1'000);
}

TEST(Time, ManualClockStart) {
  ManualClock c(std::chrono::system_clock::time_point{1'700'000'000s});
  EXPECT_EQ(c.unix_seconds(), 1'700'000'000);
}

TEST(Time, FormatRfc3339) {
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(951782400), "2000-02-29T00:00:00Z");
  EXPECT_EQ(format_rfc3339(1'700'000'000), "2023-11-14T22:13:20Z");
  EXPECT_EQ(format_rfc3339(253402300799), "9999-12-31T23:59:59Z");
}

TEST(Time, FormatUtc) {
  EXPECT_EQ(format_utc(1'700'000'000, "%Y%m%dT%H%M%SZ"), "20231114T221320Z");
  EXPECT_EQ(format_utc(1'700'000'000, "%Y%m%d"), "20231114");
  EXPECT_EQ(format_utc(1'700'000'000, "%a, %d %b %Y %H:%M:%S GMT"), "Tue, 14 Nov 2023 22:13:20 GMT");
  EXPECT_EQ(format_utc(1'700'000'000, "%Y-%m-%dT%H:%M:%SZ"), format_rfc3339(1'700'000'000));
}

}  // namespace
}  // namespace privstack
