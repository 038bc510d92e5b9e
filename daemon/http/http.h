// Plain request/response types and the router. Modules register their
// routes here; nothing in this header depends on Beast, so modules compile
// without its templates.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/json/value.hpp>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/identity.h"

namespace privstack::http {

struct Route;

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received, e.g. "/api/v1/users?limit=10"
  std::string path;    // percent-decoded path without the query
  std::string query;   // raw query string without '?'
  std::vector<Header> headers;
  std::string body;
  std::string remote_address;                 // peer IP address
  std::map<std::string, std::string> params;  // from "{name}" segments of the route

  // The route this request resolved to, set once by Router::handle() before
  // any middleware runs; nullptr when no route matches (404/405/static).
  const Route* route = nullptr;
  // Who is calling, set by the authentication middleware (auth) before the
  // handler runs; nullopt for anonymous requests. Handlers use it for audit
  // entries and per-user data; the permission check already happened.
  std::optional<privstack::Identity> identity;

  // Case-insensitive header lookup; the first value if repeated.
  std::optional<std::string_view> header(std::string_view name) const;
  // A query parameter, percent-decoded.
  std::optional<std::string> query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
  // When set, the body is these bytes instead of `body`: shared with a cache
  // (the static files) rather than copied for every response.
  std::shared_ptr<const std::string> shared_body;
  std::string_view body_view() const { return shared_body ? std::string_view(*shared_body) : std::string_view(body); }
  // A streamed body (large exports): when set, `body` is ignored and the
  // server sends the chunks this returns, one after another, with chunked
  // transfer encoding, until it returns nullopt; it is called again only
  // after the previous chunk was written, so memory stays flat. An exception
  // from it ends the connection without the final chunk: the client sees a
  // truncated body, never a falsely complete one.
  using BodyStream = std::function<boost::asio::awaitable<std::optional<std::string>>()>;
  BodyStream stream;

  void set_header(std::string_view name, std::string_view value);
  std::optional<std::string_view> header(std::string_view name) const;

  static Response json(int status, const boost::json::value& value);
  // An RFC 9457 problem document for `error`: its code's HTTP status and
  // title, the client-safe message as `detail`, and the members `code`
  // (ErrorCode's name), `reason` (when the error has one), `errors` (field
  // errors) and `correlation_id` (the error's own, or a new one). Never the
  // internal detail. http/problem.cpp is the one place codes become statuses.
  static Response problem(const Error& error, std::string_view correlation_id = {});
  static Response problem(ErrorCode code, std::string_view detail = {});
  static Response text(int status, std::string body, std::string_view content_type);
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

// One registered route. Its index is its position in registration order, so
// middleware can keep per-route data in a vector (auth's permission rules).
struct Route {
  std::string method;  // as registered; "GET" also serves HEAD
  std::string pattern;
  std::vector<std::string> segments;
  Handler handler;
  std::size_t index = 0;
};

// Runs the rest of the chain (the next middleware, finally the route).
using Next = std::function<boost::asio::awaitable<Response>(Request&)>;
// Wraps every request: sees request.route (resolved already) and decides
// whether and how to call next.
using Middleware = std::function<boost::asio::awaitable<Response>(Request&, const Next& next)>;

class Router {
 public:
  // `pattern` is a path like "/api/v1/users/{id}"; a "{name}" segment
  // matches one non-empty segment and lands in Request::params.
  void add(std::string_view method, std::string_view pattern, Handler handler);
  // Middleware runs in the order added, the first outermost.
  void use(Middleware middleware);
  // Serves paths that match no route (static console files).
  void set_fallback(Handler handler);

  // The whole request: resolves the route once (request.route, params),
  // runs the middleware and then the route's handler; for no route: 405
  // with Allow for a known path with another method, else the fallback or
  // 404. The one error boundary of the HTTP API: a privstack::Error becomes
  // its problem document; any other exception becomes `internal`, its text
  // logged to the journal with the correlation id the client gets.
  boost::asio::awaitable<Response> handle(Request& request) const;

  // The route handle() would run for this method and path; nullptr if none.
  const Route* resolve(const Request& request, std::map<std::string, std::string>* params = nullptr) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  boost::asio::awaitable<Response> run_chain(Request& request, std::size_t i) const;
  boost::asio::awaitable<Response> unrouted(Request& request) const;
  std::vector<Route> routes_;
  std::vector<Middleware> middleware_;
  Handler fallback_;
};

// The HTTP status for an error code: the one place codes become statuses.
int status_of(ErrorCode code);

// The error boundary's translations (http/problem.cpp), also used by the
// server for failures outside the router. error_response() logs an error
// that has internal detail (or is `internal`) to the journal under the
// correlation id it puts into the body; internal_error_response() does the
// same for any other exception, whose text never reaches the client.
Response error_response(const Error& error, const Request& request);
Response internal_error_response(const std::exception& error, const Request& request);

// The error boundary as a middleware, for a chain whose outer middleware
// (metrics) must see the status of failed requests: below it, a thrown
// Error or exception becomes its response. Router::handle() has the same
// boundary around the whole chain as the last resort.
Middleware error_boundary();

// Percent-decodes a URL component; nullopt on a malformed escape or when the
// result contains a NUL byte.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace privstack::http
