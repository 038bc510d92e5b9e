// Accepting a host audit finding as a known risk (docs/hostaudit.md): a
// stated reason and an expiry, both required; while in force the finding is
// shown as accepted, is not counted as open by the findings gauge and opens
// no incident. When the expiry passes it is a normal finding again: nothing
// runs at expiry, every reader asks in_force() with its own clock (each scan
// and each listing), so there is no timer to miss.
//
// The pure part lives here (the validation and "is it in force at T"); the
// store, the audit log and the routes are in service.cpp.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"

namespace privstack::hostaudit {

inline constexpr std::size_t kMaxAcceptanceReason = 1000;    // characters (code points)
inline constexpr std::int64_t kMaxAcceptanceDays = 365;      // expiry at most this far ahead
inline constexpr std::int64_t kDefaultAcceptanceDays = 90;   // when the request names none

struct Acceptance {
  std::string finding_id;
  std::string reason;
  std::string accepted_by;     // audit actor ("user:NAME", "local:uid=0")
  std::int64_t accepted_at = 0;  // Unix seconds
  std::int64_t expires_at = 0;   // Unix seconds; in force strictly before it

  // {finding_id, reason, accepted_by, accepted_at, expires_at} with RFC 3339 times.
  boost::json::object to_json() const;
};

// Whether `a` still holds at `now` (Unix seconds): expires_at is exclusive.
bool in_force(const Acceptance& a, std::int64_t now);

// A request to accept: the reason and the expiry as sent (expires_at as
// RFC 3339, YYYY-MM-DD or Unix seconds; absent: kDefaultAcceptanceDays).
struct AcceptRequest {
  std::optional<std::string> reason;
  std::optional<std::string> expires_at;
};

// Checks `request` at `now`: the reason is required (not blank), at most
// kMaxAcceptanceReason characters, without control characters other than
// newline and tab; the expiry must be after `now` and at most
// kMaxAcceptanceDays ahead. Returns the normalized expiry (Unix seconds), or
// throws Error(validation_failed) with one FieldError per rejected field.
std::int64_t validate_accept(const AcceptRequest& request, std::int64_t now);

// A validation_failed Error with these field errors (also named in its message).
Error acceptance_invalid(std::vector<FieldError> errors);

// Reads an AcceptRequest from a JSON body ({reason, expires_at}); a member
// of the wrong type is a validation error of that field.
AcceptRequest accept_request_from_json(const boost::json::object& body);

}  // namespace privstack::hostaudit
