#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <set>
#include <stdexcept>

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
  auto fut = asio::co_spawn(io, [&]() -> asio::awaitable<Response> { co_return co_await router.handle(r); },
                            asio::use_future);
  io.run();
  return fut.get().status;
}

}  // namespace

TEST(Router, ResolveReportsRouteAndParams) {
  Router router;
  router.add("GET", "/api/v1/users/{name}", reply(200));
  router.add("PUT", "/api/v1/users/{name}/password", reply(204));
  Request r;
  r.method = "GET";
  r.path = "/api/v1/users/alice";
  std::map<std::string, std::string> params;
  const Route* m = router.resolve(r, &params);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->pattern, "/api/v1/users/{name}");
  EXPECT_EQ(m->index, 0u);
  EXPECT_EQ(params.at("name"), "alice");
  r.method = "HEAD";
  ASSERT_TRUE(router.resolve(r));
  EXPECT_EQ(router.resolve(r)->method, "GET");
  r.method = "DELETE";
  EXPECT_FALSE(router.resolve(r));
  r.method = "GET";
  r.path = "/api/v1/users/alice/";
  EXPECT_FALSE(router.resolve(r));
}

// The route is resolved once, before the middleware: each middleware sees it
// on the request, and the handler that runs is that route's.
TEST(Router, MiddlewareSeesTheResolvedRoute) {
  Router router;
  router.add("GET", "/a/{id}", reply(200));
  std::vector<std::string> seen;
  router.use([&seen](Request& r, const Next& next) -> asio::awaitable<Response> {
    seen.push_back(r.route ? r.route->pattern + " " + r.params.at("id") : "(none)");
    co_return co_await next(r);
  });
  EXPECT_EQ(dispatch(router, "GET", "/a/7"), 200);
  EXPECT_EQ(dispatch(router, "GET", "/b"), 404);
  EXPECT_EQ(seen, (std::vector<std::string>{"/a/{id} 7", "(none)"}));
}

// The error boundary: an Error becomes its code's status; anything else is
// 500 `internal`, and its text never reaches the body.
TEST(Router, ErrorsBecomeProblemDocumentsWithCodeAndCorrelationId) {
  Router router;
  router.add("GET", "/conflict", [](Request&) -> asio::awaitable<Response> {
    throw privstack::Error(privstack::ErrorCode::already_running, "A backup is already running.",
                           "/var/lib/privstack/backups: lock held");
    co_return Response{};
  });
  router.add("GET", "/boom", [](Request&) -> asio::awaitable<Response> {
    throw std::runtime_error("sqlite3_step: /var/lib/privstack/store.db is locked");
    co_return Response{};
  });
  asio::io_context io;
  auto get = [&](std::string path) {
    Request r;
    r.method = "GET";
    r.path = path;
    auto fut = asio::co_spawn(io, [&]() -> asio::awaitable<Response> { co_return co_await router.handle(r); },
                              asio::use_future);
    io.restart();
    io.run();
    return fut.get();
  };
  Response a = get("/conflict");
  EXPECT_EQ(a.status, 409);
  EXPECT_NE(a.body.find("\"code\":\"already_running\""), std::string::npos) << a.body;
  EXPECT_NE(a.body.find("\"correlation_id\":\""), std::string::npos) << a.body;
  EXPECT_EQ(a.body.find("/var/lib"), std::string::npos) << a.body;
  Response b = get("/boom");
  EXPECT_EQ(b.status, 500);
  EXPECT_NE(b.body.find("\"code\":\"internal\""), std::string::npos) << b.body;
  EXPECT_EQ(b.body.find("sqlite3"), std::string::npos) << b.body;
  EXPECT_EQ(b.body.find("/var/lib"), std::string::npos) << b.body;
  Response c = get("/nothing");
  EXPECT_EQ(c.status, 404);
  EXPECT_NE(c.body.find("\"code\":\"not_found\""), std::string::npos) << c.body;
}

// Every ErrorCode has a distinct name that parses back, and a status.
TEST(ErrorModel, CodesRoundTripAndMapToStatuses) {
  std::set<std::string_view> names;
  for (privstack::ErrorCode code : privstack::kAllErrorCodes) {
    auto name = privstack::to_string(code);
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(privstack::parse_error_code(name), code);
    int status = status_of(code);
    EXPECT_TRUE(status >= 400 && status < 600) << name;
  }
  EXPECT_EQ(status_of(privstack::ErrorCode::internal), 500);
  EXPECT_EQ(privstack::exit_code(privstack::ErrorCode::invalid_argument), 2);
  EXPECT_EQ(privstack::exit_code(privstack::ErrorCode::not_found), 1);
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
