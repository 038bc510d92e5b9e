#include "backup/retention.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>
#include <string>

#include "time_helpers.h"

namespace privstack::backup {
namespace {

TEST(Retention, IsoWeekBuckets) {
  TzGuard tz("UTC");
  EXPECT_EQ(iso_week_bucket(utc(2020, 12, 31)), 202053);
  EXPECT_EQ(iso_week_bucket(utc(2021, 1, 3)), 202053);  // Sunday of 2020-W53
  EXPECT_EQ(iso_week_bucket(utc(2021, 1, 4)), 202101);  // Monday
  EXPECT_EQ(iso_week_bucket(utc(2024, 12, 30)), 202501);
  EXPECT_EQ(iso_week_bucket(utc(2026, 11, 22)), 202647);
  EXPECT_EQ(iso_week_bucket(utc(2026, 11, 23)), 202648);
  EXPECT_EQ(iso_week_bucket(utc(2027, 1, 1)), 202653);
  EXPECT_EQ(iso_week_bucket(utc(2016, 1, 3)), 201553);
  EXPECT_EQ(iso_week_bucket(utc(2008, 12, 29)), 200901);
  EXPECT_EQ(day_bucket(utc(2026, 2, 28, 23, 59)), 20260228);
  EXPECT_EQ(month_bucket(utc(2026, 2, 28)), 202602);
}

TEST(Retention, LocalTimeDecidesTheDay) {
  TzGuard tz("Europe/Berlin");
  // 23:30 UTC on the 1st is 00:30 (or 01:30 in summer) on the 2nd in Berlin.
  EXPECT_EQ(day_bucket(utc(2026, 3, 1, 23, 30)), 20260302);
  EXPECT_EQ(month_bucket(utc(2026, 3, 31, 22, 30)), 202604);
}

TEST(Retention, NightlyForAYearKeepsFiveDailyFourWeeklySixMonthly) {
  TzGuard tz("UTC");
  std::vector<RetentionItem> items;
  // Nightly at 02:00 from 2026-01-01 to 2026-11-22 (a Sunday).
  for (std::int64_t t = utc(2026, 1, 1); t <= utc(2026, 11, 22); t += 86400)
    items.push_back({std::to_string(t), t, true});
  RetentionPlan plan = plan_retention(items, {5, 4, 6, 0});
  ASSERT_EQ(plan.decisions.size(), items.size());
  auto kept = plan.keep_ids();
  std::vector<std::string> expected;
  for (auto [m, d] : std::vector<std::pair<int, int>>{
           {11, 22}, {11, 21}, {11, 20}, {11, 19}, {11, 18},  // daily (22 also weekly, monthly)
           {11, 15}, {11, 8}, {11, 1},                          // weekly (Sundays); 11-01 also monthly? no: 11 taken
           {10, 31}, {9, 30}, {8, 31}, {7, 31}, {6, 30}})       // monthly
    expected.push_back(std::to_string(utc(2026, m, d)));
  EXPECT_EQ(kept, expected);
  // Reasons are reported for the preview.
  EXPECT_EQ(plan.decisions[0].reasons, (std::vector<std::string>{"daily", "weekly", "monthly"}));
  EXPECT_EQ(plan.delete_ids().size(), items.size() - expected.size());
}

TEST(Retention, NewestOfEachDayIsKept) {
  TzGuard tz("UTC");
  std::vector<RetentionItem> items = {{"a", utc(2026, 5, 1, 1)}, {"b", utc(2026, 5, 1, 13)},
                                      {"c", utc(2026, 5, 1, 23, 59)}, {"d", utc(2026, 4, 30, 23)}};
  RetentionPlan plan = plan_retention(items, {2, 0, 0, 0});
  EXPECT_EQ(plan.keep_ids(), (std::vector<std::string>{"c", "d"}));
  EXPECT_EQ(plan.delete_ids(), (std::vector<std::string>{"b", "a"}));
}

TEST(Retention, SafetyRules) {
  TzGuard tz("UTC");
  std::vector<RetentionItem> items = {{"new-bad", utc(2026, 5, 3), false}, {"mid-bad", utc(2026, 5, 2), false},
                                      {"old-good", utc(2026, 5, 1), true}};
  // The rule keeps only the newest, which is bad: the newest good stays too.
  RetentionPlan plan = plan_retention(items, {1, 0, 0, 0});
  EXPECT_EQ(plan.keep_ids(), (std::vector<std::string>{"new-bad", "old-good"}));
  EXPECT_EQ(plan.decisions[2].reasons, (std::vector<std::string>{"newest good copy"}));
  // No counts at all: nothing is deleted.
  RetentionPlan none = plan_retention(items, {0, 0, 0, 0});
  EXPECT_TRUE(none.delete_ids().empty());
  EXPECT_EQ(none.decisions[0].reasons, (std::vector<std::string>{"no policy"}));
  EXPECT_TRUE(plan_retention({}, {}).decisions.empty());
}

TEST(Retention, DefaultPolicyIsThreeNewestFiveDailyFourWeeklySixMonthly) {
  RetentionPolicy p;
  EXPECT_EQ(p.last, 3);
  EXPECT_EQ(p.daily, 5);
  EXPECT_EQ(p.weekly, 4);
  EXPECT_EQ(p.monthly, 6);
}

// The defect of issue #27: three "Back up now" runs on one day left one
// archive (daily keeps the day's newest only). keep_last keeps them.
TEST(Retention, LastKeepsTheNewestWhateverTheirDay) {
  TzGuard tz("UTC");
  std::vector<RetentionItem> items = {{"a", utc(2026, 5, 1, 9)}, {"b", utc(2026, 5, 1, 12)},
                                      {"c", utc(2026, 5, 1, 15)}, {"y", utc(2026, 4, 30, 2)},
                                      {"x", utc(2026, 4, 29, 2)}};
  RetentionPlan plan = plan_retention(items, {1, 0, 0, 3});
  EXPECT_EQ(plan.keep_ids(), (std::vector<std::string>{"c", "b", "a"}));
  EXPECT_EQ(plan.delete_ids(), (std::vector<std::string>{"y", "x"}));
  EXPECT_EQ(plan.decisions[0].reasons, (std::vector<std::string>{"last", "daily"}));
  EXPECT_EQ(plan.decisions[1].reasons, (std::vector<std::string>{"last"}));
  // An archive kept by any rule is kept: last 2 and daily 3.
  plan = plan_retention(items, {3, 0, 0, 2});
  EXPECT_EQ(plan.keep_ids(), (std::vector<std::string>{"c", "b", "y", "x"}));
  EXPECT_EQ(plan.decisions[3].reasons, (std::vector<std::string>{"daily"}));
  // Alone, and larger than the set: everything stays, each for "last".
  plan = plan_retention(items, {0, 0, 0, 10});
  EXPECT_TRUE(plan.delete_ids().empty());
  for (const auto& d : plan.decisions) EXPECT_EQ(d.reasons, (std::vector<std::string>{"last"})) << d.id;
  plan = plan_retention(items, {0, 0, 0, 1});
  EXPECT_EQ(plan.keep_ids(), (std::vector<std::string>{"c"}));
}

TEST(Retention, LastCountsArchivesWithEqualTimesOneByOne) {
  // Two archives in the same second are two archives (restic buckets
  // keep-last by position, not by time).
  std::vector<RetentionItem> items = {{"first", 100}, {"second", 100}, {"older", 50}};
  EXPECT_EQ(plan_retention(items, {0, 0, 0, 2}).keep_ids(), (std::vector<std::string>{"first", "second"}));
}

}  // namespace
}  // namespace privstack::backup
