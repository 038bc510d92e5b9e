// The catalog of log events. Each has a MESSAGE_ID (128-bit, never reused
// for a different meaning), a PRIVSTACK_EVENT name, and a default priority.
// systemd/privstack.catalog must have an entry for every id listed in
// all_events(); a unit test enforces it.
#pragma once

#include <span>
#include <string_view>

namespace privstack::log {

enum class Priority : int { emerg = 0, alert, crit, err, warning, notice, info, debug };

struct Event {
  std::string_view message_id;  // 32 lowercase hex digits
  std::string_view name;        // PRIVSTACK_EVENT, dotted
  Priority priority;
};

namespace events {
// Daemon lifecycle
inline constexpr Event daemon_started{"311ba43aceac471b814c508ae444c48e", "daemon.started", Priority::notice};
inline constexpr Event daemon_ready{"a3622d0c6cc348a7b72286b12bcbd61f", "daemon.ready", Priority::info};
inline constexpr Event daemon_stopping{"9e6bf5dd6f0046e4b7c5dd76e3bac553", "daemon.stopping", Priority::notice};
inline constexpr Event daemon_stopped{"ca05d20faab64610a1899c2de3f242be", "daemon.stopped", Priority::notice};
inline constexpr Event daemon_fatal{"e29e0a5887ca494abfc7a43a19282024", "daemon.fatal", Priority::crit};
// Configuration
inline constexpr Event config_reloaded{"6fdf17795f404acbb21e09c1b2e9ccfb", "config.reloaded", Priority::notice};
inline constexpr Event config_rejected{"e588a862c61b4b6d9d6c07ae5e97943e", "config.rejected", Priority::err};
inline constexpr Event config_restart_needed{"0f05125c298c4e8cb1af6f96ea991972", "config.restart_needed", Priority::warning};
// TLS and listener
inline constexpr Event tls_certificate_generated{"58007136827b4484b99542f8785bf4df", "tls.certificate_generated", Priority::notice};
inline constexpr Event tls_certificate_loaded{"55519d8b43714941a2712aad823a1ee0", "tls.certificate_loaded", Priority::info};
inline constexpr Event tls_certificate_expiring{"29dcb2af88da4641b80234d748a1117e", "tls.certificate_expiring", Priority::warning};
inline constexpr Event listener_started{"c873105896ca4371ac1e6fdb2f4dcc34", "listener.started", Priority::info};
inline constexpr Event http_internal_error{"b512d5ae2f56465cba6ab9b952a47cb4", "http.internal_error", Priority::err};
// Control socket
inline constexpr Event control_started{"68964dd713fb47388f171283f55bc797", "control.started", Priority::info};
inline constexpr Event control_denied{"fba1feb523104349870690741f2034c6", "control.denied", Priority::warning};
inline constexpr Event control_command{"58dbc306776c4effb465b9303b17a4b2", "control.command", Priority::info};
}  // namespace events

// Every event above, for the catalog consistency test. Modules that add
// events add them here too.
std::span<const Event> all_events();

}  // namespace privstack::log
