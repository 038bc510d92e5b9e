// The incident rules on their own: thresholds, the sliding window, severity,
// and what a reload changes. Time moves by giving events later times.
#include "incidents/rules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace privstack::incidents {
namespace {

using ::testing::HasSubstr;

constexpr std::int64_t kSecond = 1'000'000;

ObservedEvent event(std::string name, std::int64_t at_s,
                    std::vector<std::pair<std::string, std::string>> fields = {}, std::string message = "m") {
  ObservedEvent e;
  e.name = std::move(name);
  e.at_us = at_s * kSecond;
  e.fields = std::move(fields);
  e.message = std::move(message);
  return e;
}

ObservedEvent login_failed(std::int64_t at_s, std::string user = "alice", std::string remote = "192.0.2.1") {
  return event("auth.login_failed", at_s, {{"USER", user}, {"REMOTE", remote}});
}

// The register as the rules see it: an incident opens on the first hit.
struct Register {
  std::set<std::pair<std::string, std::string>> open;
  RuleEngine::IsOpen is_open() {
    return [this](const std::string& r, const std::string& k) { return open.contains({r, k}); };
  }
  std::optional<RuleHit> feed(RuleEngine& rules, const ObservedEvent& ev) {
    auto hit = rules.process(ev, is_open());
    if (hit) open.insert({hit->rule, hit->key});
    return hit;
  }
};

Config::Incidents thresholds(int logins, int denied = 20, int wallet = 3, std::chrono::seconds window = std::chrono::seconds(900)) {
  Config::Incidents t;
  t.login_failure_threshold = logins;
  t.permission_denied_threshold = denied;
  t.wallet_unlock_failure_threshold = wallet;
  t.window = window;
  return t;
}

TEST(Rules, LoginFailuresOpenAtTheThresholdWithTheWholeWindowAsFeed) {
  RuleEngine rules(thresholds(3));
  Register reg;
  EXPECT_FALSE(reg.feed(rules, login_failed(100)));
  EXPECT_FALSE(reg.feed(rules, login_failed(101)));
  auto hit = reg.feed(rules, login_failed(102));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->rule, "login_failures");
  EXPECT_EQ(hit->key, "");
  EXPECT_EQ(hit->severity, Severity::medium);  // one account, one address, no lockout
  EXPECT_FALSE(hit->breach);
  EXPECT_EQ(hit->feed.size(), 3u);
  EXPECT_EQ(hit->title, "Repeated failed logins: 3 in 900 s, 1 account(s), 1 address(es)");
}

TEST(Rules, AnOpenIncidentTakesEveryFurtherFailureBelowTheThreshold) {
  RuleEngine rules(thresholds(2, 20, 3, std::chrono::seconds(10)));
  Register reg;
  reg.feed(rules, login_failed(0));
  ASSERT_TRUE(reg.feed(rules, login_failed(1)));
  // Long after the window, one failure alone still feeds the open incident.
  auto hit = reg.feed(rules, login_failed(1000));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->feed.size(), 1u);
  // Resolved (no longer open): one failure is below the threshold again.
  reg.open.clear();
  EXPECT_FALSE(reg.feed(rules, login_failed(2000)));
}

TEST(Rules, TheWindowForgetsFailuresOlderThanItsLength) {
  RuleEngine rules(thresholds(3, 20, 3, std::chrono::seconds(60)));
  Register reg;
  reg.feed(rules, login_failed(0));
  reg.feed(rules, login_failed(30));
  // 61 s after the first: it has left the window, so this is the second.
  EXPECT_FALSE(reg.feed(rules, login_failed(61)));
  // Exactly 60 s after the second: still inside (the cutoff keeps equal times).
  EXPECT_TRUE(reg.feed(rules, login_failed(90)));
}

