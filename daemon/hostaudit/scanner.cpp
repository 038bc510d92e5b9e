// scan(): the production audit path, shared by the daemon's schedule, the
// API and privstackctl.
#include <ifaddrs.h>
#include <linux/capability.h>
#include <net/if.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <set>

#include "core/time.h"
#include "hostaudit/hostaudit.h"
#include "store/store.h"

namespace privstack::hostaudit {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}
}  // namespace

std::vector<std::string> host_interfaces() {
  std::vector<std::string> out;
  if (struct if_nameindex* list = ::if_nameindex()) {
    for (auto* i = list; i->if_index != 0; ++i) {
      if (std::string(i->if_name) != "lo") out.emplace_back(i->if_name);
    }
    ::if_freenameindex(list);
  }
  std::sort(out.begin(), out.end());
  return out;
}

void confine_net_admin() {
  if (::geteuid() == 0) return;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) return;
  constexpr unsigned bit = 1u << CAP_NET_ADMIN;
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_NET_ADMIN, 0, 0);
  if (!(data[0].effective & bit) && !(data[0].inheritable & bit)) return;
  data[0].effective &= ~bit;
  data[0].inheritable &= ~bit;
  ::syscall(SYS_capset, &header, data);
}

HostCheckInput host_check_input(const Config& config) {
  HostCheckInput in;
  in.state_directory = config.state_directory;
  store::KeyLocation key = store::key_location(config);
  if (!key.credential) in.key_files.push_back(key.path);
  in.key_files.push_back(config.state_directory / "audit-anchor.key");
  if (!config.tls.certificate.empty()) {
    in.certificate = config.tls.certificate;
    // A configured private key follows Debian's ssl-cert convention (0640); only ours must be 0600.
  } else {
    in.certificate = config.state_directory / "tls" / "certificate.pem";
    in.key_files.push_back(config.state_directory / "tls" / "private_key.pem");
  }
  return in;
}

json::object ScanReport::to_json() const {
  json::object o;
  if (id) o["id"] = id;
  o["trigger"] = trigger;
  o["started_us"] = started_us;
  o["finished_us"] = finished_us;
  json::object fw;
  fw["read"] = firewall_read;
  fw["nft_installed"] = !nft_missing;
  if (!firewall_error.empty()) fw["error"] = firewall_error;
  fw["nft_version"] = nft_version;
  fw["fingerprint"] = fingerprint;
  fw["rules"] = rule_count;
  json::array ifs;
  for (const auto& i : interfaces) ifs.push_back(json::string(i));
  fw["interfaces"] = std::move(ifs);
  o["firewall"] = std::move(fw);
  json::array socks;
  for (const auto& s : sockets) socks.push_back(s.to_json());
  o["sockets"] = std::move(socks);
  json::array cs;
  for (const auto& c : checks) cs.push_back(c.to_json());
  o["checks"] = std::move(cs);
  json::array fs;
  for (const auto& f : findings) fs.push_back(f.to_json());
  o["findings"] = std::move(fs);
  json::array nf, rf;
  for (const auto& n : new_findings) nf.push_back(json::string(n));
  for (const auto& r : resolved_findings) rf.push_back(json::string(r));
  o["new_findings"] = std::move(nf);
  o["resolved_findings"] = std::move(rf);
  json::object summary;
  std::int64_t exposed = 0, undetermined = 0;
  for (const auto& s : sockets) {
    exposed += s.exposure.verdict == Verdict::exposed;
    undetermined += s.exposure.verdict == Verdict::undetermined;
  }
  summary["sockets"] = static_cast<std::int64_t>(sockets.size());
  summary["exposed"] = exposed;
  summary["undetermined"] = undetermined;
  json::object by_sev;
  for (Severity s : {Severity::critical, Severity::high, Severity::medium, Severity::low, Severity::info}) {
    by_sev[to_string(s)] = static_cast<std::int64_t>(
        std::count_if(findings.begin(), findings.end(), [&](const Finding& f) { return f.severity == s; }));
  }
  summary["findings"] = std::move(by_sev);
  o["summary"] = std::move(summary);
  o["timings_ms"] = json::object{{"sockets", sockets_ms}, {"firewall", firewall_ms}, {"evaluate", evaluate_ms},
                                 {"checks", checks_ms}};
  return o;
}

PreviousScan ScanReport::state() const {
  PreviousScan p;
  p.fingerprint = fingerprint;
  for (const auto& s : sockets) p.sockets.insert(s.socket.key());
  return p;
}

ScanReport scan(const Config& config, const ScanOptions& options) {
  ScanReport r;
  r.started_us = options.clock->unix_micros();

  auto t = Clock::now();
  std::vector<Socket> sockets = list_sockets();
  r.sockets_ms = ms_since(t);

  t = Clock::now();
  std::optional<Ruleset> ruleset;
  try {
    auto text = run_nft_list_ruleset(options.nft_path);
    if (!text) {
      r.nft_missing = true;
    } else {
      ruleset = parse_ruleset(*text);
      r.firewall_read = true;
      r.nft_version = ruleset->nft_version;
      r.fingerprint = ruleset->fingerprint();
      r.rule_count = ruleset->rule_count();
    }
  } catch (const NftError& e) {
    r.firewall_error = e.what();
  }
  r.firewall_ms = ms_since(t);

  t = Clock::now();
  r.interfaces = host_interfaces();
  EvaluationContext ctx;
  ctx.interfaces = r.interfaces;
  for (const auto& a : config.host_audit.allowed_ports) {
    for (const auto& n : a.from) {
      if (auto p = Prefix::parse(n)) ctx.extra_prefixes.push_back(*p);
    }
  }
  // Without a readable ruleset the verdicts assume no firewall, unless it
  // could not be read for another reason: then nothing is known.
  const Ruleset* rs = ruleset ? &*ruleset : nullptr;
  ExposureEvaluator evaluator(rs, ctx);
  PolicyInput policy;
  policy.sockets.reserve(sockets.size());
  for (auto& s : sockets) {
    SocketReport sr;
    sr.exposure = evaluator.evaluate(s);
    if (!r.firewall_read && !r.nft_missing && sr.exposure.verdict == Verdict::exposed) {
      sr.exposure.verdict = Verdict::undetermined;
      sr.exposure.reason = "the firewall ruleset could not be read: " + r.firewall_error;
    }
    sr.allowed = port_allowed(config.host_audit.allowed_ports, s.proto, s.port);
    if (sr.exposure.verdict == Verdict::exposed) sr.close_command = close_command(s, rs);
    sr.socket = std::move(s);
    policy.sockets.push_back(std::move(sr));
  }
  policy.firewall.read = r.firewall_read;
  policy.firewall.nft_missing = r.nft_missing;
  policy.firewall.error = r.firewall_error;
  policy.firewall.ruleset = rs;
  policy.allowed = config.host_audit.allowed_ports;
  policy.previous = options.previous;
  r.findings = evaluate_policy(policy);
  r.sockets = std::move(policy.sockets);
  r.evaluate_ms = ms_since(t);

  if (options.host_checks) {
    t = Clock::now();
    HostCheckInput in = host_check_input(config);
    in.run_commands = options.run_commands;
    HostCheckReport hc = run_host_checks(in);
    r.checks = std::move(hc.checks);
    for (auto& f : hc.findings) r.findings.push_back(std::move(f));
    r.checks_ms = ms_since(t);
  }
  std::stable_sort(r.findings.begin(), r.findings.end(),
                   [](const Finding& a, const Finding& b) { return a.severity > b.severity; });
  r.finished_us = options.clock->unix_micros();
  return r;
}

}  // namespace privstack::hostaudit
