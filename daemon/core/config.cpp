// Configuration loader: YAML text -> Config, collecting every problem.
//
// How it works:
//   1. yaml-cpp parses the text into a node tree. A syntax error stops
//      there (yaml-cpp cannot recover), and is the only problem reported.
//   2. One pass over the whole tree reports duplicate keys at any depth,
//      because yaml-cpp 0.7 keeps both pairs of `a: 1` / `a: 2` silently and
//      operator[] would just return the first one.
//   3. The schema walk (kConfigKeys below, one row per key) decodes each
//      value into Config, reporting unknown keys, wrong types and values out
//      of range. Only the first occurrence of a duplicated key is decoded.
//   4. Checks that involve several keys (tls pair, s3 requirements, ...).
//   5. Problems are sorted by position, so they come out in file order.
//
// Positions: yaml-cpp marks are 0-based; ConfigProblem is 1-based. A key that
// has no value (`port:`) gets the key's position, because yaml-cpp gives
// null nodes the position of the token after them (often the next line).
#include "core/config.h"

#include "core/crypto.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <sstream>
#include <string_view>
#include <tuple>
#include <variant>

#include "core/schedule.h"
#include "core/secret.h"

namespace privstack {

std::string ConfigProblem::to_string() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

std::optional<std::chrono::seconds> parse_duration(std::string_view text) {
  std::int64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  // from_chars accepts a leading '-'; a duration never has one.
  if (ec != std::errc() || end == text.data() || text.front() == '-') return std::nullopt;
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  std::int64_t multiplier = 0;
  if (unit.empty() || unit == "s") {
    multiplier = 1;
  } else if (unit == "m") {
    multiplier = 60;
  } else if (unit == "h") {
    multiplier = 3600;
  } else if (unit == "d") {
    multiplier = 86400;
  } else {
    return std::nullopt;
  }
  if (number > std::numeric_limits<std::int64_t>::max() / multiplier) return std::nullopt;
  return std::chrono::seconds(number * multiplier);
}

namespace {

// ---------------------------------------------------------------------------
// Value checks shared by the schema rows. Each returns why a (decoded) string
// is unacceptable, or nullopt when it is fine. Messages never repeat the
// value of anything that could be a secret.

using ValueCheck = std::optional<std::string> (*)(const std::string& value);

constexpr std::array kRoles{"admin", "operator", "auditor", "issuer", "support"};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment distance: insertions, deletions, substitutions
  // and transpositions of neighbours ("prot" -> "port") all cost 1.
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The closest candidate within an edit distance of 2 (1 when either name is
// shorter than 3 characters, so "ab" does not suggest "s3"), or nullopt.
std::optional<std::string> closest(std::string_view name, std::span<const std::string> candidates) {
  std::string lower = lowercase(name);
  std::optional<std::string> best;
  std::size_t best_distance = 3;
  for (const std::string& candidate : candidates) {
    std::size_t distance = edit_distance(lower, candidate);
    std::size_t limit = std::min<std::size_t>(2, std::min(lower.size(), candidate.size()) / 3 + 1);
    if (distance <= limit && distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::optional<std::string> check_role(const std::string& value) {
  if (std::find(kRoles.begin(), kRoles.end(), value) != kRoles.end()) return std::nullopt;
  std::string message = "unknown role '" + value + "'; expected one of admin, operator, auditor, issuer, support";
  std::vector<std::string> roles(kRoles.begin(), kRoles.end());
  if (auto near = closest(value, roles)) message += " (did you mean '" + *near + "'?)";
  return message;
}

std::optional<std::string> check_lock_mode(const std::string& value) {
  if (value == "compliance" || value == "governance") return std::nullopt;
  return "unknown Object Lock mode '" + value + "'; expected compliance or governance";
}

// An address that cannot split a header: the mail module writes it into
// To:/From: as it is (incidents/mail.h).
std::optional<std::string> check_mail_address(const std::string& a) {
  auto at = a.find('@');
  bool ok = !a.empty() && a.size() <= 254 && at != 0 && at != std::string::npos && at + 1 < a.size() &&
            a.find('@', at + 1) == std::string::npos;
  for (char c : a) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F || std::string_view(",<>\"();:\\[]").find(c) != std::string_view::npos) ok = false;
  }
  if (ok) return std::nullopt;
  return "'" + a + "' is not a plain email address (local@domain, without a display name or spaces)";
}

std::optional<std::string> check_not_empty(const std::string& value) {
  if (value.empty()) return "must not be empty";
  return std::nullopt;
}

// The syntax is core/schedule.h's; a bad schedule is a config error at
// load time, not a scheduler that silently never runs.
std::optional<std::string> check_schedule(const std::string& value) {
  if (value.empty()) return std::string("must not be empty");
  std::string error;
  if (!Schedule::parse(value, &error)) return error.empty() ? std::string("is not a valid schedule") : error;
  return std::nullopt;
}

std::optional<std::string> check_ip_literal(const std::string& value) {
  unsigned char buffer[sizeof(in6_addr)];
  if (inet_pton(AF_INET, value.c_str(), buffer) == 1 || inet_pton(AF_INET6, value.c_str(), buffer) == 1) {
    return std::nullopt;
  }
  std::string message = "'" + value + "' is not an IPv4 or IPv6 address (such as 127.0.0.1, 0.0.0.0 or ::)";
  if (value.size() > 2 && value.front() == '[' && value.back() == ']') message += "; write IPv6 addresses without brackets";
  return message;
}

// "10.0.0.0/8", "2001:db8::/32", or a single address.
std::optional<std::string> check_cidr(const std::string& value) {
  std::string address = value;
  std::optional<int> prefix;
  if (auto slash = value.find('/'); slash != std::string::npos) {
    address = value.substr(0, slash);
    std::string_view digits = std::string_view(value).substr(slash + 1);
    int parsed = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), parsed);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || parsed < 0) {
      return "'" + value + "' is not a network in CIDR notation (such as 10.0.0.0/8 or 2001:db8::/32)";
    }
    prefix = parsed;
  }
  unsigned char bytes[sizeof(in6_addr)] = {};
  int bits = 0;
  if (inet_pton(AF_INET, address.c_str(), bytes) == 1) {
    bits = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), bytes) == 1) {
    bits = 128;
  } else {
    return "'" + value + "' is not a network in CIDR notation (such as 10.0.0.0/8 or 2001:db8::/32)";
  }
  if (!prefix) return std::nullopt;
  if (*prefix > bits) {
    return "'" + value + "' has a prefix length above " + std::to_string(bits);
  }
  // Host bits set ("10.0.0.1/8") usually means a typo in the address or in
  // the prefix; the firewall would silently widen or reject it.
  for (int bit = *prefix; bit < bits; ++bit) {
    if (bytes[bit / 8] & (0x80 >> (bit % 8))) {
      return "'" + value + "' has host bits set after the /" + std::to_string(*prefix) + " prefix";
    }
  }
  return std::nullopt;
}

