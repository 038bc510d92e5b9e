// Error codes -> HTTP: statuses, RFC 9457 problem documents, and the journal
// entry that carries an error's internal detail under its correlation id.
#include <boost/json/object.hpp>

#include "core/log.h"
#include "http/failure_log.h"
#include "http/http.h"

namespace privstack::http {

int status_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::invalid_argument: return 400;
    case ErrorCode::validation_failed: return 422;
    case ErrorCode::unsupported_media_type: return 415;
    case ErrorCode::payload_too_large: return 413;
    case ErrorCode::headers_too_large: return 431;
    case ErrorCode::not_found: return 404;
    case ErrorCode::method_not_allowed: return 405;
    // The resource's state prevents the request: it exists already, a job
    // is running, the feature is not set up, the wallet is locked.
    case ErrorCode::conflict:
    case ErrorCode::already_running:
    case ErrorCode::not_configured:
    case ErrorCode::locked: return 409;
    case ErrorCode::unauthenticated: return 401;
    case ErrorCode::forbidden: return 403;
    case ErrorCode::rate_limited: return 429;
    case ErrorCode::unavailable: return 503;
    case ErrorCode::insufficient_storage: return 507;
    case ErrorCode::integrity_failed: return 500;
    case ErrorCode::internal: return 500;
  }
  return 500;
}

namespace {

Response problem_document(ErrorCode code, std::string_view detail, std::string_view reason,
                          const std::vector<FieldError>& fields, std::string_view correlation_id) {
  int status = status_of(code);
  boost::json::object doc;
  doc["type"] = "about:blank";
  doc["title"] = title_of(code);
  doc["status"] = status;
  if (!detail.empty()) doc["detail"] = detail;
  doc["code"] = to_string(code);
  if (!reason.empty()) doc["reason"] = reason;
  if (!fields.empty()) {
    boost::json::array list;
    for (const FieldError& f : fields) list.push_back(boost::json::object{{"field", f.field}, {"message", f.message}});
    doc["errors"] = std::move(list);
  }
  doc["correlation_id"] = correlation_id.empty() ? new_correlation_id() : std::string(correlation_id);
  Response r = Response::json(status, doc);
  r.set_header("Content-Type", "application/problem+json");
  return r;
}

}  // namespace

Response Response::problem(ErrorCode code, std::string_view detail) {
  return problem_document(code, detail, {}, {}, {});
}

Response Response::problem(const Error& error, std::string_view correlation_id) {
  Response r = problem_document(error.code(), error.message(), error.reason(), error.field_errors, correlation_id);
  if (error.retry_after) r.set_header("Retry-After", std::to_string(std::max<std::int64_t>(1, error.retry_after->count())));
  return r;
}

void log_failure(const Error& error, std::string_view what, std::string_view correlation_id,
                 std::span<const log::Field> place) {
  if (error.code() != ErrorCode::internal && error.internal_detail().empty()) return;
  const log::Event& event =
      error.code() == ErrorCode::internal ? log::events::http_internal_error : log::events::http_request_failed;
  std::vector<log::Field> fields(place.begin(), place.end());
  fields.emplace_back("ERROR_CODE", to_string(error.code()));
  fields.emplace_back("CORRELATION_ID", correlation_id);
  log::emit(event, std::string(what) + " failed (" + std::string(to_string(error.code())) + "): " + error.what(),
            fields);
}

Response error_response(const Error& error, const Request& request) {
  std::string id = new_correlation_id();
  const log::Field place[] = {{"METHOD", request.method}, {"PATH", request.path}, {"REMOTE", request.remote_address}};
  log_failure(error, "request", id, place);
  return Response::problem(error, id);
}

Response internal_error_response(const std::exception& error, const Request& request) {
  return error_response(Error(ErrorCode::internal,
                              "The server could not complete the request; the journal has the details under "
                              "this correlation id.",
                              error.what()),
                        request);
}

}  // namespace privstack::http
