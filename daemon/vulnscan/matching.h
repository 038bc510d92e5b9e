// Which feed entries affect which installed packages (pure).
//
// An entry of the host's release affects an installed binary package when
// the package's source package has it (the feed is keyed by source package:
// an entry under a source that shares the binary's name is another package's,
// and debsecan does not match it either)
//   - open or undetermined: no fix yet (undetermined is reported rather than
//     hidden: the tracker has not decided whether the release is affected);
//   - resolved with fixed_version newer (dpkg order) than the installed
//     source version. fixed_version "0" means the release was never affected.
// no-DSA notes (postponed, ignored) are kept on the finding, not filtered:
// the package is still vulnerable, Debian just will not issue an advisory.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hostaudit/findings.h"
#include "vulnscan/feed.h"
#include "vulnscan/inventory.h"

namespace privstack::vulnscan {

// The tracker's urgency mapped to a severity (docs/vulnscan.md):
// unimportant -> info, low -> low, medium -> medium, high -> high,
// "not yet assigned" and anything unknown -> medium (not hidden before
// triage), end-of-life -> high (the release no longer gets fixes). A trailing
// "*" or "**" (the tracker's "not yet reviewed" marks) is ignored. The
// tracker has no "critical"; high with a remote scope is reported critical.
// The scale is host audit's (hostaudit::Severity): the console, incidents
// and metrics rank both kinds of finding the same way.
using hostaudit::Severity;
using hostaudit::to_string;
Severity severity_of(std::string_view urgency, std::string_view scope);

struct VulnFinding {
  std::string cve;
  std::string package;            // the binary package
  std::string architecture;
  std::string installed_version;  // the binary package's version
  std::string source;
  std::string source_version;
  std::string fixed_version;      // "" = no fix yet
  std::string status;             // open | resolved | undetermined
  std::string urgency;
  Severity severity = Severity::medium;
  std::string nodsa;
  std::string nodsa_reason;
  std::string description;
  bool fix_available() const { return !fixed_version.empty(); }
  std::string remediation() const;  // "apt-get install --only-upgrade PKG", "" without a fix
};

struct MatchResult {
  std::vector<VulnFinding> findings;  // sorted by (cve, package)
  // Installed packages or feed entries whose versions dpkg would refuse:
  // they cannot be compared and are named here instead of guessed at.
  std::vector<std::string> unparseable;
};

MatchResult match(const std::vector<InstalledPackage>& installed, const Feed& feed);

}  // namespace privstack::vulnscan
