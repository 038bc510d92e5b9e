// The nftables ruleset, read from its JSON form (libnftables-json(5)) as
// printed by `nft -j list ruleset`, into a compiled model the exposure
// evaluator walks. libnftables is GPL-2.0 and is not linked: the nft
// executable runs with a fixed argv, an empty environment and no shell.
//
// Only what decides whether a new connection from outside reaches a local
// socket is modelled precisely (hooks, priorities, policies, interface,
// address, port, protocol and conntrack-state matches, sets, verdicts,
// jumps). Everything else is kept as "unknown" with the rule's text, so the
// evaluator can say "undetermined" and quote it instead of guessing.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace privstack::hostaudit {

struct Address {
  int family = 4;  // 4 or 6
  std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes
  static std::optional<Address> parse(std::string_view text);
  std::string to_string() const;
  int bits() const { return family == 4 ? 32 : 128; }
  bool operator==(const Address&) const = default;
  auto operator<=>(const Address&) const = default;
};

struct Prefix {
  Address address;  // host bits zero
  int length = 0;
  static std::optional<Prefix> parse(std::string_view text);  // "10.0.0.0/8", "fd00::/64", "1.2.3.4"
  bool contains(const Address& a) const;
  bool contains(const Prefix& p) const { return p.length >= length && contains(p.address); }
  std::string to_string() const;
  bool operator==(const Prefix&) const = default;
  auto operator<=>(const Prefix&) const = default;
};
// The smallest list of prefixes covering [first, last] (same family).
std::vector<Prefix> range_to_prefixes(const Address& first, const Address& last);

// One condition of a rule, evaluated three-valued against a packet.
struct Condition {
  enum class Kind {
    l4proto,   // values: protocol numbers (6 tcp, 17 udp, ...)
    nfproto,   // values: 4 or 6
    port,      // field "sport"/"dport" of header `header` ("tcp", "udp", "th")
    address,   // field "saddr"/"daddr" of family `family`
    interface, // "iifname"/"oifname" (names or globs)
    ct_state,  // mask of kCt* bits
    never,     // a header the packet cannot have (icmp type on a tcp packet is "no")
    unknown,   // cannot be decided: `text`
  };
  Kind kind = Kind::unknown;
  bool negate = false;          // "!=" (for ct_state: "none of")
  std::string field;            // "sport"/"dport", "saddr"/"daddr", "iifname"/"oifname"
  std::string header;           // port: "tcp", "udp", "th"; never: the header's protocol name
  int family = 0;               // address: 4 or 6
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;  // port ranges, l4proto, nfproto
  std::vector<Prefix> prefixes;  // address
  std::vector<std::string> names;  // interface (may hold '*' globs)
  unsigned ct_mask = 0;
  bool dynamic = false;  // references a dynamic set: membership unknown
  std::string text;      // what could not be decided
  // Derived from header/field when the ruleset is parsed (the evaluator's hot path).
  std::uint8_t header_l4 = 0;  // port: 6 tcp, 17 udp, 0 any ("th")
  bool source_side = false;    // "sport"/"saddr"/"iifname"
};

inline constexpr unsigned kCtNew = 1, kCtEstablished = 2, kCtRelated = 4, kCtInvalid = 8, kCtUntracked = 16;

struct Effect {
  enum class Kind { none, accept, drop, jump, go_to, ret, unknown } kind = Kind::none;
  std::string target;  // jump/goto chain
  std::string text;    // unknown: the statement
};

// A verdict map entry turned into a rule: `key == value -> verdict`.
struct Rule {
  std::vector<Condition> conditions;  // all must hold
  Effect effect;
  std::string text;    // the rule in nft syntax, for quoting
  std::int64_t handle = 0;
};

struct Chain {
  std::string family, table, name;
  std::optional<std::string> hook;  // base chains: "input", "prerouting", "ingress", "output", ...
  std::string type;                 // "filter", "nat", "route"
  int priority = 0;
  std::string policy = "accept";
  std::vector<std::string> devices;  // netdev/inet ingress chains: the devices they see
  std::vector<Rule> rules;
  std::string qualified() const { return family + " " + table + " " + name; }
};

struct Ruleset {
  std::vector<Chain> chains;
  std::string nft_version;
  // Canonical text of what affects filtering (no counters, no handles), for drift detection.
  std::string canonical;
  std::string fingerprint() const;  // hex SHA-256 of canonical
  // Chain lookup in the same table: nullptr when absent.
  const Chain* find(const std::string& family, const std::string& table, const std::string& name) const;
  std::size_t rule_count() const;
};

class NftError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses `nft -j list ruleset` output. Throws NftError on malformed JSON or
// an unexpected top-level shape; unknown expressions become "unknown"
// conditions, never errors.
Ruleset parse_ruleset(std::string_view json_text);

// Runs `nft -j list ruleset` (the first of /usr/sbin/nft, /sbin/nft that
// exists, or `nft_path`). nullopt when nft is not installed; throws NftError
// when it fails (stderr quoted). Needs CAP_NET_ADMIN (docs/hostaudit.md):
// it is raised into the child's ambient set only, when the process holds it.
std::optional<std::string> run_nft_list_ruleset(const std::string& nft_path = {});

}  // namespace privstack::hostaudit
