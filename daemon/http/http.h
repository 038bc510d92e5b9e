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

namespace privstack::http {

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

  // Who is calling, set by the authentication middleware (auth::guard) before
  // the handler runs; nullopt for anonymous requests. Handlers use it for
  // audit entries and per-user data; the permission check already happened.
  struct Identity {
    std::string user;
    std::string role;
    std::string credential;     // "session" or "token"
    std::string credential_id;  // API token id; empty for sessions
  };
  std::optional<Identity> identity;

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
  // An RFC 9457 problem document. `detail` must be safe to show anyone: no
  // internals, paths, or SQL.
  static Response problem(int status, std::string_view title, std::string_view detail = {});
  static Response text(int status, std::string body, std::string_view content_type);
};

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

class Router {
 public:
  // `pattern` is a path like "/api/v1/users/{id}"; a "{name}" segment
  // matches one non-empty segment and lands in Request::params.
  void add(std::string_view method, std::string_view pattern, Handler handler);

  // Routes the request: the handler's response, 404 for an unknown path
  // (or the fallback's response), 405 with Allow for a known path and
  // another method.
  boost::asio::awaitable<Response> dispatch(Request& request) const;

  // Serves paths that match no route (static console files).
  void set_fallback(Handler handler);

  // The route that dispatch() would run for this request, without running
  // it: its pattern and parameters. nullopt when no route matches the
  // method and path (dispatch then answers 404/405 or uses the fallback).
  struct Match {
    std::string method;   // as registered ("GET" also for HEAD requests)
    std::string pattern;
    std::map<std::string, std::string> params;
  };
  std::optional<Match> match(const Request& request) const;

  struct Route {
    std::string method;
    std::string pattern;
  };
  std::vector<Route> routes() const;

 private:
  struct Entry {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    Handler handler;
  };
  std::vector<Entry> entries_;
  Handler fallback_;
};

// Percent-decodes a URL component; nullopt on a malformed escape or when the
// result contains a NUL byte.
std::optional<std::string> percent_decode(std::string_view text);

}  // namespace privstack::http
