// http::parse_request: the server's parser and conversion to Request, as
// the fuzz target tests/fuzz/http_request.cpp drives them.
#include <gtest/gtest.h>

#include "http/server.h"

namespace privstack::http {
namespace {

TEST(ParseRequest, PipelinedRequestsParsedOneByOne) {
  std::string wire =
      "POST /api/v1/a%20b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}"
      "HEAD /next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  ParsedRequest first = parse_request(wire, {}, "192.0.2.1");
  ASSERT_TRUE(first.request);
  EXPECT_EQ(first.request->method, "POST");
  EXPECT_EQ(first.request->path, "/api/v1/a b");
  EXPECT_EQ(first.request->query, "x=1");
  EXPECT_EQ(first.request->body, "{}");
  EXPECT_EQ(first.request->remote_address, "192.0.2.1");
  EXPECT_EQ(first.request->header("host"), "h");
  EXPECT_TRUE(first.keep_alive);
  ParsedRequest second = parse_request(std::string_view(wire).substr(first.consumed), {}, "192.0.2.1");
  ASSERT_TRUE(second.request);
  EXPECT_EQ(second.request->path, "/next");
  EXPECT_TRUE(second.head);
  EXPECT_FALSE(second.keep_alive);
  EXPECT_EQ(first.consumed + second.consumed, wire.size());
}

TEST(ParseRequest, RefusalsCarryTheServersStatus) {
  ServerLimits limits;
  limits.header_limit = 64;
  limits.body_limit = 4;
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nX: " + std::string(100, 'a') + "\r\n\r\n", limits, "a").status, 431);
  EXPECT_EQ(parse_request("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n12345", limits, "a").status, 413);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", limits, "a").status, 400);
  EXPECT_EQ(parse_request("GET relative HTTP/1.1\r\n\r\n", limits, "a").status, 400);
  EXPECT_EQ(parse_request("GET /%00 HTTP/1.1\r\n\r\n", limits, "a").status, 400);
  ParsedRequest partial = parse_request("GET / HTTP/1.1\r\nHost:", limits, "a");
  EXPECT_FALSE(partial.request);
  EXPECT_EQ(partial.status, 0);
}

}  // namespace
}  // namespace privstack::http
