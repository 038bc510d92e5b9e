// The clock skew correction's offline parts: reading the server's Date and
// the offset it implies. The correction itself runs against a real RGW with
// a skewed clock (libfaketime) in tests/integration/test_backup_s3_faults.py.
#include "backup/s3_clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>

namespace privstack::backup {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

system_clock::time_point at(std::time_t t) { return system_clock::from_time_t(t); }

TEST(S3Clock, ParsesTheHttpDateRgwSends) {
  // A real RGW answer to a request signed 20 minutes late.
  auto t = parse_http_date("Mon, 23 Nov 2026 12:06:44 GMT");
  ASSERT_TRUE(t);
  EXPECT_EQ(system_clock::to_time_t(*t), 1795435604);  // date -ud '2026-11-23 12:06:44' +%s
  auto epoch = parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT");
  ASSERT_TRUE(epoch);
  EXPECT_EQ(system_clock::to_time_t(*epoch), 0);
}

TEST(S3Clock, ParsesTheServerTimeOfAwsErrorBodies) {
  auto t = parse_http_date("2026-11-23T12:06:44Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(system_clock::to_time_t(*t), 1795435604);
  auto frac = parse_http_date("2026-11-23T12:06:44.123Z");
  ASSERT_TRUE(frac);
  EXPECT_EQ(system_clock::to_time_t(*frac), 1795435604);
}

TEST(S3Clock, RejectsWhatIsNotADate) {
  EXPECT_FALSE(parse_http_date(""));
  EXPECT_FALSE(parse_http_date("yesterday"));
  EXPECT_FALSE(parse_http_date("Mon, 23 Nov 2026 12:06:44"));          // no zone
  EXPECT_FALSE(parse_http_date("Mon, 23 Nov 2026 12:06:44 GMT junk"));  // trailing text
  EXPECT_FALSE(parse_http_date("2026-11-23T12:06:44+01:00"));           // not UTC
  EXPECT_FALSE(parse_http_date("Mon, 32 Nov 2026 12:06:44 GMT"));       // no such day
}

TEST(S3Clock, OffsetIsServerMinusLocalRounded) {
  EXPECT_EQ(clock_offset(at(1200), at(0)), seconds(1200));  // local clock behind
  EXPECT_EQ(clock_offset(at(0), at(1200)), seconds(-1200));  // local clock ahead
  // The Date header has whole seconds: round, do not truncate towards zero.
  EXPECT_EQ(clock_offset(at(100), at(100) - std::chrono::milliseconds(600)), seconds(1));
  EXPECT_EQ(clock_offset(at(100), at(100) + std::chrono::milliseconds(400)), seconds(0));
}

TEST(S3Clock, DescribesWhichWayTheClockIsOff) {
  EXPECT_EQ(describe_clock_offset(seconds(1200), "http://127.0.0.1:7480"),
            "local clock is 1200 s behind the S3 endpoint http://127.0.0.1:7480");
  EXPECT_EQ(describe_clock_offset(seconds(-90), "https://s3.eu-west-1.amazonaws.com"),
            "local clock is 90 s ahead of the S3 endpoint https://s3.eu-west-1.amazonaws.com");
}

TEST(S3Clock, OffsetIsKeptAndReportsChanges) {
  S3ClockOffset::set(seconds(0));
  EXPECT_TRUE(S3ClockOffset::set(seconds(-1200)));
  EXPECT_EQ(S3ClockOffset::get(), seconds(-1200));
  EXPECT_FALSE(S3ClockOffset::set(seconds(-1200)));  // the same: no second warning
  EXPECT_TRUE(S3ClockOffset::set(seconds(0)));
  EXPECT_EQ(S3ClockOffset::get(), seconds(0));
}

}  // namespace
}  // namespace privstack::backup
