// The breach notification clock and the email about an incident's change.
#include "incidents/notice.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace privstack::incidents {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::int64_t kSecond = 1'000'000;

TEST(BreachClock, FortyEightHoursFromDetection) {
  const std::int64_t detected = 1'800'000'000 * kSecond;
  BreachClock at_detection = breach_clock(detected, detected);
  EXPECT_EQ(at_detection.deadline_us, detected + 48 * 3600 * kSecond);
  EXPECT_EQ(at_detection.left_seconds, 48 * 3600);
  EXPECT_FALSE(at_detection.overdue());

  BreachClock last_second = breach_clock(detected, at_detection.deadline_us - kSecond);
  EXPECT_EQ(last_second.left_seconds, 1);
  EXPECT_FALSE(last_second.overdue());
  // At the deadline itself nothing is left, and it is not yet overdue.
  EXPECT_EQ(breach_clock(detected, at_detection.deadline_us).left_seconds, 0);
  EXPECT_FALSE(breach_clock(detected, at_detection.deadline_us).overdue());

  BreachClock late = breach_clock(detected, at_detection.deadline_us + 3 * 3600 * kSecond);
  EXPECT_EQ(late.left_seconds, -3 * 3600);
  EXPECT_TRUE(late.overdue());
}

TEST(ChangePhrase, TheKindWithoutItsPrefix) {
  EXPECT_EQ(change_phrase("incident.opened"), "opened");
  EXPECT_EQ(change_phrase("incident.escalated"), "escalated");
  EXPECT_EQ(change_phrase("incident.breach_flag_changed"), "re-flagged as to a personal-data breach");
}

boost::json::object incident(std::optional<std::int64_t> left_seconds) {
  boost::json::object doc{{"id", 42},
                          {"title", "Repeated failed logins"},
                          {"severity", "high"},
                          {"state", "open"},
                          {"rule", "login_failures"},
                          {"owner", ""},
                          {"detected_at", "2027-01-15T08:00:00Z"},
                          {"event_count", 12}};
  if (left_seconds) {
    doc["notification_deadline"] = "2027-01-17T08:00:00Z";
    doc["notification_time_left_seconds"] = *left_seconds;
  } else {
    doc["notification_deadline"] = nullptr;
  }
  return doc;
}

TEST(IncidentMail, SubjectAndFactsForTheOnCallReader) {
  Config cfg;
  cfg.notifications.email.to = {"secops@example.org"};
  boost::json::object latest{{"at", "2027-01-15T08:05:00Z"}, {"message", "login failed for alice"}};
  Mail m = incident_mail(cfg, "appliance.test", "incident.opened", incident(std::nullopt), latest, "u1");
  EXPECT_EQ(m.from, "privstack@appliance.test");
  EXPECT_EQ(m.to, std::vector<std::string>{"secops@example.org"});
  EXPECT_EQ(m.subject, "[privstack appliance.test] incident 42 opened (high): Repeated failed logins");
  EXPECT_EQ(m.message_id, "incident-42-u1@appliance.test");
  EXPECT_THAT(m.body, StartsWith("Incident 42 on appliance.test was opened.\n\nTitle:     Repeated failed logins\n"));
  EXPECT_THAT(m.body, HasSubstr("Events:    12\n"));
  EXPECT_THAT(m.body, HasSubstr("Latest:    2027-01-15T08:05:00Z login failed for alice\n"));
  EXPECT_THAT(m.body, HasSubstr("privstackctl incidents show 42\n"));
  EXPECT_THAT(m.body, Not(HasSubstr("Owner:")));  // no owner yet
  EXPECT_THAT(m.body, Not(HasSubstr("BREACH")));
}

TEST(IncidentMail, TheBreachClockComesFirstWithTimeLeftOrOverdue) {
  Config cfg;
  cfg.notifications.email.from = "alerts@example.org";
  Mail left = incident_mail(cfg, "h", "incident.escalated", incident(47 * 3600 + 59 * 60 + 30), {}, "u");
  EXPECT_EQ(left.from, "alerts@example.org");
  EXPECT_THAT(left.body, StartsWith("Incident 42 on h was escalated.\n\nPOSSIBLE PERSONAL-DATA BREACH: notify by "
                                    "2027-01-17T08:00:00Z (47 h 59 min left)\n\n"));
  EXPECT_THAT(left.body, Not(HasSubstr("Latest:")));
  Mail overdue = incident_mail(cfg, "h", "incident.updated", incident(-5 * 3600 - 10), {}, "u");
  EXPECT_THAT(overdue.body, HasSubstr("notify by 2027-01-17T08:00:00Z (OVERDUE by 5 h)\n"));
}

}  // namespace
}  // namespace privstack::incidents
