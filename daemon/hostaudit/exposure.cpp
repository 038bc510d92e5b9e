#include "hostaudit/exposure.h"

#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <set>

namespace privstack::hostaudit {

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::exposed: return "exposed";
    case Verdict::not_exposed: return "not_exposed";
    case Verdict::undetermined: return "undetermined";
  }
  return "undetermined";
}

bool SourceClass::contains(const Address& a) const {
  if (!network.contains(a)) return false;
  return std::none_of(except.begin(), except.end(), [&](const Prefix& p) { return p.contains(a); });
}

std::string SourceClass::to_string() const {
  std::string s = network.length == 0 ? (network.address.family == 4 ? "any IPv4" : "any IPv6") : network.to_string();
  if (!except.empty()) {
    s += " except ";
    for (std::size_t i = 0; i < except.size(); ++i) s += (i ? ", " : "") + except[i].to_string();
  }
  return s;
}

std::vector<SourceClass> Exposure::exposed_to() const {
  std::vector<SourceClass> out;
  for (const auto& r : reaches) {
    if (r.verdict != Verdict::exposed) continue;
    if (std::none_of(out.begin(), out.end(), [&](const SourceClass& c) { return c.to_string() == r.source.to_string(); })) {
      out.push_back(r.source);
    }
  }
  return out;
}

// ------------------------------------------------------------------ source classes

namespace {

Prefix half(const Prefix& p, bool one) {
  Prefix h = p;
  h.length = p.length + 1;
  auto& byte = h.address.bytes[static_cast<size_t>(p.length / 8)];
  auto mask = static_cast<std::uint8_t>(1u << (7 - p.length % 8));
  byte = one ? static_cast<std::uint8_t>(byte | mask) : static_cast<std::uint8_t>(byte & ~mask);
  return h;
}

// An address of `p` outside every prefix of `subs` (each strictly inside p).
std::optional<Address> free_point(const Prefix& p, const std::vector<Prefix>& subs) {
  if (subs.empty()) return p.address;
  if (p.length >= p.address.bits()) return std::nullopt;
  for (bool one : {false, true}) {
    Prefix h = half(p, one);
    if (std::any_of(subs.begin(), subs.end(), [&](const Prefix& s) { return s.contains(h); })) continue;
    std::vector<Prefix> inside;
    for (const auto& s : subs) {
      if (h.contains(s)) inside.push_back(s);
    }
    if (auto a = free_point(h, inside)) return a;
  }
  return std::nullopt;
}

}  // namespace

std::vector<SourceClass> source_classes(int family, std::vector<Prefix> prefixes) {
  Prefix all;
  all.address.family = family;
  all.length = 0;
  prefixes.push_back(all);
  std::erase_if(prefixes, [&](const Prefix& p) { return p.address.family != family; });
  std::sort(prefixes.begin(), prefixes.end(), [](const Prefix& a, const Prefix& b) {
    return a.length != b.length ? a.length < b.length : a.address < b.address;
  });
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
  std::vector<SourceClass> out;
  for (const auto& p : prefixes) {
    std::vector<Prefix> subs;
    for (const auto& q : prefixes) {
      if (q != p && p.contains(q)) subs.push_back(q);
    }
    auto rep = free_point(p, subs);
    if (!rep) continue;  // wholly covered by more specific prefixes
    SourceClass c;
    c.network = p;
    c.representative = *rep;
    for (const auto& s : subs) {
      bool maximal = std::none_of(subs.begin(), subs.end(), [&](const Prefix& o) { return o != s && o.contains(s); });
      if (maximal) c.except.push_back(s);
    }
    out.push_back(std::move(c));
  }
  return out;
}

// ------------------------------------------------------------------ evaluation

