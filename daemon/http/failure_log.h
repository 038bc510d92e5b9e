// The journal entry of a failure that a client (HTTP or the control socket)
// is answered with an error code and a correlation id: http/problem.cpp and
// http/control.cpp both write it here, so the two stay one format.
#pragma once

#include <span>
#include <string_view>

#include "core/error.h"
#include "core/log.h"

namespace privstack::http {

// Logs `error` when the client is not shown all of it: an `internal` error
// (http.internal_error) or one with internal detail (http.request_failed).
// `what` names what failed ("request", "control command backup run");
// `place` are the fields that locate it (METHOD/PATH/REMOTE, COMMAND).
// ERROR_CODE and CORRELATION_ID are added.
void log_failure(const Error& error, std::string_view what, std::string_view correlation_id,
                 std::span<const log::Field> place);

}  // namespace privstack::http
