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

const char* reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
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

Response Response::problem(int status, std::string_view title, std::string_view detail) {
  boost::json::object doc;
  doc["type"] = "about:blank";
  doc["title"] = title.empty() ? std::string_view(reason_phrase(status)) : title;
  doc["status"] = status;
  if (!detail.empty()) doc["detail"] = detail;
  Response r = json(status, doc);
  r.set_header("Content-Type", "application/problem+json");
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
  entries_.push_back({std::string(method), std::string(pattern), split_path(pattern), std::move(handler)});
}

std::vector<Router::Route> Router::routes() const {
  std::vector<Route> out;
  for (const Entry& e : entries_) out.push_back({e.method, e.pattern});
  return out;
}

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

}  // namespace

void Router::set_fallback(Handler handler) { fallback_ = std::move(handler); }

std::optional<Router::Match> Router::match(const Request& request) const {
  std::vector<std::string> segments = split_path(request.path);
  bool trailing_slash = request.path.size() > 1 && request.path.back() == '/';
  if (trailing_slash) return std::nullopt;
  for (const Entry& e : entries_) {
    bool method_ok = e.method == request.method || (e.method == "GET" && request.method == "HEAD");
    if (!method_ok) continue;
    std::map<std::string, std::string> params;
    if (match_segments(e.segments, segments, params)) return Match{e.method, e.pattern, std::move(params)};
  }
  return std::nullopt;
}

boost::asio::awaitable<Response> Router::dispatch(Request& request) const {
  std::vector<std::string> segments = split_path(request.path);
  // A trailing slash is a different resource ("/a/" is not "/a") except root.
  bool trailing_slash = request.path.size() > 1 && request.path.back() == '/';
  std::string allowed;
  for (const Entry& e : entries_) {
    if (trailing_slash) break;
    std::map<std::string, std::string> params;
    if (!match_segments(e.segments, segments, params)) continue;
    bool method_ok = e.method == request.method || (e.method == "GET" && request.method == "HEAD");
    if (method_ok) {
      request.params = std::move(params);
      co_return co_await e.handler(request);
    }
    if (!allowed.empty()) allowed += ", ";
    allowed += e.method;
  }
  if (!allowed.empty()) {
    Response r = Response::problem(405, "Method Not Allowed");
    r.set_header("Allow", allowed);
    co_return r;
  }
  if (fallback_) co_return co_await fallback_(request);
  co_return Response::problem(404, "Not Found");
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
