#include <gtest/gtest.h>

#include <cstdio>
#include <memory>

#include "auth/totp.h"
#include "auth/util.h"

using namespace privstack::auth;

namespace {
std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }
}  // namespace

// RFC 6238 Appendix B, SHA-1 key "12345678901234567890", 8 digits.
TEST(Totp, Rfc6238Vectors) {
  auto key = bytes("12345678901234567890");
  struct V {
    std::int64_t t;
    const char* code;
  } vectors[] = {{59, "94287082"},         {1111111109, "07081804"}, {1111111111, "14050471"},
                 {1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"}};
  for (const auto& v : vectors) {
    EXPECT_EQ(hotp(key, static_cast<std::uint64_t>(v.t / 30), 8), v.code) << v.t;
  }
}

// RFC 4226 Appendix D.
TEST(Totp, Rfc4226Vectors) {
  auto key = bytes("12345678901234567890");
  const char* expected[] = {"755224", "287082", "359152", "969429", "338314",
                            "254676", "287922", "162583", "399871", "520489"};
  for (int i = 0; i < 10; ++i) EXPECT_EQ(hotp(key, static_cast<std::uint64_t>(i)), expected[i]);
}

TEST(Totp, WindowAndReplay) {
  auto key = new_totp_key();
  std::int64_t now = 1700000000;
  std::int64_t step = now / 30;
  auto prev = hotp(key, static_cast<std::uint64_t>(step - 1));
  auto cur = hotp(key, static_cast<std::uint64_t>(step));
  auto next = hotp(key, static_cast<std::uint64_t>(step + 1));
  auto old = hotp(key, static_cast<std::uint64_t>(step - 2));
  EXPECT_EQ(totp_verify(key, cur, now, -1), step);
  EXPECT_EQ(totp_verify(key, prev, now, -1), step - 1);
  EXPECT_EQ(totp_verify(key, next, now, -1), step + 1);
  if (old != prev && old != cur && old != next) {
    EXPECT_FALSE(totp_verify(key, old, now, -1));
  }
  // A used code (and anything at or before its step) is refused.
  EXPECT_FALSE(totp_verify(key, cur, now, step));
  EXPECT_FALSE(totp_verify(key, prev, now, step));
  EXPECT_EQ(totp_verify(key, next, now, step), step + 1);
  EXPECT_FALSE(totp_verify(key, "12345", now, -1));
  EXPECT_FALSE(totp_verify(key, "abcdef", now, -1));
}

TEST(Totp, Base32RoundTrip) {
  auto key = new_totp_key();
  EXPECT_EQ(key.size(), 20u);
  auto text = base32_encode(key);
  EXPECT_EQ(text.size(), 32u);
  EXPECT_EQ(base32_decode(text), key);
  EXPECT_EQ(base32_encode(bytes("foobar")), "MZXW6YTBOI");  // RFC 4648
  EXPECT_EQ(base32_decode("mzxw6ytboi======"), bytes("foobar"));
  EXPECT_FALSE(base32_decode("MZ1W"));
}

TEST(Totp, OtpauthUri) {
  auto uri = otpauth_uri("privstack", "alice", bytes("12345678901234567890"));
  EXPECT_EQ(uri,
            "otpauth://totp/privstack:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=privstack"
            "&algorithm=SHA1&digits=6&period=30");
}

TEST(Totp, RecoveryCodes) {
  auto codes = new_recovery_codes(10);
  ASSERT_EQ(codes.size(), 10u);
  for (const auto& c : codes) {
    EXPECT_EQ(c.size(), 14u);
    EXPECT_EQ(normalize_recovery_code(c).size(), 12u);
  }
  EXPECT_EQ(normalize_recovery_code("ABCD-efgh ijkm"), "abcdefghijkm");
}

// Interoperability: oathtool (Debian package) computes the same codes.
TEST(Totp, MatchesOathtool) {
  if (std::system("command -v oathtool >/dev/null 2>&1") != 0) GTEST_SKIP() << "oathtool not installed";
  auto key = new_totp_key();
  std::string secret = base32_encode(key);
  std::int64_t t = 1700000123;
  std::string cmd = "oathtool --totp -b -N @" + std::to_string(t) + " " + secret;
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  ASSERT_TRUE(p);
  char buf[32] = {};
  ASSERT_NE(fgets(buf, sizeof buf, p.get()), nullptr);
  std::string code(buf);
  while (!code.empty() && (code.back() == '\n' || code.back() == '\r')) code.pop_back();
  EXPECT_EQ(code, totp_code(key, t));
}
