// The session table on its own: expiry boundaries, the per-user bound, when
// a touch is written back, revocation and the sweep. Time is a ManualClock.
#include <gtest/gtest.h>

#include "auth/sessions.h"
#include "auth/util.h"
#include "core/time.h"

using namespace privstack;
using namespace privstack::auth;
using namespace std::chrono_literals;

namespace {

class SessionTableTest : public ::testing::Test {
 protected:
  std::int64_t now() const { return clock.unix_seconds(); }
  SessionRecord create(const std::string& hash, const std::string& user = "alice", bool pending = false) {
    return table.create(hash, user, pending, now());
  }

  ManualClock clock;
  SessionTable table{SessionLimits{.idle_timeout = 30min, .lifetime = 12h}};
};

TEST(SessionExpired, BoundariesAreInclusive) {
  SessionLimits limits{.idle_timeout = 100s, .lifetime = 1000s};
  SessionRecord s{"h", "alice", /*created_at=*/5000, /*last_seen=*/5500, false};
  EXPECT_FALSE(session_expired(s, 5600, limits));  // idle exactly the timeout
  EXPECT_TRUE(session_expired(s, 5601, limits));
  s.last_seen = 5990;
  EXPECT_FALSE(session_expired(s, 6000, limits));  // exactly the lifetime
  EXPECT_TRUE(session_expired(s, 6001, limits));   // idle only 11 s, but too old
}

TEST_F(SessionTableTest, CreateReturnsTheRecordToStore) {
  SessionRecord r = create("h1", "alice", true);
  EXPECT_EQ(r.token_hash, "h1");
  EXPECT_EQ(r.user, "alice");
  EXPECT_EQ(r.created_at, now());
  EXPECT_EQ(r.last_seen, now());
  EXPECT_TRUE(r.totp_enrollment_pending);
  ASSERT_NE(table.lookup("h1", now()), nullptr);
  EXPECT_EQ(table.lookup("unknown", now()), nullptr);
}

TEST_F(SessionTableTest, IdleTimeoutBoundary) {
  create("h1");
  clock.advance(30min);
  EXPECT_NE(table.lookup("h1", now()), nullptr);  // exactly the idle timeout: still valid
  clock.advance(1s);
  EXPECT_EQ(table.lookup("h1", now()), nullptr);
  EXPECT_EQ(table.size(), 0u);  // an expired session is dropped when looked up
  clock.advance(-1s);
  EXPECT_EQ(table.lookup("h1", now()), nullptr);  // and stays gone
}

TEST_F(SessionTableTest, TouchMovesTheIdleClock) {
  create("h1");
  clock.advance(20min);
  table.touch("h1", now());
  clock.advance(30min);  // 50 min after login, 30 after the touch
  EXPECT_NE(table.lookup("h1", now()), nullptr);
  clock.advance(1s);
  EXPECT_EQ(table.lookup("h1", now()), nullptr);
}

TEST_F(SessionTableTest, LifetimeBoundary) {
  table.set_limits({.idle_timeout = 30min, .lifetime = 2h});
  create("h1");
  for (int i = 0; i < 6; ++i) {  // busy all along: touched every 20 minutes
    clock.advance(20min);
    ASSERT_NE(table.lookup("h1", now()), nullptr) << i;
    table.touch("h1", now());
  }
  // Exactly two hours after the login: still valid; a second later it is
  // over however recently it was used.
  EXPECT_NE(table.lookup("h1", now()), nullptr);
  clock.advance(1s);
  EXPECT_EQ(table.lookup("h1", now()), nullptr);
}

TEST_F(SessionTableTest, NewLimitsApplyToExistingSessions) {
  create("h1");
  clock.advance(10min);
  table.set_limits({.idle_timeout = 5min, .lifetime = 12h});  // a reload shortens the idle timeout
  EXPECT_EQ(table.lookup("h1", now()), nullptr);
}

TEST_F(SessionTableTest, PerUserCapDropsTheOldest) {
  create("bob-1", "bob");
  for (std::size_t i = 0; i < kMaxSessionsPerUser; ++i) {
    create("alice-" + std::to_string(i));
    clock.advance(1s);
  }
  EXPECT_EQ(table.count_of("alice"), kMaxSessionsPerUser);
  create("alice-new");
  EXPECT_EQ(table.count_of("alice"), kMaxSessionsPerUser);
  EXPECT_EQ(table.find("alice-0"), nullptr);  // the oldest went
  EXPECT_NE(table.find("alice-1"), nullptr);
  EXPECT_NE(table.find("alice-new"), nullptr);
  EXPECT_NE(table.find("bob-1"), nullptr);  // other users' sessions are not counted
  EXPECT_EQ(table.count_of("bob"), 1u);
}

TEST_F(SessionTableTest, TouchPersistsOnlyAfterTheInterval) {
  create("h1");  // written at creation
  clock.advance(std::chrono::seconds(kTouchPersistSeconds - 1));
  EXPECT_FALSE(table.touch("h1", now()));
  EXPECT_EQ(table.find("h1")->last_seen, now());  // the idle clock moves all the same
  clock.advance(1s);
  auto write = table.touch("h1", now());
  ASSERT_TRUE(write);
  EXPECT_EQ(write->last_seen, now());
  EXPECT_EQ(write->token_hash, "h1");
  clock.advance(1s);
  EXPECT_FALSE(table.touch("h1", now()));  // counted from the last write
  clock.advance(std::chrono::seconds(kTouchPersistSeconds - 1));
  EXPECT_TRUE(table.touch("h1", now()));
  EXPECT_FALSE(table.touch("unknown", now()));
}

TEST_F(SessionTableTest, LoadKeepsTheUnexpiredAndCountsThemAsStored) {
  std::int64_t t = now();
  table.load({SessionRecord{"fresh", "alice", t - 100, t - 30, false},
              SessionRecord{"idle", "alice", t - 4000, t - 1801, false},
              SessionRecord{"old", "bob", t - 12 * 3600 - 1, t - 10, false}},
             t);
  EXPECT_EQ(table.size(), 1u);
  ASSERT_NE(table.find("fresh"), nullptr);
  // Stored with last_seen 30 s ago: the next write is due 60 s after that.
  EXPECT_FALSE(table.touch("fresh", t + kTouchPersistSeconds - 31));
  EXPECT_TRUE(table.touch("fresh", t + kTouchPersistSeconds - 30));
  table.load({}, t);  // replaces, does not add
  EXPECT_EQ(table.size(), 0u);
}

TEST_F(SessionTableTest, RevokeKeepsTheGivenSession) {
  create("a1");
  create("a2");
  create("a3");
  create("b1", "bob");
  table.revoke_all_but("alice", "a2");
  EXPECT_EQ(table.find("a1"), nullptr);
  EXPECT_NE(table.find("a2"), nullptr);
  EXPECT_EQ(table.find("a3"), nullptr);
  EXPECT_NE(table.find("b1"), nullptr);
  table.revoke_all_but("alice", "");  // keep none
  EXPECT_EQ(table.count_of("alice"), 0u);
  EXPECT_EQ(table.count_of("bob"), 1u);
  table.revoke_all_but("alice", "b1");  // another user's session is never "kept" for alice: untouched anyway
  EXPECT_NE(table.find("b1"), nullptr);
}

TEST_F(SessionTableTest, EraseRemovesOneSession) {
  create("a1");
  create("a2");
  table.erase("a1");
  table.erase("unknown");
  EXPECT_EQ(table.find("a1"), nullptr);
  EXPECT_NE(table.find("a2"), nullptr);
}

TEST_F(SessionTableTest, SweepRemovesOnlyExpired) {
  std::int64_t t0 = now();
  create("a");             // idle from t0
  clock.advance(20s);
  create("c");             // idle from t0+20
  clock.advance(980s);
  create("b", "bob");      // idle from t0+1000
  clock.set_unix_seconds(t0 + 1801);  // a is 1 s past the idle timeout; c and b are not
  EXPECT_EQ(table.sweep(now()), 1u);
  EXPECT_EQ(table.find("a"), nullptr);
  EXPECT_NE(table.find("b"), nullptr);
  EXPECT_NE(table.find("c"), nullptr);
  // At most once per interval: c expires at t0+1821 but stays until the next sweep.
  clock.set_unix_seconds(t0 + 1801 + kSweepIntervalSeconds - 1);
  EXPECT_EQ(table.sweep(now()), 0u);
  EXPECT_NE(table.find("c"), nullptr);
  clock.advance(1s);
  EXPECT_EQ(table.sweep(now()), 1u);
  EXPECT_EQ(table.find("c"), nullptr);
  EXPECT_NE(table.find("b"), nullptr);
}

TEST_F(SessionTableTest, CreateSweepsFirst) {
  create("old");
  clock.advance(31min);
  create("new");
  EXPECT_EQ(table.find("old"), nullptr);  // gone without a lookup
  EXPECT_EQ(table.size(), 1u);
}

TEST_F(SessionTableTest, FinishEnrollmentClearsTheUsersPendingSessions) {
  create("a1", "alice", true);
  create("a2", "alice", false);
  create("b1", "bob", true);
  auto changed = table.finish_enrollment("alice");
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0].token_hash, "a1");
  EXPECT_FALSE(changed[0].totp_enrollment_pending);
  EXPECT_FALSE(table.find("a1")->totp_enrollment_pending);
  EXPECT_TRUE(table.find("b1")->totp_enrollment_pending);
  EXPECT_TRUE(table.finish_enrollment("alice").empty());
}

TEST(CsrfToken, IsTheSessionTokensHmacUnderTheFixedLabel) {
  // The label is part of the wire format: sessions restored after a restart
  // keep their CSRF token.
  EXPECT_EQ(csrf_token("cookie-value"), hmac_sha256_b64("cookie-value", "privstack-csrf-v1"));
  EXPECT_NE(csrf_token("cookie-value"), csrf_token("cookie-valuf"));
}

}  // namespace
