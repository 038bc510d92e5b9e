#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "http/http.h"

using namespace privstack::http;
namespace asio = boost::asio;

namespace {

Handler reply(int status) {
  return [status](Request&) -> asio::awaitable<Response> { co_return Response::text(status, "", "text/plain"); };
}

int dispatch(const Router& router, std::string method, std::string path) {
  asio::io_context io;
  Request r;
  r.method = method;
  r.path = path;
  auto fut = asio::co_spawn(io, [&]() -> asio::awaitable<Response> { co_return co_await router.dispatch(r); },
                            asio::use_future);
  io.run();
  return fut.get().status;
}

}  // namespace

TEST(Router, MatchReportsPatternAndParams) {
  Router router;
  router.add("GET", "/api/v1/users/{name}", reply(200));
  router.add("PUT", "/api/v1/users/{name}/password", reply(204));
  Request r;
  r.method = "GET";
  r.path = "/api/v1/users/alice";
  auto m = router.match(r);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->pattern, "/api/v1/users/{name}");
  EXPECT_EQ(m->params.at("name"), "alice");
  r.method = "HEAD";
  ASSERT_TRUE(router.match(r));
  EXPECT_EQ(router.match(r)->method, "GET");
  r.method = "DELETE";
  EXPECT_FALSE(router.match(r));
  r.method = "GET";
  r.path = "/api/v1/users/alice/";
  EXPECT_FALSE(router.match(r));
}

TEST(Router, FallbackForUnknownPathsOnly) {
  Router router;
  router.add("GET", "/healthz", reply(200));
  EXPECT_EQ(dispatch(router, "GET", "/index.html"), 404);
  router.set_fallback(reply(299));
  EXPECT_EQ(dispatch(router, "GET", "/index.html"), 299);
  EXPECT_EQ(dispatch(router, "GET", "/healthz"), 200);
  EXPECT_EQ(dispatch(router, "POST", "/healthz"), 405);  // known path: not the fallback
}