namespace {

enum class Tri { no, yes, unknown };

struct Packet {
  int family = 4;
  std::uint32_t l4 = 6;
  std::optional<std::uint16_t> sport, dport;
  std::optional<Address> saddr, daddr;
  // nullopt: unknown; "": this hook has no such interface
  std::optional<std::string> iif, oif;
  unsigned ct = kCtNew;
};

bool in_ranges(std::uint32_t v, const std::vector<std::pair<std::uint32_t, std::uint32_t>>& ranges) {
  return std::any_of(ranges.begin(), ranges.end(), [&](const auto& r) { return v >= r.first && v <= r.second; });
}

Tri tri(bool v, bool negate) { return (v != negate) ? Tri::yes : Tri::no; }

Tri match(const Condition& c, const Packet& p) {
  using K = Condition::Kind;
  switch (c.kind) {
    case K::l4proto: return tri(in_ranges(p.l4, c.ranges), c.negate);
    case K::nfproto: return tri(in_ranges(static_cast<std::uint32_t>(p.family), c.ranges), c.negate);
    case K::port: {
      if (c.header_l4 != 0 && c.header_l4 != p.l4) return Tri::no;
      const auto& v = c.source_side ? p.sport : p.dport;
      if (!v) return Tri::unknown;
      return tri(in_ranges(*v, c.ranges), c.negate);
    }
    case K::address: {
      if (p.family != c.family) return Tri::no;
      const auto& v = c.source_side ? p.saddr : p.daddr;
      if (!v) return Tri::unknown;
      bool in = std::any_of(c.prefixes.begin(), c.prefixes.end(), [&](const Prefix& x) { return x.contains(*v); });
      return tri(in, c.negate);
    }
    case K::interface: {
      const auto& v = c.source_side ? p.iif : p.oif;
      if (!v) {
        // An unknown interface is still never loopback: traffic from outside
        // the host does not arrive on (or leave by) "lo".
        bool only_lo = std::all_of(c.names.begin(), c.names.end(), [](const std::string& n) { return n == "lo"; });
        return only_lo ? tri(false, c.negate) : Tri::unknown;
      }
      if (v->empty()) return Tri::no;  // no such interface at this hook: the expression breaks
      bool in = std::any_of(c.names.begin(), c.names.end(), [&](const std::string& n) {
        return n.find_first_of("*?[\\") == std::string::npos ? n == *v : ::fnmatch(n.c_str(), v->c_str(), 0) == 0;
      });
      return tri(in, c.negate);
    }
    case K::ct_state: return tri((p.ct & c.ct_mask) != 0, c.negate);
    case K::never: return Tri::no;
    case K::unknown: return Tri::unknown;
  }
  return Tri::unknown;
}

struct Outcome {
  bool accept = false, drop = false, ret = false, unknown = false;
  std::string why;      // the rule that made the outcome uncertain
  std::string decided;  // a rule that accepted or dropped
  bool ambiguous() const { return unknown || (int(accept) + int(drop) + int(ret)) > 1; }
  void merge(const Outcome& o) {
    accept |= o.accept;
    drop |= o.drop;
    ret |= o.ret;
    unknown |= o.unknown;
    if (why.empty()) why = o.why;
    if (decided.empty()) decided = o.decided;
  }
  bool same(const Outcome& o) const {
    return accept == o.accept && drop == o.drop && ret == o.ret && unknown == o.unknown;
  }
};

// What an evaluation with an unknown source or interface depended on.
struct Touched {
  std::vector<Prefix> prefixes;  // address matches that were undecided
  bool interface = false;        // an interface match was undecided
};

class ChainWalker {
 public:
  ChainWalker(const Ruleset& rs, const Packet& p, Touched* touched) : rs_(rs), p_(p), touched_(touched) {}

  Outcome walk(const Chain& chain, std::size_t from, int depth) {
    auto key = std::make_pair(&chain, from);
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    Outcome o = walk_uncached(chain, from, depth);
    memo_[key] = o;
    return o;
  }

 private:
  Outcome walk_uncached(const Chain& chain, std::size_t from, int depth) {
    for (std::size_t i = from; i < chain.rules.size(); ++i) {
      const Rule& r = chain.rules[i];
      Tri t = Tri::yes;
      for (const auto& c : r.conditions) {
        Tri m = match(c, p_);
        if (m == Tri::no) {
          t = Tri::no;
          break;
        }
        if (m == Tri::unknown) t = Tri::unknown;
      }
      if (t == Tri::no) continue;
      if (t == Tri::unknown && touched_ != nullptr) note(r);
      Outcome hit = effect(chain, i, depth);
      if (t == Tri::yes) return hit;
      Outcome rest = walk(chain, i + 1, depth);
      if (hit.same(rest)) {
        hit.merge(rest);
        return hit;
      }
      Outcome both = hit;
      both.merge(rest);
      if (both.ambiguous()) both.why = r.text;
      return both;
    }
    Outcome end;
    end.ret = true;
    return end;
  }

