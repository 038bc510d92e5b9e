// Can traffic from outside the host reach a listening socket? A pure
// function of the compiled nftables ruleset and the socket.
//
// A new connection attempt is modelled as a packet: family, L4 protocol,
// destination port, source address, input interface, conntrack state "new".
// Each condition of a rule is evaluated three-valued (yes / no / unknown);
// on "unknown" both outcomes are followed and the verdict is decided only
// when they agree. Base chains on the ingress, prerouting and input hooks are
// walked in hook and priority order (accept passes the packet on to the next
// base chain, drop/reject ends it), then the reply is walked through the
// output hook with conntrack state "established".
//
// Sources are partitioned into classes inside which no rule can tell
// addresses apart: every address prefix any rule (or the allow-list)
// mentions splits the address space, and each class is evaluated once
// (per input interface of the host).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hostaudit/nft_ruleset.h"
#include "hostaudit/sockets.h"

namespace privstack::hostaudit {

enum class Verdict { exposed, not_exposed, undetermined };
std::string_view to_string(Verdict v);

// A set of source addresses: `network` minus the `except` sub-networks.
struct SourceClass {
  Prefix network;
  std::vector<Prefix> except;
  Address representative;  // an address of the class
  bool contains(const Address& a) const;
  std::string to_string() const;  // "10.0.0.0/8 except 10.1.0.0/16"
};

struct Reach {
  std::string interface;  // input interface; "" when the host's interfaces are unknown
  SourceClass source;
  Verdict verdict = Verdict::not_exposed;
  std::string rule;    // undetermined: the rule that could not be decided; else the deciding rule or policy
};

struct Exposure {
  Verdict verdict = Verdict::not_exposed;  // exposed if any class is, else undetermined if any is
  std::string reason;                      // short human explanation
  std::vector<Reach> reaches;              // every class evaluated (empty for loopback-only sockets)
  // The classes from which the socket is reachable (verdict exposed).
  std::vector<SourceClass> exposed_to() const;
};

struct EvaluationContext {
  // The host's interfaces other than loopback; empty: interface matches
  // are undecidable.
  std::vector<std::string> interfaces;
  // Extra prefixes that must be class boundaries (the allow-list's networks).
  std::vector<Prefix> extra_prefixes;
};

class ExposureEvaluator {
 public:
  ExposureEvaluator(const Ruleset* ruleset, EvaluationContext context);  // ruleset nullptr: no firewall
  Exposure evaluate(const Socket& socket) const;
  // One packet, for tests: the verdict for a connection from `source` on `interface`.
  Reach evaluate_one(const Socket& socket, const Address& source, const std::string& interface) const;
  const std::vector<SourceClass>& classes(int family) const { return family == 4 ? classes4_ : classes6_; }

 private:
  const Ruleset* ruleset_;
  EvaluationContext context_;
  std::vector<SourceClass> classes4_, classes6_;
};

// The source classes for a set of prefixes of one family (exposed for tests).
std::vector<SourceClass> source_classes(int family, std::vector<Prefix> prefixes);

// Is a firewall filtering input at all: true when some base chain on the
// input (or prerouting/ingress) hook has policy drop or any rule.
bool has_input_filter(const Ruleset& ruleset);
// True when no input base chain drops by policy (every input chain has policy accept).
bool input_policy_accept(const Ruleset& ruleset);

// The nft command that would close `socket`'s port to outside traffic
// (shown to the administrator, never run).
std::string close_command(const Socket& socket, const Ruleset* ruleset);

}  // namespace privstack::hostaudit
