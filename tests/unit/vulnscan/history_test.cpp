#include <gtest/gtest.h>

#include "vulnscan/history.h"

namespace privstack::vulnscan {
namespace {

VulnFinding finding(std::string cve, std::string package, Severity sev, std::string fixed) {
  VulnFinding f;
  f.cve = std::move(cve);
  f.package = std::move(package);
  f.architecture = "amd64";
  f.severity = sev;
  f.fixed_version = std::move(fixed);
  f.status = f.fixed_version.empty() ? "open" : "resolved";
  return f;
}

TEST(History, KeepsFirstSeenAndNamesNewAndResolved) {
  const std::map<std::string, std::int64_t> before{{"CVE-1:libssl3:amd64", 100}, {"CVE-9:zlib1g:amd64", 50}};
  const auto t = track({finding("CVE-1", "libssl3", Severity::high, "3.0.12-1"),
                        finding("CVE-2", "libssl3", Severity::low, "")},
                       before, 5000);
  ASSERT_EQ(t.findings.size(), 2u);
  EXPECT_EQ(t.findings[0].first_seen_us, 100);
  EXPECT_FALSE(t.findings[0].is_new);
  EXPECT_EQ(t.findings[1].first_seen_us, 5000);
  EXPECT_TRUE(t.findings[1].is_new);
  EXPECT_EQ(t.resolved, std::vector<std::string>{"CVE-9:zlib1g:amd64"});
}

TEST(History, ArchitecturesAreSeparateFindings) {
  auto i386 = finding("CVE-1", "libc6", Severity::high, "2.36-9");
  i386.architecture = "i386";
  const auto t = track({finding("CVE-1", "libc6", Severity::high, "2.36-9"), i386}, {{"CVE-1:libc6:amd64", 1}}, 2);
  EXPECT_FALSE(t.findings[0].is_new);
  EXPECT_TRUE(t.findings[1].is_new);
}

TEST(History, OnlyNewHighOrCriticalFindingsWithAFixOpenIncidents) {
  const auto t = track({finding("CVE-1", "a", Severity::high, "1.1"), finding("CVE-2", "a", Severity::critical, "1.1"),
                        finding("CVE-3", "a", Severity::high, ""), finding("CVE-4", "a", Severity::medium, "1.1"),
                        finding("CVE-5", "a", Severity::high, "1.1")},
                       {{"CVE-5:a:amd64", 1}}, 10);
  std::vector<bool> opens;
  for (const auto& f : t.findings) opens.push_back(opens_incident(f));
  EXPECT_EQ(opens, (std::vector<bool>{true, true, false, false, false}));
}

TEST(History, JsonShowsNoFixYetAndTheRemediation) {
  const auto t = track({finding("CVE-1", "libssl3", Severity::high, "3.0.12-1"), finding("CVE-2", "bash", Severity::low, "")},
                       {}, 7);
  const auto fixed = t.findings[0].to_json();
  EXPECT_EQ(fixed.at("id").as_string(), "CVE-1:libssl3:amd64");
  EXPECT_EQ(fixed.at("fixed_version").as_string(), "3.0.12-1");
  EXPECT_EQ(fixed.at("remediation").as_string(), "apt-get install --only-upgrade libssl3");
  EXPECT_EQ(fixed.at("severity").as_string(), "high");
  EXPECT_EQ(fixed.at("first_seen_us").as_int64(), 7);
  const auto open = t.findings[1].to_json();
  EXPECT_TRUE(open.at("fixed_version").is_null());
  EXPECT_EQ(open.at("fix").as_string(), "no fix yet");
  EXPECT_EQ(open.at("remediation").as_string(), "");
}

TEST(History, AStaleFeedIsAFinding) {
  using namespace std::chrono;
  constexpr std::int64_t day_us = 86'400'000'000;
  const auto week = duration_cast<seconds>(days(7));
  EXPECT_FALSE(stale_feed_finding(0, 7 * day_us, week));  // exactly the limit: not yet stale
  const auto f = stale_feed_finding(0, 8 * day_us, week);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->id, "VS-FEED-001:feed");
  EXPECT_EQ(f->severity, Severity::medium);
  EXPECT_NE(f->detail.find("8 days old"), std::string::npos) << f->detail;
  EXPECT_EQ(f->command, "privstackctl vulnscan import FILE");
  EXPECT_EQ(feed_age_seconds(10 * day_us, 9 * day_us), 0);  // from the future: age 0
  EXPECT_EQ(feed_age_seconds(0, day_us), 86'400);
}

}  // namespace
}  // namespace privstack::vulnscan
