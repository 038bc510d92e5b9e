#include "backup/timetable.h"

#include <ctime>

namespace privstack::backup {

std::optional<std::int64_t> newest_good(const std::vector<LocalArchive>& archives) {
  for (const auto& a : archives) {
    if (a.good) return a.header.metadata.created_unix;
  }
  return std::nullopt;
}

bool missed_while_down(const Schedule& schedule, std::optional<std::int64_t> newest, WallTime now, bool utc) {
  if (!newest) return false;
  auto due = schedule.next_after(std::chrono::system_clock::from_time_t(static_cast<std::time_t>(*newest)), utc);
  return due && *due <= now;
}

bool is_due(const std::optional<WallTime>& next, WallTime now) { return next && now >= *next; }

std::optional<WallTime> next_verify_after(const Schedule& schedule, bool busy, WallTime now, bool utc) {
  if (busy) return now + std::chrono::minutes(1);
  return schedule.next_after(now, utc);
}

std::chrono::seconds sleep_before_next(WallTime now, const std::optional<WallTime>& next,
                                       const std::optional<WallTime>& next_verify) {
  auto wait = std::chrono::seconds(60);
  for (const auto& when : {next, next_verify}) {
    if (!when) continue;
    auto left = std::chrono::duration_cast<std::chrono::seconds>(*when - now) + std::chrono::seconds(1);
    if (left < wait) wait = left;
  }
  return wait;
}

}  // namespace privstack::backup
