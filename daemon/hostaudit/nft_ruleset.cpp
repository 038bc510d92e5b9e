#include "hostaudit/nft_ruleset.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/encoding.h"

namespace privstack::hostaudit {

namespace json = boost::json;

// ------------------------------------------------------------------ addresses

std::optional<Address> Address::parse(std::string_view text) {
  std::string s(text);
  Address a;
  if (s.find(':') != std::string::npos) {
    a.family = 6;
    if (::inet_pton(AF_INET6, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  } else {
    a.family = 4;
    if (::inet_pton(AF_INET, s.c_str(), a.bytes.data()) != 1) return std::nullopt;
  }
  return a;
}

std::string Address::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

namespace {
bool bit(const Address& a, int i) { return (a.bytes[static_cast<size_t>(i / 8)] >> (7 - i % 8)) & 1; }
void set_bit(Address& a, int i, bool v) {
  auto& b = a.bytes[static_cast<size_t>(i / 8)];
  auto mask = static_cast<std::uint8_t>(1u << (7 - i % 8));
  b = v ? static_cast<std::uint8_t>(b | mask) : static_cast<std::uint8_t>(b & ~mask);
}
Address masked(Address a, int length) {
  for (int i = length; i < a.bits(); ++i) set_bit(a, i, false);
  return a;
}
}  // namespace

std::optional<Prefix> Prefix::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = Address::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  int length = addr->bits();
  if (slash != std::string_view::npos) {
    std::string len(text.substr(slash + 1));
    if (len.empty() || len.size() > 3 || !std::all_of(len.begin(), len.end(), ::isdigit)) return std::nullopt;
    length = std::stoi(len);
    if (length > addr->bits()) return std::nullopt;
  }
  return Prefix{masked(*addr, length), length};
}

bool Prefix::contains(const Address& a) const {
  if (a.family != address.family) return false;
  for (int i = 0; i < length; ++i) {
    if (bit(a, i) != bit(address, i)) return false;
  }
  return true;
}

std::string Prefix::to_string() const { return address.to_string() + "/" + std::to_string(length); }

std::vector<Prefix> range_to_prefixes(const Address& first, const Address& last) {
  std::vector<Prefix> out;
  if (first.family != last.family || last < first) return out;
  Address cur = first;
  int bits = first.bits();
  for (int guard = 0; guard < 300; ++guard) {
    // Largest aligned block starting at cur that does not pass last.
    int length = bits;
    while (length > 0) {
      int l = length - 1;
      // cur must be aligned to l.
      bool aligned = true;
      for (int i = l; i < bits; ++i) {
        if (bit(cur, i)) {
          aligned = false;
          break;
        }
      }
      if (!aligned) break;
      Address end = cur;
      for (int i = l; i < bits; ++i) set_bit(end, i, true);
      if (last < end) break;
      length = l;
    }
    out.push_back(Prefix{cur, length});
    Address end = cur;
    for (int i = length; i < bits; ++i) set_bit(end, i, true);
    if (end == last) break;
    // cur = end + 1
    cur = end;
    for (int i = bits - 1; i >= 0; --i) {
      if (bit(cur, i)) {
        set_bit(cur, i, false);
      } else {
        set_bit(cur, i, true);
        break;
      }
    }
  }
  return out;
}

// ------------------------------------------------------------------ rendering

namespace {

std::string str(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

// A member as str() renders it, "?" when absent: nft always prints the
// members rendered here, but input that lacks one is rendered, not thrown
// out of parse_ruleset (whose only error is NftError).
std::string str_member(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? str(*v) : "?";
}

std::string render_value(const json::value& v);

std::string render_elements(const json::array& a) {
  std::string s = "{ ";
  for (std::size_t i = 0; i < a.size(); ++i) s += (i ? ", " : "") + render_value(a[i]);
  return s + " }";
}

std::string render_value(const json::value& v) {
  if (v.is_string()) {
    std::string s(v.as_string());
    return s;
  }
  if (v.is_int64() || v.is_uint64() || v.is_double()) return json::serialize(v);
  if (v.is_array()) {
    // ct state lists, or a [key, value] pair of a map
    std::string s;
    const auto& a = v.as_array();
    for (std::size_t i = 0; i < a.size(); ++i) s += (i ? "," : "") + render_value(a[i]);
    return s;
  }
  if (v.is_object()) {
    const auto& o = v.as_object();
    if (auto* p = o.if_contains("prefix"); p && p->is_object()) {
      const auto& po = p->as_object();
      return render_value(po.contains("addr") ? po.at("addr") : json::value()) + "/" +
             (po.contains("len") ? json::serialize(po.at("len")) : "?");
    }
    if (auto* r = o.if_contains("range"); r && r->is_array() && r->as_array().size() == 2) {
      return render_value(r->as_array()[0]) + "-" + render_value(r->as_array()[1]);
    }
    if (auto* s = o.if_contains("set"); s) {
      if (s->is_array()) return render_elements(s->as_array());
      return render_value(*s);
    }
    if (auto* e = o.if_contains("elem"); e && e->is_object() && e->as_object().contains("val")) {
      return render_value(e->as_object().at("val"));
    }
    if (auto* p = o.if_contains("payload"); p && p->is_object()) {
      const auto& po = p->as_object();
      if (po.contains("protocol") && po.contains("field")) return str(po.at("protocol")) + " " + str(po.at("field"));
      return "payload " + json::serialize(*p);
    }
    if (auto* m = o.if_contains("meta"); m && m->is_object() && m->as_object().contains("key")) {
      std::string key = str(m->as_object().at("key"));
      if (key == "iifname" || key == "oifname" || key == "iif" || key == "oif") return key;
      return "meta " + key;
    }
    if (auto* c = o.if_contains("ct"); c && c->is_object() && c->as_object().contains("key")) {
      return "ct " + str(c->as_object().at("key"));
    }
    if (auto* c = o.if_contains("concat"); c && c->is_array()) {
      std::string s;
      for (std::size_t i = 0; i < c->as_array().size(); ++i) s += (i ? " . " : "") + render_value(c->as_array()[i]);
      return s;
    }
    for (const char* verdict : {"accept", "drop", "continue", "return"}) {
      if (o.contains(verdict)) return verdict;
    }
    if (auto* j = o.if_contains("jump"); j && j->is_object()) return "jump " + str_member(j->as_object(), "target");
    if (auto* g = o.if_contains("goto"); g && g->is_object()) return "goto " + str_member(g->as_object(), "target");
  }
  return json::serialize(v);
}

std::string render_statement(const json::object& o) {
  if (o.empty()) return "{}";
  const auto& [key_sv, val] = *o.begin();
  std::string key(key_sv);
  if (key == "match" && val.is_object()) {
    const auto& m = val.as_object();
    std::string op = m.contains("op") ? str(m.at("op")) : "==";
    std::string left = m.contains("left") ? render_value(m.at("left")) : "?";
    std::string right = m.contains("right") ? render_value(m.at("right")) : "?";
    if (left.find(' ') == std::string::npos && left != "iifname" && left != "oifname" && left != "iif" &&
        left != "oif" && m.contains("right") && m.at("right").is_string()) {
      right = "\"" + right + "\"";
    } else if ((left == "iifname" || left == "oifname") && m.contains("right") && m.at("right").is_string()) {
      right = "\"" + right + "\"";
    }
    if (op == "==" || op == "in") return left + " " + right;
    return left + " " + op + " " + right;
  }
  if (key == "accept" || key == "drop" || key == "return" || key == "continue") return key;
  if (key == "counter") return "counter";
  if (key == "jump" || key == "goto") return val.is_object() ? key + " " + str_member(val.as_object(), "target") : key;
  if (key == "reject") {
    if (val.is_object() && val.as_object().contains("type")) return "reject with " + str(val.as_object().at("type"));
    return "reject";
  }
  if (key == "xt" && val.is_object()) {
    const auto& x = val.as_object();
    return "xt " + str_member(x, "type") + " " + str_member(x, "name");
  }
  if (key == "vmap" && val.is_object()) {
    const auto& x = val.as_object();
    std::string s = (x.contains("key") ? render_value(x.at("key")) : "?") + " vmap ";
    if (x.contains("data")) {
      const auto& d = x.at("data");
      if (d.is_object() && d.as_object().contains("set") && d.as_object().at("set").is_array()) {
        s += "{ ";
        bool first = true;
        for (const auto& e : d.as_object().at("set").as_array()) {
          if (e.is_array() && e.as_array().size() == 2) {
            s += (first ? "" : ", ") + render_value(e.as_array()[0]) + " : " + render_value(e.as_array()[1]);
            first = false;
          }
        }
        s += " }";
      } else {
        s += render_value(d);
      }
    }
    return s;
  }
  if (val.is_null()) return key;
  return key + " " + json::serialize(val);
}

// ------------------------------------------------------------------ compiling

struct SetInfo {
  std::string type;
  bool dynamic = false;
  bool is_verdict_map = false;
  json::array elements;  // set: values; verdict map: [key, verdict] pairs
};
using Sets = std::map<std::string, SetInfo>;  // "family table name"

std::optional<std::uint32_t> as_uint(const json::value& v) {
  if (v.is_int64() && v.as_int64() >= 0 && v.as_int64() <= 0xffffffff) return static_cast<std::uint32_t>(v.as_int64());
  if (v.is_uint64() && v.as_uint64() <= 0xffffffff) return static_cast<std::uint32_t>(v.as_uint64());
  if (v.is_string()) {
    std::string s(v.as_string());
    if (!s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), ::isdigit)) return static_cast<std::uint32_t>(std::stoul(s));
  }
  return std::nullopt;
}

std::optional<std::uint32_t> proto_number(const json::value& v) {
  if (auto n = as_uint(v)) return n;
  if (!v.is_string()) return std::nullopt;
  static const std::map<std::string, std::uint32_t> names = {
      {"tcp", 6}, {"udp", 17}, {"icmp", 1}, {"icmpv6", 58}, {"ipv6-icmp", 58}, {"sctp", 132}, {"dccp", 33},
      {"udplite", 136}, {"esp", 50}, {"ah", 51}, {"gre", 47}, {"igmp", 2}, {"comp", 108}};
  auto it = names.find(std::string(v.as_string()));
  if (it == names.end()) return std::nullopt;
  return it->second;
}

// Flattens a right-hand side into its elements: a literal, a {"set": [...]},
// an array, or "@name" (resolved in `sets`). `dynamic` set when the named set
// changes at run time. nullopt when the reference cannot be resolved.
std::optional<std::vector<json::value>> elements_of(const json::value& right, const Sets& sets,
                                                    const std::string& scope, bool& dynamic) {
  std::vector<json::value> out;
  auto add = [&](const json::value& e) {
    if (e.is_object() && e.as_object().contains("elem") && e.as_object().at("elem").is_object() &&
        e.as_object().at("elem").as_object().contains("val")) {
      out.push_back(e.as_object().at("elem").as_object().at("val"));
    } else {
      out.push_back(e);
    }
  };
  if (right.is_string() && right.as_string().starts_with("@")) {
    std::string name(right.as_string().subview(1));
    auto it = sets.find(scope + " " + name);
    if (it == sets.end() || it->second.is_verdict_map) return std::nullopt;
    dynamic = it->second.dynamic;
    for (const auto& e : it->second.elements) add(e);
    return out;
  }
  if (right.is_object() && right.as_object().contains("set")) {
    const auto& s = right.as_object().at("set");
    if (s.is_array()) {
      for (const auto& e : s.as_array()) add(e);
    } else {
      add(s);
    }
    return out;
  }
  if (right.is_array()) {
    for (const auto& e : right.as_array()) add(e);
    return out;
  }
  add(right);
  return out;
}

Condition unknown_condition(std::string text) {
  Condition c;
  c.kind = Condition::Kind::unknown;
  c.text = std::move(text);
  return c;
}

// Compiles one "match" into conditions (ANDed).
std::vector<Condition> compile_match(const json::object& m, const Sets& sets, const std::string& scope,
                                     const std::string& text) {
  std::string op = m.contains("op") ? str(m.at("op")) : "==";
  if (!m.contains("left") || !m.contains("right")) return {unknown_condition(text)};
  const json::value& left = m.at("left");
  const json::value& right = m.at("right");
  bool negate = op == "!=";
  if (op != "==" && op != "!=" && op != "in") return {unknown_condition(text)};
  bool dynamic = false;
  auto elements = elements_of(right, sets, scope, dynamic);
  if (!elements) return {unknown_condition(text)};
  if (dynamic) {
    Condition c = unknown_condition(text);
    return {c};
  }
  if (!left.is_object()) return {unknown_condition(text)};
  const auto& lo = left.as_object();

  if (auto* meta = lo.if_contains("meta"); meta && meta->is_object() && meta->as_object().contains("key")) {
    std::string key = str(meta->as_object().at("key"));
    Condition c;
    c.negate = negate;
    if (key == "l4proto") {
      c.kind = Condition::Kind::l4proto;
      for (const auto& e : *elements) {
        auto n = proto_number(e);
        if (!n) return {unknown_condition(text)};
        c.ranges.emplace_back(*n, *n);
      }
      return {c};
    }
    if (key == "nfproto" || key == "protocol") {
      c.kind = Condition::Kind::nfproto;
      for (const auto& e : *elements) {
        std::string v = e.is_string() ? std::string(e.as_string()) : "";
        if (v == "ipv4" || v == "ip") {
          c.ranges.emplace_back(4, 4);
        } else if (v == "ipv6" || v == "ip6") {
          c.ranges.emplace_back(6, 6);
        } else if (key == "protocol") {
          c.ranges.emplace_back(0, 0);  // another ethertype (arp, ...): never ours
        } else {
          return {unknown_condition(text)};
        }
      }
      return {c};
    }
    if (key == "iifname" || key == "oifname" || key == "iif" || key == "oif") {
      c.kind = Condition::Kind::interface;
      c.field = key.starts_with("i") ? "iifname" : "oifname";
      for (const auto& e : *elements) {
        if (!e.is_string()) return {unknown_condition(text)};  // an index number
        c.names.emplace_back(e.as_string());
      }
      return {c};
    }
    return {unknown_condition(text)};
  }

  if (auto* ct = lo.if_contains("ct"); ct && ct->is_object() && ct->as_object().contains("key")) {
    std::string key = str(ct->as_object().at("key"));
    if (key != "state" || ct->as_object().contains("dir")) return {unknown_condition(text)};
    Condition c;
    c.kind = Condition::Kind::ct_state;
    c.negate = negate;
    for (const auto& e : *elements) {
      std::string v = e.is_string() ? std::string(e.as_string()) : "";
      if (v == "new") c.ct_mask |= kCtNew;
      else if (v == "established") c.ct_mask |= kCtEstablished;
      else if (v == "related") c.ct_mask |= kCtRelated;
      else if (v == "invalid") c.ct_mask |= kCtInvalid;
      else if (v == "untracked") c.ct_mask |= kCtUntracked;
      else return {unknown_condition(text)};
    }
    return {c};
  }

  if (auto* pl = lo.if_contains("payload"); pl && pl->is_object()) {
    const auto& p = pl->as_object();
    if (!p.contains("protocol") || !p.contains("field")) return {unknown_condition(text)};
    std::string proto = str(p.at("protocol"));
    std::string field = str(p.at("field"));
    if (proto == "ip" || proto == "ip6") {
      int family = proto == "ip" ? 4 : 6;
      Condition fam;
      fam.kind = Condition::Kind::nfproto;
      fam.ranges.emplace_back(family, family);
      if (field == "saddr" || field == "daddr") {
        Condition c;
        c.kind = Condition::Kind::address;
        c.negate = negate;
        c.field = field;
        c.family = family;
        for (const auto& e : *elements) {
          if (e.is_string()) {
            auto pr = Prefix::parse(e.as_string());
            if (!pr || pr->address.family != family) return {fam, unknown_condition(text)};
            c.prefixes.push_back(*pr);
          } else if (e.is_object() && e.as_object().contains("prefix")) {
            const auto& po = e.as_object().at("prefix");
            if (!po.is_object() || !po.as_object().contains("addr") || !po.as_object().contains("len")) {
              return {fam, unknown_condition(text)};
            }
            auto pr = Prefix::parse(str(po.as_object().at("addr")) + "/" + json::serialize(po.as_object().at("len")));
            if (!pr || pr->address.family != family) return {fam, unknown_condition(text)};
            c.prefixes.push_back(*pr);
          } else if (e.is_object() && e.as_object().contains("range") && e.as_object().at("range").is_array() &&
                     e.as_object().at("range").as_array().size() == 2) {
            const auto& r = e.as_object().at("range").as_array();
            auto a = Address::parse(str(r[0]));
            auto b = Address::parse(str(r[1]));
            if (!a || !b || a->family != family || b->family != family) return {fam, unknown_condition(text)};
            for (const auto& pr : range_to_prefixes(*a, *b)) c.prefixes.push_back(pr);
          } else {
            return {fam, unknown_condition(text)};
          }
        }
        return {fam, c};
      }
      if ((proto == "ip" && field == "protocol") || (proto == "ip6" && field == "nexthdr")) {
        Condition c;
        c.kind = Condition::Kind::l4proto;
        c.negate = negate;
        for (const auto& e : *elements) {
          auto n = proto_number(e);
          if (!n) return {fam, unknown_condition(text)};
          c.ranges.emplace_back(*n, *n);
        }
        return {fam, c};
      }
      return {fam, unknown_condition(text)};
    }
    if (proto == "tcp" || proto == "udp" || proto == "th") {
      if (field != "sport" && field != "dport") {
        std::vector<Condition> out;
        if (proto != "th") {
          Condition l4;
          l4.kind = Condition::Kind::l4proto;
          std::uint32_t n = proto == "tcp" ? 6 : 17;
          l4.ranges.emplace_back(n, n);
          out.push_back(l4);
        }
        out.push_back(unknown_condition(text));
        return out;
      }
      Condition c;
      c.kind = Condition::Kind::port;
      c.negate = negate;
      c.header = proto;
      c.field = field;
      for (const auto& e : *elements) {
        if (auto n = as_uint(e)) {
          c.ranges.emplace_back(*n, *n);
        } else if (e.is_object() && e.as_object().contains("range") && e.as_object().at("range").is_array() &&
                   e.as_object().at("range").as_array().size() == 2) {
          auto a = as_uint(e.as_object().at("range").as_array()[0]);
          auto b = as_uint(e.as_object().at("range").as_array()[1]);
          if (!a || !b) return {unknown_condition(text)};
          c.ranges.emplace_back(*a, *b);
        } else {
          return {unknown_condition(text)};  // a service name, a concatenation, ...
        }
      }
      return {c};
    }
    // Another header (icmp, icmpv6, sctp, ah, esp, ether, ...): present only on
    // packets of that protocol, never on the TCP/UDP connections audited here.
    static const std::vector<std::string> l4_headers = {"icmp", "icmpv6", "sctp", "dccp", "udplite", "ah",
                                                        "esp",  "comp",   "igmp", "gre",  "arp"};
    if (std::find(l4_headers.begin(), l4_headers.end(), proto) != l4_headers.end()) {
      Condition c;
      c.kind = Condition::Kind::never;
      c.header = proto;
      return {c};
    }
    return {unknown_condition(text)};
  }
  return {unknown_condition(text)};
}

Effect verdict_effect(const json::value& v) {
  Effect e;
  if (!v.is_object() || v.as_object().empty()) {
    e.kind = Effect::Kind::unknown;
    e.text = render_value(v);
    return e;
  }
  const auto& o = v.as_object();
  if (o.contains("accept")) e.kind = Effect::Kind::accept;
  else if (o.contains("drop")) e.kind = Effect::Kind::drop;
  else if (o.contains("return")) e.kind = Effect::Kind::ret;
  else if (o.contains("continue")) e.kind = Effect::Kind::none;
  else if (auto* j = o.if_contains("jump"); j && j->is_object() && j->as_object().contains("target")) {
    e.kind = Effect::Kind::jump;
    e.target = str(j->as_object().at("target"));
  } else if (auto* g = o.if_contains("goto"); g && g->is_object() && g->as_object().contains("target")) {
    e.kind = Effect::Kind::go_to;
    e.target = str(g->as_object().at("target"));
  } else {
    e.kind = Effect::Kind::unknown;
    e.text = render_value(v);
  }
  return e;
}

// Compiles one JSON rule into one or more rules (a vmap becomes one per entry).
void compile_rule(const json::object& r, const Sets& sets, const std::string& scope, std::vector<Rule>& out) {
  Rule rule;
  if (auto* h = r.if_contains("handle"); h && h->is_int64()) rule.handle = h->as_int64();
  const json::array empty;
  const json::array& exprs = r.contains("expr") && r.at("expr").is_array() ? r.at("expr").as_array() : empty;
  std::string text;
  for (const auto& e : exprs) {
    if (!e.is_object()) continue;
    std::string piece = render_statement(e.as_object());
    text += (text.empty() ? "" : " ") + piece;
  }
  rule.text = text;

  for (const auto& ev : exprs) {
    if (!ev.is_object() || ev.as_object().empty()) continue;
    const auto& o = ev.as_object();
    const auto& [key_sv, val] = *o.begin();
    std::string key(key_sv);
    std::string piece = render_statement(o);
    if (rule.effect.kind != Effect::Kind::none) break;  // nothing after a verdict runs
    if (key == "match" && val.is_object()) {
      for (auto& c : compile_match(val.as_object(), sets, scope, piece)) rule.conditions.push_back(std::move(c));
    } else if (key == "accept" || key == "drop" || key == "return" || key == "jump" || key == "goto" ||
               key == "continue") {
      rule.effect = verdict_effect(ev);
    } else if (key == "reject") {
      rule.effect.kind = Effect::Kind::drop;
    } else if (key == "counter" || key == "log" || key == "mangle" || key == "meta" || key == "notrack" ||
               key == "ct helper" || key == "comment") {
      // No effect on whether this packet passes (notrack changes ct state
      // only for the untracked state, which new connections never match here).
      if (key == "notrack") rule.conditions.push_back(unknown_condition(piece));
    } else if (key == "xt" && val.is_object()) {
      std::string type = val.as_object().contains("type") ? str(val.as_object().at("type")) : "";
      std::string name = val.as_object().contains("name") ? str(val.as_object().at("name")) : "";
      if (type == "target" && name == "REJECT") {
        rule.effect.kind = Effect::Kind::drop;
      } else if (type == "target") {
        rule.effect.kind = Effect::Kind::unknown;
        rule.effect.text = piece;
      } else {
        rule.conditions.push_back(unknown_condition(piece));  // iptables match the JSON does not describe
      }
    } else if (key == "vmap" && val.is_object()) {
      const auto& vm = val.as_object();
      std::vector<json::value> pairs;
      bool ok = vm.contains("key") && vm.contains("data");
      if (ok) {
        const auto& d = vm.at("data");
        if (d.is_string() && d.as_string().starts_with("@")) {
          auto it = sets.find(scope + " " + std::string(d.as_string().subview(1)));
          if (it == sets.end() || !it->second.is_verdict_map || it->second.dynamic) {
            ok = false;
          } else {
            for (const auto& p : it->second.elements) pairs.push_back(p);
          }
        } else if (d.is_object() && d.as_object().contains("set") && d.as_object().at("set").is_array()) {
          for (const auto& p : d.as_object().at("set").as_array()) pairs.push_back(p);
        } else {
          ok = false;
        }
      }
      if (!ok) {
        rule.effect.kind = Effect::Kind::unknown;
        rule.effect.text = piece;
        break;
      }
      for (const auto& p : pairs) {
        if (!p.is_array() || p.as_array().size() != 2) continue;
        json::object m;
        m["op"] = "==";
        m["left"] = vm.at("key");
        m["right"] = p.as_array()[0];
        Rule entry = rule;
        for (auto& c : compile_match(m, sets, scope, piece)) entry.conditions.push_back(std::move(c));
        entry.effect = verdict_effect(p.as_array()[1]);
        out.push_back(std::move(entry));
      }
      return;  // the vmap is the rule's last word
    } else if (key == "limit" || key == "quota" || key == "set" || key == "dynset" || key == "synproxy" ||
               key == "connlimit") {
      rule.conditions.push_back(unknown_condition(piece));
    } else {
      // dnat, redirect, tproxy, queue, fwd, dup, ...: changes where the packet goes.
      rule.effect.kind = Effect::Kind::unknown;
      rule.effect.text = piece;
    }
  }
  out.push_back(std::move(rule));
}

}  // namespace

std::string Ruleset::fingerprint() const {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(canonical.data(), canonical.size(), digest, &len, EVP_sha256(), nullptr);
  return hex_encode(ByteView(digest, len));
}

const Chain* Ruleset::find(const std::string& family, const std::string& table, const std::string& name) const {
  for (const auto& c : chains) {
    if (c.family == family && c.table == table && c.name == name) return &c;
  }
  return nullptr;
}

std::size_t Ruleset::rule_count() const {
  std::size_t n = 0;
  for (const auto& c : chains) n += c.rules.size();
  return n;
}

Ruleset parse_ruleset(std::string_view json_text) {
  json::value doc;
  try {
    doc = json::parse(json_text);
  } catch (const std::exception& e) {
    throw NftError(std::string("nft printed invalid JSON: ") + e.what());
  }
  if (!doc.is_object() || !doc.as_object().contains("nftables") || !doc.as_object().at("nftables").is_array()) {
    throw NftError("nft JSON has no \"nftables\" array");
  }
  const auto& items = doc.as_object().at("nftables").as_array();
  Ruleset rs;
  Sets sets;
  auto scope_of = [](const json::object& o) {
    return (o.contains("family") ? str(o.at("family")) : "") + " " + (o.contains("table") ? str(o.at("table")) : "");
  };
  // Pass 1: chains and sets.
  for (const auto& item : items) {
    if (!item.is_object()) continue;
    const auto& io = item.as_object();
    if (auto* mi = io.if_contains("metainfo"); mi && mi->is_object() && mi->as_object().contains("version")) {
      rs.nft_version = str(mi->as_object().at("version"));
    }
    for (const char* kind : {"set", "map"}) {
      auto* s = io.if_contains(kind);
      if (!s || !s->is_object()) continue;
      const auto& so = s->as_object();
      SetInfo info;
      info.type = so.contains("type") ? render_value(so.at("type")) : "";
      if (auto* f = so.if_contains("flags")) {
        std::string flags = json::serialize(*f);
        info.dynamic = flags.find("dynamic") != std::string::npos;
      }
      info.is_verdict_map = std::string(kind) == "map" && so.contains("map") && str(so.at("map")) == "verdict";
      if (std::string(kind) == "map" && !info.is_verdict_map) continue;
      if (auto* el = so.if_contains("elem"); el && el->is_array()) info.elements = el->as_array();
      std::string name = so.contains("name") ? str(so.at("name")) : "";
      rs.canonical += std::string(kind) + " " + scope_of(so) + " " + name + " " + info.type +
                      (info.dynamic ? " dynamic" : "") + " " + json::serialize(info.elements) + "\n";
      sets[scope_of(so) + " " + name] = std::move(info);
    }
    if (auto* c = io.if_contains("chain"); c && c->is_object()) {
      const auto& co = c->as_object();
      Chain chain;
      chain.family = co.contains("family") ? str(co.at("family")) : "";
      chain.table = co.contains("table") ? str(co.at("table")) : "";
      chain.name = co.contains("name") ? str(co.at("name")) : "";
      if (co.contains("hook")) chain.hook = str(co.at("hook"));
      if (co.contains("type")) chain.type = str(co.at("type"));
      if (auto* p = co.if_contains("prio"); p && p->is_int64()) chain.priority = static_cast<int>(p->as_int64());
      if (co.contains("policy")) chain.policy = str(co.at("policy"));
      if (auto* d = co.if_contains("dev")) {
        if (d->is_string()) chain.devices.emplace_back(d->as_string());
        if (d->is_array()) {
          for (const auto& x : d->as_array()) chain.devices.push_back(str(x));
        }
      }
      rs.chains.push_back(std::move(chain));
    }
  }
  // Pass 2: rules, in listing order (which is evaluation order).
  for (const auto& item : items) {
    if (!item.is_object()) continue;
    auto* r = item.as_object().if_contains("rule");
    if (!r || !r->is_object()) continue;
    const auto& ro = r->as_object();
    std::string family = ro.contains("family") ? str(ro.at("family")) : "";
    std::string table = ro.contains("table") ? str(ro.at("table")) : "";
    std::string chain_name = ro.contains("chain") ? str(ro.at("chain")) : "";
    auto it = std::find_if(rs.chains.begin(), rs.chains.end(), [&](const Chain& c) {
      return c.family == family && c.table == table && c.name == chain_name;
    });
    if (it == rs.chains.end()) continue;
    std::size_t before = it->rules.size();
    compile_rule(ro, sets, family + " " + table, it->rules);
    for (std::size_t i = before; i < it->rules.size(); ++i) {
      if (i == before) {
        rs.canonical += "rule " + family + " " + table + " " + chain_name + " " + it->rules[i].text + "\n";
      }
      it->rules[i].text = family + " " + table + " " + chain_name + ": " + it->rules[i].text + " # handle " +
                          std::to_string(it->rules[i].handle);
    }
  }
  for (auto& c : rs.chains) {
    for (auto& r : c.rules) {
      for (auto& cond : r.conditions) {
        cond.header_l4 = cond.header == "tcp" ? 6 : cond.header == "udp" ? 17 : 0;
        cond.source_side = cond.field == "sport" || cond.field == "saddr" || cond.field == "iifname";
      }
    }
  }
  for (const auto& c : rs.chains) {
    rs.canonical += "chain " + c.qualified() + " " + c.hook.value_or("-") + " " + c.type + " " +
                    std::to_string(c.priority) + " " + c.policy;
    for (const auto& d : c.devices) rs.canonical += " dev " + d;
    rs.canonical += "\n";
  }
  return rs;
}

// ------------------------------------------------------------------ running nft

namespace {

// CAP_NET_ADMIN into the inheritable and ambient sets of this (child)
// process, when it is in the permitted set; exec then hands it to nft only.
void raise_net_admin_for_exec() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) return;
  constexpr unsigned cap = CAP_NET_ADMIN;
  if (!(data[0].permitted & (1u << cap))) return;  // root without caps dropped, or not granted
  data[0].inheritable |= 1u << cap;
  // The unit's SystemCallFilter=~@privileged makes capset fail (EPERM); the
  // inheritable set already holds the cap then (systemd puts ambient caps
  // there), so the ambient raise below still works.
  (void)::syscall(SYS_capset, &header, data);
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
}

}  // namespace