// URLs the daemon sends data to (S3 endpoint, webhook). Plain http:// is only
// acceptable when the traffic never leaves the machine.
std::optional<std::string> check_outbound_url(const std::string& value) {
  std::string_view rest = value;
  bool plain_http = false;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
    plain_http = true;
  } else {
    return "'" + value + "' is not an https:// URL";
  }
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    // Never echo it: the part before '@' is a credential.
    return "URLs must not contain credentials (user:password@); secrets come from files";
  }
  std::string_view host = authority;
  std::string_view port;
  if (host.starts_with("[")) {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos) return "'" + value + "' has an IPv6 address without its closing ']'";
    port = host.substr(close + 1);
    host = host.substr(0, close + 1);
    unsigned char buffer[sizeof(in6_addr)];
    if (inet_pton(AF_INET6, std::string(host.substr(1, host.size() - 2)).c_str(), buffer) != 1) {
      return "'" + value + "' has an invalid IPv6 address";
    }
  } else {
    std::size_t colon = host.find(':');
    if (colon != std::string_view::npos) port = host.substr(colon);
    host = host.substr(0, colon);
    for (char c : host) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') {
        return "'" + value + "' has an invalid host name (letters, digits, '.', '-' and '_' only)";
      }
    }
  }
  if (host.empty()) return "'" + value + "' has no host name";
  if (!port.empty()) {
    // ":PORT", 1 to 65535
    int number = 0;
    std::string_view digits = port.substr(1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (port.front() != ':' || digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
        number < 1 || number > 65535) {
      return "'" + value + "' has an invalid port (expected :1 to :65535 after the host)";
    }
  }
  if (plain_http && host != "127.0.0.1" && host != "localhost" && host != "[::1]") {
    return "'" + value + "' must use https:// (plain http:// is only allowed for 127.0.0.1, localhost or [::1])";
  }
  return std::nullopt;
}

// The S3 endpoint is only scheme, host and port (the S3 client ignores any
// path: the bucket and prefix have their own keys).
std::optional<std::string> check_s3_endpoint(const std::string& value) {
  if (auto why = check_outbound_url(value)) return why;
  std::string_view rest = std::string_view(value).substr(value.find("://") + 3);
  std::size_t end = rest.find_first_of("/?#");
  if (end != std::string_view::npos && rest.substr(end) != "/") {
    return "'" + value + "' has a path, query or fragment; the endpoint is only https://HOST[:PORT] (the bucket "
           "and prefix are backup.s3.bucket and backup.s3.prefix)";
  }
  // The S3 client resolves the host as written, brackets included.
  if (rest.starts_with("[")) return "'" + value + "': IPv6 address literals are not supported here; use a host name";
  return std::nullopt;
}

std::optional<std::string> check_socket_path(const std::string& value) {
  // bind() fails later, with a much less helpful message, when the path does
  // not fit in sockaddr_un::sun_path (including its terminating NUL).
  constexpr std::size_t max = sizeof(sockaddr_un::sun_path) - 1;
  if (value.size() > max) {
    return "path is " + std::to_string(value.size()) + " bytes long; a Unix socket path can have at most " +
           std::to_string(max);
  }
  return std::nullopt;
}

struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using Certificate = std::unique_ptr<X509, X509Free>;

// backup.recovery_public_key, read by the same parser as the backup's
// (core/crypto.h), with the mistakes an administrator makes named.
std::optional<std::string> check_public_key(const std::string& value) {
  // A private key pasted here would be a secret in the configuration, and
  // would make every backup decryptable by anyone who can read this file.
  if (value.find("PRIVATE KEY") != std::string::npos) {
    return "this is a private key; only the recovery public key belongs in the configuration";
  }
  try {
    parse_x25519_public_key(value);
    return std::nullopt;
  } catch (const std::invalid_argument& e) {
    if (value.find("-----BEGIN") != std::string::npos) {
      std::string why = e.what();
      if (why.starts_with("is not a PEM")) why += " (a block scalar, `|`, keeps its line breaks)";
      return why;
    }
    if (value.starts_with("/") || value.starts_with("~") || value.starts_with(".")) {
      return "'" + value + "' is a file name; this key takes the public key itself: its PEM text (as a block "
             "scalar, `|`) or the base64 of its 32 bytes";
    }
    return std::string(e.what());
  }
}

