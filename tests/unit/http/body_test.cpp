// http::read_json_object: the one JSON body reader, and its one error per
// kind of bad body.
#include <gtest/gtest.h>

#include <string>

#include "http/body.h"

using privstack::Error;
using privstack::ErrorCode;
using privstack::http::BodyLimits;
using privstack::http::read_json_object;
using privstack::http::Request;

namespace {

Request with_body(std::string body, std::string type = "application/json") {
  Request r;
  r.method = "POST";
  r.path = "/x";
  r.body = std::move(body);
  if (!type.empty()) r.headers.push_back({"Content-Type", type});
  return r;
}

ErrorCode code_of(const Request& r, const BodyLimits& limits = {}) {
  try {
    read_json_object(r, limits);
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "no error for body " << r.body;
  return ErrorCode::internal;
}

}  // namespace

TEST(JsonBody, ReadsAnObject) {
  auto o = read_json_object(with_body(R"({"a": 1, "b": [true]})", "application/json; charset=utf-8"));
  EXPECT_EQ(o.at("a").as_int64(), 1);
  EXPECT_TRUE(o.at("b").as_array().at(0).as_bool());
  EXPECT_EQ(read_json_object(with_body("{}", "application/merge-patch+json")).size(), 0u);
}

TEST(JsonBody, EmptyBodyIsAnObjectUnlessTheRouteNeedsFields) {
  EXPECT_TRUE(read_json_object(with_body("", "")).empty());
  EXPECT_EQ(code_of(with_body("", ""), {.empty_is_object = false}), ErrorCode::unsupported_media_type);
  EXPECT_EQ(code_of(with_body("", "application/json"), {.empty_is_object = false}), ErrorCode::invalid_argument);
}

TEST(JsonBody, EachBadBodyHasItsCode) {
  EXPECT_EQ(code_of(with_body("{}", "")), ErrorCode::unsupported_media_type);
  EXPECT_EQ(code_of(with_body("{}", "text/plain")), ErrorCode::unsupported_media_type);
  EXPECT_EQ(code_of(with_body("a=1", "application/x-www-form-urlencoded")), ErrorCode::unsupported_media_type);
  EXPECT_EQ(code_of(with_body("{{{{{")), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of(with_body("{\"a\":1} trailing")), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of(with_body("[1, 2]")), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of(with_body("\"text\"")), ErrorCode::invalid_argument);
  EXPECT_EQ(code_of(with_body(std::string(2000, ' ') + "{}"), {.max_bytes = 1000}), ErrorCode::payload_too_large);
}

TEST(JsonBody, NestingIsLimited) {
  std::string deep = std::string(40, '[') + std::string(40, ']');
  EXPECT_EQ(code_of(with_body("{\"a\":" + deep + "}")), ErrorCode::invalid_argument);
  std::string ok = "{\"a\":" + std::string(20, '[') + std::string(20, ']') + "}";
  EXPECT_NO_THROW(read_json_object(with_body(ok)));
}

TEST(JsonBody, TheErrorSaysNothingOfTheParser) {
  try {
    read_json_object(with_body("{\"a\": tru"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.message().find("boost"), std::string::npos) << e.message();
    EXPECT_TRUE(e.internal_detail().empty());
  }
}
