// The incident rules: which journal events open or feed an incident, with
// what severity and title. Pure: no store, no clock, no threads. The service
// (incidents.cpp) feeds it one observed event at a time, in order, on its own
// thread, tells it which incidents are open, and writes what it decides.
//
// Counting rules look at a sliding window (incidents.window) ending at the
// event's own time, so a test moves time by giving events later times.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"

namespace privstack::incidents {

enum class Severity { low, medium, high, critical };
const char* to_string(Severity s);
std::optional<Severity> parse_severity(std::string_view s);

// A copy of one journal entry, as the rules see it.
struct ObservedEvent {
  std::string name;  // PRIVSTACK_EVENT, e.g. "auth.login_failed"
  int priority = 6;
  std::string message;
  std::vector<std::pair<std::string, std::string>> fields;  // without the PRIVSTACK_ prefix
  std::int64_t at_us = 0;  // when it was observed (Unix microseconds)

  std::string field(std::string_view n) const;
  // The non-empty fields as a JSON object (for the incident's timeline).
  std::string fields_json() const;
};

// What a rule decided for one event: open the incident (rule, key), or, when
// one is open, add the newest event of `feed` to it and raise it to
// `severity` if that is higher.
struct RuleHit {
  std::string rule;
  std::string key;  // distinguishes incidents of one rule ("" for most; the user, the check)
  Severity severity = Severity::medium;
  std::string title;
  bool breach = false;  // a possible personal-data breach: the notification clock runs
  std::deque<ObservedEvent> feed;  // the events that justify it, oldest first
};

// An event that shows the cause of an incident is gone: a backup that
// reached its destination, a host-audit finding that a later scan no longer
// sees, a certificate replaced by one that is far from expiry. The service
// resolves the unresolved incident of (rule, key), if any, with `reason` in
// its timeline; an operator's own state (acknowledged, owner) does not stop
// it, because the condition it tracked is over.
struct Clearance {
  std::string rule;
  std::string key;
  std::string reason;
};

class RuleEngine {
 public:
  // Whether an unresolved incident of (rule, key) exists: an open incident
  // takes every further event of its rule, below the threshold too.
  using IsOpen = std::function<bool(const std::string& rule, const std::string& key)>;

  explicit RuleEngine(Config::Incidents thresholds = {}) : thresholds_(thresholds) {}

  // SIGHUP: new thresholds and window; the events in the windows stay.
  void set_thresholds(const Config::Incidents& thresholds) { thresholds_ = thresholds; }
  const Config::Incidents& thresholds() const { return thresholds_; }

  // One event, in order of at_us. At most one rule matches an event.
  std::optional<RuleHit> process(const ObservedEvent& ev, const IsOpen& is_open);

  // Whether `ev` clears an incident (see Clearance). Pure: no rule state.
  static std::optional<Clearance> clears(const ObservedEvent& ev);

  // A certificate valid for at least this long clears certificate_expiry
  // (tls.certificate_expiring starts at 30 days).
  static constexpr std::int64_t kCertificateClearDays = 30;

 private:
  std::optional<RuleHit> count_rule(const std::string& rule, const ObservedEvent& ev, std::int64_t cutoff,
                                    int threshold, Severity severity, const std::string& title, const IsOpen& is_open);

  Config::Incidents thresholds_;
  std::deque<ObservedEvent> login_events_;                 // failures and lockouts in the window
  std::map<std::string, std::deque<ObservedEvent>> counted_;  // other counting rules, by rule name
};

}  // namespace privstack::incidents
