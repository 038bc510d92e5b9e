// What people are told about an incident: the personal-data breach clock
// (48 hours from detection) and the email about one change. Pure: the time
// and the incident document come in as arguments.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/config.h"
#include "incidents/mail.h"

namespace privstack::incidents {

inline constexpr std::int64_t kBreachNotificationWindowUs = 48LL * 3600 * 1000000;

// The notification deadline of a possible breach detected at detected_us,
// seen at now_us. left_seconds is negative once it has passed.
struct BreachClock {
  std::int64_t deadline_us = 0;
  std::int64_t left_seconds = 0;
  bool overdue() const { return left_seconds < 0; }
};
BreachClock breach_clock(std::int64_t detected_us, std::int64_t now_us);

// "incident.opened" -> "opened"; the breach flag change as a phrase.
std::string change_phrase(std::string_view kind);

// The email about one change (`kind`) of the incident `doc` (the API's
// document), with the latest timeline entry; `unique` makes the Message-ID
// unique. The breach clock comes first when it runs.
Mail incident_mail(const Config& cfg, const std::string& host, const std::string& kind,
                   const boost::json::object& doc, const boost::json::object& latest, const std::string& unique);

}  // namespace privstack::incidents
