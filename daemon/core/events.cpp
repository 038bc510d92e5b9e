#include "core/events.h"

#include <array>

namespace privstack::log {

std::span<const Event> all_events() {
  using namespace events;
  static constexpr std::array kAll = {
      daemon_started,   daemon_ready,      daemon_stopping,           daemon_stopped,
      daemon_fatal,     config_reloaded,   config_rejected,           config_restart_needed,
      tls_certificate_generated, tls_certificate_loaded, tls_certificate_expiring,
      listener_started, http_internal_error, http_request_failed, control_started,        control_denied,
      control_command,
      store_opened,     store_open_failed, store_migrated,            store_rekeyed,
      store_rekey_recovered, store_check_failed, store_check_passed, store_disk_full,
      auth_login_succeeded, auth_login_failed, auth_lockout, auth_logout, auth_token_used, auth_totp_failed, auth_permission_denied, auth_sessions_revoked, auth_user_changed, auth_token_changed,
      audit_anchor, audit_anchor_key_created, audit_verify_passed, audit_verify_failed, audit_write_failed,
      records_exported, records_imported, records_import_rejected, records_access_granted,
      hostaudit_scan_completed, hostaudit_scan_failed, hostaudit_finding, hostaudit_finding_resolved,
      hostaudit_finding_accepted, hostaudit_acceptance_revoked,
      backup_completed, backup_failed, backup_pruned, backup_uploaded, backup_upload_failed, backup_verified, backup_verify_failed,
      backup_s3_retry, backup_s3_clock_skew,
      wallet_initialized, wallet_unlocked, wallet_unlock_failed, wallet_locked, credentials_issued, credential_revoked,
      incident_opened, incident_updated, incident_changed, notification_delivered, notification_failed,
  };
  return kAll;
}

}  // namespace privstack::log