// The certificates of a PEM file, leaf first; empty with `why` set when it
// cannot be read or holds none.
std::vector<Certificate> read_certificates(const std::filesystem::path& path, std::string& why) {
  std::vector<Certificate> out;
  Bio bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) {
    why = "cannot read " + path.string() + ": " + std::strerror(errno);
    return out;
  }
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(cert);
  ERR_clear_error();  // the read that ends the loop always fails
  if (out.empty()) why = path.string() + " holds no PEM certificate";
  return out;
}

// ---------------------------------------------------------------------------
// The schema: one row per key, for a target type T (Config, or AllowedPort for
// the items of host_audit.allowed_ports). Sections (listen, backup.s3, ...)
// are implied by the dotted paths.

template <class T>
using Member = std::variant<std::string& (*)(T&), std::filesystem::path& (*)(T&), int& (*)(T&),
                            std::uint16_t& (*)(T&), bool& (*)(T&), std::chrono::seconds& (*)(T&),
                            std::vector<std::string>& (*)(T&), std::vector<AllowedPort>& (*)(T&)>;

enum class FileCheck {
  none,
  must_exist,                // a file the daemon reads
  certificates,              // must_exist, holding at least one PEM certificate (certificate, CA bundle)
  secret,                    // check_secret_file(); missing is an error
  secret_created_if_missing  // check_secret_file() if it exists; the daemon creates it
};

struct Rules {
  long long min = 0;             // integers: inclusive range
  long long max = 0;
  bool required = false;         // must be present (items of allowed_ports)
  ValueCheck check = nullptr;    // strings, paths, and each element of a string list
  FileCheck file = FileCheck::none;
};

template <class T>
struct KeySpec {
  std::string_view path;  // dotted, relative to T
  Member<T> target;
  Rules rules = {};
};

// A function returning the member `expr` of an `Owner` (a type alias in the
// function using it), for the tables below.
#define PRIVSTACK_FIELD(expr) +[](Owner & owner) -> auto& { return owner.expr; }

const std::vector<KeySpec<AllowedPort>>& allowed_port_keys() {
  using Owner = AllowedPort;
  static const std::vector<KeySpec<AllowedPort>> keys = {
      {"port", PRIVSTACK_FIELD(port), {.min = 1, .max = 65535, .required = true}},
      {"proto", PRIVSTACK_FIELD(proto), {.required = true, .check = [](const std::string& v) -> std::optional<std::string> {
         if (v == "tcp" || v == "udp") return std::nullopt;
         return "expected tcp or udp, got '" + v + "'";
       }}},
      {"from", PRIVSTACK_FIELD(from), {.check = check_cidr}},
  };
  return keys;
}

