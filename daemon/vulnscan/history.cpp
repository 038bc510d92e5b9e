#include "vulnscan/history.h"

#include <algorithm>
#include <set>

namespace privstack::vulnscan {

std::string finding_key(const VulnFinding& f) { return f.cve + ":" + f.package + ":" + f.architecture; }

boost::json::object TrackedFinding::to_json() const {
  const auto& f = finding;
  return boost::json::object{
      {"id", finding_key(f)},
      {"cve", f.cve},
      {"package", f.package},
      {"architecture", f.architecture},
      {"installed_version", f.installed_version},
      {"source", f.source},
      {"source_version", f.source_version},
      {"fixed_version", f.fix_available() ? boost::json::value(f.fixed_version) : boost::json::value(nullptr)},
      {"fix", f.fix_available() ? f.fixed_version : std::string("no fix yet")},
      {"status", f.status},
      {"urgency", f.urgency},
      {"severity", std::string(to_string(f.severity))},
      {"nodsa", f.nodsa},
      {"nodsa_reason", f.nodsa_reason},
      {"description", f.description},
      {"remediation", f.remediation()},
      {"first_seen_us", first_seen_us},
      {"new", is_new},
  };
}

Tracked track(const std::vector<VulnFinding>& current, const std::map<std::string, std::int64_t>& first_seen_before,
              std::int64_t now_us) {
  Tracked out;
  std::set<std::string> present;
  for (const auto& f : current) {
    TrackedFinding t;
    t.finding = f;
    const auto key = finding_key(f);
    present.insert(key);
    if (const auto it = first_seen_before.find(key); it != first_seen_before.end()) {
      t.first_seen_us = it->second;
    } else {
      t.first_seen_us = now_us;
      t.is_new = true;
    }
    out.findings.push_back(std::move(t));
  }
  for (const auto& [key, _] : first_seen_before)
    if (!present.contains(key)) out.resolved.push_back(key);  // std::map: already sorted
  return out;
}

bool opens_incident(const TrackedFinding& f) {
  return f.is_new && f.finding.fix_available() &&
         (f.finding.severity == Severity::high || f.finding.severity == Severity::critical);
}

std::int64_t feed_age_seconds(std::int64_t feed_time_us, std::int64_t now_us) {
  // A feed from the future (a skewed clock) is not younger than zero.
  return std::max<std::int64_t>(0, (now_us - feed_time_us) / 1'000'000);
}

std::optional<hostaudit::Finding> stale_feed_finding(std::int64_t feed_time_us, std::int64_t now_us,
                                                     std::chrono::seconds max_age) {
  const auto age = feed_age_seconds(feed_time_us, now_us);
  if (age <= max_age.count()) return std::nullopt;
  hostaudit::Finding f;
  f.check = "VS-FEED-001";
  f.subject = "feed";
  f.id = f.check + ":" + f.subject;
  f.severity = Severity::medium;
  f.title = "The vulnerability feed is stale";
  f.detail = "The security tracker data is " + std::to_string(age / 86400) + " days old (limit " +
             std::to_string(max_age.count() / 86400) + " days): CVEs published since are not matched.";
  f.remediation = "Fetch a current feed (vulnscan.feed_url) or download it elsewhere and import it.";
  f.command = "privstackctl vulnscan import FILE";
  return f;
}

}  // namespace privstack::vulnscan
