#include <gtest/gtest.h>

#include "vulnscan/matching.h"

namespace privstack::vulnscan {
namespace {

InstalledPackage pkg(std::string name, std::string version, std::string source = "", std::string sv = "") {
  InstalledPackage p;
  p.name = std::move(name);
  p.version = std::move(version);
  p.architecture = "amd64";
  p.source = source.empty() ? p.name : source;
  p.source_version = sv.empty() ? p.version : sv;
  p.status = "install ok installed";
  return p;
}

FeedEntry entry(std::string id, std::string status, std::string fixed = "", std::string urgency = "medium") {
  FeedEntry e;
  e.id = std::move(id);
  e.status = std::move(status);
  e.fixed_version = std::move(fixed);
  e.urgency = std::move(urgency);
  return e;
}

TEST(Matching, ComparesTheSourceVersionWithTheFixedVersion) {
  Feed feed;
  feed.by_source["openssl"] = {entry("CVE-A", "resolved", "3.0.11-1~deb12u2", "high"),
                               entry("CVE-B", "resolved", "3.0.11-1~deb12u1"),
                               entry("CVE-C", "resolved", "0"),
                               entry("CVE-D", "open", "", "low"),
                               entry("CVE-E", "undetermined")};
  feed.by_source["openssl"][3].nodsa = "Minor issue";
  feed.by_source["openssl"][3].nodsa_reason = "ignored";
  // The binary's version carries a binNMU suffix; the source's does not.
  const auto r = match({pkg("libssl3", "3.0.11-1~deb12u1+b1", "openssl", "3.0.11-1~deb12u1")}, feed);
  ASSERT_EQ(r.findings.size(), 3u);
  EXPECT_EQ(r.findings[0].cve, "CVE-A");
  EXPECT_EQ(r.findings[0].package, "libssl3");
  EXPECT_EQ(r.findings[0].installed_version, "3.0.11-1~deb12u1+b1");
  EXPECT_EQ(r.findings[0].fixed_version, "3.0.11-1~deb12u2");
  EXPECT_EQ(r.findings[0].severity, Severity::high);
  EXPECT_EQ(r.findings[0].remediation(), "apt-get install --only-upgrade libssl3");
  EXPECT_EQ(r.findings[1].cve, "CVE-D");
  EXPECT_FALSE(r.findings[1].fix_available());
  EXPECT_EQ(r.findings[1].remediation(), "");
  EXPECT_EQ(r.findings[1].nodsa_reason, "ignored");
  EXPECT_EQ(r.findings[2].cve, "CVE-E");
  EXPECT_EQ(r.findings[2].status, "undetermined");
}

TEST(Matching, LooksUpTheSourcePackageNeverTheBinarysName) {
  Feed feed;
  feed.by_source["foo"] = {entry("CVE-1", "open")};  // source foo, not the binary foo built from bar
  feed.by_source["foo-src"] = {entry("CVE-2", "resolved", "1.0")};
  EXPECT_TRUE(match({pkg("foo", "2.0", "bar")}, feed).findings.empty());
  const auto r = match({pkg("foo", "0.9", "foo-src")}, feed);
  ASSERT_EQ(r.findings.size(), 1u);
  EXPECT_EQ(r.findings[0].cve, "CVE-2");
}

TEST(Matching, NamesVersionsItCannotCompare) {
  Feed feed;
  feed.by_source["a"] = {entry("CVE-1", "resolved", "1.0-")};
  feed.by_source["b"] = {entry("CVE-2", "open")};
  const auto r = match({pkg("a", "0.5"), pkg("b", "1:")}, feed);
  EXPECT_TRUE(r.findings.empty());
  EXPECT_EQ(r.unparseable.size(), 2u);
}

TEST(Matching, SeverityFromUrgency) {
  EXPECT_EQ(severity_of("unimportant", ""), Severity::info);
  EXPECT_EQ(severity_of("low**", ""), Severity::low);
  EXPECT_EQ(severity_of("medium", ""), Severity::medium);
  EXPECT_EQ(severity_of("not yet assigned", ""), Severity::medium);
  EXPECT_EQ(severity_of("high", "local"), Severity::high);
  EXPECT_EQ(severity_of("high", "remote"), Severity::critical);
  EXPECT_EQ(severity_of("end-of-life", ""), Severity::high);
}

}  // namespace
}  // namespace privstack::vulnscan