TEST(Rules, SeverityIsHighForSeveralAccountsOrAddressesOrALockout) {
  {
    RuleEngine rules(thresholds(2));
    Register reg;
    reg.feed(rules, login_failed(0, "alice"));
    auto hit = reg.feed(rules, login_failed(1, "bob"));
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->severity, Severity::high);
    EXPECT_THAT(hit->title, HasSubstr("2 account(s), 1 address(es)"));
  }
  {
    RuleEngine rules(thresholds(2));
    Register reg;
    reg.feed(rules, login_failed(0, "alice", "192.0.2.1"));
    auto hit = reg.feed(rules, login_failed(1, "alice", "198.51.100.7"));
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->severity, Severity::high);
  }
  {
    RuleEngine rules(thresholds(2));
    Register reg;
    reg.feed(rules, login_failed(0));
    auto hit = reg.feed(rules, event("auth.lockout", 1, {{"USER", "alice"}}));
    // A lockout counts into the window but is not a failure: 1 of 2.
    EXPECT_FALSE(hit);
    hit = reg.feed(rules, login_failed(2));
    ASSERT_TRUE(hit);
    EXPECT_EQ(hit->severity, Severity::high);
  }
}

TEST(Rules, TotpFailuresCountAsLoginFailures) {
  RuleEngine rules(thresholds(2));
  Register reg;
  reg.feed(rules, event("auth.totp_failed", 0, {{"USER", "alice"}}));
  EXPECT_TRUE(reg.feed(rules, login_failed(1)));
}

TEST(Rules, ASuccessAfterHalfTheThresholdOfFailuresOfThatAccountIsAPossibleBreach) {
  RuleEngine rules(thresholds(10));  // needs max(3, 10 / 2) = 5 failures of the same user
  Register reg;
  for (int i = 0; i < 4; ++i) reg.feed(rules, login_failed(i, "alice"));
  reg.feed(rules, login_failed(4, "bob"));  // another account's do not count
  EXPECT_FALSE(reg.feed(rules, event("auth.login_succeeded", 5, {{"USER", "alice"}})));
  reg.feed(rules, login_failed(6, "alice"));
  auto hit = reg.feed(rules, event("auth.login_succeeded", 7, {{"USER", "alice"}}));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->rule, "login_after_failures");
  EXPECT_EQ(hit->key, "alice");
  EXPECT_EQ(hit->severity, Severity::high);
  EXPECT_TRUE(hit->breach);
  EXPECT_EQ(hit->feed.size(), 6u);  // 5 failures and the success, last
  EXPECT_EQ(hit->feed.back().name, "auth.login_succeeded");
  EXPECT_EQ(hit->title, "Successful login for alice after 5 failed attempts");
}

TEST(Rules, ASuccessNeedsAtLeastThreeFailuresWhateverTheThreshold) {
  RuleEngine rules(thresholds(2));
  Register reg;
  reg.feed(rules, login_failed(0, "alice"));
  reg.feed(rules, login_failed(1, "alice"));
  EXPECT_FALSE(reg.feed(rules, event("auth.login_succeeded", 2, {{"USER", "alice"}})));
}

TEST(Rules, PermissionDeniedAndWalletUnlockFailuresCountInTheirOwnWindows) {
  RuleEngine rules(thresholds(10, 3, 2));
  Register reg;
  EXPECT_FALSE(reg.feed(rules, event("auth.permission_denied", 0)));
  EXPECT_FALSE(reg.feed(rules, event("wallet.unlock_failed", 0)));
  EXPECT_FALSE(reg.feed(rules, event("auth.permission_denied", 1)));
  auto wallet = reg.feed(rules, event("wallet.unlock_failed", 1));
  ASSERT_TRUE(wallet);
  EXPECT_EQ(wallet->rule, "wallet_unlock_failures");
  EXPECT_EQ(wallet->severity, Severity::high);
  EXPECT_EQ(wallet->title, "Repeated failed wallet unlocks (2 in the window)");
  auto denied = reg.feed(rules, event("auth.permission_denied", 2));
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->rule, "permission_denied");
  EXPECT_EQ(denied->severity, Severity::medium);
  EXPECT_EQ(denied->feed.size(), 3u);
}

