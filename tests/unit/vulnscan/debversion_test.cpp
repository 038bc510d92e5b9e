// dpkg's version order and its parse errors (the bulk comparison with libapt
// and dpkg itself is tests/integration/test_debversion.py).
#include <gtest/gtest.h>

#include "vulnscan/debversion.h"

namespace privstack::vulnscan {
namespace {

int cmp(std::string_view a, std::string_view b) {
  const auto r = compare_versions(a, b);
  EXPECT_TRUE(r.has_value()) << a << " vs " << b;
  return r ? (*r < 0 ? -1 : *r > 0 ? 1 : 0) : 99;
}

TEST(DebVersion, SplitsEpochUpstreamRevision) {
  const auto p = parse_version("2:1.0-3-4~bpo1");
  ASSERT_TRUE(p.version);
  EXPECT_EQ(p.version->epoch, 2);
  EXPECT_EQ(p.version->upstream, "1.0-3");  // the last hyphen starts the revision
  EXPECT_EQ(p.version->revision, "4~bpo1");
  EXPECT_TRUE(p.problem.empty());
  const auto colon = parse_version("1:2:3");  // a colon after the epoch belongs to upstream
  ASSERT_TRUE(colon.version);
  EXPECT_EQ(colon.version->upstream, "2:3");
}

TEST(DebVersion, TildeSortsBeforeEverythingEvenTheEnd) {
  EXPECT_EQ(cmp("1.0~rc1", "1.0"), -1);
  EXPECT_EQ(cmp("1.0~~", "1.0~"), -1);
  EXPECT_EQ(cmp("1.0~~a", "1.0~~"), 1);
  EXPECT_EQ(cmp("3.0.11-1~deb12u2", "3.0.11-1"), -1);
}

TEST(DebVersion, LettersBeforeOtherSymbolsAndDigitsNumerically) {
  EXPECT_EQ(cmp("1.0a", "1.0+"), -1);
  EXPECT_EQ(cmp("1.0a", "1.0."), -1);
  EXPECT_EQ(cmp("1.0", "1.0a"), -1);
  EXPECT_EQ(cmp("1.10", "1.9"), 1);
  EXPECT_EQ(cmp("1.002", "1.2"), 0);
  EXPECT_EQ(cmp("1.0+b1", "1.0"), 1);
  EXPECT_EQ(cmp("A", "a"), -1);  // ASCII order among letters
}

TEST(DebVersion, EpochWinsAndMissingPartsAreZero) {
  EXPECT_EQ(cmp("1:0.1", "9.9"), 1);
  EXPECT_EQ(cmp("0:1.0", "1.0"), 0);
  EXPECT_EQ(cmp("1.0", "1.0-0"), 0);
  EXPECT_EQ(cmp("1.0-0~", "1.0"), -1);
  EXPECT_EQ(cmp("00:1.0", "1.0"), 0);
}

TEST(DebVersion, RefusesWhatDpkgRefuses) {
  for (const char* bad : {"", "  ", "1:", ":1", "a:1", "1.0-", "1 0", "-1:2", "99999999999:1", "-1"}) {
    const auto p = parse_version(bad);
    EXPECT_TRUE(p.rejected) << '"' << bad << '"';
    EXPECT_FALSE(p.version) << '"' << bad << '"';
    EXPECT_FALSE(p.problem.empty());
  }
  EXPECT_FALSE(compare_versions("1.0", "1:").has_value());
}

TEST(DebVersion, AcceptsWithAWarningWhatDpkgWarnsAbout) {
  for (const char* odd : {"a1", "1::", "1.0_x", "1.0-a_b"}) {
    const auto p = parse_version(odd);
    EXPECT_FALSE(p.rejected) << odd;
    ASSERT_TRUE(p.version) << odd;
    EXPECT_FALSE(p.problem.empty()) << odd;
  }
  EXPECT_EQ(parse_version("+1:2").version->epoch, 1);  // strtol takes the sign, as in dpkg
  EXPECT_EQ(parse_version(" 1.0 ").version->upstream, "1.0");
}

}  // namespace
}  // namespace privstack::vulnscan
