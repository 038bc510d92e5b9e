// Schedule syntax and next-run computation (UTC, so results do not depend on the host's zone).
#include <gtest/gtest.h>

#include <ctime>

#include "core/schedule.h"

namespace privstack {
namespace {

using std::chrono::system_clock;

system_clock::time_point utc(int y, int mo, int d, int h, int mi, int s = 0) {
  std::tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  t.tm_sec = s;
  return system_clock::from_time_t(timegm(&t));
}

struct NextCase {
  const char* schedule;
  system_clock::time_point after;
  system_clock::time_point expected;
};

class NextRun : public ::testing::TestWithParam<NextCase> {};

TEST_P(NextRun, Computes) {
  auto s = Schedule::parse(GetParam().schedule);
  ASSERT_TRUE(s) << GetParam().schedule;
  auto next = s->next_after(GetParam().after, true);
  ASSERT_TRUE(next);
  EXPECT_EQ(system_clock::to_time_t(*next), system_clock::to_time_t(GetParam().expected)) << GetParam().schedule;
}

// 2024-06-05 is a Wednesday.
INSTANTIATE_TEST_SUITE_P(
    Table, NextRun,
    ::testing::Values(NextCase{"daily 02:00", utc(2024, 6, 5, 1, 0), utc(2024, 6, 5, 2, 0)},
                      NextCase{"daily 02:00", utc(2024, 6, 5, 2, 0), utc(2024, 6, 6, 2, 0)},  // strictly after
                      NextCase{"daily 23:59", utc(2024, 12, 31, 23, 59, 30), utc(2025, 1, 1, 23, 59)},
                      NextCase{"weekly sun 03:00", utc(2024, 6, 5, 12, 0), utc(2024, 6, 9, 3, 0)},
                      NextCase{"weekly wed 03:00", utc(2024, 6, 5, 2, 0), utc(2024, 6, 5, 3, 0)},
                      NextCase{"weekly wed 03:00", utc(2024, 6, 5, 4, 0), utc(2024, 6, 12, 3, 0)},
                      NextCase{"weekly mon,thu 01:30", utc(2024, 6, 5, 4, 0), utc(2024, 6, 6, 1, 30)},
                      NextCase{"WEEKLY Sunday 03:00", utc(2024, 6, 5, 12, 0), utc(2024, 6, 9, 3, 0)},
                      NextCase{"monthly 1 04:00", utc(2024, 2, 15, 0, 0), utc(2024, 3, 1, 4, 0)},
                      NextCase{"monthly 28 04:00", utc(2024, 12, 28, 5, 0), utc(2025, 1, 28, 4, 0)},
                      NextCase{"hourly", utc(2024, 6, 5, 10, 0), utc(2024, 6, 5, 11, 0)},
                      NextCase{"hourly :15", utc(2024, 6, 5, 10, 20), utc(2024, 6, 5, 11, 15)},
                      NextCase{"hourly :15", utc(2024, 6, 5, 23, 20), utc(2024, 6, 6, 0, 15)},
                      NextCase{"every 30m", utc(2024, 6, 5, 10, 7), utc(2024, 6, 5, 10, 37)},
                      NextCase{"every 2h", utc(2024, 6, 5, 10, 7), utc(2024, 6, 5, 12, 7)}));

TEST(Schedule, Off) {
  auto s = Schedule::parse("off");
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->next_after(system_clock::now(), true));
}

TEST(Schedule, RejectsMalformed) {
  for (const char* bad : {"", "weekly", "weekly sun", "weekly xyz 03:00", "daily 24:00", "daily 2:60", "daily 0200",
                          "monthly 29 01:00", "monthly 0 01:00", "every 0m", "every 5s", "hourly 15", "sometimes",
                          "daily 02:00 extra"}) {
    std::string error;
    EXPECT_FALSE(Schedule::parse(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(Schedule, LocalTimeDefaultWorks) {
  auto s = Schedule::parse("daily 02:00");
  ASSERT_TRUE(s);
  auto now = system_clock::now();
  auto next = s->next_after(now);
  ASSERT_TRUE(next);
  EXPECT_GT(*next, now);
  EXPECT_LE(*next - now, std::chrono::hours(25));
}

}  // namespace
}  // namespace privstack
