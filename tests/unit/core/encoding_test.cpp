#include "core/encoding.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

namespace privstack {
namespace {

std::vector<std::uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

// RFC 4648 section 10, "Test Vectors".
struct Rfc4648Vector {
  const char* input;
  const char* base16;
  const char* base64;
};
constexpr Rfc4648Vector kRfc4648[] = {
    {"", "", ""},
    {"f", "66", "Zg=="},
    {"fo", "666F", "Zm8="},
    {"foo", "666F6F", "Zm9v"},
    {"foob", "666F6F62", "Zm9vYg=="},
    {"fooba", "666F6F6261", "Zm9vYmE="},
    {"foobar", "666F6F626172", "Zm9vYmFy"},
};

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string unpadded(std::string s) { return s.substr(0, s.find('=')); }

TEST(Hex, Rfc4648Vectors) {
  for (const auto& v : kRfc4648) {
    SCOPED_TRACE(v.input);
    EXPECT_EQ(hex_encode(std::string_view(v.input), HexCase::upper), v.base16);
    EXPECT_EQ(hex_encode(std::string_view(v.input)), lower(v.base16));
    EXPECT_EQ(hex_decode(v.base16), bytes(v.input));
    EXPECT_EQ(hex_decode(lower(v.base16)), bytes(v.input));
    EXPECT_EQ(hex_decode(lower(v.base16), HexInput::lower_only), bytes(v.input));
  }
}

TEST(Hex, AllByteValuesRoundTrip) {
  std::vector<std::uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  const std::string text = hex_encode(all);
  EXPECT_EQ(text.substr(0, 8), "00010203");
  EXPECT_EQ(text.substr(text.size() - 4), "feff");
  EXPECT_EQ(hex_decode(text), all);
  std::string out = "X'";
  hex_append(out, std::vector<std::uint8_t>{0xab, 0x01}, HexCase::upper);
  EXPECT_EQ(out, "X'AB01");
}

TEST(Hex, RejectsMalformed) {
  EXPECT_FALSE(hex_decode("6"));
  EXPECT_FALSE(hex_decode("666"));
  EXPECT_FALSE(hex_decode("6g"));
  EXPECT_FALSE(hex_decode("0x66"));
  EXPECT_FALSE(hex_decode(" 66"));
  EXPECT_FALSE(hex_decode(std::string_view("6\0", 2)));
  EXPECT_FALSE(hex_decode("666F", HexInput::lower_only));
  EXPECT_TRUE(hex_decode("666f", HexInput::lower_only));
}

TEST(Base64, Rfc4648Vectors) {
  for (const auto& v : kRfc4648) {
    SCOPED_TRACE(v.input);
    EXPECT_EQ(base64_encode(std::string_view(v.input)), v.base64);
    EXPECT_EQ(base64_decode(v.base64), bytes(v.input));
  }
}

TEST(Base64, Rfc4648Section9Illustrations) {
  EXPECT_EQ(base64_encode(*hex_decode("14fb9c03d97e")), "FPucA9l+");
  EXPECT_EQ(base64_encode(*hex_decode("14fb9c03d9")), "FPucA9k=");
  EXPECT_EQ(base64_encode(*hex_decode("14fb9c03")), "FPucAw==");
  EXPECT_EQ(base64_decode("FPucA9l+"), hex_decode("14fb9c03d97e"));
  EXPECT_EQ(base64_encode(std::vector<std::uint8_t>{0xfb, 0xff}), "+/8=");
}

TEST(Base64, RejectsMalformed) {
  EXPECT_FALSE(base64_decode("Zg"));      // unpadded
  EXPECT_FALSE(base64_decode("Zg="));     // short padding
  EXPECT_FALSE(base64_decode("Z==="));    // too much padding
  EXPECT_FALSE(base64_decode("===="));
  EXPECT_FALSE(base64_decode("Zg=A"));    // padding inside
  EXPECT_FALSE(base64_decode("Zm=v"));
  EXPECT_FALSE(base64_decode("Zm9v\n"));  // no whitespace
  EXPECT_FALSE(base64_decode("Zm9-"));    // base64url alphabet
  EXPECT_FALSE(base64_decode("Zm9_"));
  EXPECT_FALSE(base64_decode(std::string_view("Zm9\0", 4)));
}

TEST(Base64Url, Rfc4648VectorsWithoutPadding) {
  for (const auto& v : kRfc4648) {
    SCOPED_TRACE(v.input);
    EXPECT_EQ(base64url_encode(std::string_view(v.input)), unpadded(v.base64));
    EXPECT_EQ(base64url_decode(unpadded(v.base64)), bytes(v.input));
  }
}

TEST(Base64Url, UrlSafeAlphabet) {
  // RFC 4648 section 9's "FPucA9l+" in the section 5 alphabet.
  EXPECT_EQ(base64url_encode(*hex_decode("14fb9c03d97e")), "FPucA9l-");
  EXPECT_EQ(base64url_encode(std::vector<std::uint8_t>{0xfb, 0xff}), "-_8");
  EXPECT_EQ(base64url_decode("-_8"), (std::vector<std::uint8_t>{0xfb, 0xff}));
}

TEST(Base64Url, RejectsMalformed) {
  EXPECT_FALSE(base64url_decode("Zg=="));  // no padding in base64url
  EXPECT_FALSE(base64url_decode("Z"));     // 4n + 1 characters
  EXPECT_FALSE(base64url_decode("Zm9vY"));
  EXPECT_FALSE(base64url_decode("+/8"));   // standard alphabet
  EXPECT_FALSE(base64url_decode("Zm 9"));
}

// Bitcoin Core, src/test/data/base58_encode_decode.json (hex, base58).
struct Base58Vector {
  const char* hex;
  const char* base58;
};
constexpr Base58Vector kBitcoinCore[] = {
    {"", ""},
    {"61", "2g"},
    {"626262", "a3gV"},
    {"636363", "aPEr"},
    {"73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"},
    {"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
    {"516b6fcd0f", "ABnLTmg"},
    {"bf4f89001e670274dd", "3SEo3LWLoPntC"},
    {"572e4794", "3EFU7m"},
    {"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
    {"10c8511e", "Rt5zm"},
    {"00000000000000000000", "1111111111"},
    {"00000000000000000000000000000000000000000000000000000000000000000000000000000000",
     "1111111111111111111111111111111111111111"},
    {"00000000000000000000000000000000000000000000000000000000000000000000000000000001",
     "1111111111111111111111111111111111111112"},
    {"0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "000000000000000000000000000000000000000000000000000000000000ec39d04c37e71e5d591881f6",
     "111111111111111111111111111111111111111111111111111111111111111111111111111111111111115TYzLYH1udmLdzCLM"},
    {"000111d38e5fc9071ffcd20b4a763cc9ae4f252bb4e48fd66a835e252ada93ff480d6dd43dc62a641155a5",
     "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"},
    {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435"
     "363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b"
     "6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1"
     "a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7"
     "d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
     "1cWB5HCBdLjAuqGGReWE3R3CguuwSjw6RHn39s2yuDRTS5NsBgNiFpWgAnEx6VQi8csexkgYw3mdYrMHr8x9i7aEwP8kZ7vccXWqKDvGv3u1GxFKP"
     "uAkn8JCPPGDMf3vMMnbzm6Nh9zh1gcNsMvH3ZNLmP5fSG6DGbbi2tuwMWPthr4boWwCxf7ewSgNQeacyozhKDDQQ1qL5fQFUW52QKUZDZ5fw3K"
     "XNQJMcNTcaB723LchjeKun7MuGW5qyCBZYzA1KjofN1gYBV3NqyhQJ3Ns746GNuf9N2pQPmHz4xpnSrrfCvy6TVVz5d4PdrjeshsWQwpZsZGzv"
     "bdAdN8MKV5QsBDY"},
    {"271F359E", "zzzzy"},
    {"271F359F", "zzzzz"},
    {"271F35A0", "211111"},
    {"271F35A1", "211112"},
};

TEST(Base58, BitcoinCoreVectors) {
  for (const auto& v : kBitcoinCore) {
    SCOPED_TRACE(v.base58);
    const auto data = hex_decode(v.hex);
    ASSERT_TRUE(data);
    EXPECT_EQ(base58_encode(*data), v.base58);
    EXPECT_EQ(base58_decode(v.base58), data);
  }
}

TEST(Base58, RejectsMalformed) {
  // Characters outside the alphabet, the four left out of it included.
  for (const char* bad : {"0", "O", "I", "l", "3SEo3LWLoPntC0", "invalid", "3+", "3 3", " 3SEo3LWLoPntC", "3SEo3LWLoPntC\n"}) {
    SCOPED_TRACE(bad);
    EXPECT_FALSE(base58_decode(bad));
  }
  EXPECT_FALSE(base58_decode(std::string_view("3SEo\0", 5)));  // Bitcoin Core: embedded NUL
  EXPECT_FALSE(base58_decode("\xc3\xa9"));
}

TEST(PercentEncode, Rfc3986Unreserved) {
  EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_encode("a b/c+d=\xc3\xa9"), "a%20b%2Fc%2Bd%3D%C3%A9");
  EXPECT_EQ(percent_encode("a b/c", "/"), "a%20b/c");
  EXPECT_EQ(percent_encode(std::string_view("\0", 1)), "%00");
}

}  // namespace
}  // namespace privstack
