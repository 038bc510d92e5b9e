// Findings and the port policy: a pure function from what the scan saw
// (sockets, their exposure, the ruleset, the previous scan) and the
// allow-list (host_audit.allowed_ports) to findings with stable IDs.
//
// A finding's id is "<check>:<subject>" (e.g. "HA-NET-001:tcp/8080"): the
// same problem keeps the same id from scan to scan, so drift, "new since
// last scan" and incidents can key on it. docs/hostaudit.md lists the checks.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "hostaudit/exposure.h"
#include "hostaudit/nft_ruleset.h"
#include "hostaudit/sockets.h"

namespace privstack::hostaudit {

enum class Severity { info, low, medium, high, critical };
std::string_view to_string(Severity s);
std::optional<Severity> parse_severity(std::string_view s);

struct Finding {
  std::string id;      // check + ":" + subject
  std::string check;   // "HA-NET-001"
  Severity severity = Severity::medium;
  std::string subject; // "tcp/8080", "sshd", "/var/lib/privstack", ...
  std::string title;
  std::string detail;
  std::string remediation;
  std::string command;  // a command that would fix it (shown, never run); may be empty
  boost::json::object to_json() const;
  static Finding from_json(const boost::json::object& o);
};

// One listening socket with its verdict.
struct SocketReport {
  Socket socket;
  Exposure exposure;
  bool allowed = false;       // (proto, port) is in the allow-list
  std::string close_command;  // for exposed sockets
  boost::json::object to_json() const;
};

// What the previous scan recorded (for drift and new sockets).
struct PreviousScan {
  std::string fingerprint;       // ruleset fingerprint, "" when none was read
  std::set<std::string> sockets; // Socket::key()
};

struct FirewallState {
  bool read = false;     // the ruleset was read
  bool nft_missing = false;
  std::string error;     // why it could not be read
  const Ruleset* ruleset = nullptr;
};

struct PolicyInput {
  std::vector<SocketReport> sockets;
  FirewallState firewall;
  std::vector<AllowedPort> allowed;
  std::optional<PreviousScan> previous;
};

// Marks SocketReport::allowed. Exposed for tests and the scanner.
bool port_allowed(const std::vector<AllowedPort>& allowed, const std::string& proto, std::uint16_t port);

std::vector<Finding> evaluate_policy(const PolicyInput& input);

}  // namespace privstack::hostaudit
