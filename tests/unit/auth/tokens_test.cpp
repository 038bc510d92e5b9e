// API token rules on their own: the Authorization header, validity against
// the owner's current state, and the token-used log's rate.
#include <gtest/gtest.h>

#include "auth/tokens.h"
#include "core/time.h"

using namespace privstack;
using namespace privstack::auth;
using namespace std::chrono_literals;

namespace {

TEST(BearerToken, AcceptsBearerInEitherCase) {
  EXPECT_EQ(bearer_token("Bearer pst_abc"), "pst_abc");
  EXPECT_EQ(bearer_token("bearer pst_abc"), "pst_abc");  // lower case accepted, as before
  EXPECT_EQ(bearer_token("Bearer "), "");  // empty: matches no token (not a scheme error)
  EXPECT_EQ(bearer_token("Bearer  pst_abc"), " pst_abc");  // taken as is: matches no token
}

TEST(BearerToken, RefusesOtherSchemesAndShortHeaders) {
  EXPECT_FALSE(bearer_token("Basic dXNlcjpwYXNzd29yZA=="));
  EXPECT_FALSE(bearer_token("BEARER pst_abc"));
  EXPECT_FALSE(bearer_token("Bearerpst_abc"));
  EXPECT_FALSE(bearer_token("Token pst_abc"));
  EXPECT_FALSE(bearer_token("Bearer"));
  EXPECT_FALSE(bearer_token("Bear"));
  EXPECT_FALSE(bearer_token(""));
  EXPECT_FALSE(bearer_token(" Bearer pst_abc"));
}

class CheckTokenTest : public ::testing::Test {
 protected:
  CheckTokenTest() {
    owner.name = "alice";
    owner.role = Role::operator_;
    token.id = "0123456789abcdef";
    token.owner = "alice";
    token.role = Role::operator_;
    token.created_at = 1'800'000'000;
    token.expires_at = token.created_at + 90 * 86400;
  }
  UserRecord owner;
  TokenRecord token;
};

TEST_F(CheckTokenTest, ExpiryBoundary) {
  EXPECT_EQ(check_token(token, &owner, token.expires_at - 1), TokenVerdict::valid);
  EXPECT_EQ(check_token(token, &owner, token.expires_at), TokenVerdict::expired);  // expired at the instant
  EXPECT_TRUE(token_expired(token, token.expires_at));
  EXPECT_FALSE(token_expired(token, token.expires_at - 1));
  token.expires_at = 0;  // never
  EXPECT_EQ(check_token(token, &owner, 4'000'000'000), TokenVerdict::valid);
  EXPECT_FALSE(token_expired(token, 4'000'000'000));
}

TEST_F(CheckTokenTest, OwnerMustExistAndNotBeLocked) {
  EXPECT_EQ(check_token(token, nullptr, token.created_at), TokenVerdict::no_owner);
  owner.locked = true;
  EXPECT_EQ(check_token(token, &owner, token.created_at), TokenVerdict::owner_locked);
}

TEST_F(CheckTokenTest, OwnersRoleMustStillCoverTheTokens) {
  owner.role = Role::admin;  // promoted: the token keeps its own, lower role
  EXPECT_EQ(check_token(token, &owner, token.created_at), TokenVerdict::valid);
  owner.role = Role::support;  // demoted below the token's role
  EXPECT_EQ(check_token(token, &owner, token.created_at), TokenVerdict::owner_demoted);
  token.role = Role::support;  // a support token of a support user is fine
  EXPECT_EQ(check_token(token, &owner, token.created_at), TokenVerdict::valid);
  owner.role = Role::issuer;  // issuer's rights include support's
  EXPECT_EQ(check_token(token, &owner, token.created_at), TokenVerdict::valid);
  owner.role = Role::operator_;
  token.role = Role::admin;
  EXPECT_EQ(check_token(token, &owner, token.created_at), TokenVerdict::owner_demoted);
}

TEST_F(CheckTokenTest, ExpiryIsCheckedFirst) {
  owner.locked = true;
  EXPECT_EQ(check_token(token, &owner, token.expires_at), TokenVerdict::expired);
}

TEST(TokenUseLog, AtMostOncePerIntervalPerToken) {
  ManualClock clock;
  TokenUseLog log;
  EXPECT_TRUE(log.due("t1", clock.unix_seconds()));  // the first use is logged
  EXPECT_FALSE(log.due("t1", clock.unix_seconds()));
  EXPECT_TRUE(log.due("t2", clock.unix_seconds()));  // tokens are independent
  clock.advance(std::chrono::seconds(kTokenUsedLogSeconds - 1));
  EXPECT_FALSE(log.due("t1", clock.unix_seconds()));
  clock.advance(1s);
  EXPECT_TRUE(log.due("t1", clock.unix_seconds()));
  clock.advance(1s);
  EXPECT_FALSE(log.due("t1", clock.unix_seconds()));  // counted from the last log, not the first
  EXPECT_TRUE(log.due("t2", clock.unix_seconds()));
}

}  // namespace
