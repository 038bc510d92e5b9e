// The signer against AWS's published Signature V4 examples: the generic
// test suite (aws-sig-v4-test-suite, credentials AKIDEXAMPLE, 20150830,
// us-east-1, service "service") and the S3 examples of the S3 API reference
// ("Signature Calculations for the Authorization Header", examplebucket,
// 20130524).
#include "backup/s3_sigv4.h"

#include <gtest/gtest.h>

#include <chrono>

#include "core/encoding.h"

namespace privstack::backup::sigv4 {
namespace {

const Credentials kSuite{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
const Credentials kS3{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
constexpr const char* kSuiteDate = "20150830T123600Z";
constexpr const char* kS3Date = "20130524T000000Z";
constexpr const char* kS3Host = "examplebucket.s3.amazonaws.com";

Signed suite(const std::string& method, const std::string& path, Pairs query, Pairs extra = {},
             const std::string& body = "") {
  Request r;
  r.method = method;
  r.path = path;
  r.query = std::move(query);
  r.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", kSuiteDate}};
  r.headers.insert(r.headers.end(), extra.begin(), extra.end());
  r.payload_sha256 = sha256_hex(body);
  return sign(r, kSuite, "us-east-1", "service", kSuiteDate);
}

Signed s3(const std::string& method, const std::string& path, Pairs query, Pairs extra,
          const std::string& payload_hash) {
  Request r;
  r.method = method;
  r.path = path;
  r.query = std::move(query);
  r.headers = {{"Host", kS3Host}, {"x-amz-date", kS3Date}, {"x-amz-content-sha256", payload_hash}};
  r.headers.insert(r.headers.end(), extra.begin(), extra.end());
  r.payload_sha256 = payload_hash;
  return sign(r, kS3, "us-east-1", "s3", kS3Date);
}

TEST(SigV4, SigningKeyDerivationExample) {
  // AWS General Reference, "Examples of how to derive a signing key".
  EXPECT_EQ(hex_encode(signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

TEST(SigV4, SuiteGetVanilla) {
  Signed s = suite("GET", "/", {});
  EXPECT_EQ(s.canonical_request,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4, SuiteGetVanillaQueryOrderKeyCase) {
  Signed s = suite("GET", "/", {{"Param2", "value2"}, {"Param1", "value1"}});
  EXPECT_NE(s.canonical_request.find("\nParam1=value1&Param2=value2\n"), std::string::npos);
  EXPECT_EQ(s.signature, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4, SuiteGetUtf8) {
  Signed s = suite("GET", "/\xE1\x88\xB4", {});
  EXPECT_EQ(s.canonical_request.substr(0, 15), "GET\n/%E1%88%B4\n");
  EXPECT_EQ(s.signature, "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

TEST(SigV4, SuitePostVanilla) {
  EXPECT_EQ(suite("POST", "/", {}).signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4, SuitePostXWwwFormUrlencoded) {
  Signed s = suite("POST", "/", {}, {{"Content-Type", "application/x-www-form-urlencoded"}}, "Param1=value1");
  EXPECT_EQ(s.signed_headers, "content-type;host;x-amz-date");
  EXPECT_EQ(s.string_to_sign.substr(s.string_to_sign.rfind('\n') + 1),
            "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281");
  EXPECT_EQ(s.signature, "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

TEST(SigV4, SuiteHeaderValueTrimCanonicalForm) {
  // get-header-value-trim: values trimmed and inner runs of spaces collapsed.
  Signed s = suite("GET", "/", {}, {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}});
  EXPECT_NE(s.canonical_request.find("my-header1:value1\nmy-header2:\"a b c\"\n"), std::string::npos)
      << s.canonical_request;
  EXPECT_EQ(s.signed_headers, "host;my-header1;my-header2;x-amz-date");
}

TEST(SigV4, S3GetObjectExample) {
  Signed s = s3("GET", "/test.txt", {}, {{"Range", "bytes=0-9"}}, std::string(kEmptySha256));
  EXPECT_EQ(s.signed_headers, "host;range;x-amz-content-sha256;x-amz-date");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, S3PutObjectExample) {
  std::string body_hash = sha256_hex("Welcome to Amazon S3.");
  EXPECT_EQ(body_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  Signed s = s3("PUT", "/test$file.text", {},
                {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}}, body_hash);
  EXPECT_EQ(s.canonical_request.substr(0, 22), "PUT\n/test%24file.text\n");
  EXPECT_EQ(sha256_hex(s.canonical_request), "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d");
  EXPECT_EQ(s.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4, S3GetBucketLifecycleExample) {
  Signed s = s3("GET", "/", {{"lifecycle", ""}}, {}, std::string(kEmptySha256));
  EXPECT_EQ(sha256_hex(s.canonical_request), "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca");
  EXPECT_EQ(s.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4, S3ListObjectsExample) {
  Signed s = s3("GET", "/", {{"prefix", "J"}, {"max-keys", "2"}}, {}, std::string(kEmptySha256));
  EXPECT_NE(s.canonical_request.find("\nmax-keys=2&prefix=J\n"), std::string::npos);
  EXPECT_EQ(s.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, EncodingRules) {
  EXPECT_EQ(uri_encode("a b+c/d~e_f.g-h", false), "a%20b%2Bc/d~e_f.g-h");
  EXPECT_EQ(uri_encode("a/b", true), "a%2Fb");
  EXPECT_EQ(encode_path(""), "/");
  EXPECT_EQ(encode_path("/bucket/privstack/2026-11-22T020000Z.psbak"), "/bucket/privstack/2026-11-22T020000Z.psbak");
  EXPECT_EQ(encode_query({{"uploadId", "a/b=c"}, {"partNumber", "10"}, {"uploads", ""}}),
            "partNumber=10&uploadId=a%2Fb%3Dc&uploads=");
  // Byte order, not locale order: upper case sorts before lower case.
  EXPECT_EQ(encode_query({{"b", "1"}, {"a", "2"}, {"A", "3"}}), "A=3&a=2&b=1");
  EXPECT_EQ(amz_date(std::chrono::system_clock::time_point(std::chrono::seconds(1440938160))), "20150830T123600Z");
  EXPECT_THROW(sign(Request{}, kSuite, "us-east-1", "s3", "2015-08-30"), std::invalid_argument);
}

TEST(SigV4, ChangingAnythingChangesTheSignature) {
  Signed base = s3("GET", "/test.txt", {}, {}, std::string(kEmptySha256));
  EXPECT_NE(s3("GET", "/test.txT", {}, {}, std::string(kEmptySha256)).signature, base.signature);
  EXPECT_NE(s3("HEAD", "/test.txt", {}, {}, std::string(kEmptySha256)).signature, base.signature);
  EXPECT_NE(s3("GET", "/test.txt", {{"x", ""}}, {}, std::string(kEmptySha256)).signature, base.signature);
  EXPECT_NE(s3("GET", "/test.txt", {}, {}, std::string(kUnsignedPayload)).signature, base.signature);
}

}  // namespace
}  // namespace privstack::backup::sigv4
