// Clock skew between this machine and an S3 endpoint.
//
// SigV4 signatures carry the signing time; S3 refuses requests more than
// 15 minutes away from its own clock (403 RequestTimeTooSkewed). An
// appliance whose NTP is broken would then fail every off-site backup. Like
// the AWS SDKs, the client learns the offset from the server's Date
// response header, signs with the corrected time, and keeps the offset for
// later requests (process-wide: one appliance talks to one endpoint), while
// the warning tells the operator to fix the clock.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace privstack::backup {

// An HTTP date (RFC 9110 IMF-fixdate, "Mon, 23 Nov 2026 12:06:44 GMT"), or
// the ISO 8601 UTC form of S3's <ServerTime> ("2026-11-23T12:06:44Z",
// fractions ignored). nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text);

// server - local, rounded to whole seconds (positive: the local clock is behind).
std::chrono::seconds clock_offset(std::chrono::system_clock::time_point server,
                                  std::chrono::system_clock::time_point local);

// "local clock is 1200 s behind the S3 endpoint http://h:1" (or "ahead of").
std::string describe_clock_offset(std::chrono::seconds offset, std::string_view endpoint);

// The offset this process signs S3 requests with (0 until a server said
// otherwise). set() returns whether the value changed, so that the warning
// is logged once per change rather than once per request.
class S3ClockOffset {
 public:
  static std::chrono::seconds get();
  static bool set(std::chrono::seconds offset);
};

}  // namespace privstack::backup
