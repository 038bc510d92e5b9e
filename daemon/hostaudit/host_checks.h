// Lynis-style host hardening checks. Each has an ID (docs/hostaudit.md);
// a check whose tool is absent is "skipped" with the reason, never failed.
//
//   HA-SSH-001  sshd permits root login (sshd -T: permitrootlogin)
//   HA-SSH-002  sshd accepts password authentication
//   HA-PKG-001  security updates are pending (apt-get -s upgrade / dnf updateinfo)
//   HA-FILE-001 a key file is readable by others than its owner
//   HA-FILE-002 the state directory is readable by others
//   HA-TLS-001  the TLS certificate expires within 30 days (or has expired)
//   HA-KERN-001 net.ipv4.ip_forward is on
//   HA-KERN-002 reverse-path filtering (rp_filter) is off
//   HA-KERN-003 ICMP redirects are accepted
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.h"
#include "hostaudit/findings.h"

namespace privstack::hostaudit {

struct CheckResult {
  std::string id;
  std::string title;
  std::string status;  // "pass", "fail", "skipped"
  std::string detail;
  boost::json::object to_json() const;
};

struct HostCheckInput {
  std::filesystem::path state_directory;
  std::vector<std::filesystem::path> key_files;  // must be 0600/0400
  std::filesystem::path certificate;             // PEM; empty to skip
  std::filesystem::path proc_sys = "/proc/sys";
  bool run_commands = true;  // sshd -T, apt-get/dnf (off in unit tests)
  std::chrono::system_clock::time_point now = default_clock().system_now();
};

struct HostCheckReport {
  std::vector<CheckResult> checks;
  std::vector<Finding> findings;
};

HostCheckReport run_host_checks(const HostCheckInput& input);

// Pure parts, for tests.
// `sshd -T` output: "key value" per line, keys lowercase.
std::map<std::string, std::string> parse_sshd_t(std::string_view text);
void check_sshd(const std::map<std::string, std::string>& settings, HostCheckReport& report);
// `apt-get -s upgrade` output: the packages whose "Inst" line names a security archive.
std::vector<std::string> apt_security_updates(std::string_view simulate_output);
// `dnf -q updateinfo list --security` output: advisory lines -> packages.
std::vector<std::string> dnf_security_updates(std::string_view output);
void check_updates(const std::vector<std::string>& packages, const std::string& tool, HostCheckReport& report);
void check_certificate_expiry(std::optional<std::chrono::system_clock::time_point> not_after,
                              const std::filesystem::path& path, std::chrono::system_clock::time_point now,
                              HostCheckReport& report);

// Runs argv (no shell, fixed minimal environment) with a timeout; nullopt
// when argv[0] does not exist.
struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};
std::optional<CommandResult> run_command(const std::vector<std::string>& argv, std::chrono::seconds timeout);

}  // namespace privstack::hostaudit
