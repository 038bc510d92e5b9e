// Time helpers for the backup tests: a TZ for the test body (retention
// buckets and schedules use local time) and UTC times by calendar.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <string>

namespace privstack::backup {

// Runs a test body under a given TZ, restoring the previous one.
class TzGuard {
 public:
  explicit TzGuard(const char* tz) {
    if (const char* old = std::getenv("TZ")) old_ = old, had_ = true;
    setenv("TZ", tz, 1);
    tzset();
  }
  ~TzGuard() {
    if (had_)
      setenv("TZ", old_.c_str(), 1);
    else
      unsetenv("TZ");
    tzset();
  }
  TzGuard(const TzGuard&) = delete;
  TzGuard& operator=(const TzGuard&) = delete;

 private:
  std::string old_;
  bool had_ = false;
};

// y-mo-d h:mi UTC as Unix seconds.
inline std::int64_t utc(int y, int mo, int d, int h = 2, int mi = 0) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace privstack::backup
