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
inline constexpr Event http_request_failed{"ee83acd01b914b4a965466bda2b561d5", "http.request_failed", Priority::warning};
// Control socket
inline constexpr Event control_started{"68964dd713fb47388f171283f55bc797", "control.started", Priority::info};
inline constexpr Event control_denied{"fba1feb523104349870690741f2034c6", "control.denied", Priority::warning};
inline constexpr Event control_command{"58dbc306776c4effb465b9303b17a4b2", "control.command", Priority::info};
// Encrypted store
inline constexpr Event store_opened{"98141381ad304e988ba05f8514e7e18f", "store.opened", Priority::info};
inline constexpr Event store_open_failed{"8f21571e00384cb6af20bfe47fea8659", "store.open_failed", Priority::crit};
inline constexpr Event store_migrated{"12b8c5b7c3564b139d063db20d870804", "store.migrated", Priority::notice};
inline constexpr Event store_rekeyed{"324c56eded9c418e98204523902f06f0", "store.rekeyed", Priority::notice};
inline constexpr Event store_rekey_recovered{"838bfd43550540a197a6c12bcc925532", "store.rekey_recovered", Priority::warning};
inline constexpr Event store_check_failed{"d0f3d5257f604f17bb827a36c87eceb8", "store.check_failed", Priority::err};
inline constexpr Event store_check_passed{"8af24a7298f1464da1d4691874d8d80b", "store.check_passed", Priority::info};
inline constexpr Event store_disk_full{"10b51d282b0d4d4587435a89a8cd00bf", "store.disk_full", Priority::crit};
// Authentication and access control (daemon/auth)
inline constexpr Event auth_login_succeeded{"720ac63455b44d2394a0d80311ff7afb", "auth.login_succeeded", Priority::info};
inline constexpr Event auth_login_failed{"20da8ff140334118b14c3901ef824462", "auth.login_failed", Priority::warning};
inline constexpr Event auth_lockout{"103f041264444b6bb8931218dea90071", "auth.lockout", Priority::warning};
inline constexpr Event auth_logout{"023373f54749457b8ebf82da8cfb7e1f", "auth.logout", Priority::info};
inline constexpr Event auth_token_used{"1460cbf0500349708ed570465ca3e816", "auth.token_used", Priority::info};
inline constexpr Event auth_totp_failed{"80e1348a6b99446786232a5f88e11a4a", "auth.totp_failed", Priority::warning};
inline constexpr Event auth_permission_denied{"094d18eab209482a9474a1f108997bc1", "auth.permission_denied", Priority::warning};
inline constexpr Event auth_sessions_revoked{"c9b7ca8d003a406db9aeb27436fb16f7", "auth.sessions_revoked", Priority::notice};
inline constexpr Event auth_user_changed{"1b5d70302f4344859ad664d0aed1f400", "auth.user_changed", Priority::notice};
inline constexpr Event auth_token_changed{"a8fc5e8830634b11993615f6a29a473c", "auth.token_changed", Priority::notice};
// Audit log (daemon/audit)
inline constexpr Event audit_anchor{"5ca06d9c26c84845acb01cdc67e7de7c", "audit.anchor", Priority::info};
inline constexpr Event audit_anchor_key_created{"bd6f0ae4f1de452abb23d41b57ddfd5b", "audit.anchor_key_created", Priority::notice};
inline constexpr Event audit_verify_passed{"a3a80d9d9330497891a52bcd2b05c886", "audit.verify_passed", Priority::info};
inline constexpr Event audit_verify_failed{"62adb04250554808b96bce97a3464b36", "audit.verify_failed", Priority::crit};
inline constexpr Event audit_write_failed{"93c60787e5314fd195d3a4e27a94108c", "audit.write_failed", Priority::err};
// Customer data (daemon/records)
inline constexpr Event records_exported{"824c0604acbf4c5884f06439cc617259", "records.exported", Priority::notice};
inline constexpr Event records_imported{"bcee3f2b8b054190845acfb6539b2bf3", "records.imported", Priority::notice};
inline constexpr Event records_import_rejected{"c57eb40d68dd479dbbcfd179a3a0a811", "records.import_rejected", Priority::warning};
inline constexpr Event records_access_granted{"4b1428b7b6d9453282dd311b58e7ab3d", "records.access_granted", Priority::notice};
// Host audit (daemon/hostaudit)
inline constexpr Event hostaudit_scan_completed{"7d474163e38442abb82056d50d2fc023", "hostaudit.scan_completed", Priority::notice};
inline constexpr Event hostaudit_scan_failed{"da4cdbe85a544f12a898936d0d08c0af", "hostaudit.scan_failed", Priority::err};
inline constexpr Event hostaudit_finding{"e9b796c2ee864f2b806ff0809d1c87cd", "hostaudit.finding", Priority::warning};
inline constexpr Event hostaudit_finding_resolved{"bb719e5b87c643ff97773257366549d8", "hostaudit.finding_resolved", Priority::info};
inline constexpr Event hostaudit_finding_accepted{"663146acf094491b80df1026af47bcca", "hostaudit.finding_accepted", Priority::notice};
inline constexpr Event hostaudit_acceptance_revoked{"0d9be21d746c455d8160805a5fd8528d", "hostaudit.acceptance_revoked", Priority::notice};
// Backups (daemon/backup)
inline constexpr Event backup_completed{"82b64f17a6d44f7e9487a80ec4befd8d", "backup.completed", Priority::notice};
inline constexpr Event backup_failed{"7e0fa973d74c45808f93eca8613970c2", "backup.failed", Priority::err};
inline constexpr Event backup_pruned{"b996332521364c39a8a8408bb103d952", "backup.pruned", Priority::info};
inline constexpr Event backup_uploaded{"1fcae2f56d4d44a4a63e9324e97281fb", "backup.uploaded", Priority::notice};
inline constexpr Event backup_upload_failed{"53272f32c1c44f448a728b3fcca68439", "backup.upload_failed", Priority::err};
inline constexpr Event backup_verified{"a992b286e19a4999b3a0acfce618552c", "backup.verified", Priority::info};
inline constexpr Event backup_s3_retry{"e3c7177bb4ad46e7be26c869ffd254e1", "backup.s3_retry", Priority::info};
inline constexpr Event backup_s3_clock_skew{"c7dad93512cb4b4caea935cdea88038a", "backup.s3_clock_skew", Priority::warning};
inline constexpr Event backup_verify_failed{"c3d1a6e0b5f94f0e9a7d2b18e4c60f57", "backup.verify_failed", Priority::err};
// Wallet and credential issuance (daemon/wallet)
inline constexpr Event wallet_initialized{"d051591a81684c6bb77e631d30737bd2", "wallet.initialized", Priority::notice};
inline constexpr Event wallet_unlocked{"36e97911d720442aa41b6c6448774eef", "wallet.unlocked", Priority::notice};
inline constexpr Event wallet_unlock_failed{"c0f434b55a0c4b2ba05694f21600e558", "wallet.unlock_failed", Priority::warning};
inline constexpr Event wallet_locked{"0cf4ccee2b8649d49413b6ee8c777c4d", "wallet.locked", Priority::notice};
inline constexpr Event credentials_issued{"637cbd247fdc48d6a73bc2e106f243e5", "credentials.issued", Priority::notice};
inline constexpr Event credential_revoked{"7aadaeee86ac432d8adcda922d375760", "credential.revoked", Priority::notice};
// Incidents and notifications (daemon/incidents); incident entries carry the
// priority of the incident's severity.
inline constexpr Event incident_opened{"79b94cbdeb7546db902533f068152538", "incident.opened", Priority::warning};
inline constexpr Event incident_updated{"72ec0683e5214c3ca970e77fd265e2df", "incident.updated", Priority::warning};
inline constexpr Event incident_changed{"285a4a80fdef43cebf28d9bd36c40e35", "incident.changed", Priority::notice};
inline constexpr Event notification_delivered{"4b6b548633e34f079da73bebc52d8116", "notification.delivered", Priority::info};
inline constexpr Event notification_failed{"82699df774e74d009cb8d7aea4829f4b", "notification.failed", Priority::warning};
}  // namespace events

// Every event above, for the catalog consistency test. Modules that add
// events add them here too.
std::span<const Event> all_events();

}  // namespace privstack::log