const std::vector<KeySpec<Config>>& config_keys() {
  using Owner = Config;
  static const std::vector<KeySpec<Config>> keys = {
      {"listen.address", PRIVSTACK_FIELD(listen.address), {.check = check_ip_literal}},
      {"listen.port", PRIVSTACK_FIELD(listen.port), {.min = 1, .max = 65535}},
      {"listen.requests_per_second", PRIVSTACK_FIELD(listen.requests_per_second), {.min = 0, .max = 1000000}},
      {"listen.connections_per_address", PRIVSTACK_FIELD(listen.connections_per_address), {.min = 1, .max = 100000}},
      {"control.socket", PRIVSTACK_FIELD(control.socket), {.check = check_socket_path}},
      {"state_directory", PRIVSTACK_FIELD(state_directory)},
      {"store.key_file", PRIVSTACK_FIELD(store.key_file), {.file = FileCheck::secret_created_if_missing}},
      {"tls.certificate", PRIVSTACK_FIELD(tls.certificate), {.file = FileCheck::certificates}},
      // The daemon loads it only after check_secret_file() (http/tls.cpp), so
      // Debian's 0640 root:ssl-cert keys are refused here as they are at start.
      {"tls.private_key", PRIVSTACK_FIELD(tls.private_key), {.file = FileCheck::secret}},
      {"console.web_root", PRIVSTACK_FIELD(console.web_root)},
      {"auth.session_idle_timeout", PRIVSTACK_FIELD(auth.session_idle_timeout)},
      {"auth.session_lifetime", PRIVSTACK_FIELD(auth.session_lifetime)},
      {"auth.lockout_threshold", PRIVSTACK_FIELD(auth.lockout_threshold), {.min = 1, .max = 1000}},
      {"auth.lockout_duration", PRIVSTACK_FIELD(auth.lockout_duration)},
      {"auth.require_totp_for_roles", PRIVSTACK_FIELD(auth.require_totp_for_roles), {.check = check_role}},
      {"backup.schedule", PRIVSTACK_FIELD(backup.schedule), {.check = check_schedule}},
      {"backup.verify_schedule", PRIVSTACK_FIELD(backup.verify_schedule), {.check = check_schedule}},
      {"backup.local_directory", PRIVSTACK_FIELD(backup.local_directory)},
      {"backup.retention.keep_last", PRIVSTACK_FIELD(backup.retention.keep_last), {.min = 0, .max = 1000}},
      {"backup.retention.daily", PRIVSTACK_FIELD(backup.retention.daily), {.min = 0, .max = 1000}},
      {"backup.retention.weekly", PRIVSTACK_FIELD(backup.retention.weekly), {.min = 0, .max = 1000}},
      {"backup.retention.monthly", PRIVSTACK_FIELD(backup.retention.monthly), {.min = 0, .max = 1000}},
      {"backup.recovery_public_key", PRIVSTACK_FIELD(backup.recovery_public_key), {.check = check_public_key}},
      {"backup.s3.endpoint", PRIVSTACK_FIELD(backup.s3.endpoint), {.check = check_s3_endpoint}},
      {"backup.s3.region", PRIVSTACK_FIELD(backup.s3.region), {.check = check_not_empty}},
      {"backup.s3.bucket", PRIVSTACK_FIELD(backup.s3.bucket)},
      {"backup.s3.prefix", PRIVSTACK_FIELD(backup.s3.prefix)},
      {"backup.s3.access_key_id", PRIVSTACK_FIELD(backup.s3.access_key_id)},
      {"backup.s3.secret_access_key_file", PRIVSTACK_FIELD(backup.s3.secret_access_key_file), {.file = FileCheck::secret}},
      {"backup.s3.path_style", PRIVSTACK_FIELD(backup.s3.path_style)},
      {"backup.s3.ca_file", PRIVSTACK_FIELD(backup.s3.ca_file), {.file = FileCheck::certificates}},
      {"backup.s3.put_only", PRIVSTACK_FIELD(backup.s3.put_only)},
      {"backup.s3.object_lock.mode", PRIVSTACK_FIELD(backup.s3.object_lock.mode), {.check = check_lock_mode}},
      {"backup.s3.object_lock.retain_days", PRIVSTACK_FIELD(backup.s3.object_lock.retain_days), {.min = 0, .max = 36500}},
      {"backup.allowed_regions", PRIVSTACK_FIELD(backup.allowed_regions), {.check = check_not_empty}},
      {"host_audit.schedule", PRIVSTACK_FIELD(host_audit.schedule), {.check = check_schedule}},
      {"host_audit.allowed_ports", PRIVSTACK_FIELD(host_audit.allowed_ports)},
      {"notifications.webhook.url", PRIVSTACK_FIELD(notifications.webhook.url), {.check = check_outbound_url}},
      {"notifications.webhook.secret_file", PRIVSTACK_FIELD(notifications.webhook.secret_file), {.file = FileCheck::secret}},
      {"notifications.webhook.ca_file", PRIVSTACK_FIELD(notifications.webhook.ca_file), {.file = FileCheck::certificates}},
      {"notifications.email.to", PRIVSTACK_FIELD(notifications.email.to), {.check = check_mail_address}},
      {"notifications.email.from", PRIVSTACK_FIELD(notifications.email.from), {.check = check_mail_address}},
      {"notifications.email.sendmail", PRIVSTACK_FIELD(notifications.email.sendmail)},
      {"wallet.issuance_window", PRIVSTACK_FIELD(wallet.issuance_window)},
      {"incidents.window", PRIVSTACK_FIELD(incidents.window)},
      {"incidents.login_failure_threshold", PRIVSTACK_FIELD(incidents.login_failure_threshold), {.min = 1, .max = 100000}},
      {"incidents.permission_denied_threshold", PRIVSTACK_FIELD(incidents.permission_denied_threshold), {.min = 1, .max = 100000}},
      {"incidents.wallet_unlock_failure_threshold", PRIVSTACK_FIELD(incidents.wallet_unlock_failure_threshold), {.min = 1, .max = 100000}},
  };
  return keys;
}

#undef PRIVSTACK_FIELD

// Path keys whose default is empty ("not set"): an empty string is accepted
// for them and means the same as leaving the key out.
bool empty_means_unset(std::string_view path) {
  return path == "store.key_file" || path.starts_with("tls.") || path == "backup.s3.secret_access_key_file" ||
         path == "backup.s3.ca_file" || path == "notifications.webhook.secret_file" || path == "notifications.webhook.ca_file";
}

