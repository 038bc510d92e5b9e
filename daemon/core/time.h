// One injectable clock for all modules, and the UTC time formats the API and
// the file formats use.
//
//   Clock& clock = default_clock();    // the system's clocks
//   clock.unix_seconds();              // wall time, whole seconds
//   clock.steady_now();                // monotonic, for timeouts and durations
//
// Tests pass a ManualClock and move it with set() / advance(). Code that
// takes a clock takes `Clock&` defaulting to default_clock().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace privstack {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point system_now() const = 0;
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;

  // system_now() since the Unix epoch, truncated.
  std::int64_t unix_seconds() const;
  std::int64_t unix_millis() const;
  std::int64_t unix_micros() const;
};

// The real clocks (std::chrono::system_clock and steady_clock).
class SystemClock final : public Clock {
 public:
  static SystemClock& instance();
  std::chrono::system_clock::time_point system_now() const override;
  std::chrono::steady_clock::time_point steady_now() const override;
};

// A clock that moves only when told to (thread-safe). advance() moves both
// the wall and the monotonic time; set() moves the wall time only (which may
// go backwards, like a system clock being corrected).
class ManualClock final : public Clock {
 public:
  explicit ManualClock(std::chrono::system_clock::time_point start = std::chrono::system_clock::time_point{
                           std::chrono::seconds(1'800'000'000)});
  std::chrono::system_clock::time_point system_now() const override;
  std::chrono::steady_clock::time_point steady_now() const override;
  void set(std::chrono::system_clock::time_point t);
  void set_unix_seconds(std::int64_t t) { set(std::chrono::system_clock::time_point{std::chrono::seconds(t)}); }
  void advance(std::chrono::nanoseconds d);

 private:
  std::atomic<std::int64_t> system_ns_;
  std::atomic<std::int64_t> steady_ns_{0};
};

// SystemClock::instance().
Clock& default_clock();

// "YYYY-MM-DDTHH:MM:SSZ" (RFC 3339, UTC, whole seconds).
std::string format_rfc3339(std::int64_t unix_seconds);
// `unix_seconds` in UTC formatted by strftime(3) (at most 63 characters),
// e.g. "%Y%m%dT%H%M%SZ".
std::string format_utc(std::int64_t unix_seconds, const char* strftime_format);

}  // namespace privstack
