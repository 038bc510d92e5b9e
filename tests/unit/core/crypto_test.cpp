#include "core/crypto.h"

#include <gtest/gtest.h>

#include <set>
#include <stdexcept>
#include <string>

namespace privstack {
namespace {

TEST(Crypto, RandomBytesHaveTheAskedLengthAndDiffer) {
  EXPECT_TRUE(random_bytes(0).empty());
  EXPECT_EQ(random_bytes(32).size(), 32u);
  std::set<std::vector<std::uint8_t>> seen;
  for (int i = 0; i < 16; ++i) seen.insert(random_bytes(16));
  EXPECT_EQ(seen.size(), 16u);
  unsigned char buf[8] = {};
  random_fill(buf, 0);
  random_fill(buf, sizeof buf);
}

TEST(Crypto, RandomHexIsLowerCaseHexOfNBytes) {
  const std::string h = random_hex(12);
  EXPECT_EQ(h.size(), 24u);
  EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(random_hex(12), h);
  EXPECT_EQ(random_hex(0), "");
}

TEST(Crypto, ConstantTimeEquals) {
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_TRUE(constant_time_equals("token", "token"));
  EXPECT_FALSE(constant_time_equals("token", "tokeN"));
  EXPECT_FALSE(constant_time_equals("token", "token2"));  // length-safe: a prefix is not equal
  EXPECT_FALSE(constant_time_equals("token2", "token"));
  EXPECT_FALSE(constant_time_equals("", "x"));
  EXPECT_TRUE(constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0b", 3)));
  EXPECT_FALSE(constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
  const std::vector<std::uint8_t> a{1, 2, 3}, b{1, 2, 3}, c{1, 2, 4};
  EXPECT_TRUE(constant_time_equals(a, b));
  EXPECT_FALSE(constant_time_equals(a, c));
  EXPECT_FALSE(constant_time_equals(std::span(a).first(2), b));
  EXPECT_TRUE(constant_time_equals(std::span(a).first(0), std::span(c).first(0)));
}

TEST(Crypto, CleanseZeroesMemory) {
  std::string s = "secret";
  cleanse(s);
  EXPECT_EQ(s, std::string(6, '\0'));
  std::vector<std::uint8_t> v{1, 2, 3};
  cleanse(v);
  EXPECT_EQ(v, (std::vector<std::uint8_t>{0, 0, 0}));
  unsigned char raw[4] = {9, 9, 9, 9};
  cleanse(raw, sizeof raw);
  for (unsigned char c : raw) EXPECT_EQ(c, 0);
  cleanse(nullptr, 0);
  std::string empty;
  cleanse(empty);
}

TEST(Crypto, CleanseOnExitWipesWhenTheScopeEnds) {
  std::string s = "secret";
  std::vector<std::uint8_t> v{1, 2};
  try {
    CleanseOnExit wipe_s{s};
    CleanseOnExit wipe_v{v};
    throw std::runtime_error("leaving");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(s, std::string(6, '\0'));
  EXPECT_EQ(v, (std::vector<std::uint8_t>{0, 0}));
}

}  // namespace
}  // namespace privstack
