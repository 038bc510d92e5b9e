#include "incidents/rules.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdlib>
#include <set>

namespace privstack::incidents {

namespace json = boost::json;

const char* to_string(Severity s) {
  switch (s) {
    case Severity::low: return "low";
    case Severity::medium: return "medium";
    case Severity::high: return "high";
    case Severity::critical: return "critical";
  }
  return "high";
}

std::optional<Severity> parse_severity(std::string_view s) {
  for (Severity v : {Severity::low, Severity::medium, Severity::high, Severity::critical}) {
    if (s == to_string(v)) return v;
  }
  return std::nullopt;
}

std::string ObservedEvent::field(std::string_view n) const {
  for (const auto& [k, v] : fields) {
    if (k == n) return v;
  }
  return {};
}

std::string ObservedEvent::fields_json() const {
  json::object o;
  for (const auto& [k, v] : fields) {
    if (!v.empty()) o[k] = v;
  }
  return json::serialize(o);
}

namespace {

bool is_login_failure(const std::string& n) { return n == "auth.login_failed" || n == "auth.totp_failed"; }
bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

void prune(std::deque<ObservedEvent>& d, std::int64_t cutoff) {
  while (!d.empty() && d.front().at_us < cutoff) d.pop_front();
}

RuleHit single(std::string rule, std::string key, Severity severity, std::string title, bool breach,
               const ObservedEvent& ev) {
  return RuleHit{std::move(rule), std::move(key), severity, std::move(title), breach, {ev}};
}

}  // namespace

std::optional<RuleHit> RuleEngine::process(const ObservedEvent& ev, const IsOpen& is_open) {
  const Config::Incidents& ic = thresholds_;
  std::int64_t cutoff = ev.at_us - static_cast<std::int64_t>(ic.window.count()) * 1000000;
  const std::string& n = ev.name;

  // Repeated login failures and lockouts, across accounts and addresses.
  if (is_login_failure(n) || n == "auth.lockout") {
    prune(login_events_, cutoff);
    login_events_.push_back(ev);
    std::set<std::string> users, remotes;
    std::int64_t failures = 0;
    bool lockout = false;
    for (const auto& e : login_events_) {
      if (is_login_failure(e.name)) ++failures;
      if (e.name == "auth.lockout") lockout = true;
      if (!e.field("USER").empty()) users.insert(e.field("USER"));
      if (!e.field("REMOTE").empty()) remotes.insert(e.field("REMOTE"));
    }
    if (!is_open("login_failures", "") && failures < ic.login_failure_threshold) return std::nullopt;
    Severity sev = (lockout || users.size() > 1 || remotes.size() > 1) ? Severity::high : Severity::medium;
    std::string title = "Repeated failed logins: " + std::to_string(failures) + " in " +
                        std::to_string(ic.window.count()) + " s, " + std::to_string(users.size()) +
                        " account(s), " + std::to_string(remotes.size()) + " address(es)";
    return RuleHit{"login_failures", "", sev, std::move(title), false, login_events_};
  }
  // A successful login after many failures for the same account.
  if (n == "auth.login_succeeded") {
    prune(login_events_, cutoff);
    std::string user = ev.field("USER");
    std::deque<ObservedEvent> feed;
    for (const auto& e : login_events_) {
      if (is_login_failure(e.name) && e.field("USER") == user) feed.push_back(e);
    }
    std::size_t needed = static_cast<std::size_t>(std::max(3, ic.login_failure_threshold / 2));
    if (user.empty() || feed.size() < needed) return std::nullopt;
    feed.push_back(ev);
    std::string title =
        "Successful login for " + user + " after " + std::to_string(feed.size() - 1) + " failed attempts";
    return RuleHit{"login_after_failures", user, Severity::high, std::move(title), true, std::move(feed)};
  }
  if (n == "auth.permission_denied") {
    return count_rule("permission_denied", ev, cutoff, ic.permission_denied_threshold, Severity::medium,
                      "Burst of refused requests (permission, CSRF or Origin checks)", is_open);
  }
  if (n.starts_with("wallet.") && contains(n, "unlock") && contains(n, "fail")) {
    return count_rule("wallet_unlock_failures", ev, cutoff, ic.wallet_unlock_failure_threshold, Severity::high,
                      "Repeated failed wallet unlocks", is_open);
  }
  if (n == "audit.verify_failed") {
    return single("audit_tamper", "", Severity::critical, "Audit log verification failed: possible tampering", true,
                  ev);
  }
  if (n == "store.open_failed" || n == "store.check_failed") {
    return single("store_key", "", Severity::critical,
                  "Encrypted store cannot be opened or fails its integrity check", false, ev);
  }
  if (n == "store.rekey_recovered") {
    return single("store_key", "", Severity::medium, "Store key rotation was interrupted and recovered", false, ev);
  }
  if (n == "hostaudit.finding") {
    auto sev = parse_severity(ev.field("SEVERITY"));
    if (!sev || *sev < Severity::high) return std::nullopt;
    // Accepted as a known risk (hostaudit/acceptance.h): no incident while in force.
    if (!ev.field("ACCEPTED_UNTIL").empty()) return std::nullopt;
    // One incident per finding (a check such as the port scan has several),
    // so that each one closes when a later scan no longer sees it.
    std::string key = ev.field("FINDING_ID");
    if (key.empty()) key = ev.field("CHECK");
    std::string what = ev.field("TITLE");
    if (what.empty()) what = ev.message;
    return single("host_exposure", key, *sev, "Host audit: " + what, false, ev);
  }
  if (n == "tls.certificate_expiring") {
    std::string days = ev.field("DAYS_LEFT");
    bool soon = !days.empty() && std::atoi(days.c_str()) <= 7;
    return single("certificate_expiry", "", soon ? Severity::high : Severity::medium,
                  "TLS certificate expires in " + (days.empty() ? std::string("a few") : days) + " days", false, ev);
  }
  if (n.starts_with("backup.") || n.starts_with("restore.")) {
    bool failed = contains(n, "fail") || contains(n, "missed") || contains(n, "overdue");
    if (failed) return single("backup_failure", "", Severity::high, "Backup failed or missed its schedule", false, ev);
    if (contains(n, "restore") && !contains(n, "test")) {
      return single("restore", "", Severity::medium, "A restore from backup was performed", false, ev);
    }
  }
  return std::nullopt;
}

std::optional<Clearance> RuleEngine::clears(const ObservedEvent& ev) {
  const std::string& n = ev.name;
  // A backup that reached every destination it has: the off-site copy, or
  // the local archive when no off-site storage is configured (OFF_SITE=none
  // on backup.completed). A local archive alone does not clear a failure
  // while an upload is still to come and may fail.
  if (n == "backup.uploaded") {
    return Clearance{"backup_failure", "", "backup " + ev.field("BACKUP_ID") + " was written and shipped off-site"};
  }
  if (n == "backup.completed" && ev.field("OFF_SITE") == "none") {
    return Clearance{"backup_failure", "", "backup " + ev.field("BACKUP_ID") + " was written (no off-site storage is configured)"};
  }
  if (n == "hostaudit.finding_resolved") {
    std::string id = ev.field("FINDING_ID");
    if (id.empty()) return std::nullopt;
    return Clearance{"host_exposure", id, "host audit scan " + ev.field("SCAN_ID") + " no longer finds " + id};
  }
  if (n == "hostaudit.finding_accepted") {
    // An administrator accepted it as a known risk: the decision (reason,
    // expiry) is in the audit log; the incident has had its answer.
    std::string id = ev.field("FINDING_ID");
    if (id.empty()) return std::nullopt;
    return Clearance{"host_exposure", id,
                     id + " was accepted as a known risk until " + ev.field("ACCEPTED_UNTIL") + " by " + ev.field("ACTOR")};
  }
  if (n == "tls.certificate_loaded") {
    std::string not_after = ev.field("NOT_AFTER");
    if (not_after.empty()) return std::nullopt;
    std::int64_t left_s = std::atoll(not_after.c_str()) - ev.at_us / 1000000;
    std::int64_t days = left_s / 86400;
    if (days < kCertificateClearDays) return std::nullopt;
    return Clearance{"certificate_expiry", "", "a TLS certificate valid for " + std::to_string(days) + " more days was loaded"};
  }
  return std::nullopt;
}

std::optional<RuleHit> RuleEngine::count_rule(const std::string& rule, const ObservedEvent& ev, std::int64_t cutoff,
                                              int threshold, Severity severity, const std::string& title,
                                              const IsOpen& is_open) {
  auto& d = counted_[rule];
  prune(d, cutoff);
  d.push_back(ev);
  if (!is_open(rule, "") && static_cast<int>(d.size()) < threshold) return std::nullopt;
  return RuleHit{rule, "", severity, title + " (" + std::to_string(d.size()) + " in the window)", false, d};
}

}  // namespace privstack::incidents