// Unknown keys that look like an inline secret get a hint instead of (or
// before) a spelling suggestion.
bool looks_like_secret(std::string_view name) {
  std::string lower = lowercase(name);
  if (lower.ends_with("_file")) return false;
  for (std::string_view word : {"secret", "password", "passwd", "passphrase", "token", "key"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

std::string join(const std::string& prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
}

// How a node that has the wrong type is described in messages.
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar: {
      std::string value = node.Scalar();
      if (value.size() > 40) value = value.substr(0, 37) + "...";
      return "'" + value + "'";
    }
    default:
      return "no value";
  }
}

// ---------------------------------------------------------------------------
// Document structure, without building trees.
//
// yaml-cpp 0.7's LoadAll() loops forever, allocating until the OOM killer
// steps in, on a stray ',' outside a flow collection (jbeder/yaml-cpp#1040,
// fixed upstream in 0.8.x): the parser returns the same empty document again
// and again without consuming the token. So documents are counted here with a
// bounded number of HandleNextDocument() calls, a parser that does not move
// is reported as a syntax error, and only the first document is loaded into a
// tree, with YAML::Load() (a single HandleNextDocument() call).

class DocumentStarts : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> starts;
  void OnDocumentStart(const YAML::Mark& mark) override { starts.push_back(mark); }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

struct DocumentScan {
  std::optional<YAML::Mark> stuck_at;        // where the parser stopped making progress
  std::optional<YAML::Mark> second_document;  // where a second document starts
};

// Throws YAML::Exception for syntax errors, like YAML::Load().
DocumentScan scan_documents(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  DocumentStarts handler;
  // Three documents are enough to tell "one", "more than one" and "stuck".
  for (int i = 0; i < 3 && parser.HandleNextDocument(handler); ++i) {
  }
  DocumentScan scan;
  const auto& starts = handler.starts;
  for (std::size_t i = 1; i < starts.size(); ++i) {
    if (starts[i].pos == starts[i - 1].pos) {
      scan.stuck_at = starts[i];
      return scan;
    }
  }
  if (starts.size() > 1) scan.second_document = starts[1];
  return scan;
}

// ---------------------------------------------------------------------------

class Loader {
 public:
  explicit Loader(std::string name) : name_(std::move(name)) {}

  ConfigResult run(const std::string& text);

 private:
  // Visiting more nodes than this means aliases are being used to blow the
  // tree up ("billion laughs"); a real configuration has a few hundred.
  static constexpr std::size_t kMaxNodes = 100000;
  // Deeper than this is an alias to an enclosing node (`a: &x {b: *x}`,
  // which yaml-cpp turns into a cycle) or nonsense; the schema is 3 deep.
  static constexpr int kMaxDepth = 64;

  void report(const YAML::Mark& mark, std::string message) {
    problems_.push_back({name_, mark.line + 1, mark.column + 1, std::move(message)});
  }
  // The position of a value, or of its key when it has none (see top).
  static YAML::Mark value_mark(const YAML::Node& key, const YAML::Node& value) {
    return value.IsNull() || value.Mark().line < 0 ? key.Mark() : value.Mark();
  }

  bool report_duplicate_keys(const YAML::Node& node, const std::string& path, int depth = 0);

  template <class T>
  void walk(const YAML::Node& map, const std::string& section, const std::string& shown_prefix,
            const std::vector<KeySpec<T>>& schema, T& target);
  template <class T>
  void report_unknown_key(const YAML::Node& key, const std::string& section, const std::string& shown_prefix,
                          const std::vector<KeySpec<T>>& schema);
  template <class T>
  void decode(const KeySpec<T>& spec, const std::string& shown, const YAML::Node& key, const YAML::Node& value,
              T& target);

  std::optional<std::string> decode_string(const std::string& shown, const YAML::Node& key, const YAML::Node& value,
                                           const Rules& rules);
  void decode_path(const std::string& shown, const YAML::Node& key, const YAML::Node& value, const Rules& rules,
                   std::filesystem::path& out);
  void decode_integer(const std::string& shown, const YAML::Node& key, const YAML::Node& value, const Rules& rules,
                      long long& out, bool& ok);
  void decode_string_list(const std::string& shown, const YAML::Node& key, const YAML::Node& value,
                          const Rules& rules, std::vector<std::string>& out);
  void decode_allowed_ports(const std::string& shown, const YAML::Node& key, const YAML::Node& value,
                            std::vector<AllowedPort>& out);
  void check_file(const std::string& shown, const YAML::Mark& mark, const std::filesystem::path& path, FileCheck kind);

  void check_combinations(Config& config);
  void check_tls_pair(const std::filesystem::path& certificate, const std::filesystem::path& private_key);
  bool is_set(const std::string& path) const { return marks_.contains(path); }
  // A key whose value was refused keeps its default, which must not trigger
  // follow-up complaints ("bucket is required" after "bucket: expected a string").
  bool failed(const std::string& path) const { return failed_.contains(path); }

  std::string name_;
  std::vector<ConfigProblem> problems_;
  std::size_t nodes_visited_ = 0;
  std::map<std::string, YAML::Mark> marks_;  // dotted key -> position of its value, for keys present
  std::set<std::string> failed_;             // dotted keys whose value was refused
};

// Reports every key that appears twice in one mapping, anywhere in the tree.
// Returns false when the tree is too large or deep to check (kMaxNodes, kMaxDepth).
bool Loader::report_duplicate_keys(const YAML::Node& node, const std::string& path, int depth) {
  if (++nodes_visited_ > kMaxNodes || depth > kMaxDepth) return false;
  if (node.IsSequence()) {
    std::size_t index = 0;
    for (const YAML::Node& item : node) {
      if (!report_duplicate_keys(item, path + "[" + std::to_string(index++) + "]", depth + 1)) return false;
    }
  } else if (node.IsMap()) {
    std::map<std::string, int> first_line;
    for (const auto& pair : node) {
      const YAML::Node& key = pair.first;
      std::string name = key.IsScalar() ? key.Scalar() : std::string();
      if (key.IsScalar()) {
        auto [it, inserted] = first_line.emplace(name, key.Mark().line + 1);
        if (!inserted) {
          report(key.Mark(), "duplicate key '" + join(path, name) + "' (first defined at line " +
                                 std::to_string(it->second) + ")");
        }
      }
      if (!report_duplicate_keys(pair.second, join(path, name), depth + 1)) return false;
    }
  }
  return true;
}

// Walks one mapping: `section` is its dotted path relative to the schema
// ("" for the schema's root), `shown_prefix` what precedes the schema's paths
// in messages ("" for Config, "host_audit.allowed_ports[2]" for its items).
template <class T>
void Loader::walk(const YAML::Node& map, const std::string& section, const std::string& shown_prefix,
                  const std::vector<KeySpec<T>>& schema, T& target) {
  std::set<std::string> seen;
  for (const auto& pair : map) {
    const YAML::Node& key = pair.first;
    const YAML::Node& value = pair.second;
    if (!key.IsScalar()) {
      report(key.Mark(), "keys must be plain names, got " + describe(key) + " as a key in '" +
                             (join(shown_prefix, section).empty() ? "(top level)" : join(shown_prefix, section)) + "'");
      continue;
    }
    // The duplicate itself was reported by report_duplicate_keys().
    if (!seen.insert(key.Scalar()).second) continue;

    const std::string path = join(section, key.Scalar());
    const std::string shown = join(shown_prefix, path);
    auto leaf = std::find_if(schema.begin(), schema.end(), [&](const KeySpec<T>& s) { return s.path == path; });
    bool is_section = std::any_of(schema.begin(), schema.end(),
                                  [&](const KeySpec<T>& s) { return s.path.starts_with(path + "."); });
    if (leaf != schema.end()) {
      marks_[shown] = value_mark(key, value);
      std::size_t before = problems_.size();
      decode(*leaf, shown, key, value, target);
      if (problems_.size() != before) failed_.insert(shown);
    } else if (is_section) {
      marks_[shown] = key.Mark();
      if (value.IsMap()) {
        walk(value, path, shown_prefix, schema, target);
      } else if (!value.IsNull()) {  // `tls:` with every sub-key commented out is fine
        report(value_mark(key, value), shown + ": expected a mapping (a section of keys), got " + describe(value));
      }
    } else {
      report_unknown_key(key, section, shown_prefix, schema);
    }
  }
  // Required keys: reported at the start of the mapping that lacks them.
  for (const KeySpec<T>& spec : schema) {
    if (spec.rules.required && !seen.contains(std::string(spec.path))) {
      report(map.Mark(), "missing required key '" + join(shown_prefix, spec.path) + "'");
    }
  }
}

template <class T>
void Loader::report_unknown_key(const YAML::Node& key, const std::string& section, const std::string& shown_prefix,
                                const std::vector<KeySpec<T>>& schema) {
  // The names valid at this level: the next segment of every path below `section`.
  std::vector<std::string> valid;
  std::string lead = section.empty() ? "" : section + ".";
  for (const KeySpec<T>& spec : schema) {
    if (!spec.path.starts_with(lead)) continue;
    std::string_view rest = spec.path.substr(lead.size());
    std::string next(rest.substr(0, rest.find('.')));
    if (std::find(valid.begin(), valid.end(), next) == valid.end()) valid.push_back(next);
  }
  const std::string& name = key.Scalar();
  std::string message = "unknown key '" + join(shown_prefix, join(section, name)) + "'";
  std::optional<std::string> suggestion = closest(name, valid);
  // A near miss ("key_fil") is a typo; otherwise a secret-sounding name is
  // most likely an attempt to write the secret itself here.
  if (!suggestion && looks_like_secret(name)) {
    message += ": secrets must not be written in the configuration; put the secret in a file (mode 0600) "
               "and name that file here";
    // "secret_access_key" -> "secret_access_key_file"
    std::string as_file = lowercase(name) + "_file";
    if (std::find(valid.begin(), valid.end(), as_file) != valid.end()) suggestion = as_file;
  }
  if (suggestion) message += "; did you mean '" + join(shown_prefix, join(section, *suggestion)) + "'?";
  report(key.Mark(), message);
}

template <class T>
void Loader::decode(const KeySpec<T>& spec, const std::string& shown, const YAML::Node& key, const YAML::Node& value,
                    T& target) {
  const Rules& rules = spec.rules;
  std::visit(
      [&](auto member) {
        using Field = std::remove_reference_t<decltype(member(target))>;
        Field& field = member(target);
        if constexpr (std::is_same_v<Field, std::string>) {
          if (auto s = decode_string(shown, key, value, rules)) field = *s;
        } else if constexpr (std::is_same_v<Field, std::filesystem::path>) {
          decode_path(shown, key, value, rules, field);
        } else if constexpr (std::is_same_v<Field, int> || std::is_same_v<Field, std::uint16_t>) {
          long long number = 0;
          bool ok = false;
          decode_integer(shown, key, value, rules, number, ok);
          if (ok) field = static_cast<Field>(number);
        } else if constexpr (std::is_same_v<Field, bool>) {
          bool flag = false;
          if (value.IsScalar() && YAML::convert<bool>::decode(value, flag)) {
            field = flag;
          } else {
            report(value_mark(key, value), shown + ": expected true or false, got " + describe(value));
          }
        } else if constexpr (std::is_same_v<Field, std::chrono::seconds>) {
          std::optional<std::chrono::seconds> duration;
          if (value.IsScalar()) duration = parse_duration(value.Scalar());
          if (!duration) {
            report(value_mark(key, value),
                   shown + ": expected a duration such as 90, 30s, 15m, 12h or 7d, got " + describe(value));
          } else if (duration->count() <= 0) {
            report(value_mark(key, value), shown + ": must be a positive duration, got " + describe(value));
          } else {
            field = *duration;
          }
        } else if constexpr (std::is_same_v<Field, std::vector<std::string>>) {
          decode_string_list(shown, key, value, rules, field);
        } else {
          static_assert(std::is_same_v<Field, std::vector<AllowedPort>>);
          decode_allowed_ports(shown, key, value, field);
        }
      },
      spec.target);
}

std::optional<std::string> Loader::decode_string(const std::string& shown, const YAML::Node& key,
                                                 const YAML::Node& value, const Rules& rules) {
  if (!value.IsScalar()) {
    report(value_mark(key, value), shown + ": expected a string, got " + describe(value) +
                                       (value.IsNull() ? " (leave the key out to use the default)" : ""));
    return std::nullopt;
  }
  if (rules.check) {
    if (auto why = rules.check(value.Scalar())) {
      report(value.Mark(), shown + ": " + *why);
      return std::nullopt;
    }
  }
  return value.Scalar();
}

void Loader::decode_path(const std::string& shown, const YAML::Node& key, const YAML::Node& value,
                         const Rules& rules, std::filesystem::path& out) {
  std::optional<std::string> text = decode_string(shown, key, value, rules);
  if (!text) return;
  // Scalar from here on.
  if (text->empty() && empty_means_unset(shown)) {
    out.clear();
    return;
  }
  // Relative paths would depend on the daemon's working directory.
  if (!text->starts_with("/")) {
    report(value.Mark(), shown + ": expected an absolute path, got " + describe(value));
    return;
  }
  out = *text;
  check_file(shown, value.Mark(), out, rules.file);
}

void Loader::check_file(const std::string& shown, const YAML::Mark& mark, const std::filesystem::path& path,
                        FileCheck kind) {
  struct stat st {};
  switch (kind) {
    case FileCheck::none:
      return;
    case FileCheck::must_exist:
    case FileCheck::certificates:
      if (::stat(path.c_str(), &st) != 0) {
        report(mark, shown + ": cannot read " + path.string() + ": " + std::strerror(errno));
      } else if (!S_ISREG(st.st_mode)) {
        report(mark, shown + ": " + path.string() + " is not a regular file");
      } else if (kind == FileCheck::certificates) {
        std::string why;
        if (read_certificates(path, why).empty()) report(mark, shown + ": " + why);
      }
      return;
    case FileCheck::secret_created_if_missing:
      if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) return;  // created on first start
      [[fallthrough]];
    case FileCheck::secret:
      if (auto why = check_secret_file(path)) report(mark, shown + ": " + *why);
      return;
  }
}

