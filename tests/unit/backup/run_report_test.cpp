// A run's report and its phase times (backup/run_report.h).
#include "backup/run_report.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace privstack::backup {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

TEST(PhaseTimer, AddsEachStretchToThePhaseThatWasCurrent) {
  ManualClock clock;
  PhaseTimer timer(clock);
  EXPECT_EQ(timer.phase(), "");
  clock.advance(milliseconds(1000));  // idle: not timed
  timer.enter("snapshot");
  clock.advance(milliseconds(812));
  timer.enter("test restore");
  EXPECT_EQ(timer.phase(), "test restore");
  clock.advance(milliseconds(240));
  timer.enter("snapshot");  // a phase entered twice is the sum of both stretches
  clock.advance(milliseconds(8));
  timer.enter("");
  clock.advance(milliseconds(5000));
  timer.enter("");  // idle again: nothing added
  EXPECT_EQ(json::serialize(timer.totals()), R"({"snapshot":820,"test restore":240})");
}

TEST(PhaseTimer, ClearStartsANewRunAndTheCurrentPhaseGoesOn) {
  ManualClock clock;
  PhaseTimer timer(clock);
  timer.enter("verifying");
  clock.advance(milliseconds(30));
  timer.enter("");
  ASSERT_EQ(timer.totals().size(), 1u);
  timer.enter("snapshot");
  clock.advance(milliseconds(10));
  timer.clear();
  EXPECT_TRUE(timer.totals().empty());
  EXPECT_EQ(timer.phase(), "snapshot");
  clock.advance(milliseconds(15));
  timer.enter("pruning");
  EXPECT_EQ(json::serialize(timer.totals()), R"({"snapshot":25})");
}

TEST(PhaseTimer, SubMillisecondStretchesCountAsZero) {
  ManualClock clock;
  PhaseTimer timer(clock);
  timer.enter("uploading");
  clock.advance(std::chrono::microseconds(999));
  timer.enter("");
  EXPECT_EQ(json::serialize(timer.totals()), R"({"uploading":0})");
}

WrittenArchive written() {
  WrittenArchive w;
  w.id = "20261122T210400Z-01234567";
  w.file = "/var/lib/privstack/backups/20261122T210400Z-01234567.psbak";
  w.header.metadata.created_unix = 1795381440;
  w.header.metadata.row_counts = {{"users", 3}, {"records", 12}};
  w.header.archive_id = "0123456789abcdef0123456789abcdef";
  w.header.recovery_key_id = "rk-1";
  w.archive_bytes = 4096;
  w.payload_bytes = 10000;
  w.sha256 = std::string(64, 'a');
  w.test_restore_ms = 240;
  return w;
}

TEST(RunReport, ReportsTheWrittenArchive) {
  json::object doc = run_report(written(), "api", 1234);
  EXPECT_EQ(json::serialize(doc),
            R"({"id":"20261122T210400Z-01234567",)"
            R"("file":"/var/lib/privstack/backups/20261122T210400Z-01234567.psbak","trigger":"api",)"
            R"("created":1795381440,"created_at":"2026-11-22T21:04:00Z",)"
            R"("archive_id":"0123456789abcdef0123456789abcdef","recovery_key_id":"rk-1",)"
            R"("archive_bytes":4096,"payload_bytes":10000,"row_counts":{"records":12,"users":3},)"
            R"("duration_ms":1234,"sha256":")" + std::string(64, 'a') +
                R"(","test_restore":{"ok":true,"duration_ms":240}})");
}

TEST(RunReport, LastRunDropsTheRowCountsAndSaysHowTheRunEnded) {
  json::object doc = run_report(written(), "schedule", 5);
  doc["upload"] = json::object{{"state", "uploaded"}};
  json::object ok = last_run_of(doc, false);
  EXPECT_FALSE(ok.contains("row_counts"));
  EXPECT_EQ(ok.at("state").as_string(), "ok");
  EXPECT_EQ(ok.at("upload").at("state").as_string(), "uploaded");
  EXPECT_EQ(ok.at("id").as_string(), "20261122T210400Z-01234567");
  EXPECT_EQ(last_run_of(doc, true).at("state").as_string(), "upload failed");
  EXPECT_TRUE(doc.contains("row_counts"));  // the report itself keeps them
}

TEST(RunReport, FailedRunAndFailedUpload) {
  EXPECT_EQ(json::serialize(failed_run("manual", "cancelled: privstackd is stopping", 1795381440)),
            R"({"state":"failed","trigger":"manual","error":"cancelled: privstackd is stopping","time":1795381440})");
  EXPECT_EQ(json::serialize(upload_failure("backups", "eu-central-1", "connection refused")),
            R"({"state":"failed","bucket":"backups","region":"eu-central-1","error":"connection refused"})");
}

}  // namespace
}  // namespace privstack::backup
