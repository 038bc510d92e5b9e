#include "core/error.h"

#include "core/crypto.h"

namespace privstack {
namespace {

struct CodeInfo {
  ErrorCode code;
  std::string_view name;
  std::string_view title;
};

constexpr CodeInfo kCodes[] = {
    {ErrorCode::invalid_argument, "invalid_argument", "Invalid request"},
    {ErrorCode::validation_failed, "validation_failed", "Invalid values"},
    {ErrorCode::unsupported_media_type, "unsupported_media_type", "Unsupported media type"},
    {ErrorCode::payload_too_large, "payload_too_large", "Content too large"},
    {ErrorCode::headers_too_large, "headers_too_large", "Request header fields too large"},
    {ErrorCode::not_found, "not_found", "Not found"},
    {ErrorCode::method_not_allowed, "method_not_allowed", "Method not allowed"},
    {ErrorCode::conflict, "conflict", "Conflict"},
    {ErrorCode::already_running, "already_running", "Already running"},
    {ErrorCode::not_configured, "not_configured", "Not configured"},
    {ErrorCode::locked, "locked", "Locked"},
    {ErrorCode::unauthenticated, "unauthenticated", "Unauthorized"},
    {ErrorCode::forbidden, "forbidden", "Forbidden"},
    {ErrorCode::rate_limited, "rate_limited", "Too many requests"},
    {ErrorCode::unavailable, "unavailable", "Service unavailable"},
    {ErrorCode::insufficient_storage, "insufficient_storage", "Insufficient storage"},
    {ErrorCode::integrity_failed, "integrity_failed", "Integrity check failed"},
    {ErrorCode::internal, "internal", "Internal error"},
};
static_assert(std::size(kCodes) == std::size(kAllErrorCodes));

const CodeInfo& info(ErrorCode code) {
  for (const CodeInfo& c : kCodes) {
    if (c.code == code) return c;
  }
  return kCodes[std::size(kCodes) - 1];  // unreachable for a valid enum value
}

}  // namespace

std::string_view to_string(ErrorCode code) { return info(code).name; }

std::string_view title_of(ErrorCode code) { return info(code).title; }

std::optional<ErrorCode> parse_error_code(std::string_view name) {
  for (const CodeInfo& c : kCodes) {
    if (c.name == name) return c.code;
  }
  return std::nullopt;
}

int exit_code(ErrorCode code) { return code == ErrorCode::invalid_argument ? 2 : 1; }

Error::Error(ErrorCode code, std::string message, std::string internal_detail)
    : code_(code), message_(std::move(message)), detail_(std::move(internal_detail)) {}

const char* Error::what() const noexcept { return detail_.empty() ? message_.c_str() : detail_.c_str(); }

Error& Error::with_reason(std::string reason) & {
  reason_ = std::move(reason);
  return *this;
}

Error&& Error::with_reason(std::string reason) && {
  reason_ = std::move(reason);
  return std::move(*this);
}

Error current_error_as(std::string_view what_failed) {
  try {
    throw;
  } catch (const Error& e) {
    Error out(e.code(), std::string(what_failed) + ": " + e.message(), e.internal_detail());
    out.with_reason(e.reason());
    out.retry_after = e.retry_after;
    out.field_errors = e.field_errors;
    return out;
  } catch (const std::exception& e) {
    return Error(ErrorCode::internal, std::string(what_failed), e.what());
  }
}

std::string new_correlation_id() { return random_hex(8); }

}  // namespace privstack