  Outcome effect(const Chain& chain, std::size_t i, int depth) {
    const Rule& r = chain.rules[i];
    Outcome o;
    switch (r.effect.kind) {
      case Effect::Kind::accept:
        o.accept = true;
        o.decided = r.text;
        return o;
      case Effect::Kind::drop:
        o.drop = true;
        o.decided = r.text;
        return o;
      case Effect::Kind::ret:
        o.ret = true;
        return o;
      case Effect::Kind::none:
        return walk(chain, i + 1, depth);
      case Effect::Kind::unknown:
        o.unknown = true;
        o.why = r.text;
        return o;
      case Effect::Kind::jump:
      case Effect::Kind::go_to: {
        const Chain* target = rs_.find(chain.family, chain.table, r.effect.target);
        if (target == nullptr || depth > 32) {
          o.unknown = true;
          o.why = r.text;
          return o;
        }
        Outcome sub = walk(*target, 0, depth + 1);
        if (r.effect.kind == Effect::Kind::go_to || !sub.ret) return sub;
        sub.ret = false;
        Outcome rest = walk(chain, i + 1, depth);
        bool was_something = sub.accept || sub.drop || sub.unknown;
        Outcome both = sub;
        both.merge(rest);
        if (was_something && both.ambiguous() && both.why.empty()) both.why = r.text;
        return both;
      }
    }
    return o;
  }

  void note(const Rule& r) {
    for (const auto& c : r.conditions) {
      if (c.kind == Condition::Kind::address) {
        touched_->prefixes.insert(touched_->prefixes.end(), c.prefixes.begin(), c.prefixes.end());
      } else if (c.kind == Condition::Kind::interface) {
        touched_->interface = true;
      }
    }
  }

  const Ruleset& rs_;
  const Packet& p_;
  Touched* touched_;
  std::map<std::pair<const Chain*, std::size_t>, Outcome> memo_;
};

int hook_stage(const std::string& hook) {
  if (hook == "ingress") return 0;
  if (hook == "prerouting") return 1;
  if (hook == "input") return 2;
  if (hook == "output") return 3;
  if (hook == "postrouting") return 4;
  return -1;
}

bool family_applies(const std::string& table_family, int family) {
  if (table_family == "inet" || table_family == "netdev") return true;
  if (table_family == "ip") return family == 4;
  if (table_family == "ip6") return family == 6;
  return false;  // arp, bridge
}

// The base chains a packet of `family` meets on the way in (reply=false) or
// on the way out (reply=true), in order.
std::vector<const Chain*> base_chains(const Ruleset& rs, int family, bool reply,
                                      const std::optional<std::string>& interface) {
  std::vector<const Chain*> out;
  for (const auto& c : rs.chains) {
    if (!c.hook) continue;
    int stage = hook_stage(*c.hook);
    if (stage < 0 || !family_applies(c.family, family)) continue;
    if (reply ? stage < 3 : stage > 2) continue;
    if (reply && c.type == "nat") continue;  // NAT chains see only a connection's first packet
    if (stage == 0 && !c.devices.empty() && interface && !interface->empty() &&
        std::find(c.devices.begin(), c.devices.end(), *interface) == c.devices.end()) {
      continue;  // an ingress chain of another device
    }
    out.push_back(&c);
  }
  std::stable_sort(out.begin(), out.end(), [](const Chain* a, const Chain* b) {
    int sa = hook_stage(*a->hook), sb = hook_stage(*b->hook);
    return sa != sb ? sa < sb : a->priority < b->priority;
  });
  return out;
}

struct Passage {
  bool may_pass = true;
  bool may_drop = false;
  std::string why;      // uncertainty
  std::string decided;  // the rule or policy that dropped / last accepted
};

Passage traverse(const Ruleset& rs, const Packet& p, bool reply, const std::optional<std::string>& interface,
                 Touched* touched) {
  Passage result;
  ChainWalker walker(rs, p, touched);
  for (const Chain* c : base_chains(rs, p.family, reply, interface)) {
    Outcome o = walker.walk(*c, 0, 0);
    bool policy_drop = c->policy == "drop";
    bool accepted = o.accept || (o.ret && !policy_drop);
    bool dropped = o.drop || (o.ret && policy_drop);
    if (o.unknown) accepted = dropped = true;
    std::string decided = !o.decided.empty() ? o.decided : "policy " + c->policy + " of " + c->qualified();
    if (o.ret && o.decided.empty()) decided = "policy " + c->policy + " of " + c->qualified();
    if (dropped && !accepted) {
      result.may_pass = false;
      result.may_drop = true;
      result.decided = decided;
      result.why.clear();
      return result;
    }
    if (dropped) {
      result.may_drop = true;
      if (result.why.empty()) result.why = !o.why.empty() ? o.why : decided;
    }
    if (accepted && !dropped) result.decided = decided;
  }
  return result;
}

}  // namespace

