#include "hostaudit/findings.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>

namespace privstack::hostaudit {

namespace json = boost::json;

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::info: return "info";
    case Severity::low: return "low";
    case Severity::medium: return "medium";
    case Severity::high: return "high";
    case Severity::critical: return "critical";
  }
  return "info";
}

std::optional<Severity> parse_severity(std::string_view s) {
  for (Severity v : {Severity::info, Severity::low, Severity::medium, Severity::high, Severity::critical}) {
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

json::object Finding::to_json() const {
  json::object o;
  o["id"] = id;
  o["check"] = check;
  o["severity"] = to_string(severity);
  o["subject"] = subject;
  o["title"] = title;
  o["detail"] = detail;
  o["remediation"] = remediation;
  if (!command.empty()) o["command"] = command;
  return o;
}

Finding Finding::from_json(const json::object& o) {
  auto s = [&](const char* k) { return o.contains(k) && o.at(k).is_string() ? std::string(o.at(k).as_string()) : ""; };
  Finding f;
  f.id = s("id");
  f.check = s("check");
  f.severity = parse_severity(s("severity")).value_or(Severity::medium);
  f.subject = s("subject");
  f.title = s("title");
  f.detail = s("detail");
  f.remediation = s("remediation");
  f.command = s("command");
  return f;
}

json::object SocketReport::to_json() const {
  json::object o;
  o["proto"] = socket.proto;
  o["family"] = socket.family == 4 ? "ipv4" : "ipv6";
  o["address"] = socket.address;
  o["port"] = socket.port;
  o["v6only"] = socket.v6only;
  o["interface"] = socket.interface;
  o["endpoint"] = socket.endpoint();
  o["inode"] = socket.inode;
  o["uid"] = socket.uid;
  json::array procs;
  for (const auto& p : socket.processes) {
    procs.push_back(json::object{{"pid", p.pid}, {"name", p.name}, {"fd", p.fd}, {"unit", p.unit}});
  }
  o["processes"] = std::move(procs);
  o["verdict"] = to_string(exposure.verdict);
  o["reason"] = exposure.reason;
  o["allowed"] = allowed;
  json::array reach;
  for (const auto& r : exposure.reaches) {
    json::array except;
    for (const auto& e : r.source.except) except.push_back(json::string(e.to_string()));
    reach.push_back(json::object{{"interface", r.interface},
                                 {"network", r.source.network.to_string()},
                                 {"except", std::move(except)},
                                 {"verdict", to_string(r.verdict)},
                                 {"rule", r.rule}});
  }
  o["reach"] = std::move(reach);
  if (!close_command.empty()) o["close_command"] = close_command;
  return o;
}

bool port_allowed(const std::vector<AllowedPort>& allowed, const std::string& proto, std::uint16_t port) {
  return std::any_of(allowed.begin(), allowed.end(), [&](const AllowedPort& a) { return a.port == port && a.proto == proto; });
}

namespace {

std::string owners(const std::vector<const SocketReport*>& group) {
  std::set<std::string> names;
  for (const auto* r : group) {
    for (const auto& p : r->socket.processes) {
      names.insert(p.name + " (pid " + std::to_string(p.pid) + (p.unit.empty() ? "" : ", " + p.unit) + ")");
    }
  }
  if (names.empty()) return "an unknown process";
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

std::string endpoints(const std::vector<const SocketReport*>& group) {
  std::string s;
  for (const auto* r : group) s += (s.empty() ? "" : ", ") + r->socket.endpoint();
  return s;
}

// Is a source class inside the union of the allowed networks? Classes are
// built with those networks as boundaries, so a class is either wholly in
// one of them or outside all of them.
bool class_within(const SourceClass& c, const std::vector<Prefix>& nets) {
  return std::any_of(nets.begin(), nets.end(), [&](const Prefix& n) { return n.contains(c.network); });
}

}  // namespace

std::vector<Finding> evaluate_policy(const PolicyInput& in) {
  std::vector<Finding> out;

  // Firewall state.
  if (!in.firewall.read) {
    Finding f;
    f.check = "HA-NET-003";
    f.severity = Severity::high;
    f.subject = "nftables";
    f.title = in.firewall.nft_missing ? "No firewall: nft is not installed" : "The firewall ruleset could not be read";
    f.detail = in.firewall.nft_missing
                   ? "nftables (the nft command) is not installed, so no firewall filters incoming traffic."
                   : "nft -j list ruleset failed: " + in.firewall.error +
                         ". Exposure is computed as if there were no firewall.";
    f.remediation = in.firewall.nft_missing
                        ? "Install nftables, load a ruleset with policy drop on the input hook that accepts only the "
                          "allowed ports, and enable nftables.service."
                        : "Check that privstackd holds CAP_NET_ADMIN (docs/hostaudit.md) and that nft works.";
    out.push_back(f);
  } else if (in.firewall.ruleset && !has_input_filter(*in.firewall.ruleset)) {
    Finding f;
    f.check = "HA-NET-003";
    f.severity = Severity::high;
    f.subject = "nftables";
    f.title = "No firewall filters incoming traffic";
    f.detail = "The nftables ruleset has no base chain on the input hook that filters anything.";
    f.remediation = "Load a ruleset with an input chain of policy drop that accepts loopback, established "
                    "connections and the allowed ports; enable nftables.service so it survives reboots.";
    f.command = "nft add table inet filter && nft add chain inet filter input '{ type filter hook input priority 0; "
                "policy drop; }' && nft add rule inet filter input iifname lo accept && nft add rule inet filter "
                "input ct state established,related accept";
    out.push_back(f);
  } else if (in.firewall.ruleset && input_policy_accept(*in.firewall.ruleset)) {
    Finding f;
    f.check = "HA-NET-004";
    f.severity = Severity::medium;
    f.subject = "nftables";
    f.title = "The input policy accepts by default";
    f.detail = "Every base chain on the input hook has policy accept: any port not explicitly dropped is reachable.";
    f.remediation = "Set the input chain's policy to drop and accept only what is needed (allow-list).";
    out.push_back(f);
  }

  // Group sockets by (proto, port).
  std::map<std::pair<std::string, int>, std::vector<const SocketReport*>> groups;
  for (const auto& r : in.sockets) groups[{r.socket.proto, r.socket.port}].push_back(&r);

  for (const auto& [key, group] : groups) {
    const auto& [proto, port] = key;
    std::string subject = proto + "/" + std::to_string(port);
    bool allowed = port_allowed(in.allowed, proto, static_cast<std::uint16_t>(port));
    std::vector<const SocketReport*> exposed, undetermined;
    for (const auto* r : group) {
      if (r->exposure.verdict == Verdict::exposed) exposed.push_back(r);
      if (r->exposure.verdict == Verdict::undetermined) undetermined.push_back(r);
    }
    if (!exposed.empty() && !allowed) {
      Finding f;
      f.check = "HA-NET-001";
      f.severity = Severity::high;
      f.subject = subject;
      f.title = "Port " + subject + " is reachable from outside but not in the allow-list";
      f.detail = endpoints(exposed) + " of " + owners(exposed) + " is " + exposed.front()->exposure.reason + ".";
      f.remediation = "Stop the service, bind it to 127.0.0.1, or block the port in the firewall. If it must be "
                      "reachable, add it to host_audit.allowed_ports.";
      f.command = exposed.front()->close_command;
      out.push_back(f);
    }
    if (!exposed.empty() && allowed) {
      // The networks allowed for this port; none listed = anywhere.
      std::vector<Prefix> nets;
      bool anywhere = false;
      for (const auto& a : in.allowed) {
        if (a.proto != proto || a.port != port) continue;
        if (a.from.empty()) anywhere = true;
        for (const auto& n : a.from) {
          if (auto p = Prefix::parse(n)) nets.push_back(*p);
        }
      }
      if (!anywhere) {
        std::set<std::string> wider;
        for (const auto* r : exposed) {
          for (const auto& c : r->exposure.exposed_to()) {
            if (!class_within(c, nets)) wider.insert(c.to_string());
          }
        }
        if (!wider.empty()) {
          std::string list, allowed_list;
          for (const auto& w : wider) list += (list.empty() ? "" : "; ") + w;
          for (const auto& n : nets) allowed_list += (allowed_list.empty() ? "" : ", ") + n.to_string();
          Finding f;
          f.check = "HA-NET-002";
          f.severity = Severity::high;
          f.subject = subject;
          f.title = "Port " + subject + " is reachable from more sources than allowed";
          f.detail = "Allowed from " + allowed_list + "; reachable also from " + list + " (" + endpoints(exposed) +
                     ", " + owners(exposed) + ").";
          f.remediation = "Restrict the firewall rule for this port to the allowed source networks (ip saddr / ip6 "
                          "saddr), or widen host_audit.allowed_ports if this is intended.";
          out.push_back(f);
        }
      }
    }
    for (const auto* r : undetermined) {
      Finding f;
      f.check = "HA-NET-008";
      f.severity = Severity::medium;
      f.subject = subject + "@" + r->socket.endpoint();
      f.title = "Cannot decide whether " + r->socket.endpoint() + " (" + proto + ") is reachable";
      f.detail = r->exposure.reason;
      f.remediation = "Review the quoted rule; express it with matches the audit understands (interfaces, "
                      "addresses, ports, ct state) or verify reachability with a scan from another host.";
      out.push_back(f);
    }
    if (!allowed) {
      for (const auto* r : group) {
        if (r->exposure.verdict != Verdict::not_exposed || !r->socket.wildcard() || !r->socket.interface.empty()) continue;
        Finding f;
        f.check = "HA-NET-005";
        f.severity = Severity::low;
        f.subject = subject + "@" + r->socket.endpoint();
        f.title = r->socket.endpoint() + " listens on all addresses but is only used locally";
        f.detail = owners({r}) + " listens on " + r->socket.endpoint() +
                   "; the port is not in the allow-list and the firewall blocks it, so only local clients use it.";
        f.remediation = std::string("Bind the service to ") + (r->socket.family == 4 ? "127.0.0.1" : "::1") +
                        " so that a firewall change cannot expose it.";
        out.push_back(f);
      }
    }
  }

  // Drift against the previous scan.
  if (in.previous) {
    std::string now_fp = in.firewall.ruleset ? in.firewall.ruleset->fingerprint() : "";
    if (in.previous->fingerprint != now_fp) {
      Finding f;
      f.check = "HA-NET-006";
      f.severity = Severity::medium;
      f.subject = "nftables";
      f.title = "The firewall ruleset changed since the last scan";
      f.detail = "Ruleset fingerprint " + (in.previous->fingerprint.empty() ? std::string("(none)") : in.previous->fingerprint.substr(0, 16)) +
                 " -> " + (now_fp.empty() ? std::string("(none)") : now_fp.substr(0, 16)) + ".";
      f.remediation = "Confirm the change was intended (change record); the port findings of this scan show its effect.";
      f.subject = "nftables@" + (now_fp.empty() ? std::string("none") : now_fp.substr(0, 16));
      out.push_back(f);
    }
    for (const auto& r : in.sockets) {
      if (in.previous->sockets.contains(r.socket.key())) continue;
      Finding f;
      f.check = "HA-NET-007";
      f.severity = r.exposure.verdict == Verdict::exposed ? Severity::medium : Severity::low;
      f.subject = r.socket.key();
      std::replace(f.subject.begin(), f.subject.end(), ' ', '/');
      f.title = "New listening socket " + r.socket.proto + " " + r.socket.endpoint() + " since the last scan";
      f.detail = owners({&r}) + " started listening; it is " + std::string(to_string(r.exposure.verdict)) + ".";
      f.remediation = "Confirm the service is expected on this host; otherwise stop and disable it.";
      out.push_back(f);
    }
  }

  for (auto& f : out) f.id = f.check + ":" + f.subject;
  std::sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    return a.severity != b.severity ? a.severity > b.severity : a.id < b.id;
  });
  out.erase(std::unique(out.begin(), out.end(), [](const Finding& a, const Finding& b) { return a.id == b.id; }), out.end());
  return out;
}

}  // namespace privstack::hostaudit
