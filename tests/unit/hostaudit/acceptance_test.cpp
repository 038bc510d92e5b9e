// Accepting a finding as a known risk: when it is in force, and what a
// request may say (hostaudit/acceptance.h).
#include <gtest/gtest.h>

#include "core/error.h"
#include "hostaudit/acceptance.h"

using namespace privstack;
using namespace privstack::hostaudit;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;  // 2027-01-15T08:00:00Z
constexpr std::int64_t kDay = 86400;

std::vector<std::string> rejected_fields(const AcceptRequest& r, std::int64_t now = kNow) {
  try {
    validate_accept(r, now);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::validation_failed);
    std::vector<std::string> out;
    for (const auto& f : e.field_errors) out.push_back(f.field);
    return out;
  }
  return {};
}

}  // namespace

TEST(Acceptance, InForceStrictlyBeforeTheExpiry) {
  Acceptance a{"HA-NET-001:tcp/8080", "lab", "user:alice", kNow, kNow + 10};
  EXPECT_TRUE(in_force(a, kNow));
  EXPECT_TRUE(in_force(a, kNow + 9));
  EXPECT_FALSE(in_force(a, kNow + 10));  // the expiry itself is already a normal finding again
  EXPECT_FALSE(in_force(a, kNow + 11));
}

TEST(Acceptance, DefaultExpiryIsNinetyDays) {
  EXPECT_EQ(validate_accept({"known", std::nullopt}, kNow), kNow + 90 * kDay);
}

TEST(Acceptance, ExplicitExpiryFormats) {
  EXPECT_EQ(validate_accept({"r", "2027-02-01T00:00:00Z"}, kNow), 1'801'440'000);
  // A bare date runs through that day (UTC): until 23:59:59Z.
  EXPECT_EQ(validate_accept({"r", "2027-02-01"}, kNow), 1'801'440'000 + kDay - 1);
  EXPECT_EQ(validate_accept({"r", std::to_string(kNow + 60)}, kNow), kNow + 60);
}

TEST(Acceptance, ExpiryMustBeAheadAndWithinAYear) {
  EXPECT_EQ(rejected_fields({"r", std::to_string(kNow)}), std::vector<std::string>{"expires_at"});
  EXPECT_EQ(rejected_fields({"r", std::to_string(kNow - 1)}), std::vector<std::string>{"expires_at"});
  EXPECT_EQ(validate_accept({"r", std::to_string(kNow + 365 * kDay)}, kNow), kNow + 365 * kDay);
  EXPECT_EQ(rejected_fields({"r", std::to_string(kNow + 365 * kDay + 1)}), std::vector<std::string>{"expires_at"});
  EXPECT_EQ(rejected_fields({"r", "next tuesday"}), std::vector<std::string>{"expires_at"});
  // The date a year ahead is allowed (through its end), the day after is not.
  EXPECT_EQ(validate_accept({"r", "2028-01-15"}, kNow), 1'831'593'600 - 1);
  EXPECT_EQ(rejected_fields({"r", "2028-01-16"}), std::vector<std::string>{"expires_at"});
}

TEST(Acceptance, ReasonIsRequiredAndBounded) {
  EXPECT_EQ(rejected_fields({std::nullopt, std::nullopt}), std::vector<std::string>{"reason"});
  EXPECT_EQ(rejected_fields({"  \n\t", std::nullopt}), std::vector<std::string>{"reason"});
  EXPECT_EQ(rejected_fields({std::string(1001, 'x'), std::nullopt}), std::vector<std::string>{"reason"});
  EXPECT_EQ(validate_accept({std::string(1000, 'x'), std::nullopt}, kNow), kNow + 90 * kDay);
  // Characters, not bytes: 1000 two-byte characters fit.
  std::string umlauts;
  for (int i = 0; i < 1000; ++i) umlauts += "\xc3\xa4";
  EXPECT_NO_THROW(validate_accept({umlauts, std::nullopt}, kNow));
  EXPECT_EQ(rejected_fields({std::string("bell\x07"), std::nullopt}), std::vector<std::string>{"reason"});
  EXPECT_NO_THROW(validate_accept({"line one\nline two\ttab", std::nullopt}, kNow));
}

TEST(Acceptance, BothFieldsReportedAtOnce) {
  EXPECT_EQ(rejected_fields({std::nullopt, "yesterday"}), (std::vector<std::string>{"reason", "expires_at"}));
}

TEST(Acceptance, RequestFromJson) {
  auto r = accept_request_from_json(boost::json::object{{"reason", "lab host"}, {"expires_at", kNow + 5}});
  EXPECT_EQ(r.reason, "lab host");
  EXPECT_EQ(r.expires_at, std::to_string(kNow + 5));
  EXPECT_FALSE(accept_request_from_json(boost::json::object{}).reason);
  EXPECT_THROW(accept_request_from_json(boost::json::object{{"reason", 5}}), Error);
}

TEST(Acceptance, JsonHasRfc3339Times) {
  Acceptance a{"HA-SYS-003:kernel.kptr_restrict", "r", "user:alice", kNow, kNow + kDay};
  auto j = a.to_json();
  EXPECT_EQ(j.at("expires_at").as_string(), "2027-01-16T08:00:00Z");
  EXPECT_EQ(j.at("accepted_by").as_string(), "user:alice");
}
