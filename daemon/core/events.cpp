#include "core/events.h"

#include <array>

namespace privstack::log {

std::span<const Event> all_events() {
  using namespace events;
  static constexpr std::array kAll = {
      daemon_started,   daemon_ready,      daemon_stopping,           daemon_stopped,
      daemon_fatal,     config_reloaded,   config_rejected,           config_restart_needed,
      tls_certificate_generated, tls_certificate_loaded, tls_certificate_expiring,
      listener_started, http_internal_error, control_started,        control_denied,
      control_command,
  };
  return kAll;
}

}  // namespace privstack::log