void Loader::decode_integer(const std::string& shown, const YAML::Node& key, const YAML::Node& value,
                            const Rules& rules, long long& out, bool& ok) {
  long long number = 0;
  bool parsed = false;
  if (value.IsScalar()) {
    const std::string& s = value.Scalar();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), number);
    parsed = ec == std::errc() && end == s.data() + s.size() && !s.empty();
  }
  if (!parsed || number < rules.min || number > rules.max) {
    report(value_mark(key, value), shown + ": expected an integer from " + std::to_string(rules.min) + " to " +
                                       std::to_string(rules.max) + ", got " + describe(value));
    return;
  }
  out = number;
  ok = true;
}

void Loader::decode_string_list(const std::string& shown, const YAML::Node& key, const YAML::Node& value,
                                const Rules& rules, std::vector<std::string>& out) {
  if (value.IsNull()) {  // `allowed_regions:` with no items
    out.clear();
    return;
  }
  if (!value.IsSequence()) {
    report(value_mark(key, value), shown + ": expected a list of strings, got " + describe(value));
    return;
  }
  std::vector<std::string> items;
  std::size_t index = 0;
  for (const YAML::Node& item : value) {
    std::string item_shown = shown + "[" + std::to_string(index++) + "]";
    if (auto s = decode_string(item_shown, key, item, rules)) items.push_back(*s);
  }
  out = std::move(items);
}

