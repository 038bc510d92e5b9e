// The exposure evaluator, table-driven: a ruleset in nft's JSON form, a
// socket, a source; the expected verdict.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hostaudit/exposure.h"
#include "hostaudit/nft_ruleset.h"

namespace privstack::hostaudit {
namespace {

// Match/statement snippets in libnftables-json form.
std::string dport(const std::string& proto, const std::string& right) {
  return R"({"match":{"op":"==","left":{"payload":{"protocol":")" + proto + R"(","field":"dport"}},"right":)" + right + "}}";
}
std::string saddr(const std::string& fam, const std::string& addr, int len, const std::string& op = "==") {
  return R"({"match":{"op":")" + op + R"(","left":{"payload":{"protocol":")" + fam +
         R"(","field":"saddr"}},"right":{"prefix":{"addr":")" + addr + R"(","len":)" + std::to_string(len) + "}}}}";
}
const std::string kAccept = R"({"accept":null})";
const std::string kDrop = R"({"drop":null})";
const std::string kReject = R"({"reject":{"type":"tcp reset"}})";
const std::string kLoAccept = R"({"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"lo"}})";
const std::string kCtEstRel = R"({"match":{"op":"in","left":{"ct":{"key":"state"}},"right":["established","related"]}})";
std::string jump(const std::string& t) { return R"({"jump":{"target":")" + t + R"("}})"; }

struct ChainSpec {
  std::string family = "inet", table = "filter", name = "input";
  std::string hook;  // "" for a regular chain
  std::string policy = "accept";
  int prio = 0;
  std::vector<std::vector<std::string>> rules;  // each rule: list of expr snippets
  std::string type = "filter";
};

std::string ruleset_json(const std::vector<ChainSpec>& chains, const std::string& extra = "") {
  std::string out = R"({"nftables":[{"metainfo":{"version":"1.0.6","json_schema_version":1}})";
  std::vector<std::pair<std::string, std::string>> tables;
  for (const auto& c : chains) {
    auto t = std::make_pair(c.family, c.table);
    if (std::find(tables.begin(), tables.end(), t) == tables.end()) {
      tables.push_back(t);
      out += R"(,{"table":{"family":")" + c.family + R"(","name":")" + c.table + R"(","handle":1}})";
    }
  }
  out += extra;
  for (const auto& c : chains) {
    out += R"(,{"chain":{"family":")" + c.family + R"(","table":")" + c.table + R"(","name":")" + c.name + R"(","handle":1)";
    if (!c.hook.empty()) {
      out += R"(,"type":")" + c.type + R"(","hook":")" + c.hook + R"(","prio":)" + std::to_string(c.prio) +
             R"(,"policy":")" + c.policy + "\"";
    }
    out += "}}";
  }
  int handle = 10;
  for (const auto& c : chains) {
    for (const auto& r : c.rules) {
      out += R"(,{"rule":{"family":")" + c.family + R"(","table":")" + c.table + R"(","chain":")" + c.name +
             R"(","handle":)" + std::to_string(handle++) + R"(,"expr":[)";
      for (std::size_t i = 0; i < r.size(); ++i) out += (i ? "," : "") + r[i];
      out += "]}}";
    }
  }
  return out + "]}";
}

Socket sock(const std::string& proto, const std::string& addr, std::uint16_t port, bool v6only = false) {
  Socket s;
  s.proto = proto;
  s.family = addr.find(':') != std::string::npos ? 6 : 4;
  s.address = addr;
  s.port = port;
  s.v6only = v6only;
  return s;
}

Address A(const std::string& s) { return *Address::parse(s); }

ChainSpec input(std::string policy, std::vector<std::vector<std::string>> rules) {
  ChainSpec c;
  c.hook = "input";
  c.policy = std::move(policy);
  c.rules = std::move(rules);
  return c;
}

struct Case {
  const char* name;
  std::vector<ChainSpec> chains;
  Socket socket;
  std::string source;
  Verdict expected;
  std::string extra = "";
};

class ExposureCases : public ::testing::TestWithParam<Case> {};