ExposureEvaluator::ExposureEvaluator(const Ruleset* ruleset, EvaluationContext context)
    : ruleset_(ruleset), context_(std::move(context)) {
  std::vector<Prefix> prefixes = context_.extra_prefixes;
  if (ruleset_ != nullptr) {
    for (const auto& c : ruleset_->chains) {
      for (const auto& r : c.rules) {
        for (const auto& cond : r.conditions) {
          if (cond.kind == Condition::Kind::address) prefixes.insert(prefixes.end(), cond.prefixes.begin(), cond.prefixes.end());
        }
      }
    }
  }
  classes4_ = source_classes(4, prefixes);
  classes6_ = source_classes(6, prefixes);
}

namespace {

// One connection attempt from `source` (unknown: nullopt) of `family` on
// `iface` (unknown: nullopt).
Reach evaluate_packet(const Ruleset* ruleset_, const Socket& socket, int family, const std::optional<Address>& source,
                      const std::optional<std::string>& iface, Touched* touched) {
  Reach reach;
  if (ruleset_ == nullptr) {
    reach.verdict = Verdict::exposed;
    reach.rule = "no nftables ruleset";
    return reach;
  }
  Packet in;
  in.family = family;
  in.l4 = socket.proto == "tcp" ? 6 : 17;
  in.dport = socket.port;
  in.saddr = source;
  if (!socket.wildcard()) {
    auto a = Address::parse(socket.address);
    if (a && a->family == 6 && family == 4 && socket.address.starts_with("::ffff:")) {
      a = Address::parse(socket.address.substr(7));
    }
    if (a && a->family == family) in.daddr = a;
  }
  in.iif = iface;
  in.oif = std::string();
  in.ct = kCtNew;
  Passage inbound = traverse(*ruleset_, in, false, iface, touched);
  if (!inbound.may_pass) {
    reach.verdict = Verdict::not_exposed;
    reach.rule = inbound.decided;
    return reach;
  }
  Packet out;
  out.family = in.family;
  out.l4 = in.l4;
  out.sport = socket.port;
  out.saddr = in.daddr;
  out.daddr = source;
  out.iif = std::string();
  out.oif = iface;
  out.ct = kCtEstablished;
  Passage reply = traverse(*ruleset_, out, true, iface, touched);
  if (!reply.may_pass) {
    reach.verdict = Verdict::not_exposed;
    reach.rule = "reply dropped: " + reply.decided;
    return reach;
  }
  if (inbound.may_drop || reply.may_drop) {
    reach.verdict = Verdict::undetermined;
    reach.rule = inbound.may_drop ? inbound.why : "reply: " + reply.why;
    return reach;
  }
  reach.verdict = Verdict::exposed;
  reach.rule = inbound.decided;
  return reach;
}

}  // namespace

Reach ExposureEvaluator::evaluate_one(const Socket& socket, const Address& source, const std::string& interface) const {
  std::optional<std::string> iface;
  if (!interface.empty()) iface = interface;
  Reach reach = evaluate_packet(ruleset_, socket, source.family, source, iface, nullptr);
  reach.interface = interface;
  reach.source.network = Prefix{source, source.bits()};
  reach.source.representative = source;
  return reach;
}