void Loader::decode_allowed_ports(const std::string& shown, const YAML::Node& key, const YAML::Node& value,
                                  std::vector<AllowedPort>& out) {
  if (value.IsNull()) {
    out.clear();
    return;
  }
  if (!value.IsSequence()) {
    report(value_mark(key, value),
           shown + ": expected a list of {port, proto, from} mappings, got " + describe(value));
    return;
  }
  std::vector<AllowedPort> ports;
  std::size_t index = 0;
  for (const YAML::Node& item : value) {
    std::string item_shown = shown + "[" + std::to_string(index++) + "]";
    if (!item.IsMap()) {
      report(value_mark(key, item), item_shown + ": expected a mapping with port, proto and optionally from, got " +
                                        describe(item));
      continue;
    }
    AllowedPort port;
    walk(item, "", item_shown, allowed_port_keys(), port);
    ports.push_back(std::move(port));
  }
  out = std::move(ports);
}

// Rules that involve more than one key.
void Loader::check_combinations(Config& config) {
  // tls: a certificate without its key (or the reverse) cannot be served.
  // A refused value (relative path, missing file) still counts as set.
  bool certificate = !config.tls.certificate.empty() || failed("tls.certificate");
  bool private_key = !config.tls.private_key.empty() || failed("tls.private_key");
  if (certificate != private_key) {
    const char* set = certificate ? "tls.certificate" : "tls.private_key";
    const char* unset = certificate ? "tls.private_key" : "tls.certificate";
    report(marks_.at(set), std::string(set) + " is set but " + unset +
                               " is not; set both, or neither to use a generated self-signed certificate");
  }

  // The key must be the certificate's, as the daemon checks when it loads
  // them (SSL_CTX_check_private_key); only when both files passed their own checks.
  if (!config.tls.certificate.empty() && !config.tls.private_key.empty() && !failed("tls.certificate") &&
      !failed("tls.private_key")) {
    check_tls_pair(config.tls.certificate, config.tls.private_key);
  }

  // Retention: keeping nothing at all would delete every backup it makes.
  const auto& retention = config.backup.retention;
  if (retention.keep_last == 0 && retention.daily == 0 && retention.weekly == 0 && retention.monthly == 0 &&
      is_set("backup.retention")) {
    report(marks_.at("backup.retention"),
           "backup.retention: at least one of keep_last, daily, weekly and monthly must be greater than 0");
  }

  const auto& s3 = config.backup.s3;
  if (!s3.endpoint.empty()) {
    const YAML::Mark& endpoint = marks_.at("backup.s3.endpoint");
    if (s3.bucket.empty() && !failed("backup.s3.bucket")) report(endpoint, "backup.s3.bucket is required when backup.s3.endpoint is set");
    if (s3.access_key_id.empty() && !failed("backup.s3.access_key_id")) {
      report(endpoint, "backup.s3.access_key_id is required when backup.s3.endpoint is set");
    }
    if (s3.secret_access_key_file.empty() && !failed("backup.s3.secret_access_key_file")) {
      report(endpoint, "backup.s3.secret_access_key_file is required when backup.s3.endpoint is set");
    }
    const auto& allowed = config.backup.allowed_regions;
    if (!allowed.empty() && !failed("backup.s3.region") && std::find(allowed.begin(), allowed.end(), s3.region) == allowed.end()) {
      std::string list;
      for (const std::string& region : allowed) list += (list.empty() ? "" : ", ") + region;
      const YAML::Mark& where = is_set("backup.s3.region") ? marks_.at("backup.s3.region") : endpoint;
      report(where, "backup.s3.region '" + s3.region + "' is not in backup.allowed_regions (" + list + ")");
    }
  }

  // Backups live under the state directory unless placed elsewhere on purpose.
  if (!is_set("backup.local_directory")) config.backup.local_directory = config.state_directory / "backups";
}

