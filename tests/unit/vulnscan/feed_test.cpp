#include <gtest/gtest.h>

#include <sstream>

#include "vulnscan/feed.h"

namespace privstack::vulnscan {
namespace {

Feed parse(const std::string& text, std::string_view release = "bookworm", std::size_t limit = 64u << 20) {
  std::istringstream in(text);
  return parse_feed(in, release, limit);
}

const char* kSample = R"({
 "openssl": {
  "CVE-2023-0464": {"description": "A security vulnerability \"quoted\" {brace}", "scope": "local",
    "releases": {"bookworm": {"status": "resolved", "repositories": {"bookworm": "3.0.9-1"},
                              "fixed_version": "3.0.8-1", "urgency": "not yet assigned",
                              "nodsa": "Minor issue", "nodsa_reason": "postponed"},
                 "bullseye": {"status": "open", "urgency": "low"}}},
  "CVE-2024-0001": {"releases": {"bullseye": {"status": "open", "urgency": "low"}}}
 },
 "bash\u002dstatic": {"TEMP-0000000-ABCDEF": {"releases": {"bookworm": {"status": "open", "urgency": "unimportant"}}}},
 "zlib": {}
})";

TEST(Feed, KeepsTheReleasesEntriesPerSourcePackage) {
  const auto f = parse(kSample);
  EXPECT_EQ(f.packages_read, 3u);
  EXPECT_EQ(f.entries_kept, 2u);
  ASSERT_EQ(f.by_source.count("openssl"), 1u);
  const auto& e = f.by_source.at("openssl").at(0);
  EXPECT_EQ(e.id, "CVE-2023-0464");
  EXPECT_EQ(e.status, "resolved");
  EXPECT_EQ(e.fixed_version, "3.0.8-1");
  EXPECT_EQ(e.urgency, "not yet assigned");
  EXPECT_EQ(e.nodsa, "Minor issue");
  EXPECT_EQ(e.nodsa_reason, "postponed");
  EXPECT_EQ(e.scope, "local");
  EXPECT_EQ(e.description, "A security vulnerability \"quoted\" {brace}");
  ASSERT_EQ(f.by_source.count("bash-static"), 1u);  // the key's escape is decoded
  EXPECT_EQ(f.by_source.at("bash-static").at(0).id, "TEMP-0000000-ABCDEF");
  EXPECT_EQ(f.by_source.count("zlib"), 0u);
}

TEST(Feed, AnotherReleaseSeesOtherEntries) {
  const auto f = parse(kSample, "bullseye");
  EXPECT_EQ(f.entries_kept, 2u);
  EXPECT_EQ(f.by_source.at("openssl").size(), 2u);
}

TEST(Feed, RejectsMalformedData) {
  EXPECT_THROW(parse(""), FeedError);
  EXPECT_THROW(parse("[]"), FeedError);
  EXPECT_THROW(parse(R"({"a": {"CVE-1": {}})"), FeedError);          // truncated
  EXPECT_THROW(parse(R"({"a": {"CVE-1": {}}},)"), FeedError);        // trailing data
  EXPECT_THROW(parse(R"({"a": 1})"), FeedError);                    // not an object
  EXPECT_THROW(parse(R"({"a": {"CVE-1": 3}})"), FeedError);
  EXPECT_THROW(parse(R"({"a": {"CVE-1": {"x": tru}}})"), FeedError);  // bad JSON inside
  EXPECT_THROW(parse(R"({"a": {},})"), FeedError);                  // trailing comma
  EXPECT_NO_THROW(parse("{}"));
}

TEST(Feed, BoundsOnePackagesSize) {
  std::string big = R"({"linux": {"CVE-1": {"description": ")" + std::string(5000, 'x') + R"("}}})";
  EXPECT_THROW(parse(big, "bookworm", 1000), FeedError);
  EXPECT_NO_THROW(parse(big, "bookworm", 10000));
  const auto f = parse(R"({"p": {"CVE-1": {"description": ")" + std::string(5000, 'y') +
                       R"(", "releases": {"bookworm": {"status": "open"}}}}})");
  EXPECT_EQ(f.by_source.at("p").at(0).description.size(), kMaxDescription);
}

}  // namespace
}  // namespace privstack::vulnscan
