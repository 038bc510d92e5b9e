// The one error model of privstackd.
//
// Every expected failure that reaches a caller (an HTTP client, privstackctl)
// is a privstack::Error with a closed ErrorCode. Code decides on the code,
// never on message text. An Error carries two texts:
//   - message(): written for the client, safe to show anyone (no paths, no
//     library or SQL text, no secrets);
//   - internal_detail(): what an operator needs (paths, library errors); it
//     goes to the journal only, under a correlation id that the client also
//     receives, so support can find the entry.
// what() is the internal detail when there is one, else the message: logs
// that print e.what() keep their detail.
//
// The code is mapped to an HTTP status in http (http/problem.cpp), to the
// control socket's answer in http/control.cpp, and to privstackctl's exit
// code here (exit_code()): one place each. docs/api.md lists the codes.
#pragma once

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace privstack {

enum class ErrorCode {
  invalid_argument,        // malformed request: bad JSON, bad parameter, missing field
  validation_failed,       // well-formed, but a value is not acceptable (field errors)
  unsupported_media_type,  // a body of the wrong Content-Type
  payload_too_large,       // body over the limit
  headers_too_large,       // request header fields over the limit
  not_found,               // no such resource (or route)
  method_not_allowed,      // the path exists, not with this method
  conflict,                // the resource's state prevents the change (exists, already done)
  already_running,         // the same job (backup, scan) is running
  not_configured,          // the feature needs configuration first
  locked,                  // locked: the wallet, an account
  unauthenticated,         // no valid credential, or a wrong password
  forbidden,               // the caller may not do this
  rate_limited,            // slow down; retry_after says when
  unavailable,             // a dependency (S3, the store) cannot serve now
  insufficient_storage,    // the disk is full; nothing was changed
  integrity_failed,        // stored data failed its check: audit chain, store, a backup copy
  internal,                // a bug or an unexpected failure: see the journal
};

// Every code, for tests and the documentation check.
inline constexpr ErrorCode kAllErrorCodes[] = {
    ErrorCode::invalid_argument, ErrorCode::validation_failed, ErrorCode::unsupported_media_type,
    ErrorCode::payload_too_large, ErrorCode::headers_too_large, ErrorCode::not_found,
    ErrorCode::method_not_allowed, ErrorCode::conflict, ErrorCode::already_running,
    ErrorCode::not_configured, ErrorCode::locked, ErrorCode::unauthenticated,
    ErrorCode::forbidden, ErrorCode::rate_limited, ErrorCode::unavailable,
    ErrorCode::insufficient_storage, ErrorCode::integrity_failed, ErrorCode::internal,
};

// The stable machine-readable name ("not_found"), the `code` member of
// problem bodies and control-socket answers.
std::string_view to_string(ErrorCode code);
std::optional<ErrorCode> parse_error_code(std::string_view name);
// A short human title for the code ("Not found"), the problem's `title`.
std::string_view title_of(ErrorCode code);
// privstackctl's exit code for a failure with this code: 2 for a usage
// error (invalid_argument), 1 for every other failure.
int exit_code(ErrorCode code);

// One field's problem, for validation_failed.
struct FieldError {
  std::string field;
  std::string message;
};

class Error : public std::exception {
 public:
  Error(ErrorCode code, std::string message, std::string internal_detail = {});

  ErrorCode code() const { return code_; }
  // Safe to show the client.
  const std::string& message() const { return message_; }
  // For the journal only; may be empty.
  const std::string& internal_detail() const { return detail_; }
  const char* what() const noexcept override;

  // A finer, module-specific reason within the code ("wrong_password",
  // "throttled"), a stable name for clients that want it; empty if none.
  const std::string& reason() const { return reason_; }
  Error& with_reason(std::string reason) &;
  Error&& with_reason(std::string reason) &&;

  // For rate_limited: when to retry (the Retry-After header).
  std::optional<std::chrono::seconds> retry_after;
  // For validation_failed: one entry per rejected field.
  std::vector<FieldError> field_errors;

 private:
  ErrorCode code_;
  std::string message_;
  std::string detail_;
  std::string reason_;
};

// Inside a catch block: the exception being handled as an Error for a
// caller, prefixed with what failed ("backup failed"). An Error keeps its
// code and detail ("backup failed: " + its message); any other exception
// becomes `internal`, with its text as the internal detail only.
Error current_error_as(std::string_view what_failed);

// A new correlation id: 16 random hex digits, for an error's journal entry
// and the client's problem body.
std::string new_correlation_id();

}  // namespace privstack
