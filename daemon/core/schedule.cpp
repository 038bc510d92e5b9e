#include "core/schedule.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <sstream>
#include <vector>

namespace privstack {

namespace {

std::vector<std::string> words(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : text) {
    if (std::isspace(static_cast<unsigned char>(ch))) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

bool parse_int(const std::string& s, int lo, int hi, int& out) {
  if (s.empty() || s.size() > 4 || !std::all_of(s.begin(), s.end(), ::isdigit)) return false;
  out = std::stoi(s);
  return out >= lo && out <= hi;
}

bool parse_time(const std::string& s, int& hour, int& minute) {
  auto colon = s.find(':');
  if (colon == std::string::npos || colon == 0 || s.size() - colon != 3 || colon > 2) return false;
  return parse_int(s.substr(0, colon), 0, 23, hour) && parse_int(s.substr(colon + 1), 0, 59, minute);
}

bool parse_days(const std::string& s, unsigned& mask) {
  static const char* names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  static const char* long_names[] = {"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"};
  mask = 0;
  std::stringstream in(s);
  std::string part;
  while (std::getline(in, part, ',')) {
    bool found = false;
    for (unsigned i = 0; i < 7; ++i) {
      if (part == names[i] || part == long_names[i]) {
        mask |= 1u << i;
        found = true;
      }
    }
    if (!found) return false;
  }
  return mask != 0;
}

std::time_t to_time(std::tm t, bool utc) {
  t.tm_isdst = -1;
  return utc ? timegm(&t) : std::mktime(&t);
}

}  // namespace

std::optional<Schedule> Schedule::parse(std::string_view text, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<Schedule> {
    if (error) *error = why;
    return std::nullopt;
  };
  auto w = words(text);
  Schedule s;
  s.text = std::string(text);
  if (w.empty()) return fail("empty schedule");
  const std::string& k = w[0];
  if (k == "off" || k == "never") {
    if (w.size() != 1) return fail("\"off\" takes no arguments");
    s.kind = Kind::off;
    return s;
  }
  if (k == "hourly") {
    s.kind = Kind::hourly;
    if (w.size() == 1) return s;
    if (w.size() == 2 && w[1].size() == 3 && w[1][0] == ':' && parse_int(w[1].substr(1), 0, 59, s.minute)) return s;
    return fail("expected \"hourly\" or \"hourly :MM\"");
  }
  if (k == "daily") {
    s.kind = Kind::daily;
    if (w.size() == 2 && parse_time(w[1], s.hour, s.minute)) return s;
    return fail("expected \"daily HH:MM\"");
  }
  if (k == "weekly") {
    s.kind = Kind::weekly;
    if (w.size() == 3 && parse_days(w[1], s.weekdays) && parse_time(w[2], s.hour, s.minute)) return s;
    return fail("expected \"weekly DAY HH:MM\" with DAY one or more of mon,tue,wed,thu,fri,sat,sun");
  }
  if (k == "monthly") {
    s.kind = Kind::monthly;
    if (w.size() == 3 && parse_int(w[1], 1, 28, s.day_of_month) && parse_time(w[2], s.hour, s.minute)) return s;
    return fail("expected \"monthly D HH:MM\" with D from 1 to 28");
  }
  if (k == "every") {
    s.kind = Kind::interval;
    if (w.size() == 2 && w[1].size() >= 2) {
      char unit = w[1].back();
      int n = 0;
      if ((unit == 'm' || unit == 'h') && parse_int(w[1].substr(0, w[1].size() - 1), 1, 9999, n)) {
        s.interval = unit == 'm' ? std::chrono::minutes(n) : std::chrono::minutes(n * 60);
        return s;
      }
    }
    return fail("expected \"every N(m|h)\", e.g. \"every 30m\"");
  }
  return fail("unknown schedule \"" + std::string(text) + "\" (hourly, daily, weekly, monthly, every, off)");
}

std::optional<std::chrono::system_clock::time_point> Schedule::next_after(std::chrono::system_clock::time_point after,
                                                                          bool utc) const {
  using namespace std::chrono;
  if (kind == Kind::off) return std::nullopt;
  if (kind == Kind::interval) return after + interval;
  std::time_t base = system_clock::to_time_t(after);
  std::tm now{};
  if (utc) {
    gmtime_r(&base, &now);
  } else {
    localtime_r(&base, &now);
  }
  // Walk day by day (at most ~62 days for monthly) and take the first
  // candidate strictly after `after`.
  for (int day = 0; day < 64; ++day) {
    if (kind == Kind::hourly) {
      for (int h = 0; h < 48; ++h) {
        std::tm t = now;
        t.tm_hour = now.tm_hour + h;
        t.tm_min = minute;
        t.tm_sec = 0;
        auto tp = system_clock::from_time_t(to_time(t, utc));
        if (tp > after) return tp;
      }
      return std::nullopt;
    }
    std::tm t = now;
    t.tm_mday = now.tm_mday + day;
    t.tm_hour = 12;  // normalise the date first, away from DST edges
    t.tm_min = 0;
    t.tm_sec = 0;
    std::time_t noon = to_time(t, utc);
    std::tm d{};
    if (utc) {
      gmtime_r(&noon, &d);
    } else {
      localtime_r(&noon, &d);
    }
    bool ok = kind == Kind::daily || (kind == Kind::weekly && (weekdays & (1u << d.tm_wday))) ||
              (kind == Kind::monthly && d.tm_mday == day_of_month);
    if (!ok) continue;
    std::tm run = d;
    run.tm_hour = hour;
    run.tm_min = minute;
    run.tm_sec = 0;
    auto tp = system_clock::from_time_t(to_time(run, utc));
    if (tp > after) return tp;
  }
  return std::nullopt;
}

}  // namespace privstack
