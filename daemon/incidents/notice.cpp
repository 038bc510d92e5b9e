#include "incidents/notice.h"

#include <boost/json.hpp>

namespace privstack::incidents {

namespace json = boost::json;

BreachClock breach_clock(std::int64_t detected_us, std::int64_t now_us) {
  BreachClock c;
  c.deadline_us = detected_us + kBreachNotificationWindowUs;
  c.left_seconds = (c.deadline_us - now_us) / 1000000;
  return c;
}

std::string change_phrase(std::string_view kind) {
  std::string_view what = kind.substr(kind.find('.') + 1);
  if (what == "breach_flag_changed") return "re-flagged as to a personal-data breach";
  return std::string(what);
}

namespace {

std::string text_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return {};
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64()) return std::to_string(v->as_int64());
  return {};
}

}  // namespace

Mail incident_mail(const Config& cfg, const std::string& host, const std::string& kind, const json::object& doc,
                   const json::object& latest, const std::string& unique) {
  Mail m;
  const auto& email = cfg.notifications.email;
  m.from = email.from.empty() ? "privstack@" + host : email.from;
  m.to = email.to;
  std::string id = text_of(doc, "id");
  std::string what = change_phrase(kind);
  m.subject = "[privstack " + host + "] incident " + id + " " + what + " (" + text_of(doc, "severity") +
              "): " + text_of(doc, "title");
  m.message_id = "incident-" + id + "-" + unique + "@" + host;
  std::string b = "Incident " + id + " on " + host + " was " + what + ".\n\n";
  if (const json::value* left = doc.if_contains("notification_time_left_seconds"); left && left->is_int64()) {
    std::int64_t s = left->as_int64();
    b += "POSSIBLE PERSONAL-DATA BREACH: notify by " + text_of(doc, "notification_deadline") +
         (s < 0 ? " (OVERDUE by " + std::to_string(-s / 3600) + " h)"
                : " (" + std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min left)") +
         "\n\n";
  }
  b += "Title:     " + text_of(doc, "title") + "\n";
  b += "Severity:  " + text_of(doc, "severity") + "\n";
  b += "State:     " + text_of(doc, "state") + "\n";
  b += "Rule:      " + text_of(doc, "rule") + "\n";
  if (std::string owner = text_of(doc, "owner"); !owner.empty()) b += "Owner:     " + owner + "\n";
  b += "Detected:  " + text_of(doc, "detected_at") + "\n";
  b += "Events:    " + text_of(doc, "event_count") + "\n";
  if (!latest.empty()) b += "Latest:    " + text_of(latest, "at") + " " + text_of(latest, "message") + "\n";
  b += "\nIn the console: Incidents, incident " + id + "; from a shell: privstackctl incidents show " + id + "\n";
  m.body = std::move(b);
  return m;
}

}  // namespace privstack::incidents