void Loader::check_tls_pair(const std::filesystem::path& certificate, const std::filesystem::path& private_key) {
  const YAML::Mark& where = marks_.at("tls.private_key");
  std::string why;
  std::vector<Certificate> chain = read_certificates(certificate, why);
  if (chain.empty()) return;  // reported at tls.certificate
  Bio bio(BIO_new_file(private_key.c_str(), "r"));
  if (!bio) {
    report(where, "tls.private_key: cannot read " + private_key.string() + ": " + std::strerror(errno));
    return;
  }
  // No passphrase prompt: the daemon cannot answer one either.
  auto no_prompt = [](char*, int, int, void*) -> int { return -1; };
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_prompt, nullptr));
  bool matches = key && X509_check_private_key(chain.front().get(), key.get()) == 1;
  ERR_clear_error();
  if (!key) {
    report(where, "tls.private_key: " + private_key.string() +
                      " is not a PEM private key, or it is passphrase-protected (the daemon cannot prompt)");
  } else if (!matches) {
    report(where, "tls.private_key: " + private_key.string() + " is not the key of the certificate in " +
                      certificate.string());
  }
}

ConfigResult Loader::run(const std::string& text) {
  YAML::Node root;
  try {
    DocumentScan scan = scan_documents(text);
    if (scan.stuck_at) {
      std::size_t pos = static_cast<std::size_t>(scan.stuck_at->pos);
      std::string token = pos < text.size() ? std::string(1, text[pos]) : std::string("end of file");
      report(*scan.stuck_at, "YAML syntax error: unexpected '" + token + "'");
      return {std::nullopt, std::move(problems_)};
    }
    if (scan.second_document) {
      report(*scan.second_document, "expected a single YAML document, found another one here");
    }
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    // e.msg is the bare message; e.what() would repeat the position.
    report(e.mark, "YAML syntax error: " + e.msg);
    return {std::nullopt, std::move(problems_)};
  }

  Config config;
  config.source = name_;
  if (root.IsMap()) {
    if (report_duplicate_keys(root, "")) {
      walk(root, "", "", config_keys(), config);
      check_combinations(config);
    } else {
      problems_.push_back({name_, 1, 1,
                           "the configuration is too large to check: more than " + std::to_string(kMaxNodes) +
                               " YAML nodes or " + std::to_string(kMaxDepth) +
                               " levels of nesting (are aliases expanding or referring to themselves?)"});
    }
  } else if (!root.IsNull()) {  // a file with only comments is all defaults
    report(root.Mark(), "the configuration must be a mapping of keys to values, got " + describe(root));
  }

  std::stable_sort(problems_.begin(), problems_.end(), [](const ConfigProblem& a, const ConfigProblem& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  if (!problems_.empty()) return {std::nullopt, std::move(problems_)};
  return {std::move(config), {}};
}

}  // namespace

ConfigResult parse_config(const std::string& yaml_text, const std::string& name) {
  try {
    return Loader(name).run(yaml_text);
  } catch (const std::exception& e) {
    // Not expected; the contract is that bad input never throws.
    return {std::nullopt, {{name, 0, 0, std::string("internal error while checking the configuration: ") + e.what()}}};
  }
}

ConfigResult load_config(const std::filesystem::path& path) {
  // POSIX I/O rather than ifstream, to report the reason (errno) a read fails,
  // including reading a directory (EISDIR), which ifstream opens happily.
  auto cannot_read = [&](int err) {
    return ConfigResult{std::nullopt, {{path.string(), 0, 0, std::string("cannot read: ") + std::strerror(err)}}};
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cannot_read(errno);
  std::string text;
  char buffer[8192];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return cannot_read(err);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  ConfigResult result = parse_config(text, path.string());
  if (result.config) result.config->source = path;
  return result;
}

}  // namespace privstack
