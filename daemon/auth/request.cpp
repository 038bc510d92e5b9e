#include "auth/request.h"

#include <cctype>

namespace privstack::auth {

using http::Request;

std::optional<std::string> cookie_value(const Request& request, std::string_view name) {
  for (const auto& h : request.headers) {
    if (h.name.size() != 6) continue;
    std::string lower = h.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower != "cookie") continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      size_t semi = v.find(';');
      std::string_view pair = v.substr(0, semi);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return std::string(pair.substr(eq + 1));
      if (semi == std::string_view::npos) break;
      v.remove_prefix(semi + 1);
    }
  }
  return std::nullopt;
}

bool is_state_changing(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

bool origin_ok(const Request& request) {
  auto origin = request.header("Origin");
  if (!origin) {
    auto site = request.header("Sec-Fetch-Site");
    return !site || *site == "same-origin" || *site == "none";
  }
  auto host = request.header("Host");
  if (!host || host->empty()) return false;
  return *origin == "https://" + std::string(*host);
}

}  // namespace privstack::auth
