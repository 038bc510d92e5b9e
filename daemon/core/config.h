// The daemon's configuration: /etc/privstack/privstack.yaml.
//
// load_config() parses the whole file and collects every problem it finds
// (syntax, duplicate keys, unknown keys, wrong types, out-of-range values,
// unsafe secret files) instead of stopping at the first, so that
// `privstackd --check-config` can report them all as FILE:LINE:COLUMN.
// Secrets never live in the YAML: it only names the files they are read from.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace privstack {

struct ConfigProblem {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no position (unreadable file)
  int column = 0;  // 1-based
  std::string message;
  // "FILE:LINE:COLUMN: message", or "FILE: message" without a position.
  std::string to_string() const;
};

struct AllowedPort {
  std::uint16_t port = 0;
  std::string proto;              // "tcp" or "udp"
  std::vector<std::string> from;  // CIDR networks; empty means anywhere
};

struct Config {
  std::filesystem::path source;  // the file this was loaded from

  struct Listen {
    std::string address = "127.0.0.1";
    std::uint16_t port = 8443;
    // Per client address: sustained requests per second (burst twice that;
    // 0 = no limit) and open connections.
    int requests_per_second = 100;
    int connections_per_address = 256;
  } listen;

  struct Control {
    std::filesystem::path socket = "/run/privstack/control.sock";
  } control;

  std::filesystem::path state_directory = "/var/lib/privstack";

  struct Store {
    // Empty: the systemd credential "store.key", else <state_directory>/store.key
    std::filesystem::path key_file;
  } store;

  struct Tls {
    // Both empty: a self-signed certificate under <state_directory>/tls/.
    std::filesystem::path certificate;
    std::filesystem::path private_key;
  } tls;

  struct Console {
    std::filesystem::path web_root = "/usr/share/privstack/web";
  } console;

  struct Auth {
    std::chrono::seconds session_idle_timeout{std::chrono::minutes(30)};
    std::chrono::seconds session_lifetime{std::chrono::hours(12)};
    int lockout_threshold = 5;  // failed logins before a temporary lockout
    std::chrono::seconds lockout_duration{std::chrono::minutes(15)};
    std::vector<std::string> require_totp_for_roles;  // e.g. ["admin"]
  } auth;

  struct Backup {
    std::string schedule = "daily 02:00";
    // When the stored archives are checked again (docs/operations.md,
    // "Verifying a backup"); "off" disables it.
    std::string verify_schedule = "weekly sun 04:00";
    std::filesystem::path local_directory = "/var/lib/privstack/backups";
    struct Retention {
      // The newest N archives, whatever their day (restic's --keep-last):
      // several runs on one day are not pruned down to one at once.
      int keep_last = 3;
      int daily = 5;
      int weekly = 4;
      int monthly = 6;
    } retention;
    std::string recovery_public_key;  // PEM or base64 X25519 public key
    struct S3 {
      std::string endpoint;  // empty: no off-site shipping
      std::string region = "us-east-1";
      std::string bucket;
      std::string prefix;
      std::string access_key_id;
      std::filesystem::path secret_access_key_file;
      bool path_style = true;
      std::filesystem::path ca_file;
      // S3 Object Lock on every archive shipped: retain_days 0 is off.
      // Credentials that may only write (docs/operations.md has the
      // policy): no HEAD after an upload (each part's Content-MD5 is still
      // checked by the server), no stale-upload cleanup, no remote pruning
      // (the bucket's lifecycle rules retain) and no scheduled download.
      bool put_only = false;
      struct ObjectLock {
        std::string mode = "compliance";  // or "governance"
        int retain_days = 0;
      } object_lock;
    } s3;
    std::vector<std::string> allowed_regions;  // empty: any region
  } backup;

  struct HostAudit {
    std::string schedule = "weekly sun 03:00";
    std::vector<AllowedPort> allowed_ports;
  } host_audit;

  struct Notifications {
    struct Webhook {
      std::string url;  // empty: no webhook
      std::filesystem::path secret_file;
      std::filesystem::path ca_file;  // extra CA bundle to trust (private CA); empty: system store
    } webhook;
    // Email through a local sendmail-compatible program (incidents/mail.h).
    struct Email {
      std::vector<std::string> to;  // empty: no email
      std::string from;             // empty: privstack@<host name>
      std::filesystem::path sendmail = "/usr/sbin/sendmail";
    } email;
  } notifications;

  // Issuing wallet (daemon/wallet, docs/wallet.md).
  struct Wallet {
    std::chrono::seconds issuance_window{std::chrono::minutes(15)};  // default window an unlock opens
  } wallet;

  // Incident rules (daemon/incidents, docs/operations.md "Incidents").
  struct Incidents {
    std::chrono::seconds window{std::chrono::minutes(15)};  // sliding window for the counting rules
    int login_failure_threshold = 10;       // failed logins (any accounts/addresses) in the window
    int permission_denied_threshold = 20;   // refused requests in the window
    int wallet_unlock_failure_threshold = 3;
  } incidents;
};

struct ConfigResult {
  std::optional<Config> config;         // set when problems is empty
  std::vector<ConfigProblem> problems;  // in file order
};

// Reads and validates `path`. Never throws for bad input: every problem is
// reported in the result.
ConfigResult load_config(const std::filesystem::path& path);

// Parses YAML text as if it had been read from `name` (for tests and for
// reporting positions in a file that was read elsewhere).
ConfigResult parse_config(const std::string& yaml_text, const std::string& name);

// Parses "90", "30s", "15m", "12h", "7d" into seconds; nullopt if malformed.
std::optional<std::chrono::seconds> parse_duration(std::string_view text);

}  // namespace privstack
