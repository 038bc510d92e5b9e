// What authentication reads from an HTTP request besides the Bearer token
// (tokens.h): the session cookie, whether the method changes state, and the
// Origin check.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "http/http.h"

namespace privstack::auth {

// The value of cookie `name` in the request's Cookie header(s).
std::optional<std::string> cookie_value(const http::Request& request, std::string_view name);

// Not GET, HEAD or OPTIONS.
bool is_state_changing(std::string_view method);

// The Origin check for state-changing requests: a browser sends Origin on
// every POST/PUT/PATCH/DELETE; it must be this server. Non-browser clients
// that send no Origin (and no Sec-Fetch-Site saying cross-site) pass; for
// them the CSRF token is still required.
bool origin_ok(const http::Request& request);

}  // namespace privstack::auth
