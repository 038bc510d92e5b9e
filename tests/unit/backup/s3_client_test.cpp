// Offline parts of the S3 client; the rest runs against a real server in
// tests/integration/test_backup_s3.py.
#include "backup/s3_client.h"

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>

namespace privstack::backup {
namespace {

S3Config config() {
  S3Config c;
  c.endpoint = "http://127.0.0.1:1";
  c.bucket = "b";
  c.region = "us-east-1";
  return c;
}

TEST(S3Client, XmlValuesUnescaped) {
  std::string xml =
      "<ListBucketResult><Contents><Key>a&amp;b &lt;c&gt;</Key><Size>3</Size></Contents>"
      "<Contents><Key>d&#47;e</Key></Contents><IsTruncated>false</IsTruncated></ListBucketResult>";
  EXPECT_EQ(xml_values(xml, "Key"), (std::vector<std::string>{"a&b <c>", "d/e"}));
  EXPECT_EQ(xml_values(xml, "IsTruncated"), (std::vector<std::string>{"false"}));
  EXPECT_TRUE(xml_values(xml, "Missing").empty());
  // RGW's empty <Message/> is simply absent.
  EXPECT_TRUE(xml_values("<Error><Code>NoSuchKey</Code><Message/></Error>", "Message").empty());
}

TEST(S3Client, ListAnswersParsed) {
  auto page = parse_list_objects(
      "<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t2</NextContinuationToken>"
      "<Contents><Key>a</Key><Size>18446744073709551615</Size><ETag>&quot;e1&quot;</ETag></Contents>"
      "<Contents><Key>b</Key></Contents></ListBucketResult>");
  ASSERT_EQ(page.objects.size(), 2u);
  EXPECT_EQ(page.objects[0].size, 18446744073709551615ull);
  EXPECT_EQ(page.objects[0].etag, "e1");
  EXPECT_EQ(page.objects[1].size, 0u);
  EXPECT_EQ(page.next_token, "t2");
  EXPECT_TRUE(parse_list_objects("<IsTruncated>false</IsTruncated><NextContinuationToken>t</NextContinuationToken>")
                  .next_token.empty());
  auto parts = parse_list_parts("<Part><PartNumber>2</PartNumber><ETag>\"x\"</ETag><Size>5</Size></Part>");
  ASSERT_EQ(parts.parts.size(), 1u);
  EXPECT_EQ(parts.parts[0].number, 2);
  EXPECT_EQ(parts.parts[0].size, 5u);
  auto uploads = parse_multipart_uploads("<Upload><Key>k</Key><UploadId>u</UploadId></Upload>");
  EXPECT_EQ(uploads, (std::vector<std::pair<std::string, std::string>>{{"k", "u"}}));
  auto error = parse_error_body("<Error><Code>SlowDown</Code><Message>wait</Message></Error>");
  EXPECT_EQ(error.code, "SlowDown");
  EXPECT_EQ(error.message, "wait");
}

// Seen while writing tests/fuzz/s3_xml (whose contract is: only S3Error
// escapes): a hostile or broken server's <Size>abc</Size> escaped as
// std::invalid_argument ("stoull") and <Size>-1</Size> read as 2^64-1; both
// are now an S3Error naming the tag.
TEST(S3Client, MalformedNumbersInListAnswersAreS3Errors) {
  for (const char* xml : {"<Contents><Key>a</Key><Size>abc</Size></Contents>",
                          "<Contents><Key>a</Key><Size>-1</Size></Contents>",
                          "<Contents><Key>a</Key><Size>99999999999999999999</Size></Contents>",
                          "<Contents><Key>a</Key><Size>12 </Size></Contents>"}) {
    try {
      parse_list_objects(xml);
      ADD_FAILURE() << "accepted " << xml;
    } catch (const S3Error& e) {
      EXPECT_EQ(e.code(), "MalformedResponse");
      EXPECT_NE(std::string(e.what()).find("<Size>"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(parse_list_parts("<Part><ETag>x</ETag></Part>"), S3Error);  // no PartNumber
  EXPECT_THROW(parse_list_parts("<Part><PartNumber>-3</PartNumber></Part>"), S3Error);
  EXPECT_THROW(parse_list_parts("<Part><PartNumber>1</PartNumber><Size>x</Size></Part>"), S3Error);
}

TEST(S3Client, RegionOutsideAllowedRegionsRefused) {
  S3Config c = config();
  c.allowed_regions = {"eu-central-1", "eu-west-1"};
  try {
    S3Client client(c);
    FAIL() << "accepted a region outside the list";
  } catch (const S3Error& e) {
    EXPECT_EQ(e.code(), "RegionNotAllowed");
    EXPECT_NE(std::string(e.what()).find("\"us-east-1\""), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("eu-central-1, eu-west-1"), std::string::npos);
  }
  c.region = "eu-west-1";
  EXPECT_NO_THROW(S3Client{c});
}

TEST(S3Client, ObjectLockModeValidatedAndRetainUntilIsDaysAhead) {
  S3Config c;
  c.endpoint = "http://127.0.0.1:1";
  c.bucket = "b";
  EXPECT_EQ(S3Client(c).lock_retain_until(), "");  // off by default
  c.lock_retain_days = 30;
  c.lock_mode = "compliance";  // the config's spelling; S3 wants upper case
  EXPECT_THROW(S3Client{c}, std::invalid_argument);
  c.lock_mode = "GOVERNANCE";
  std::string until = S3Client(c).lock_retain_until();
  ASSERT_EQ(until.size(), 20u) << until;  // 2026-12-23T09:00:00Z
  std::tm tm{};
  ASSERT_NE(strptime(until.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm), nullptr) << until;
  auto ahead = std::chrono::system_clock::from_time_t(timegm(&tm)) - std::chrono::system_clock::now();
  EXPECT_GT(ahead, std::chrono::hours(24 * 30) - std::chrono::minutes(1));
  EXPECT_LE(ahead, std::chrono::hours(24 * 30));
}

TEST(S3Client, EndpointValidated) {
  S3Config c = config();
  c.endpoint = "ftp://example.com";
  EXPECT_THROW(S3Client{c}, std::invalid_argument);
  c.endpoint = "https://s3.eu-west-1.amazonaws.com";
  EXPECT_NO_THROW(S3Client{c});
}

TEST(S3Client, RetryableErrors) {
  EXPECT_TRUE(S3Error("", 0, "NetworkError").retryable());
  EXPECT_TRUE(S3Error("", 500, "InternalError").retryable());
  EXPECT_TRUE(S3Error("", 503, "SlowDown").retryable());
  EXPECT_TRUE(S3Error("", 400, "RequestTimeout").retryable());
  EXPECT_FALSE(S3Error("", 403, "SignatureDoesNotMatch").retryable());
  EXPECT_FALSE(S3Error("", 404, "NoSuchKey").retryable());
}

TEST(S3Client, UnreachableServerGivesUpAfterRetries) {
  S3Config c = config();
  c.max_attempts = 3;
  c.base_backoff = std::chrono::milliseconds(1);
  S3Client client(c);
  try {
    client.list_objects("");
    FAIL();
  } catch (const S3Error& e) {
    EXPECT_EQ(e.status(), 0);
    EXPECT_EQ(e.code(), "NetworkError");
  }
}

}  // namespace
}  // namespace privstack::backup
