#include <gtest/gtest.h>

#include "auth/password.h"

using namespace privstack::auth;

TEST(Password, HashIsArgon2idPhcWithPolicyParameters) {
  std::string h = hash_password("correct horse battery staple");
  EXPECT_TRUE(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$")) << h;
  EXPECT_TRUE(verify_password(h, "correct horse battery staple"));
  EXPECT_FALSE(verify_password(h, "correct horse battery stapl"));
  EXPECT_FALSE(needs_rehash(h));
}

TEST(Password, SaltIsPerHash) {
  Argon2Params fast{.memory_kib = 1024, .iterations = 1};
  EXPECT_NE(hash_password("same password!", fast), hash_password("same password!", fast));
}

TEST(Password, RehashWhenParametersChange) {
  Argon2Params old{.memory_kib = 1024, .iterations = 1};
  std::string h = hash_password("Some-Password-1", old);
  EXPECT_TRUE(verify_password(h, "Some-Password-1"));
  EXPECT_TRUE(needs_rehash(h));
  EXPECT_FALSE(needs_rehash(h, old));
  EXPECT_TRUE(needs_rehash("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA"));
}

TEST(Password, MalformedHashesNeverVerify) {
  EXPECT_FALSE(verify_password("", "x"));
  EXPECT_FALSE(verify_password("$argon2id$", "x"));
  EXPECT_FALSE(verify_password("$2y$10$abcdefghijklmnopqrstuu", "x"));
  EXPECT_FALSE(verify_password("plaintext", "plaintext"));
}

TEST(Password, TooLongIsRejected) {
  std::string huge(kMaxPasswordBytes + 1, 'a');
  EXPECT_FALSE(verify_password(hash_password("Short-but-ok-1", {.memory_kib = 1024, .iterations = 1}), huge));
  EXPECT_TRUE(password_policy_violation(huge, "alice").has_value());
}

struct PolicyCase {
  const char* password;
  const char* user;
  bool ok;
};

class PolicyTest : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(PolicyTest, Verdict) {
  const auto& c = GetParam();
  auto v = password_policy_violation(c.password, c.user);
  EXPECT_EQ(!v.has_value(), c.ok) << c.password << ": " << v.value_or("accepted");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PolicyTest,
    ::testing::Values(PolicyCase{"Sh0rt!pw", "alice", false},            // under 12
                      PolicyCase{"abcdefghijkl", "alice", false},        // 12, one class
                      PolicyCase{"abcdefgh1234", "alice", false},        // two classes, under 16
                      PolicyCase{"Abcdefgh1234", "alice", true},         // three classes
                      PolicyCase{"abcdefgh-jkl", "alice", false},        // two classes
                      PolicyCase{"Abcd-efgh-ijk", "alice", true},        // upper, lower, other
                      PolicyCase{"tangerine otter piano", "alice", true},  // 16+, any classes
                      PolicyCase{"alice", "alice", false},
                      PolicyCase{"Alice-1234-xyz", "alice", false},      // contains the user name
                      PolicyCase{"AdministratorX1", "administrator", false},
                      PolicyCase{"Password2024!", "bob", false},          // common + decoration
                      PolicyCase{"qwertyuiop", "bob", false},             // common (and short)
                      PolicyCase{"Qwertyuiop123!", "bob", false},         // common core
                      PolicyCase{"1q2w3e4r5t!!AA", "bob", true},          // core "aa" too short to count
                      PolicyCase{"correcthorsebatterystaple", "bob", false},  // famous, in the list
                      PolicyCase{"abababababababab", "bob", false},       // repeated pattern
                      PolicyCase{"Zyx-Wvu-9876-tsr", "bob", true},
                      PolicyCase{"pässwörter-Über-1", "bob", true}));

TEST(Password, CommonListIsCaseInsensitive) {
  EXPECT_TRUE(is_common_password("PASSWORD"));
  EXPECT_TRUE(is_common_password("letmein"));
  EXPECT_FALSE(is_common_password("Zyx-Wvu-9876-tsr"));
}
