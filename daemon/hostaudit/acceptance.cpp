#include "hostaudit/acceptance.h"

#include "audit/routes.h"
#include "core/time.h"

namespace privstack::hostaudit {

namespace json = boost::json;

namespace {

constexpr std::int64_t kDay = 86400;

// UTF-8 code points; the JSON parser has already rejected invalid UTF-8.
std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

bool has_control(const std::string& s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

}  // namespace

Error acceptance_invalid(std::vector<FieldError> errors) {
  // The fields in the message too: privstackctl shows the message only.
  std::string message = "The acceptance is not valid:";
  for (const auto& f : errors) message += " " + f.field + ": " + f.message;
  Error e(ErrorCode::validation_failed, message);
  e.field_errors = std::move(errors);
  return e;
}

json::object Acceptance::to_json() const {
  return json::object{{"finding_id", finding_id},
                      {"reason", reason},
                      {"accepted_by", accepted_by},
                      {"accepted_at", format_rfc3339(accepted_at)},
                      {"expires_at", format_rfc3339(expires_at)}};
}

bool in_force(const Acceptance& a, std::int64_t now) { return now < a.expires_at; }

std::int64_t validate_accept(const AcceptRequest& request, std::int64_t now) {
  std::vector<FieldError> errors;
  if (!request.reason || blank(*request.reason)) {
    errors.push_back({"reason", "A reason is required: why this risk is accepted."});
  } else if (code_points(*request.reason) > kMaxAcceptanceReason) {
    errors.push_back({"reason", "At most " + std::to_string(kMaxAcceptanceReason) + " characters."});
  } else if (has_control(*request.reason)) {
    errors.push_back({"reason", "Control characters other than newline and tab are not allowed."});
  }
  std::int64_t expires = now + kDefaultAcceptanceDays * kDay;
  if (request.expires_at) {
    auto t = audit::parse_time(*request.expires_at);
    // A bare date means through that day (UTC): "until 2027-03-01" ends at
    // 2027-03-01T23:59:59Z, shown as that day, not as the next midnight.
    // The date itself (its start) is what the one-year limit judges.
    bool date_only = t && request.expires_at->size() == 10 && (*request.expires_at)[4] == '-';
    std::int64_t start = t.value_or(0);
    if (date_only) *t += kDay - 1;
    if (!t) {
      errors.push_back({"expires_at", "Expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Unix seconds."});
    } else if (*t <= now) {
      errors.push_back({"expires_at", "The expiry must be in the future."});
    } else if (start > now + kMaxAcceptanceDays * kDay) {
      errors.push_back({"expires_at", "At most " + std::to_string(kMaxAcceptanceDays) + " days ahead."});
    } else {
      expires = *t;
    }
  }
  if (!errors.empty()) throw acceptance_invalid(std::move(errors));
  return expires;
}

AcceptRequest accept_request_from_json(const json::object& body) {
  AcceptRequest r;
  std::vector<FieldError> errors;
  if (const auto* v = body.if_contains("reason"); v && !v->is_null()) {
    if (v->is_string()) r.reason = std::string(v->as_string());
    else errors.push_back({"reason", "Expected a string."});
  }
  if (const auto* v = body.if_contains("expires_at"); v && !v->is_null()) {
    if (v->is_string()) r.expires_at = std::string(v->as_string());
    else if (v->is_int64()) r.expires_at = std::to_string(v->as_int64());
    else errors.push_back({"expires_at", "Expected a time string or Unix seconds."});
  }
  if (!errors.empty()) throw acceptance_invalid(std::move(errors));
  return r;
}

}  // namespace privstack::hostaudit
