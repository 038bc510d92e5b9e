// A scan's findings against the previous scan's (pure): which are new,
// which keep their first-seen time, which were resolved; which open an
// incident; and the feed's age, a stale feed being a finding of its own.
// The store and the schedule (the next slice) call these; the decisions are
// here so that they are unit-tested without a daemon.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "hostaudit/findings.h"
#include "vulnscan/matching.h"

namespace privstack::vulnscan {

// A finding's stable key from scan to scan: "CVE:package:architecture"
// (multi-arch packages are installed once per architecture).
std::string finding_key(const VulnFinding& f);

struct TrackedFinding {
  VulnFinding finding;
  std::int64_t first_seen_us = 0;
  bool is_new = false;  // not in the previous scan
  boost::json::object to_json() const;
};

struct Tracked {
  std::vector<TrackedFinding> findings;  // in the order given
  std::vector<std::string> resolved;     // keys of the previous scan that are gone, sorted
};

// first_seen_before: the previous scan's keys and first-seen times.
Tracked track(const std::vector<VulnFinding>& current, const std::map<std::string, std::int64_t>& first_seen_before,
              std::int64_t now_us);

// A new finding of severity high or critical that has a fix: someone can act
// on it now, so it opens an incident. Without a fix there is nothing to
// do but wait; it is reported and counted, not escalated.
bool opens_incident(const TrackedFinding& f);

// The feed's age at now_us, and the finding VS-FEED-001 (severity medium)
// when it is older than max_age: matching against old data hides every CVE
// published since. feed_time_us is when the feed was fetched (or the
// imported file's modification time).
std::int64_t feed_age_seconds(std::int64_t feed_time_us, std::int64_t now_us);
std::optional<hostaudit::Finding> stale_feed_finding(std::int64_t feed_time_us, std::int64_t now_us,
                                                     std::chrono::seconds max_age);

}  // namespace privstack::vulnscan