TEST(Rules, SingleEventRules) {
  RuleEngine rules;
  Register reg;
  auto tamper = reg.feed(rules, event("audit.verify_failed", 0));
  ASSERT_TRUE(tamper);
  EXPECT_EQ(tamper->rule, "audit_tamper");
  EXPECT_EQ(tamper->severity, Severity::critical);
  EXPECT_TRUE(tamper->breach);

  auto store = reg.feed(rules, event("store.check_failed", 0));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->rule, "store_key");
  EXPECT_EQ(store->severity, Severity::critical);
  auto rekey = reg.feed(rules, event("store.rekey_recovered", 0));
  ASSERT_TRUE(rekey);
  EXPECT_EQ(rekey->rule, "store_key");
  EXPECT_EQ(rekey->severity, Severity::medium);

  auto backup = reg.feed(rules, event("backup.failed", 0));
  ASSERT_TRUE(backup);
  EXPECT_EQ(backup->rule, "backup_failure");
  EXPECT_TRUE(reg.feed(rules, event("backup.missed", 0)));
  auto restore = reg.feed(rules, event("restore.completed", 0));
  ASSERT_TRUE(restore);
  EXPECT_EQ(restore->rule, "restore");
  // A scheduled test restore and a successful backup are routine.
  EXPECT_FALSE(reg.feed(rules, event("backup.test_restore_passed", 0)));
  EXPECT_FALSE(reg.feed(rules, event("backup.completed", 0)));
}

TEST(Rules, HostFindingsOfHighSeverityOpenOneIncidentPerCheck) {
  RuleEngine rules;
  Register reg;
  EXPECT_FALSE(reg.feed(rules, event("hostaudit.finding", 0, {{"SEVERITY", "medium"}, {"CHECK", "ssh"}})));
  EXPECT_FALSE(reg.feed(rules, event("hostaudit.finding", 0, {{"SEVERITY", "bogus"}, {"CHECK", "ssh"}})));
  auto hit = reg.feed(rules, event("hostaudit.finding", 0, {{"SEVERITY", "critical"}, {"CHECK", "port:23/tcp"}},
                                   "telnet is listening"));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->rule, "host_exposure");
  EXPECT_EQ(hit->key, "port:23/tcp");
  EXPECT_EQ(hit->severity, Severity::critical);
  EXPECT_EQ(hit->title, "Host audit: telnet is listening");
}

TEST(Rules, HostFindingsAreKeyedByFindingAndTitledByTheFindingsOwnTitle) {
  RuleEngine rules;
  Register reg;
  // Two exposed ports come from one check: two incidents, each closable.
  auto telnet = reg.feed(rules, event("hostaudit.finding", 0,
                                      {{"SEVERITY", "high"}, {"CHECK", "HA-NET-001"}, {"FINDING_ID", "HA-NET-001:23/tcp"},
                                       {"TITLE", "telnet listens on 0.0.0.0:23"}},
                                      "host audit finding: telnet listens on 0.0.0.0:23"));
  auto ftp = reg.feed(rules, event("hostaudit.finding", 0,
                                   {{"SEVERITY", "high"}, {"CHECK", "HA-NET-001"}, {"FINDING_ID", "HA-NET-001:21/tcp"},
                                    {"TITLE", "ftp listens on 0.0.0.0:21"}}));
  ASSERT_TRUE(telnet);
  ASSERT_TRUE(ftp);
  EXPECT_EQ(telnet->key, "HA-NET-001:23/tcp");
  EXPECT_EQ(ftp->key, "HA-NET-001:21/tcp");
  // The title says it once, not "Host audit: host audit finding: ...".
  EXPECT_EQ(telnet->title, "Host audit: telnet listens on 0.0.0.0:23");
}

