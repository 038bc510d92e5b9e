// The audit log's HTTP API and control commands, and helpers other modules
// use to describe who is calling.
//
//   GET /api/v1/audit?actor=&action=&object=&from=&to=&cursor=&limit=
//   GET /api/v1/audit/verify
//   GET /api/v1/audit/export?format=jsonl|csv     (streamed)
//   privstackctl audit verify | audit export [--format jsonl|csv]
#pragma once

#include "core/module.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "audit/audit.h"
#include "http/control.h"
#include "http/http.h"

namespace privstack::audit {

// "user:NAME", "token:ID:NAME", or "anonymous" for a request; the control
// socket's peer as "local:uid=N".
// The actor text of audit entries ("user:NAME", "token:ID (user:NAME)",
// "local:uid=N"), derived from the typed identity in this one place.
std::string actor_of(const Identity& identity);
std::string actor_of(const http::Request& request);
std::string actor_of(const http::ControlRequest& request);
inline constexpr std::string_view kControlSource = "control-socket";

// Time values in the API: "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ" (optionally
// with fractional seconds, dropped) or an integer of Unix seconds.
std::optional<std::int64_t> parse_time(std::string_view text);
// Times are formatted with format_rfc3339() (core/time.h).

void register_routes(AuditLog& log, http::Router& router);
void register_control(AuditLog& log, http::ControlServer& control);

// This module as a daemon module (core/module.h).
std::unique_ptr<Module> make_module(ModuleContext& ctx);

}  // namespace privstack::audit
