#include "vulnscan/matching.h"

#include <algorithm>
#include <tuple>

#include "vulnscan/debversion.h"

namespace privstack::vulnscan {

Severity severity_of(std::string_view urgency, std::string_view scope) {
  while (!urgency.empty() && urgency.back() == '*') urgency.remove_suffix(1);
  if (urgency == "unimportant") return Severity::info;
  if (urgency == "low") return Severity::low;
  if (urgency == "high") return scope == "remote" ? Severity::critical : Severity::high;
  if (urgency == "end-of-life") return Severity::high;
  return Severity::medium;
}

std::string VulnFinding::remediation() const {
  return fix_available() ? "apt-get install --only-upgrade " + package : std::string();
}

MatchResult match(const std::vector<InstalledPackage>& installed, const Feed& feed) {
  MatchResult out;
  for (const auto& pkg : installed) {
    const auto it = feed.by_source.find(pkg.source);
    if (it == feed.by_source.end()) continue;
    const auto src = parse_version(pkg.source_version);
    if (!src.version) {
      out.unparseable.push_back(pkg.name + ": source version '" + pkg.source_version + "': " + src.problem);
      continue;
    }
    for (const auto& e : it->second) {
      std::string fixed;
      if (e.status == "open" || e.status == "undetermined") {
        // no fix yet
      } else if (e.status == "resolved") {
        if (e.fixed_version.empty() || e.fixed_version == "0") continue;
        const auto fv = parse_version(e.fixed_version);
        if (!fv.version) {
          out.unparseable.push_back(e.id + ": fixed version '" + e.fixed_version + "': " + fv.problem);
          continue;
        }
        if (compare_versions(*src.version, *fv.version) >= 0) continue;
        fixed = e.fixed_version;
      } else {
        continue;  // a status the tracker does not document
      }
      VulnFinding f;
      f.cve = e.id;
      f.package = pkg.name;
      f.architecture = pkg.architecture;
      f.installed_version = pkg.version;
      f.source = pkg.source;
      f.source_version = pkg.source_version;
      f.fixed_version = std::move(fixed);
      f.status = e.status;
      f.urgency = e.urgency;
      f.severity = severity_of(e.urgency, e.scope);
      f.nodsa = e.nodsa;
      f.nodsa_reason = e.nodsa_reason;
      f.description = e.description;
      out.findings.push_back(std::move(f));
    }
  }
  std::sort(out.findings.begin(), out.findings.end(), [](const VulnFinding& a, const VulnFinding& b) {
    return std::tie(a.cve, a.package, a.architecture) < std::tie(b.cve, b.package, b.architecture);
  });
  return out;
}

}  // namespace privstack::vulnscan
