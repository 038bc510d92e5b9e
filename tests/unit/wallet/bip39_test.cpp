#include "wallet/bip39.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <string>

#include "core/encoding.h"
#include "wallet/bip32.h"

namespace {
#include "bip39_vectors.inc"

using namespace privstack::wallet;

std::string hex(std::span<const std::uint8_t> b) { return privstack::hex_encode(b); }
std::vector<std::uint8_t> unhex(std::string_view h) { return privstack::hex_decode(h).value(); }

TEST(Bip39, BundledListIsTheOfficialOne) {
  const auto text = bip39::english_list_text();
  std::uint8_t h[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), h);
  EXPECT_EQ(hex(h), bip39::kEnglishSha256);
  EXPECT_EQ(bip39::word(0), "abandon");
  EXPECT_EQ(bip39::word(2047), "zoo");
  EXPECT_EQ(bip39::word_index("abandon"), 0);
  EXPECT_EQ(bip39::word_index("zoo"), 2047);
  EXPECT_EQ(bip39::word_index("zebra"), 2044);
  EXPECT_EQ(bip39::word_index("bitcoin"), -1);
}

TEST(Bip39, TrezorVectors) {
  for (const auto& v : kTrezorVectors) {
    SCOPED_TRACE(v.entropy);
    const auto entropy = unhex(v.entropy);
    EXPECT_EQ(bip39::entropy_to_mnemonic(entropy).view(), v.mnemonic);
    EXPECT_EQ(hex(bip39::mnemonic_to_entropy(v.mnemonic).bytes()), v.entropy);
    const auto seed = bip39::mnemonic_to_seed(v.mnemonic, "TREZOR");
    EXPECT_EQ(hex(seed.bytes()), v.seed);
    EXPECT_EQ(bip32::ExtendedPrivateKey::from_seed(seed.bytes()).serialize().view(), v.xprv);
  }
}

TEST(Bip39, NormalizesCaseAndWhitespace) {
  const std::string m = "  Abandon abandon\tabandon abandon abandon abandon\nabandon abandon abandon abandon abandon ABOUT ";
  EXPECT_EQ(bip39::normalize_mnemonic(m).view(),
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about");
  EXPECT_EQ(hex(bip39::mnemonic_to_entropy(m).bytes()), "00000000000000000000000000000000");
}

TEST(Bip39, RejectsBadWordWithPosition) {
  try {
    (void)bip39::mnemonic_to_entropy(
        "abandon abandon abandon abandon abandon abandonn abandon abandon abandon abandon abandon about");
    FAIL() << "no error";
  } catch (const bip39::Bip39Error& e) {
    EXPECT_NE(std::string(e.what()).find("word 6 is not in the BIP39 English word list"), std::string::npos)
        << e.what();
  }
}

TEST(Bip39, RejectsBadChecksum) {
  try {
    (void)bip39::mnemonic_to_entropy(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon");
    FAIL() << "no error";
  } catch (const bip39::Bip39Error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
}

TEST(Bip39, RejectsWrongWordCountAndEntropySize) {
  EXPECT_THROW((void)bip39::mnemonic_to_entropy("abandon abandon about"), bip39::Bip39Error);
  EXPECT_THROW((void)bip39::mnemonic_to_entropy(""), bip39::Bip39Error);
  const std::vector<std::uint8_t> e15(15, 0);
  EXPECT_THROW((void)bip39::entropy_to_mnemonic(e15), bip39::Bip39Error);
  EXPECT_THROW((void)bip39::generate_entropy(33), bip39::Bip39Error);
}

TEST(Bip39, RejectsNonAsciiPassphrase) {
  EXPECT_THROW((void)bip39::mnemonic_to_seed("abandon about", "p\xc3\xa4ss"), bip39::Bip39Error);
}

TEST(Bip39, GeneratedEntropyRoundTrips) {
  const auto e = bip39::generate_entropy(32);
  ASSERT_EQ(e.size(), 32u);
  const auto m = bip39::entropy_to_mnemonic(e.bytes());
  std::size_t words = 1;
  for (char c : m.view()) words += c == ' ';
  EXPECT_EQ(words, 24u);
  EXPECT_EQ(hex(bip39::mnemonic_to_entropy(m.view()).bytes()), hex(e.bytes()));
  EXPECT_NE(hex(bip39::generate_entropy(32).bytes()), hex(e.bytes()));
}

}  // namespace
