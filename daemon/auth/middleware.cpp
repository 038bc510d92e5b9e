// The middleware every request passes (AuthService::middleware): who is
// calling, the route's rule in the permission table, CSRF and Origin for
// writes made with a cookie, and request.identity for the handler.
#include "auth/service_impl.h"

#include "auth/request.h"
#include "core/crypto.h"

// AuthEvent is filled with designated initializers naming only the fields
// that apply; the rest are empty on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace privstack::auth {

namespace asio = boost::asio;
using http::Request;
using http::Response;

void AuthService::Impl::bind_rules(const http::Router& router) {
  rules_by_route.clear();
  for (const http::Route& route : router.routes()) {
    rules_by_route.push_back(find_rule(route.method, route.pattern));
  }
}

asio::awaitable<Response> AuthService::Impl::guarded(Request& request, const http::Next& next) {
  if (!request.route) co_return co_await next(request);  // 404/405 or static files: public
  const http::Route& route_entry = *request.route;
  const RouteRule* rule = route_entry.index < rules_by_route.size() ? rules_by_route[route_entry.index] : nullptr;
  std::optional<Principal> principal;
  try {
    principal = co_await authenticate(request, true);
  } catch (const Error& e) {
    Response r = Response::problem(e);
    r.set_header("WWW-Authenticate", "Bearer error=\"invalid_token\"");
    co_return r;
  }
  Caller caller;
  if (principal) {
    caller.role = principal->role;
    caller.user = principal->user.name;
    caller.via_token = principal->via_token;
    caller.totp_enrollment_pending = principal->totp_pending;
  }
  std::optional<std::string_view> name_param;
  if (auto it = request.params.find("name"); it != request.params.end()) name_param = it->second;
  Decision d = decide(rule, caller, name_param);
  const std::string& remote = request.remote_address;
  std::string route = route_entry.method + " " + route_entry.pattern;
  switch (d) {
    case Decision::allow:
      break;
    case Decision::unauthenticated:
      throw Error(ErrorCode::unauthenticated, "Sign in first.");
    case Decision::not_in_matrix:
      event(log::events::auth_permission_denied,
            {.user = caller.user, .remote = remote, .reason = "route not in permission matrix",
             .message = "denied " + route + ": the route is missing from the permission matrix"});
      throw Error(ErrorCode::forbidden, "This operation is not permitted.").with_reason("not_in_matrix");
    case Decision::forbidden: {
      std::string why = caller.totp_enrollment_pending && !(rule->flags & kDuringEnrollment)
                            ? "totp enrollment required"
                        : (rule->flags & kSessionOnly) && caller.via_token ? "not with an API token"
                                                                            : "role";
      event(log::events::auth_permission_denied,
            {.user = caller.user, .remote = remote, .reason = why, .token_id = principal->token_id,
             .message = "denied " + route + " to " + caller.user + " (" + std::string(to_string(*caller.role)) +
                        "): " + why});
      if (why == "totp enrollment required") {
        throw Error(ErrorCode::forbidden, "Your role requires two-factor authentication: enroll TOTP first.")
            .with_reason("totp_enrollment_required");
      }
      throw Error(ErrorCode::forbidden, "Your role does not allow this.")
          .with_reason(why == "role" ? "role" : "session_only");
    }
  }
  if (principal && !principal->via_token && is_state_changing(request.method)) {
    auto sent = request.header(kCsrfHeader);
    bool csrf_ok = sent && constant_time_equals(*sent, principal->csrf);
    if (!csrf_ok || !origin_ok(request)) {
      event(log::events::auth_permission_denied,
            {.user = caller.user, .remote = remote, .reason = csrf_ok ? "origin" : "csrf",
             .message = "denied " + route + " to " + caller.user + ": " +
                        (csrf_ok ? "foreign Origin" : "missing or wrong CSRF token")});
      throw Error(ErrorCode::forbidden, csrf_ok ? "Cross-origin request refused." : "Missing or wrong X-CSRF-Token.")
          .with_reason(csrf_ok ? "origin" : "csrf");
    }
  }
  if (principal) request.identity = identity_of(*principal);
  co_return co_await next(request);
}

http::Middleware AuthService::middleware(const http::Router& router) {
  auto impl = impl_;
  impl->bind_rules(router);
  return [impl](Request& request, const http::Next& next) -> asio::awaitable<Response> {
    co_return co_await impl->guarded(request, next);
  };
}

}  // namespace privstack::auth
