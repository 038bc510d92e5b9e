// What authentication reads from a request: the session cookie, the methods
// that change state, and the Origin check.
#include <gtest/gtest.h>

#include "auth/auth.h"
#include "auth/request.h"

using namespace privstack;
using namespace privstack::auth;

namespace {

http::Request with_headers(std::vector<http::Header> headers) {
  http::Request r;
  r.method = "POST";
  r.headers = std::move(headers);
  return r;
}

TEST(CookieValue, FindsTheNamedCookieAmongOthers) {
  auto r = with_headers({{"Cookie", "theme=dark; __Host-privstack_session=abc123; other=x"}});
  EXPECT_EQ(cookie_value(r, kSessionCookie), "abc123");
  EXPECT_EQ(cookie_value(r, "theme"), "dark");
  EXPECT_EQ(cookie_value(r, "other"), "x");
  EXPECT_FALSE(cookie_value(r, "missing"));
  EXPECT_FALSE(cookie_value(r, "__Host-privstack"));  // whole names only
}

TEST(CookieValue, HeaderNameInAnyCaseAndSeveralHeaders) {
  auto r = with_headers({{"cookie", "a=1"}, {"COOKIE", "__Host-privstack_session=s"}});
  EXPECT_EQ(cookie_value(r, kSessionCookie), "s");
  EXPECT_EQ(cookie_value(r, "a"), "1");
  EXPECT_FALSE(cookie_value(with_headers({{"Cookies", "a=1"}}), "a"));
  EXPECT_FALSE(cookie_value(with_headers({}), "a"));
  EXPECT_EQ(cookie_value(with_headers({{"Cookie", "a="}}), "a"), "");
}

TEST(IsStateChanging, AllButGetHeadOptions) {
  EXPECT_FALSE(is_state_changing("GET"));
  EXPECT_FALSE(is_state_changing("HEAD"));
  EXPECT_FALSE(is_state_changing("OPTIONS"));
  EXPECT_TRUE(is_state_changing("POST"));
  EXPECT_TRUE(is_state_changing("PUT"));
  EXPECT_TRUE(is_state_changing("PATCH"));
  EXPECT_TRUE(is_state_changing("DELETE"));
}

TEST(OriginOk, OriginMustBeThisServer) {
  EXPECT_TRUE(origin_ok(with_headers({{"Host", "console.test"}, {"Origin", "https://console.test"}})));
  EXPECT_FALSE(origin_ok(with_headers({{"Host", "console.test"}, {"Origin", "https://evil.test"}})));
  EXPECT_FALSE(origin_ok(with_headers({{"Host", "console.test"}, {"Origin", "http://console.test"}})));
  EXPECT_FALSE(origin_ok(with_headers({{"Origin", "https://console.test"}})));  // no Host
  EXPECT_FALSE(origin_ok(with_headers({{"Host", ""}, {"Origin", "https://"}})));
}

TEST(OriginOk, WithoutOriginSecFetchSiteDecides) {
  EXPECT_TRUE(origin_ok(with_headers({{"Host", "console.test"}})));  // curl, scripts
  EXPECT_TRUE(origin_ok(with_headers({{"Sec-Fetch-Site", "same-origin"}})));
  EXPECT_TRUE(origin_ok(with_headers({{"Sec-Fetch-Site", "none"}})));
  EXPECT_FALSE(origin_ok(with_headers({{"Sec-Fetch-Site", "cross-site"}})));
  EXPECT_FALSE(origin_ok(with_headers({{"Sec-Fetch-Site", "same-site"}})));
}

}  // namespace
