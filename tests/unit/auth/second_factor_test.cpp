// The second factor's rules on a user record: TOTP requirement, a login's
// code (replay refused, recovery codes used once) and the enrollment.
#include <gtest/gtest.h>

#include "auth/second_factor.h"
#include "auth/totp.h"
#include "auth/util.h"
#include "core/time.h"

using namespace privstack;
using namespace privstack::auth;
using namespace std::chrono_literals;

namespace {

std::vector<std::uint8_t> test_key() { return std::vector<std::uint8_t>(20, 0x42); }

TEST(SecondFactorRules, TotpRequiredFor) {
  std::vector<Role> required{Role::admin, Role::issuer};
  EXPECT_TRUE(totp_required_for(required, Role::admin));
  EXPECT_TRUE(totp_required_for(required, Role::issuer));
  EXPECT_FALSE(totp_required_for(required, Role::support));
  EXPECT_FALSE(totp_required_for({}, Role::admin));
}

TEST(SecondFactorRules, EnrollmentPendingOnlyWithoutTotp) {
  UserRecord u;
  u.role = Role::admin;
  EXPECT_TRUE(totp_enrollment_pending(u, {Role::admin}));
  EXPECT_FALSE(totp_enrollment_pending(u, {Role::operator_}));
  u.totp_enabled = true;
  EXPECT_FALSE(totp_enrollment_pending(u, {Role::admin}));
}

class SecondFactorTest : public ::testing::Test {
 protected:
  SecondFactorTest() {
    user.name = "alice";
    begin_totp_enrollment(user, test_key(), codes);
    user.totp_enabled = true;  // as after a confirmed enrollment
  }
  std::int64_t now() const { return clock.unix_seconds(); }

  ManualClock clock;
  std::vector<std::string> codes{"k7gq-2mxp-9tdw", "abcd-efgh-ijkm"};
  UserRecord user;
};

TEST_F(SecondFactorTest, BeginEnrollmentStoresKeyAndCodeHashes) {
  UserRecord u;
  u.recovery_codes = {"stale"};
  u.totp_last_step = 12345;
  begin_totp_enrollment(u, test_key(), codes);
  EXPECT_EQ(u.totp_secret, base32_encode(test_key()));
  EXPECT_EQ(u.totp_last_step, -1);
  EXPECT_FALSE(u.totp_enabled);  // not until confirmed
  ASSERT_EQ(u.recovery_codes.size(), 2u);
  EXPECT_EQ(u.recovery_codes[0], sha256_hex("k7gq2mxp9tdw"));  // canonical form, hashed; never the code
  EXPECT_EQ(u.recovery_codes[1], recovery_code_hash("ABCD EFGH IJKM"));
}

TEST_F(SecondFactorTest, ATotpCodeIsAcceptedOnce) {
  std::string code = totp_code(test_key(), now());
  EXPECT_EQ(verify_second_factor(user, code, now()), SecondFactor::totp);
  EXPECT_EQ(user.totp_last_step, now() / kTotpStep);
  EXPECT_EQ(verify_second_factor(user, code, now()), SecondFactor::rejected);  // replay
  // Nor the previous step's code, though within the skew window.
  EXPECT_EQ(verify_second_factor(user, totp_code(test_key(), now() - kTotpStep), now()), SecondFactor::rejected);
  clock.advance(std::chrono::seconds(kTotpStep));
  EXPECT_EQ(verify_second_factor(user, totp_code(test_key(), now()), now()), SecondFactor::totp);
}

TEST_F(SecondFactorTest, OneStepOfSkewEitherWay) {
  EXPECT_EQ(verify_second_factor(user, totp_code(test_key(), now() - kTotpStep), now()), SecondFactor::totp);
  EXPECT_EQ(verify_second_factor(user, totp_code(test_key(), now() + kTotpStep), now()), SecondFactor::totp);
  EXPECT_EQ(verify_second_factor(user, totp_code(test_key(), now() + 2 * kTotpStep), now()),
            SecondFactor::rejected);
}

TEST_F(SecondFactorTest, WrongSixDigitsAreNotTriedAsRecoveryCodes) {
  std::string code = totp_code(test_key(), now());
  code[0] = code[0] == '9' ? '0' : static_cast<char>(code[0] + 1);
  auto before = user.recovery_codes;
  EXPECT_EQ(verify_second_factor(user, code, now()), SecondFactor::rejected);
  EXPECT_EQ(user.recovery_codes, before);
  EXPECT_EQ(user.totp_last_step, -1);
}

TEST_F(SecondFactorTest, ARecoveryCodeIsUsedOnce) {
  EXPECT_EQ(verify_second_factor(user, "K7GQ 2MXP 9TDW", now()), SecondFactor::recovery_code);  // any case, separators
  EXPECT_EQ(user.recovery_codes.size(), 1u);
  EXPECT_EQ(verify_second_factor(user, "k7gq-2mxp-9tdw", now()), SecondFactor::rejected);
  EXPECT_EQ(verify_second_factor(user, "not-a-code-at-all", now()), SecondFactor::rejected);
  EXPECT_EQ(user.recovery_codes.size(), 1u);
}

TEST_F(SecondFactorTest, ConfirmEnrollment) {
  UserRecord u;
  EXPECT_EQ(confirm_totp_enrollment(u, "123456", now()), Enrollment::not_started);
  begin_totp_enrollment(u, test_key(), codes);
  std::string code = totp_code(test_key(), now());
  std::string wrong = code == "000000" ? "111111" : "000000";
  EXPECT_EQ(confirm_totp_enrollment(u, wrong, now()), Enrollment::wrong_code);
  EXPECT_FALSE(u.totp_enabled);
  EXPECT_EQ(confirm_totp_enrollment(u, code, now()), Enrollment::confirmed);
  EXPECT_TRUE(u.totp_enabled);
  EXPECT_EQ(u.totp_last_step, now() / kTotpStep);  // the confirming code cannot log in
  EXPECT_EQ(verify_second_factor(u, code, now()), SecondFactor::rejected);
  EXPECT_EQ(confirm_totp_enrollment(u, code, now()), Enrollment::already_enabled);
}

TEST_F(SecondFactorTest, ConfirmNeedsAReadableKey) {
  UserRecord u;
  u.totp_secret = "not base32!";
  EXPECT_EQ(confirm_totp_enrollment(u, "123456", now()), Enrollment::not_started);
}

TEST_F(SecondFactorTest, DisableForgetsKeyAndCodes) {
  disable_totp(user);
  EXPECT_FALSE(user.totp_enabled);
  EXPECT_TRUE(user.totp_secret.empty());
  EXPECT_TRUE(user.recovery_codes.empty());
}

}  // namespace
