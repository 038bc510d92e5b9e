// Schedules for periodic jobs (host_audit.schedule, backup.schedule), in
// local time, cron-like but readable:
//
//   "hourly"               every hour at minute 0      ("hourly :15" at minute 15)
//   "daily HH:MM"          every day                   ("daily 02:00")
//   "weekly DAY HH:MM"     DAY is mon..sun; a comma list runs on several days
//                          ("weekly sun 03:00", "weekly mon,thu 01:30")
//   "monthly D HH:MM"      day of month 1..28           ("monthly 1 04:00")
//   "every N(m|h)"         a fixed interval from the previous run (N >= 1; "every 30m")
//   "off"                  never (on demand only)
//
// Words are case-insensitive; HH is 00..23, MM 00..59. A local time that
// does not exist (DST spring-forward gap) runs at the first minute after the
// gap; one that happens twice (fall-back) runs once, the first time.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace privstack {

struct Schedule {
  enum class Kind { off, hourly, daily, weekly, monthly, interval };
  Kind kind = Kind::off;
  int hour = 0, minute = 0;
  unsigned weekdays = 0;  // bit 0 = Sunday .. bit 6 = Saturday
  int day_of_month = 1;
  std::chrono::minutes interval{0};
  std::string text;  // as configured

  // Parses `text`; nullopt with `error` set when malformed.
  static std::optional<Schedule> parse(std::string_view text, std::string* error = nullptr);

  // The first run strictly after `after` (nullopt for "off"). `utc` computes
  // in UTC instead of local time (tests).
  std::optional<std::chrono::system_clock::time_point> next_after(std::chrono::system_clock::time_point after,
                                                                  bool utc = false) const;
};

}  // namespace privstack
