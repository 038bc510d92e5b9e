// Host audit (docs/hostaudit.md): what this server exposes, judged against
// the allow-list host_audit.allowed_ports, plus hardening checks.
//
//   scan()              one blocking audit: sockets (sock_diag), the nftables
//                       ruleset (nft -j), exposure per socket, policy
//                       findings, host checks. The production code path of
//                       every surface below.
//   HostAuditService    runs scan() off the io threads, keeps scans and
//                       findings in the store (migrations "hostaudit"),
//                       compares with the previous scan (drift, new
//                       sockets), writes journald entries and audit entries,
//                       and runs the schedule (host_audit.schedule).
//
//   POST /api/v1/host-audit/scans          run a scan now (hostaudit.run)
//   GET  /api/v1/host-audit/scans          recent scans (hostaudit.read)
//   GET  /api/v1/host-audit/scans/{id}     one scan's full report
//   GET  /api/v1/host-audit/findings       the latest scan's findings
//   POST   /api/v1/host-audit/acceptances  accept a finding as a known risk
//   DELETE /api/v1/host-audit/acceptances?finding_id=ID   revoke it
//                                          (hostaudit.run; hostaudit/acceptance.h)
//   privstackctl hostaudit run [--json] | hostaudit findings [--json]
//   privstackctl hostaudit accept ID --reason TEXT [--until DATE] | hostaudit unaccept ID
#pragma once

#include "core/module.h"

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/time.h"
#include "hostaudit/findings.h"
#include "hostaudit/host_checks.h"

namespace privstack::audit {
class AuditLog;
}
namespace privstack::store {
class Store;
}
namespace privstack::http {
class Router;
class ControlServer;
}  // namespace privstack::http

namespace privstack::hostaudit {

struct ScanOptions {
  std::string nft_path;  // default: /usr/sbin/nft
  bool host_checks = true;
  bool run_commands = true;  // sshd -T, apt-get/dnf
  std::optional<PreviousScan> previous;
  Clock* clock = &default_clock();  // stamps started_us / finished_us
};

struct ScanReport {
  std::int64_t id = 0;  // set when stored
  std::string trigger;  // "manual", "schedule", "api"
  std::int64_t started_us = 0, finished_us = 0;
  std::vector<SocketReport> sockets;
  // Firewall
  bool firewall_read = false;
  bool nft_missing = false;
  std::string firewall_error;
  std::string nft_version;
  std::string fingerprint;
  std::size_t rule_count = 0;
  std::vector<std::string> interfaces;
  std::vector<CheckResult> checks;
  std::vector<Finding> findings;
  std::vector<std::string> new_findings;       // ids not in the previous scan
  std::vector<std::string> resolved_findings;  // ids of the previous scan now gone
  // Timings (ms)
  double sockets_ms = 0, firewall_ms = 0, evaluate_ms = 0, checks_ms = 0;

  boost::json::object to_json() const;
  PreviousScan state() const;  // what the next scan compares against
};

// Runs one audit (blocking). Throws SocketError when sockets cannot be listed.
ScanReport scan(const Config& config, const ScanOptions& options = {});

// The key files and certificate of this installation, for the host checks.
HostCheckInput host_check_input(const Config& config);

// Non-loopback interfaces of the current network namespace.
std::vector<std::string> host_interfaces();

// Moves CAP_NET_ADMIN out of the effective and ambient sets (kept in the
// permitted set): only the nft child gets it (docs/hostaudit.md). No-op
// for root and when the capability is absent.
void confine_net_admin();

class HostAuditService {
 public:
  // `blocking` runs scans (never an io thread); `config` returns the current
  // configuration (reloads take effect at the next scan).
  // `clock` decides when the schedule is due.
  HostAuditService(store::Store& store, audit::AuditLog* audit, boost::asio::any_io_executor blocking,
                   std::function<std::shared_ptr<const Config>()> config, Clock& clock = default_clock());
  ~HostAuditService();

  // Runs, stores and reports a scan; throws std::runtime_error when one is
  // already running or the scan fails.
  boost::asio::awaitable<boost::json::object> run(std::string trigger, std::string actor, std::string source);
  // The latest scan's findings (with first_seen), or an empty list.
  boost::asio::awaitable<boost::json::object> latest_findings();

  // Runs scans per host_audit.schedule until `stopping` is set.
  boost::asio::awaitable<void> schedule_loop(std::function<bool()> stopping);

  void register_routes(http::Router& router);
  void register_control(http::ControlServer& control);

  // Incidents (when that module exists): called for each new finding of
  // severity high or critical, from the scanning thread.
  using IncidentHook = std::function<void(const Finding& finding, std::int64_t scan_id)>;
  void set_incident_hook(IncidentHook hook);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// This module as a daemon module (core/module.h).
std::unique_ptr<Module> make_module(ModuleContext& ctx);

}  // namespace privstack::hostaudit