TEST(Rules, ASuccessfulBackupClearsBackupFailures) {
  auto uploaded = RuleEngine::clears(event("backup.uploaded", 0, {{"BACKUP_ID", "20261207T1700Z"}}));
  ASSERT_TRUE(uploaded);
  EXPECT_EQ(uploaded->rule, "backup_failure");
  EXPECT_EQ(uploaded->key, "");
  EXPECT_THAT(uploaded->reason, HasSubstr("20261207T1700Z"));
  // Without off-site storage the local archive is the whole backup...
  auto local = RuleEngine::clears(event("backup.completed", 0, {{"BACKUP_ID", "b1"}, {"OFF_SITE", "none"}}));
  ASSERT_TRUE(local);
  EXPECT_EQ(local->rule, "backup_failure");
  EXPECT_THAT(local->reason, HasSubstr("no off-site storage"));
  // ...with it, the upload is still to come and may fail.
  EXPECT_FALSE(RuleEngine::clears(event("backup.completed", 0, {{"BACKUP_ID", "b1"}, {"OFF_SITE", "s3"}})));
  EXPECT_FALSE(RuleEngine::clears(event("backup.completed", 0, {{"BACKUP_ID", "b1"}})));
  // Failures never clear anything.
  for (const char* name : {"backup.failed", "backup.upload_failed", "backup.verify_failed"}) {
    EXPECT_FALSE(RuleEngine::clears(event(name, 0, {{"OFF_SITE", "none"}}))) << name;
  }
}

TEST(Rules, AResolvedFindingClearsItsOwnIncidentOnly) {
  auto c = RuleEngine::clears(event("hostaudit.finding_resolved", 0, {{"FINDING_ID", "HA-NET-001:23/tcp"}, {"SCAN_ID", "7"}}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->rule, "host_exposure");
  EXPECT_EQ(c->key, "HA-NET-001:23/tcp");
  EXPECT_THAT(c->reason, HasSubstr("scan 7"));
  EXPECT_FALSE(RuleEngine::clears(event("hostaudit.finding_resolved", 0, {{"SCAN_ID", "7"}})));
}

TEST(Rules, OnlyACertificateFarFromExpiryClearsCertificateExpiry) {
  const std::int64_t now_s = 1'800'000'000;
  auto loaded = [&](std::int64_t days_left) {
    return event("tls.certificate_loaded", now_s, {{"NOT_AFTER", std::to_string(now_s + days_left * 86400 + 60)}});
  };
  auto renewed = RuleEngine::clears(loaded(90));
  ASSERT_TRUE(renewed);
  EXPECT_EQ(renewed->rule, "certificate_expiry");
  EXPECT_THAT(renewed->reason, HasSubstr("90 more days"));
  EXPECT_TRUE(RuleEngine::clears(loaded(RuleEngine::kCertificateClearDays)));
  // The same old certificate loaded again (a restart) leaves it open.
  EXPECT_FALSE(RuleEngine::clears(loaded(RuleEngine::kCertificateClearDays - 1)));
  EXPECT_FALSE(RuleEngine::clears(loaded(-3)));
  EXPECT_FALSE(RuleEngine::clears(event("tls.certificate_loaded", now_s, {})));
}

TEST(Rules, AcceptingAFindingAsAKnownRiskClearsItsIncident) {
  auto c = RuleEngine::clears(event("hostaudit.finding_accepted", 0,
                                    {{"FINDING_ID", "HA-PKG-001:apt"}, {"ACCEPTED_UNTIL", "2027-03-01T23:59:59Z"},
                                     {"ACTOR", "user:alice"}}));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->rule, "host_exposure");
  EXPECT_EQ(c->key, "HA-PKG-001:apt");
  EXPECT_EQ(c->reason, "HA-PKG-001:apt was accepted as a known risk until 2027-03-01T23:59:59Z by user:alice");
  EXPECT_FALSE(RuleEngine::clears(event("hostaudit.finding_accepted", 0, {{"ACTOR", "user:alice"}})));
  // Revoking an acceptance clears nothing (the next scan reports the finding again).
  EXPECT_FALSE(RuleEngine::clears(event("hostaudit.acceptance_revoked", 0, {{"FINDING_ID", "HA-PKG-001:apt"}})));
}

