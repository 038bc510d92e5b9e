// Policy: from sockets, verdicts and the allow-list to findings with stable IDs.
#include <gtest/gtest.h>

#include <algorithm>

#include "hostaudit/findings.h"

namespace privstack::hostaudit {
namespace {

SocketReport report(const std::string& proto, const std::string& addr, std::uint16_t port, Verdict v,
                    std::vector<std::string> sources = {"0.0.0.0/0"}) {
  SocketReport r;
  r.socket.proto = proto;
  r.socket.family = addr.find(':') != std::string::npos ? 6 : 4;
  r.socket.address = addr;
  r.socket.port = port;
  r.socket.processes.push_back(Process{42, "demo", 3, "demo.service"});
  r.exposure.verdict = v;
  r.exposure.reason = "test";
  if (v == Verdict::exposed) {
    for (const auto& s : sources) {
      Reach reach;
      reach.verdict = Verdict::exposed;
      reach.source.network = *Prefix::parse(s);
      reach.source.representative = reach.source.network.address;
      r.exposure.reaches.push_back(reach);
    }
  }
  return r;
}

std::vector<std::string> ids(const std::vector<Finding>& fs) {
  std::vector<std::string> out;
  for (const auto& f : fs) out.push_back(f.id);
  std::sort(out.begin(), out.end());
  return out;
}

Ruleset drop_ruleset() {
  return parse_ruleset(R"({"nftables":[{"chain":{"family":"inet","table":"f","name":"input","type":"filter","hook":"input","prio":0,"policy":"drop"}}]})");
}

struct PolicyCase {
  const char* name;
  std::vector<SocketReport> sockets;
  std::vector<AllowedPort> allowed;
  std::vector<std::string> expected;
};

class PolicyCases : public ::testing::TestWithParam<PolicyCase> {};

TEST_P(PolicyCases, Findings) {
  static Ruleset rs = drop_ruleset();
  PolicyInput in;
  in.sockets = GetParam().sockets;
  in.allowed = GetParam().allowed;
  in.firewall.read = true;
  in.firewall.ruleset = &rs;
  EXPECT_EQ(ids(evaluate_policy(in)), GetParam().expected) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Table, PolicyCases,
    ::testing::Values(
        PolicyCase{"exposed and allowed", {report("tcp", "0.0.0.0", 22, Verdict::exposed)}, {{22, "tcp", {}}}, {}},
        PolicyCase{"exposed, not allowed",
                   {report("tcp", "0.0.0.0", 8080, Verdict::exposed)},
                   {{22, "tcp", {}}},
                   {"HA-NET-001:tcp/8080"}},
        PolicyCase{"udp allow-list entry does not cover tcp",
                   {report("tcp", "0.0.0.0", 53, Verdict::exposed)},
                   {{53, "udp", {}}},
                   {"HA-NET-001:tcp/53"}},
        PolicyCase{"two sockets of one port give one finding",
                   {report("tcp", "0.0.0.0", 8080, Verdict::exposed), report("tcp", "::", 8080, Verdict::exposed, {"::/0"})},
                   {},
                   {"HA-NET-001:tcp/8080"}},
        PolicyCase{"allowed from a network, reachable from anywhere",
                   {report("tcp", "0.0.0.0", 22, Verdict::exposed, {"0.0.0.0/0"})},
                   {{22, "tcp", {"10.0.0.0/8"}}},
                   {"HA-NET-002:tcp/22"}},
        PolicyCase{"allowed from a network, reachable from inside it",
                   {report("tcp", "0.0.0.0", 22, Verdict::exposed, {"10.1.0.0/16"})},
                   {{22, "tcp", {"10.0.0.0/8"}}},
                   {}},
        PolicyCase{"wildcard socket blocked by the firewall",
                   {report("tcp", "0.0.0.0", 5432, Verdict::not_exposed)},
                   {},
                   {"HA-NET-005:tcp/5432@0.0.0.0:5432"}},
        PolicyCase{"loopback socket is fine", {report("tcp", "127.0.0.1", 5432, Verdict::not_exposed)}, {}, {}},
        PolicyCase{"undetermined is reported",
                   {report("tcp", "10.0.0.1", 80, Verdict::undetermined)},
                   {},
                   {"HA-NET-008:tcp/80@10.0.0.1:80"}}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (auto& ch : n) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

TEST(Policy, FirewallAbsentAndPolicyAccept) {
  PolicyInput in;
  in.firewall.read = false;
  in.firewall.nft_missing = true;
  EXPECT_EQ(ids(evaluate_policy(in)), std::vector<std::string>{"HA-NET-003:nftables"});

  Ruleset accept = parse_ruleset(
      R"({"nftables":[{"chain":{"family":"inet","table":"f","name":"input","type":"filter","hook":"input","prio":0,"policy":"accept"}},
                      {"rule":{"family":"inet","table":"f","chain":"input","handle":2,"expr":[{"match":{"op":"==","left":{"payload":{"protocol":"tcp","field":"dport"}},"right":23}},{"drop":null}]}}]})");
  in.firewall.read = true;
  in.firewall.nft_missing = false;
  in.firewall.ruleset = &accept;
  EXPECT_EQ(ids(evaluate_policy(in)), std::vector<std::string>{"HA-NET-004:nftables"});

  Ruleset empty = parse_ruleset(R"({"nftables":[]})");
  in.firewall.ruleset = &empty;
  EXPECT_EQ(ids(evaluate_policy(in)), std::vector<std::string>{"HA-NET-003:nftables"});
}

TEST(Policy, DriftAndNewSockets) {
  static Ruleset rs = drop_ruleset();
  PolicyInput in;
  in.firewall.read = true;
  in.firewall.ruleset = &rs;
  in.sockets = {report("tcp", "0.0.0.0", 22, Verdict::exposed), report("tcp", "127.0.0.1", 9000, Verdict::not_exposed)};
  in.allowed = {{22, "tcp", {}}};
  in.previous = PreviousScan{rs.fingerprint(), {"tcp 0.0.0.0:22"}};
  EXPECT_EQ(ids(evaluate_policy(in)), std::vector<std::string>{"HA-NET-007:tcp/127.0.0.1:9000"});
  in.previous->fingerprint = "something else";
  auto fs = evaluate_policy(in);
  EXPECT_EQ(fs.size(), 2u);
  EXPECT_TRUE(std::any_of(fs.begin(), fs.end(), [](const Finding& f) { return f.check == "HA-NET-006"; }));
}

TEST(Policy, ExposedFindingCarriesTheCloseCommand) {
  static Ruleset rs = drop_ruleset();
  PolicyInput in;
  in.firewall.read = true;
  in.firewall.ruleset = &rs;
  auto r = report("tcp", "0.0.0.0", 8080, Verdict::exposed);
  r.close_command = "nft insert rule inet f input tcp dport 8080 drop";
  in.sockets = {r};
  auto fs = evaluate_policy(in);
  ASSERT_EQ(fs.size(), 1u);
  EXPECT_EQ(fs[0].severity, Severity::high);
  EXPECT_EQ(fs[0].command, r.close_command);
  EXPECT_NE(fs[0].detail.find("demo (pid 42, demo.service)"), std::string::npos);
}

TEST(Policy, FindingJsonRoundTrip) {
  Finding f;
  f.id = "HA-NET-001:tcp/1";
  f.check = "HA-NET-001";
  f.severity = Severity::high;
  f.title = "t";
  Finding g = Finding::from_json(f.to_json());
  EXPECT_EQ(g.id, f.id);
  EXPECT_EQ(g.severity, f.severity);
}

}  // namespace
}  // namespace privstack::hostaudit
