#include "wallet/seal.h"

#include <gtest/gtest.h>

#include <string>

namespace {

using namespace privstack::wallet;

// Small Argon2 parameters keep the tests fast (also under ASan).
const SealParams kFast{8 * 1024, 1, 1};

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST(Seal, RoundTripAndRecordedParams) {
  const std::string secret = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
  const SealedBlob b = seal(bytes(secret), "Correct-Horse-9!", kFast);
  EXPECT_EQ(b.params.memory_kib, kFast.memory_kib);
  EXPECT_EQ(b.salt.size(), 16u);
  EXPECT_EQ(b.nonce.size(), 12u);
  EXPECT_EQ(b.ciphertext.size(), secret.size() + 16);
  EXPECT_EQ(std::string(b.ciphertext.begin(), b.ciphertext.end()).find("abandon"), std::string::npos);
  EXPECT_EQ(unseal(b, "Correct-Horse-9!").view(), secret);
}

TEST(Seal, FreshSaltAndNonceEachTime) {
  const SealedBlob a = seal(bytes("x"), "pw-pw-pw-pw-1A", kFast);
  const SealedBlob b = seal(bytes("x"), "pw-pw-pw-pw-1A", kFast);
  EXPECT_NE(a.salt, b.salt);
  EXPECT_NE(a.nonce, b.nonce);
  EXPECT_NE(a.ciphertext, b.ciphertext);
}

TEST(Seal, WrongPasswordAndTamperingFail) {
  const SealedBlob b = seal(bytes("seed words"), "Correct-Horse-9!", kFast);
  EXPECT_THROW((void)unseal(b, "Correct-Horse-9?"), WrongPassword);
  EXPECT_THROW((void)unseal(b, "Correct-Horse-9!", "other-context"), WrongPassword);
  SealedBlob t = b;
  t.ciphertext[0] ^= 1;
  EXPECT_THROW((void)unseal(t, "Correct-Horse-9!"), WrongPassword);
  t = b;
  t.ciphertext.back() ^= 1;
  EXPECT_THROW((void)unseal(t, "Correct-Horse-9!"), WrongPassword);
  t = b;
  t.nonce[3] ^= 1;
  EXPECT_THROW((void)unseal(t, "Correct-Horse-9!"), WrongPassword);
  t = b;
  t.params.iterations = 2;  // parameters are bound: a changed record does not open
  EXPECT_THROW((void)unseal(t, "Correct-Horse-9!"), WrongPassword);
  t = b;
  t.ciphertext.resize(5);
  EXPECT_THROW((void)unseal(t, "Correct-Horse-9!"), std::runtime_error);
}

TEST(Seal, RejectsUnsafeParameters) {
  EXPECT_THROW((void)seal(bytes("x"), "p", SealParams{1024, 1, 1}), std::invalid_argument);
  EXPECT_THROW((void)seal(bytes("x"), "p", SealParams{8 * 1024, 0, 1}), std::invalid_argument);
}

TEST(Seal, DefaultParametersAreStrong) {
  const SealParams d;
  EXPECT_GE(d.memory_kib, 64u * 1024);
  EXPECT_GE(d.iterations, 3u);
}

}  // namespace
