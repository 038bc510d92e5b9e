#include "core/time.h"

#include <cstdio>
#include <ctime>

namespace privstack {

using std::chrono::duration_cast;

std::int64_t Clock::unix_seconds() const {
  return duration_cast<std::chrono::seconds>(system_now().time_since_epoch()).count();
}
std::int64_t Clock::unix_millis() const {
  return duration_cast<std::chrono::milliseconds>(system_now().time_since_epoch()).count();
}
std::int64_t Clock::unix_micros() const {
  return duration_cast<std::chrono::microseconds>(system_now().time_since_epoch()).count();
}

SystemClock& SystemClock::instance() {
  static SystemClock clock;
  return clock;
}
std::chrono::system_clock::time_point SystemClock::system_now() const { return std::chrono::system_clock::now(); }
std::chrono::steady_clock::time_point SystemClock::steady_now() const { return std::chrono::steady_clock::now(); }

Clock& default_clock() { return SystemClock::instance(); }

ManualClock::ManualClock(std::chrono::system_clock::time_point start)
    : system_ns_(duration_cast<std::chrono::nanoseconds>(start.time_since_epoch()).count()) {}

std::chrono::system_clock::time_point ManualClock::system_now() const {
  return std::chrono::system_clock::time_point{
      duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(system_ns_.load()))};
}
std::chrono::steady_clock::time_point ManualClock::steady_now() const {
  return std::chrono::steady_clock::time_point{
      duration_cast<std::chrono::steady_clock::duration>(std::chrono::nanoseconds(steady_ns_.load()))};
}
void ManualClock::set(std::chrono::system_clock::time_point t) {
  system_ns_ = duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}
void ManualClock::advance(std::chrono::nanoseconds d) {
  system_ns_ += d.count();
  steady_ns_ += d.count();
}

std::string format_rfc3339(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::string format_utc(std::int64_t unix_seconds, const char* strftime_format) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, strftime_format, &tm);
  return std::string(buf, n);
}

}  // namespace privstack
