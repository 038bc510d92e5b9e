#include "backup/s3_clock.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <ctime>

namespace privstack::backup {
namespace {

std::atomic<std::int64_t> g_offset_seconds{0};

std::optional<std::chrono::system_clock::time_point> from_tm(std::tm& tm) {
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t);
}

}  // namespace

std::optional<std::chrono::system_clock::time_point> parse_http_date(std::string_view text) {
  std::string s(text);
  std::tm tm{};
  // strptime's %a/%b read English names only in the C locale, which the
  // daemon never changes.
  if (const char* end = strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm); end != nullptr && *end == '\0')
    return from_tm(tm);
  tm = std::tm{};
  if (const char* end = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm); end != nullptr) {
    std::string_view rest(end);
    if (!rest.empty() && rest.front() == '.') {
      std::size_t digits = 1;
      while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') ++digits;
      rest.remove_prefix(digits);
    }
    if (rest == "Z") return from_tm(tm);
  }
  return std::nullopt;
}

std::chrono::seconds clock_offset(std::chrono::system_clock::time_point server,
                                  std::chrono::system_clock::time_point local) {
  double diff = std::chrono::duration<double>(server - local).count();
  return std::chrono::seconds(static_cast<std::int64_t>(std::llround(diff)));
}

std::string describe_clock_offset(std::chrono::seconds offset, std::string_view endpoint) {
  auto n = offset.count();
  return "local clock is " + std::to_string(n < 0 ? -n : n) + " s " + (n < 0 ? "ahead of" : "behind") +
         " the S3 endpoint " + std::string(endpoint);
}

std::chrono::seconds S3ClockOffset::get() { return std::chrono::seconds(g_offset_seconds.load()); }

bool S3ClockOffset::set(std::chrono::seconds offset) {
  return g_offset_seconds.exchange(offset.count()) != offset.count();
}

}  // namespace privstack::backup