Exposure ExposureEvaluator::evaluate(const Socket& socket) const {
  Exposure e;
  if (socket.loopback_only()) {
    e.verdict = Verdict::not_exposed;
    e.reason = "bound to loopback only";
    return e;
  }
  std::vector<int> families;
  if (socket.takes_ipv4()) families.push_back(4);
  if (socket.takes_ipv6()) families.push_back(6);
  for (int family : families) {
    // First with the source and interface unknown: when nothing depended on
    // them, one verdict holds for every source ("any", interface "").
    Touched touched;
    Reach any = evaluate_packet(ruleset_, socket, family, std::nullopt, std::nullopt, &touched);
    if (touched.prefixes.empty() && !touched.interface) {
      any.source = source_classes(family, {}).front();
      e.reaches.push_back(std::move(any));
      continue;
    }
    // Otherwise per class of the prefixes that mattered for this socket (and
    // the allow-list's), per interface when an interface match mattered.
    std::vector<Prefix> prefixes = context_.extra_prefixes;
    prefixes.insert(prefixes.end(), touched.prefixes.begin(), touched.prefixes.end());
    std::vector<std::string> interfaces;
    if (touched.interface) interfaces = context_.interfaces;
    if (interfaces.empty()) interfaces.emplace_back();
    for (const auto& cls : source_classes(family, std::move(prefixes))) {
      for (const auto& iface : interfaces) {
        Reach r = evaluate_one(socket, cls.representative, iface);
        r.source = cls;
        e.reaches.push_back(std::move(r));
      }
    }
  }
  bool any_exposed = false, any_undetermined = false;
  for (const auto& r : e.reaches) {
    any_exposed |= r.verdict == Verdict::exposed;
    any_undetermined |= r.verdict == Verdict::undetermined;
  }
  if (any_exposed) {
    e.verdict = Verdict::exposed;
    auto to = e.exposed_to();
    e.reason = "reachable from ";
    for (std::size_t i = 0; i < to.size(); ++i) e.reason += (i ? "; " : "") + to[i].to_string();
  } else if (any_undetermined) {
    e.verdict = Verdict::undetermined;
    for (const auto& r : e.reaches) {
      if (r.verdict == Verdict::undetermined) {
        e.reason = "depends on a rule the evaluator cannot decide: " + r.rule;
        break;
      }
    }
  } else {
    e.verdict = Verdict::not_exposed;
    e.reason = ruleset_ ? "blocked by the firewall" : "not reachable";
    for (const auto& r : e.reaches) {
      if (!r.rule.empty()) {
        e.reason = "blocked: " + r.rule;
        break;
      }
    }
  }
  return e;
}

bool has_input_filter(const Ruleset& ruleset) {
  for (const auto& c : ruleset.chains) {
    if (!c.hook || c.type == "nat") continue;
    int stage = hook_stage(*c.hook);
    if (stage >= 0 && stage <= 2 && (c.policy == "drop" || !c.rules.empty())) return true;
  }
  return false;
}

bool input_policy_accept(const Ruleset& ruleset) {
  for (const auto& c : ruleset.chains) {
    if (c.hook && hook_stage(*c.hook) >= 0 && hook_stage(*c.hook) <= 2 && c.type != "nat" && c.policy == "drop") {
      return false;
    }
  }
  return true;
}

std::string close_command(const Socket& socket, const Ruleset* ruleset) {
  std::string match = socket.proto + " dport " + std::to_string(socket.port);
  std::vector<int> families;
  if (socket.takes_ipv4()) families.push_back(4);
  if (socket.takes_ipv6()) families.push_back(6);
  // Prefer one inet input chain covering both families.
  const Chain* inet = nullptr;
  std::map<int, const Chain*> per_family;
  if (ruleset != nullptr) {
    for (const auto& c : ruleset->chains) {
      if (!c.hook || *c.hook != "input" || c.type != "filter") continue;
      if (c.family == "inet" && inet == nullptr) inet = &c;
      if (c.family == "ip" && !per_family.contains(4)) per_family[4] = &c;
      if (c.family == "ip6" && !per_family.contains(6)) per_family[6] = &c;
    }
  }
  auto quote = [](const std::string& s) {
    bool plain = std::all_of(s.begin(), s.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-'; });
    return plain ? s : "'" + s + "'";
  };
  auto insert = [&](const Chain& c, const std::string& prefix) {
    return "nft insert rule " + c.family + " " + quote(c.table) + " " + quote(c.name) + " " + prefix +
           "iifname != \"lo\" " + match + " drop";
  };
  std::string l3;
  if (families.size() == 1) l3 = families[0] == 4 ? "meta nfproto ipv4 " : "meta nfproto ipv6 ";
  if (inet != nullptr) return insert(*inet, l3);
  std::string out;
  bool all = true;
  for (int f : families) {
    auto it = per_family.find(f);
    if (it == per_family.end()) {
      all = false;
      break;
    }
    out += (out.empty() ? "" : " && ") + insert(*it->second, "");
  }
  if (all && !out.empty()) return out;
  return "nft add table inet filter && nft add chain inet filter input '{ type filter hook input priority 0; policy "
         "accept; }' && nft insert rule inet filter input " + l3 + "iifname != \"lo\" " + match + " drop";
}

}  // namespace privstack::hostaudit