std::optional<std::string> run_nft_list_ruleset(const std::string& nft_path) {
  std::string path = nft_path;
  if (path.empty()) {
    for (const char* candidate : {"/usr/sbin/nft", "/sbin/nft"}) {
      if (::access(candidate, X_OK) == 0) {
        path = candidate;
        break;
      }
    }
    if (path.empty()) return std::nullopt;
  } else if (::access(path.c_str(), X_OK) != 0) {
    return std::nullopt;
  }
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw NftError(std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw NftError(std::string("pipe: ") + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    throw NftError(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_pipe[1], STDERR_FILENO);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    raise_net_admin_for_exec();
    const char* argv[] = {path.c_str(), "-j", "list", "ruleset", nullptr};
    const char* envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", nullptr};
    ::execve(path.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(envp));
    ::_exit(127);
  }
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  std::string out, err;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    int n = ::poll(fds, 2, 30000);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // timeout: nft hangs; give up below
    for (auto& p : fds) {
      if (p.fd < 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = ::read(p.fd, buf, sizeof buf);
      if (r > 0) {
        (p.fd == out_pipe[0] ? out : err).append(buf, static_cast<size_t>(r));
      } else if (r == 0 || (r < 0 && errno != EINTR)) {
        ::close(p.fd);
        p.fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& p : fds) {
    if (p.fd >= 0) ::close(p.fd);
  }
  int status = 0;
  if (open_fds > 0) ::kill(pid, SIGKILL);
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (open_fds > 0) throw NftError("nft -j list ruleset did not finish within 30 s");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    if (err.size() > 500) err.resize(500);
    throw NftError("nft -j list ruleset failed" + (err.empty() ? std::string() : ": " + err));
  }
  return out;
}

}  // namespace privstack::hostaudit
