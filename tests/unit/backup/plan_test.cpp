// What retention deletes locally and in the bucket, and which objects in
// the bucket are the service's archives (backup/plan.h), over synthetic
// scans and listings.
#include "backup/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/time.h"
#include "time_helpers.h"

namespace privstack::backup {
namespace {

Config config_with(int daily, int weekly, int monthly, std::string prefix = "appliance-1", int keep_last = 0) {
  Config c;
  c.backup.retention.keep_last = keep_last;
  c.backup.retention.daily = daily;
  c.backup.retention.weekly = weekly;
  c.backup.retention.monthly = monthly;
  c.backup.s3.bucket = "backups";
  c.backup.s3.prefix = std::move(prefix);
  return c;
}

std::string stamp(std::int64_t t) { return format_utc(t, "%Y%m%dT%H%M%SZ"); }

LocalArchive local(std::int64_t t, bool good = true) {
  LocalArchive a;
  a.id = stamp(t) + "-0123abcd";
  a.good = good;
  a.header.metadata.created_unix = t;
  return a;
}

S3Object object(std::string key) { return S3Object{std::move(key), 100, "etag", "2026-11-22T21:04:00Z"}; }

std::vector<std::string> keys_of(const std::vector<S3Object>& objects) {
  std::vector<std::string> out;
  for (const auto& o : objects) out.push_back(o.key);
  return out;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

TEST(BackupPlan, PolicyAndPrefixFromConfig) {
  Config c = config_with(3, 2, 1);
  RetentionPolicy p = policy_of(c);
  EXPECT_EQ(p.daily, 3);
  EXPECT_EQ(p.weekly, 2);
  EXPECT_EQ(p.monthly, 1);
  EXPECT_EQ(p.last, 0);
  EXPECT_EQ(policy_of(config_with(3, 2, 1, "", 7)).last, 7);
  EXPECT_EQ(policy_of(Config{}).last, 3);
  EXPECT_EQ(s3_prefix(c), "appliance-1/");
  EXPECT_EQ(bucket_label(c), "backups/appliance-1/");
  EXPECT_EQ(s3_prefix(config_with(1, 0, 0, "a/b/")), "a/b/");
  EXPECT_EQ(s3_prefix(config_with(1, 0, 0, "")), "");
  EXPECT_EQ(bucket_label(config_with(1, 0, 0, "")), "backups/");
}

TEST(BackupPlan, LocalPlanKeepsTheNewestDailyAndIgnoresUnreadableArchives) {
  TzGuard tz("UTC");
  std::vector<LocalArchive> archives = {local(utc(2026, 11, 4)), local(utc(2026, 11, 3)),
                                        local(utc(2026, 11, 2), false), local(utc(2026, 11, 1))};
  RetentionPlan plan = local_plan(archives, config_with(2, 0, 0));
  EXPECT_EQ(plan.keep_ids(), (std::vector<std::string>{archives[0].id, archives[1].id}));
  // The unreadable one is neither kept nor deleted.
  EXPECT_EQ(plan.delete_ids(), (std::vector<std::string>{archives[3].id}));
  EXPECT_EQ(deletions(plan, archives[0].id), (std::vector<std::string>{archives[3].id}));
}

TEST(BackupPlan, NothingIsDeletedWithEveryCountAtZero) {
  TzGuard tz("UTC");
  std::vector<LocalArchive> archives = {local(utc(2026, 11, 4)), local(utc(2026, 11, 3))};
  EXPECT_TRUE(local_plan(archives, config_with(0, 0, 0)).delete_ids().empty());
}

std::vector<std::string> ids_of(const std::vector<LocalArchive>& archives, std::initializer_list<std::size_t> at) {
  std::vector<std::string> out;
  for (std::size_t i : at) out.push_back(archives[i].id);
  return out;
}

TEST(BackupPlan, NextRunPlanIsThePruneOfTheNextRun) {
  TzGuard tz("UTC");
  // The nightly run at 02:00 and three "Back up now" runs the same day;
  // keep the 3 newest and the newest of 5 days.
  std::vector<LocalArchive> archives = {local(utc(2026, 11, 4, 15)), local(utc(2026, 11, 4, 12)),
                                        local(utc(2026, 11, 4, 9)), local(utc(2026, 11, 4, 2))};
  Config c = config_with(5, 0, 0, "appliance-1", 3);
  RetentionPlan now = local_plan(archives, c);
  EXPECT_EQ(now.keep_ids(), ids_of(archives, {0, 1, 2}));
  // One more run that day: the 3 newest are its archive, 15:00 and 12:00,
  // so 09:00, kept now, goes (the run's own archive is not in the plan).
  RetentionPlan next = next_run_plan(archives, c, utc(2026, 11, 4, 18));
  ASSERT_EQ(next.decisions.size(), archives.size());
  EXPECT_EQ(next.keep_ids(), ids_of(archives, {0, 1}));
  EXPECT_EQ(next.delete_ids(), ids_of(archives, {2, 3}));
  // It is what that run's prune deletes: the plan over the archives with
  // the run's own, minus it.
  std::vector<LocalArchive> after = archives;
  after.insert(after.begin(), local(utc(2026, 11, 4, 18)));
  EXPECT_EQ(deletions(local_plan(after, c), after[0].id), next.delete_ids());
  // The scheduled run the next night deletes the same two (15:00 also stays
  // as the newest of its day).
  next = next_run_plan(archives, c, utc(2026, 11, 5, 2));
  EXPECT_EQ(next.keep_ids(), ids_of(archives, {0, 1}));
  // Without keep_last only the day's newest stays, now and after the run
  // the next night;
  Config daily = config_with(5, 0, 0);
  EXPECT_EQ(local_plan(archives, daily).keep_ids(), ids_of(archives, {0}));
  EXPECT_EQ(next_run_plan(archives, daily, utc(2026, 11, 5, 2)).keep_ids(), ids_of(archives, {0}));
  // a run the same day replaces it.
  EXPECT_TRUE(next_run_plan(archives, daily, utc(2026, 11, 4, 18)).keep_ids().empty());
}

TEST(BackupPlan, NextRunPlanTakesTheNewestPlaceEvenWithAClockBehind) {
  TzGuard tz("UTC");
  std::vector<LocalArchive> archives = {local(utc(2026, 11, 4, 15)), local(utc(2026, 11, 3, 15))};
  Config c = config_with(0, 0, 0, "appliance-1", 2);
  // A next-run time before the newest archive (the clock was set back):
  // the run's archive is still the newest, so the older one goes.
  RetentionPlan next = next_run_plan(archives, c, utc(2026, 11, 1));
  EXPECT_EQ(next.keep_ids(), ids_of(archives, {0}));
  EXPECT_EQ(next.delete_ids(), ids_of(archives, {1}));
  // Unreadable archives are in neither plan, and nothing is deleted with
  // every count at 0.
  archives.push_back(local(utc(2026, 11, 2), false));
  next = next_run_plan(archives, c, utc(2026, 11, 5));
  EXPECT_EQ(next.decisions.size(), 2u);
  EXPECT_TRUE(next_run_plan(archives, config_with(0, 0, 0), utc(2026, 11, 5)).delete_ids().empty());
  EXPECT_TRUE(next_run_plan({}, c, utc(2026, 11, 5)).decisions.empty());
}

TEST(BackupPlan, DeletionsNeverIncludeTheSparedArchive) {
  RetentionPlan plan;
  plan.decisions = {{"a", 3, false, {}}, {"b", 2, true, {"daily"}}, {"c", 1, false, {}}};
  EXPECT_EQ(deletions(plan, "a"), (std::vector<std::string>{"c"}));
  EXPECT_EQ(deletions(plan, "b"), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(deletions(plan, ""), (std::vector<std::string>{"a", "c"}));
}

TEST(BackupPlan, ArchiveObjectsAreOurNamesDirectlyUnderThePrefix) {
  Config c = config_with(1, 0, 0);
  std::vector<S3Object> listed = {
      object("appliance-1/20261104T020000Z-0123abcd.psbak"),
      object("appliance-2/20261104T020000Z-0123abcd.psbak"),         // another prefix
      object("20261104T020000Z-0123abcd.psbak"),                     // outside the prefix
      object("appliance-1/old/20261101T020000Z-0123abcd.psbak"),     // below it
      object("appliance-1/notes.txt"),                               // a foreign name
      object("appliance-1/20261104T020000Z-0123abcd.psbak.sha256"),  // not an archive
      object("appliance-1/.20261104T020000Z-4242.partial"),
      object("appliance-1/.hidden.psbak"),
      object("appliance-1/backup.psbak"),  // our suffix, no time in its name
  };
  EXPECT_EQ(keys_of(archive_objects(c, listed)),
            (std::vector<std::string>{"appliance-1/20261104T020000Z-0123abcd.psbak", "appliance-1/backup.psbak"}));
}

TEST(BackupPlan, RemotePlanDeletesOldArchivesAndLeavesForeignObjectsAlone) {
  TzGuard tz("UTC");
  Config c = config_with(2, 0, 0);
  const std::string prefix = s3_prefix(c);
  const std::string uploaded = prefix + stamp(utc(2026, 11, 4)) + "-0000aaaa.psbak";
  const std::string day3 = prefix + stamp(utc(2026, 11, 3)) + "-0000bbbb.psbak";
  const std::string day2 = prefix + stamp(utc(2026, 11, 2)) + "-0000cccc.psbak";
  const std::string day1 = prefix + stamp(utc(2026, 11, 1)) + "-0000dddd.psbak";
  const std::string timeless = prefix + "backup.psbak";
  std::vector<S3Object> listed = archive_objects(
      c, {object(day1), object(uploaded), object("other/" + stamp(utc(2026, 10, 1)) + "-0000eeee.psbak"),
          object(prefix + "sub/" + stamp(utc(2026, 10, 2)) + "-0000ffff.psbak"), object(prefix + "notes.txt"),
          object(day3), object(timeless), object(day2)});
  RetentionPlan plan = remote_plan(listed, prefix, uploaded, policy_of(c));
  // Newest first, whatever the listing's order; the timeless object is not in the plan.
  ASSERT_EQ(plan.decisions.size(), 4u);
  EXPECT_EQ(plan.decisions[0].id, uploaded);
  EXPECT_EQ(plan.keep_ids(), (std::vector<std::string>{uploaded, day3}));
  std::vector<std::string> gone = deletions(plan, uploaded);
  EXPECT_EQ(gone, (std::vector<std::string>{day2, day1}));
  EXPECT_FALSE(contains(gone, timeless));
}

TEST(BackupPlan, RemotePlanKeepsTheUploadedArchiveAmongEqualTimes) {
  TzGuard tz("UTC");
  Config c = config_with(1, 0, 0);
  const std::string prefix = s3_prefix(c);
  const std::string t = stamp(utc(2026, 11, 4));
  // Same second; the uploaded one sorts below the other by name.
  const std::string uploaded = prefix + t + "-0000aaaa.psbak";
  const std::string twin = prefix + t + "-ffff0000.psbak";
  std::vector<S3Object> listed = {object(twin), object(uploaded)};
  RetentionPlan plan = remote_plan(listed, prefix, uploaded, policy_of(c));
  EXPECT_EQ(plan.keep_ids(), (std::vector<std::string>{uploaded}));
  EXPECT_EQ(deletions(plan, uploaded), (std::vector<std::string>{twin}));
}

TEST(BackupPlan, RemotePlanNeverDeletesTheUploadedArchive) {
  TzGuard tz("UTC");
  Config c = config_with(0, 0, 1);
  const std::string prefix = s3_prefix(c);
  // A newer object in the same month (made by a clock ahead of ours) takes
  // the month's slot; the uploaded one is still kept, as the newest good copy.
  const std::string uploaded = prefix + stamp(utc(2026, 11, 1)) + "-0000aaaa.psbak";
  const std::string later = prefix + stamp(utc(2026, 11, 20)) + "-0000bbbb.psbak";
  std::vector<S3Object> listed = {object(later), object(uploaded)};
  RetentionPlan plan = remote_plan(listed, prefix, uploaded, policy_of(c));
  EXPECT_TRUE(contains(plan.keep_ids(), uploaded));
  EXPECT_TRUE(contains(plan.keep_ids(), later));
  EXPECT_TRUE(deletions(plan, uploaded).empty());
}

}  // namespace
}  // namespace privstack::backup