TEST(Rules, RoutineEventsClearNothing) {
  for (const char* name : {"auth.login_succeeded", "wallet.unlocked", "backup.verified", "hostaudit.scan_completed"}) {
    EXPECT_FALSE(RuleEngine::clears(event(name, 0, {{"FINDING_ID", "x"}, {"OFF_SITE", "none"}}))) << name;
  }
}

TEST(Rules, HostFindingAcceptedAsAKnownRiskOpensNoIncident) {
  RuleEngine rules;
  Register reg;
  // The host audit writes ACCEPTED_UNTIL on a new finding that is accepted (hostaudit/acceptance.h).
  EXPECT_FALSE(reg.feed(rules, event("hostaudit.finding", 0,
                                     {{"SEVERITY", "critical"}, {"CHECK", "HA-NET-001"},
                                      {"ACCEPTED_UNTIL", "2027-03-01T00:00:00Z"}})));
  EXPECT_TRUE(reg.feed(rules, event("hostaudit.finding", 0, {{"SEVERITY", "critical"}, {"CHECK", "HA-NET-001"}})));
}

TEST(Rules, CertificateExpiryIsHighWithinAWeek) {
  RuleEngine rules;
  Register reg;
  auto later = reg.feed(rules, event("tls.certificate_expiring", 0, {{"DAYS_LEFT", "20"}}));
  ASSERT_TRUE(later);
  EXPECT_EQ(later->severity, Severity::medium);
  EXPECT_EQ(later->title, "TLS certificate expires in 20 days");
  auto soon = reg.feed(rules, event("tls.certificate_expiring", 0, {{"DAYS_LEFT", "7"}}));
  ASSERT_TRUE(soon);
  EXPECT_EQ(soon->severity, Severity::high);
}

TEST(Rules, OtherEventsMatchNoRule) {
  RuleEngine rules;
  Register reg;
  for (const char* name : {"auth.login_succeeded", "wallet.unlocked", "records.exported", "http.request_failed"}) {
    EXPECT_FALSE(reg.feed(rules, event(name, 0, {{"USER", "alice"}}))) << name;
  }
}

TEST(Rules, NewThresholdsApplyToTheNextEventAndKeepTheWindow) {
  RuleEngine rules(thresholds(5));
  Register reg;
  reg.feed(rules, login_failed(0));
  reg.feed(rules, login_failed(1));
  EXPECT_FALSE(reg.feed(rules, login_failed(2)));
  rules.set_thresholds(thresholds(4));
  EXPECT_EQ(rules.thresholds().login_failure_threshold, 4);
  // The three failures seen before the reload still count.
  auto hit = reg.feed(rules, login_failed(3));
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->feed.size(), 4u);
}

TEST(Rules, ObservedEventFieldsAsJsonLeaveOutEmptyValues) {
  ObservedEvent e = event("x", 0, {{"USER", "alice"}, {"REMOTE", ""}, {"REASON", "bad \"password\""}});
  EXPECT_EQ(e.field("USER"), "alice");
  EXPECT_EQ(e.field("MISSING"), "");
  EXPECT_EQ(e.fields_json(), R"({"USER":"alice","REASON":"bad \"password\""})");
}

TEST(Severity, NamesRoundTrip) {
  for (Severity s : {Severity::low, Severity::medium, Severity::high, Severity::critical}) {
    EXPECT_EQ(parse_severity(to_string(s)), s);
  }
  EXPECT_FALSE(parse_severity("High"));
  EXPECT_FALSE(parse_severity(""));
}

}  // namespace
}  // namespace privstack::incidents
