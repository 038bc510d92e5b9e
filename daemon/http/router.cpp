#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "http/http.h"

namespace privstack::http {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    out.emplace_back(path.substr(i, j - i));
    i = j;
  }
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string_view> Request::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  std::string_view q(query);
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    auto decoded_key = percent_decode(key);
    if (decoded_key && *decoded_key == name) {
      std::string plus_as_space(value);
      for (char& c : plus_as_space) {
        if (c == '+') c = ' ';
      }
      return percent_decode(plus_as_space);
    }
  }
  return std::nullopt;
}

void Response::set_header(std::string_view name, std::string_view value) {
  for (Header& h : headers) {
    if (iequals(h.name, name)) {
      h.value = std::string(value);
      return;
    }
  }
  headers.push_back({std::string(name), std::string(value)});
}

std::optional<std::string_view> Response::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

Response Response::json(int status, const boost::json::value& value) {
  Response r;
  r.status = status;
  r.body = boost::json::serialize(value);
  r.set_header("Content-Type", "application/json");
  return r;
}

Response Response::text(int status, std::string body, std::string_view content_type) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.set_header("Content-Type", content_type);
  return r;
}

void Router::add(std::string_view method, std::string_view pattern, Handler handler) {
  routes_.push_back(
      Route{std::string(method), std::string(pattern), split_path(pattern), std::move(handler), routes_.size()});
}

void Router::use(Middleware middleware) { middleware_.push_back(std::move(middleware)); }

void Router::set_fallback(Handler handler) { fallback_ = std::move(handler); }

namespace {

// Matches `segments` against a route; fills `params` on success.
bool match_segments(const std::vector<std::string>& pattern, const std::vector<std::string>& segments,
                    std::map<std::string, std::string>& params) {
  if (pattern.size() != segments.size()) return false;
  for (size_t i = 0; i < segments.size(); ++i) {
    const std::string& p = pattern[i];
    if (p.size() > 2 && p.front() == '{' && p.back() == '}') {
      params[p.substr(1, p.size() - 2)] = segments[i];
    } else if (p != segments[i]) {
      return false;
    }
  }
  return true;
}

bool method_matches(const Route& route, std::string_view method) {
  return route.method == method || (route.method == "GET" && method == "HEAD");
}

// A trailing slash is a different resource ("/a/" is not "/a") except root.
bool has_trailing_slash(std::string_view path) { return path.size() > 1 && path.back() == '/'; }

}  // namespace

const Route* Router::resolve(const Request& request, std::map<std::string, std::string>* params) const {
  if (has_trailing_slash(request.path)) return nullptr;
  std::vector<std::string> segments = split_path(request.path);
  for (const Route& route : routes_) {
    if (!method_matches(route, request.method)) continue;
    std::map<std::string, std::string> found;
    if (match_segments(route.segments, segments, found)) {
      if (params) *params = std::move(found);
      return &route;
    }
  }
  return nullptr;
}

boost::asio::awaitable<Response> Router::unrouted(Request& request) const {
  std::string allowed;
  if (!has_trailing_slash(request.path)) {
    std::vector<std::string> segments = split_path(request.path);
    for (const Route& route : routes_) {
      std::map<std::string, std::string> ignored;
      if (!match_segments(route.segments, segments, ignored)) continue;
      if (!allowed.empty()) allowed += ", ";
      allowed += route.method;
    }
  }
  if (!allowed.empty()) {
    Response r = Response::problem(ErrorCode::method_not_allowed, "This resource does not support that method.");
    r.set_header("Allow", allowed);
    co_return r;
  }
  if (fallback_) co_return co_await fallback_(request);
  co_return Response::problem(ErrorCode::not_found);  // no detail: the console reads it as "not available"
}

boost::asio::awaitable<Response> Router::run_chain(Request& request, std::size_t i) const {
  if (i < middleware_.size()) {
    Next next = [this, i](Request& r) { return run_chain(r, i + 1); };
    co_return co_await middleware_[i](request, next);
  }
  if (request.route) co_return co_await request.route->handler(request);
  co_return co_await unrouted(request);
}

boost::asio::awaitable<Response> Router::handle(Request& request) const {
  request.route = resolve(request, &request.params);
  static const Middleware boundary = error_boundary();
  Next chain = [this](Request& r) { return run_chain(r, 0); };
  co_return co_await boundary(request, chain);
}

Middleware error_boundary() {
  return [](Request& request, const Next& next) -> boost::asio::awaitable<Response> {
    std::optional<Response> failed;
    try {
      co_return co_await next(request);
    } catch (const Error& e) {
      failed = error_response(e, request);
    } catch (const std::exception& e) {
      failed = internal_error_response(e, request);
    }
    co_return std::move(*failed);
  };
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0') return std::nullopt;
    out += c;
  }
  return out;
}

}  // namespace privstack::http