TEST_P(ExposureCases, Verdict) {
  const Case& c = GetParam();
  Ruleset rs = parse_ruleset(ruleset_json(c.chains, c.extra));
  ExposureEvaluator ev(&rs, EvaluationContext{{"eth0"}, {}});
  Reach r = ev.evaluate_one(c.socket, A(c.source), "eth0");
  EXPECT_EQ(to_string(r.verdict), to_string(c.expected)) << c.name << ": " << r.rule;
  if (c.expected == Verdict::undetermined) {
    EXPECT_FALSE(r.rule.empty()) << "undetermined must quote a rule";
  }
}

const std::vector<std::string> kBase = {};

INSTANTIATE_TEST_SUITE_P(
    Table, ExposureCases,
    ::testing::Values(
        Case{"policy drop, no rules", {input("drop", {})}, sock("tcp", "0.0.0.0", 22), "203.0.113.5", Verdict::not_exposed},
        Case{"policy accept, no rules", {input("accept", {})}, sock("tcp", "0.0.0.0", 22), "203.0.113.5", Verdict::exposed},
        Case{"allow-listed port",
             {input("drop", {{kLoAccept, kAccept}, {kCtEstRel, kAccept}, {dport("tcp", "22"), kAccept}})},
             sock("tcp", "0.0.0.0", 22), "203.0.113.5", Verdict::exposed},
        Case{"port not in allow-list",
             {input("drop", {{kLoAccept, kAccept}, {kCtEstRel, kAccept}, {dport("tcp", "22"), kAccept}})},
             sock("tcp", "0.0.0.0", 80), "203.0.113.5", Verdict::not_exposed},
        Case{"udp port does not match a tcp rule",
             {input("drop", {{dport("tcp", "53"), kAccept}})}, sock("udp", "0.0.0.0", 53), "203.0.113.5",
             Verdict::not_exposed},
        Case{"range includes", {input("drop", {{dport("tcp", R"({"range":[1000,2000]})"), kAccept}})},
             sock("tcp", "0.0.0.0", 1500), "203.0.113.5", Verdict::exposed},
        Case{"range excludes", {input("drop", {{dport("tcp", R"({"range":[1000,2000]})"), kAccept}})},
             sock("tcp", "0.0.0.0", 2001), "203.0.113.5", Verdict::not_exposed},
        Case{"anonymous set", {input("drop", {{dport("tcp", R"({"set":[22,80,443]})"), kAccept}})},
             sock("tcp", "0.0.0.0", 443), "203.0.113.5", Verdict::exposed},
        Case{"named set",
             {input("drop", {{dport("tcp", R"("@web")"), kAccept}})}, sock("tcp", "0.0.0.0", 8443), "203.0.113.5",
             Verdict::exposed,
             R"(,{"set":{"family":"inet","name":"web","table":"filter","type":"inet_service","handle":3,"elem":[80,8443]}})"},
        Case{"saddr inside", {input("drop", {{saddr("ip", "10.0.0.0", 8), dport("tcp", "22"), kAccept}})},
             sock("tcp", "0.0.0.0", 22), "10.1.2.3", Verdict::exposed},
        Case{"saddr outside", {input("drop", {{saddr("ip", "10.0.0.0", 8), dport("tcp", "22"), kAccept}})},
             sock("tcp", "0.0.0.0", 22), "192.0.2.1", Verdict::not_exposed},
        Case{"ip saddr never matches IPv6", {input("drop", {{saddr("ip", "0.0.0.0", 0), kAccept}})},
             sock("tcp", "::", 22, true), "2001:db8::1", Verdict::not_exposed},
        Case{"ip6 saddr", {input("drop", {{saddr("ip6", "fd00::", 64), dport("tcp", "22"), kAccept}})},
             sock("tcp", "::", 22, true), "fd00::5", Verdict::exposed},
        Case{"negated saddr drop", {input("accept", {{saddr("ip", "10.0.0.0", 8, "!="), kDrop}})},
             sock("tcp", "0.0.0.0", 22), "10.9.9.9", Verdict::exposed},
        Case{"reject counts as closed", {input("accept", {{dport("tcp", "25"), kReject}})},
             sock("tcp", "0.0.0.0", 25), "203.0.113.5", Verdict::not_exposed},
        Case{"loopback rule does not admit outside traffic", {input("drop", {{kLoAccept, kAccept}})},
             sock("tcp", "0.0.0.0", 22), "203.0.113.5", Verdict::not_exposed},
        Case{"ct established does not admit new connections", {input("drop", {{kCtEstRel, kAccept}})},
             sock("tcp", "0.0.0.0", 22), "203.0.113.5", Verdict::not_exposed},
        Case{"jump and accept in the sub-chain",
             {input("drop", {{jump("svc")}}), ChainSpec{"inet", "filter", "svc", "", "", 0, {{dport("tcp", "443"), kAccept}}}},
             sock("tcp", "0.0.0.0", 443), "203.0.113.5", Verdict::exposed},
        Case{"jump, return, then policy",
             {input("drop", {{jump("svc")}}),
              ChainSpec{"inet", "filter", "svc", "", "", 0, {{dport("tcp", "443"), kAccept}, {R"({"return":null})"}}}},
             sock("tcp", "0.0.0.0", 80), "203.0.113.5", Verdict::not_exposed},
        Case{"jump returns, later rule accepts",
             {input("drop", {{jump("svc")}, {dport("tcp", "80"), kAccept}}),
              ChainSpec{"inet", "filter", "svc", "", "", 0, {{dport("tcp", "443"), kDrop}}}},
             sock("tcp", "0.0.0.0", 80), "203.0.113.5", Verdict::exposed},
        Case{"two base chains: the later one drops",
             {input("accept", {}), ChainSpec{"ip", "second", "input", "input", "drop", 10, {}}},
             sock("tcp", "0.0.0.0", 80), "203.0.113.5", Verdict::not_exposed},
        Case{"ip-family chain does not see IPv6",
             {ChainSpec{"ip", "filter", "INPUT", "input", "drop", 0, {}}}, sock("tcp", "::", 80, true), "2001:db8::1",
             Verdict::exposed},
        Case{"unknown match before an accept: undetermined",
             {input("drop", {{R"({"xt":{"type":"match","name":"conntrack"}})", kAccept}})}, sock("tcp", "0.0.0.0", 80),
             "203.0.113.5", Verdict::undetermined},
        Case{"unknown match whose both outcomes agree",
             {input("drop", {{R"({"xt":{"type":"match","name":"recent"}})", kDrop}})}, sock("tcp", "0.0.0.0", 80),
             "203.0.113.5", Verdict::not_exposed},
        Case{"unknown match on another port is irrelevant",
             {input("drop", {{dport("tcp", "25"), R"({"xt":{"type":"match","name":"conntrack"}})", kAccept},
                             {dport("tcp", "22"), kAccept}})},
             sock("tcp", "0.0.0.0", 22), "203.0.113.5", Verdict::exposed},
        Case{"iptables-nft REJECT target", {input("accept", {{dport("udp", "161"), R"({"xt":{"type":"target","name":"REJECT"}})"}})},
             sock("udp", "0.0.0.0", 161), "203.0.113.5", Verdict::not_exposed},
        Case{"interface match for the host's interface",
             {input("drop", {{R"({"match":{"op":"==","left":{"meta":{"key":"iifname"}},"right":"eth0"}})", kAccept}})},
             sock("tcp", "0.0.0.0", 22), "203.0.113.5", Verdict::exposed},
        Case{"dnat is undetermined",
             {ChainSpec{"ip", "nat", "pre", "prerouting", "accept", -100, {{dport("tcp", "80"), R"({"dnat":{"addr":"10.0.0.2"}})"}}, "nat"}},
             sock("tcp", "0.0.0.0", 80), "203.0.113.5", Verdict::undetermined},
        Case{"verdict map",
             {input("drop", {{R"({"vmap":{"key":{"payload":{"protocol":"tcp","field":"dport"}},"data":{"set":[[22,{"accept":null}],[23,{"drop":null}]]}}})"}})},
             sock("tcp", "0.0.0.0", 22), "203.0.113.5", Verdict::exposed},
        Case{"output policy drop without established accept",
             {input("accept", {}), ChainSpec{"inet", "filter", "output", "output", "drop", 0, {}}},
             sock("tcp", "0.0.0.0", 22), "203.0.113.5", Verdict::not_exposed},
        Case{"output policy drop with established accept",
             {input("accept", {}), ChainSpec{"inet", "filter", "output", "output", "drop", 0, {{kCtEstRel, kAccept}}}},
             sock("tcp", "0.0.0.0", 22), "203.0.113.5", Verdict::exposed},
        Case{"icmp rule never matches tcp",
             {input("drop", {{R"({"match":{"op":"==","left":{"payload":{"protocol":"icmp","field":"type"}},"right":"echo-request"}})", kAccept}})},
             sock("tcp", "0.0.0.0", 22), "203.0.113.5", Verdict::not_exposed}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (auto& ch : n) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

TEST(Exposure, LoopbackSocketsAreNeverExposed) {
  ExposureEvaluator ev(nullptr, {});
  EXPECT_EQ(ev.evaluate(sock("tcp", "127.0.0.1", 8443)).verdict, Verdict::not_exposed);
  EXPECT_EQ(ev.evaluate(sock("tcp", "::1", 8443, true)).verdict, Verdict::not_exposed);
  EXPECT_EQ(ev.evaluate(sock("tcp", "0.0.0.0", 8443)).verdict, Verdict::exposed);  // no firewall
}

TEST(Exposure, SourceClassesFollowMentionedPrefixes) {
  Ruleset rs = parse_ruleset(ruleset_json({input("drop", {{saddr("ip", "10.0.0.0", 8), dport("tcp", "22"), kAccept},
                                                          {saddr("ip", "10.1.0.0", 16), kDrop}})}));
  ExposureEvaluator ev(&rs, EvaluationContext{{"eth0"}, {}});
  Exposure e = ev.evaluate(sock("tcp", "0.0.0.0", 22));
  ASSERT_EQ(e.verdict, Verdict::exposed);
  // 10/8 minus 10.1/16, and 10.1/16 (the earlier rule accepts it first).
  auto to = e.exposed_to();
  ASSERT_EQ(to.size(), 2u);
  for (const auto& c : to) EXPECT_TRUE(Prefix::parse("10.0.0.0/8")->contains(c.network)) << c.to_string();
  EXPECT_TRUE(to[0].contains(A("10.1.2.3")) || to[1].contains(A("10.1.2.3")));
  EXPECT_FALSE(to[0].contains(A("192.0.2.1")) || to[1].contains(A("192.0.2.1")));
  // A socket on a port only the /16 rule sees.
  Exposure e2 = ev.evaluate(sock("tcp", "0.0.0.0", 80));
  EXPECT_EQ(e2.verdict, Verdict::not_exposed);
}

TEST(Exposure, DualStackSocketIsEvaluatedForBothFamilies) {
  Ruleset rs = parse_ruleset(ruleset_json({ChainSpec{"ip", "filter", "INPUT", "input", "drop", 0, {}}}));
  ExposureEvaluator ev(&rs, EvaluationContext{{"eth0"}, {}});
  Exposure e = ev.evaluate(sock("tcp", "::", 80, false));  // [::] without v6only: IPv4 too
  ASSERT_EQ(e.verdict, Verdict::exposed);
  for (const auto& c : e.exposed_to()) EXPECT_EQ(c.network.address.family, 6);
}

TEST(Exposure, SourceClassRepresentativesAvoidSubPrefixes) {
  auto classes = source_classes(4, {*Prefix::parse("10.0.0.0/8"), *Prefix::parse("10.0.0.0/9"), *Prefix::parse("10.128.0.0/9")});
  // 10/8 is wholly covered by its two halves: no class of its own.
  for (const auto& c : classes) EXPECT_NE(c.network.to_string(), "10.0.0.0/8");
  for (const auto& c : classes) {
    EXPECT_TRUE(c.contains(c.representative)) << c.to_string();
  }
}

TEST(Prefixes, RangeToPrefixes) {
  auto p = range_to_prefixes(A("10.0.0.1"), A("10.0.0.6"));
  std::vector<std::string> got;
  for (const auto& x : p) got.push_back(x.to_string());
  EXPECT_EQ(got, (std::vector<std::string>{"10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"}));
}

TEST(CloseCommand, UsesTheInputChain) {
  Ruleset rs = parse_ruleset(ruleset_json({input("accept", {})}));
  EXPECT_EQ(close_command(sock("tcp", "0.0.0.0", 8080), &rs),
            "nft insert rule inet filter input meta nfproto ipv4 iifname != \"lo\" tcp dport 8080 drop");
  EXPECT_NE(close_command(sock("udp", "::", 53), nullptr).find("nft add table inet filter"), std::string::npos);
}

TEST(Ruleset, FingerprintIgnoresCounters) {
  std::string a = ruleset_json({input("drop", {{dport("tcp", "22"), R"({"counter":{"packets":0,"bytes":0}})", kAccept}})});
  std::string b = ruleset_json({input("drop", {{dport("tcp", "22"), R"({"counter":{"packets":9,"bytes":999}})", kAccept}})});
  std::string c = ruleset_json({input("drop", {{dport("tcp", "23"), R"({"counter":{"packets":9,"bytes":999}})", kAccept}})});
  EXPECT_EQ(parse_ruleset(a).fingerprint(), parse_ruleset(b).fingerprint());
  EXPECT_NE(parse_ruleset(a).fingerprint(), parse_ruleset(c).fingerprint());
}

TEST(Ruleset, RejectsMalformedJson) {
  EXPECT_THROW(parse_ruleset("not json"), NftError);
  EXPECT_THROW(parse_ruleset("{\"x\":1}"), NftError);
}

// Found by tests/fuzz/nft_ruleset (its input is in the seed corpus as
// regression-jump-without-target.json): a jump or goto without "target"
// threw boost::json's std::out_of_range out of parse_ruleset while the
// rule's text was rendered; the scanner catches only NftError, so the whole
// host audit scan failed instead of reporting the firewall as unreadable.
TEST(Ruleset, JumpWithoutTargetIsRenderedNotThrown) {
  std::string doc = ruleset_json({input("drop", {{dport("tcp", "22"), R"({"jump":{}})"},
                                                 {R"({"goto":{"x":1}})"},
                                                 {R"({"xt":{}})"},
                                                 {R"({"vmap":{"key":{"payload":{"protocol":"tcp","field":"dport"}},)"
                                                  R"("data":{"set":[[80,{"jump":{}}]]}}})"}})});
  Ruleset rs;
  ASSERT_NO_THROW(rs = parse_ruleset(doc));
  ASSERT_EQ(rs.chains.size(), 1u);
  ASSERT_GE(rs.chains[0].rules.size(), 3u);
  EXPECT_NE(rs.chains[0].rules[0].text.find("tcp dport 22 jump ?"), std::string::npos) << rs.chains[0].rules[0].text;
  EXPECT_NE(rs.chains[0].rules[1].text.find("goto ?"), std::string::npos) << rs.chains[0].rules[1].text;
  EXPECT_NE(rs.chains[0].rules[2].text.find("xt ? ?"), std::string::npos) << rs.chains[0].rules[2].text;
  // The evaluator copes with such rules too.
  ExposureEvaluator ev(&rs, EvaluationContext{{"eth0"}, {}});
  EXPECT_NO_THROW(ev.evaluate(sock("tcp", "0.0.0.0", 22)));
}

TEST(Ruleset, RuleTextIsQuoted) {
  Ruleset rs = parse_ruleset(ruleset_json({input("drop", {{dport("tcp", "22"), kAccept}})}));
  ASSERT_EQ(rs.chains.at(0).rules.size(), 1u);
  EXPECT_EQ(rs.chains[0].rules[0].text, "inet filter input: tcp dport 22 accept # handle 10");
}

}  // namespace
}  // namespace privstack::hostaudit
