// When scheduled backups and verifications are due (backup/timetable.h),
// at the boundaries.
#include "backup/timetable.h"

#include <gtest/gtest.h>

#include "core/time.h"
#include "time_helpers.h"

namespace privstack::backup {
namespace {

using std::chrono::seconds;

WallTime at(std::int64_t unix_seconds) { return WallTime{seconds(unix_seconds)}; }

Schedule parse(const char* text) {
  auto s = Schedule::parse(text);
  EXPECT_TRUE(s.has_value()) << text;
  return *s;
}

LocalArchive archive(std::int64_t created, bool good) {
  LocalArchive a;
  a.good = good;
  a.header.metadata.created_unix = created;
  return a;
}

TEST(Timetable, NewestGoodSkipsUnreadableArchives) {
  EXPECT_EQ(newest_good({}), std::nullopt);
  EXPECT_EQ(newest_good({archive(300, false)}), std::nullopt);
  EXPECT_EQ(newest_good({archive(300, false), archive(200, true), archive(100, true)}), 200);
}

TEST(Timetable, MissedWhileDownAtTheSlotAfterTheNewestArchive) {
  const Schedule daily = parse("daily 02:00");
  const std::int64_t newest = utc(2026, 11, 22, 1, 0);  // slot after it: 02:00 that day
  const std::int64_t slot = utc(2026, 11, 22, 2, 0);
  EXPECT_FALSE(missed_while_down(daily, newest, at(slot - 1), true));
  EXPECT_TRUE(missed_while_down(daily, newest, at(slot), true));
  EXPECT_TRUE(missed_while_down(daily, newest, at(slot + 3 * 86400), true));
  // An archive made at the slot itself counts from the next one (strictly after).
  EXPECT_FALSE(missed_while_down(daily, slot, at(slot + 86400 - 1), true));
  EXPECT_TRUE(missed_while_down(daily, slot, at(slot + 86400), true));
  // No archive yet: nothing was missed (the first run waits for its slot).
  EXPECT_FALSE(missed_while_down(daily, std::nullopt, at(slot + 86400), true));
  // "off" has no slot.
  EXPECT_FALSE(missed_while_down(parse("off"), newest, at(slot + 86400), true));
}

TEST(Timetable, MissedWhileDownInLocalTime) {
  TzGuard tz("Europe/Berlin");
  // 02:00 in Berlin in November is 01:00 UTC.
  const Schedule daily = parse("daily 02:00");
  const std::int64_t newest = utc(2026, 11, 22, 0, 0);
  EXPECT_FALSE(missed_while_down(daily, newest, at(utc(2026, 11, 22, 1, 0) - 1)));
  EXPECT_TRUE(missed_while_down(daily, newest, at(utc(2026, 11, 22, 1, 0))));
}

TEST(Timetable, DueAtItsTimeAndAfterNeverWithoutOne) {
  ManualClock clock;
  const WallTime next = clock.system_now() + seconds(30);
  clock.advance(seconds(29));
  EXPECT_FALSE(is_due(next, clock.system_now()));
  clock.advance(std::chrono::milliseconds(999));
  EXPECT_FALSE(is_due(next, clock.system_now()));
  clock.advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(is_due(next, clock.system_now()));
  clock.advance(seconds(3600));
  EXPECT_TRUE(is_due(next, clock.system_now()));
  EXPECT_FALSE(is_due(std::nullopt, clock.system_now()));
}

TEST(Timetable, VerificationKeptFromRunningTriesAgainAMinuteLater) {
  const Schedule weekly = parse("weekly sun 03:00");
  const WallTime now = at(utc(2026, 11, 22, 3, 0));  // a Sunday, 03:00 UTC
  EXPECT_EQ(next_verify_after(weekly, true, now, true), now + std::chrono::minutes(1));
  EXPECT_EQ(next_verify_after(weekly, false, now, true), at(utc(2026, 11, 29, 3, 0)));
}

TEST(Timetable, SleepsUntilASecondAfterTheEarlierJobAtMostAMinute) {
  ManualClock clock;
  const WallTime now = clock.system_now();
  EXPECT_EQ(sleep_before_next(now, std::nullopt, std::nullopt), seconds(60));
  EXPECT_EQ(sleep_before_next(now, now + seconds(10), std::nullopt), seconds(11));
  EXPECT_EQ(sleep_before_next(now, std::nullopt, now + seconds(10)), seconds(11));
  EXPECT_EQ(sleep_before_next(now, now + seconds(40), now + seconds(20)), seconds(21));
  EXPECT_EQ(sleep_before_next(now, now + seconds(59), std::nullopt), seconds(60));
  EXPECT_EQ(sleep_before_next(now, now + seconds(60), std::nullopt), seconds(60));
  EXPECT_EQ(sleep_before_next(now, now + seconds(3600), now + seconds(7200)), seconds(60));
  EXPECT_EQ(sleep_before_next(now, now + std::chrono::milliseconds(10500), std::nullopt), seconds(11));
  EXPECT_EQ(sleep_before_next(now, now, std::nullopt), seconds(1));
}

}  // namespace
}  // namespace privstack::backup
