#include "auth/password.h"

#include <argon2.h>

#include <algorithm>
#include <charconv>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "auth/util.h"
#include "core/crypto.h"

namespace privstack::auth {
namespace {

constexpr std::string_view kCommonPasswords =
#include "common_passwords.inc"
    ;

const std::unordered_set<std::string_view>& common_set() {
  static const std::unordered_set<std::string_view> set = [] {
    std::unordered_set<std::string_view> s;
    std::string_view rest = kCommonPasswords;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      if (!line.empty()) s.insert(line);
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
    }
    return s;
  }();
  return set;
}

std::string lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_alpha_ascii(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::size_t utf8_length(std::string_view s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xc0) != 0x80) ++n;
  }
  return n;
}

struct ParsedPhc {
  std::uint32_t m = 0, t = 0, p = 0;
  int version = 0;
  bool argon2id = false;
};

std::optional<ParsedPhc> parse_phc(std::string_view phc) {
  // $argon2id$v=19$m=19456,t=2,p=1$salt$hash
  ParsedPhc out;
  if (!phc.starts_with("$argon2id$")) return std::nullopt;
  out.argon2id = true;
  phc.remove_prefix(10);
  auto take_uint = [](std::string_view& s, std::string_view prefix, std::uint32_t& v) {
    if (!s.starts_with(prefix)) return false;
    s.remove_prefix(prefix.size());
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc()) return false;
    s.remove_prefix(static_cast<size_t>(ptr - s.data()));
    return true;
  };
  std::uint32_t version = 0;
  if (!take_uint(phc, "v=", version) || !phc.starts_with("$")) return std::nullopt;
  phc.remove_prefix(1);
  out.version = static_cast<int>(version);
  if (!take_uint(phc, "m=", out.m) || !phc.starts_with(",")) return std::nullopt;
  phc.remove_prefix(1);
  if (!take_uint(phc, "t=", out.t) || !phc.starts_with(",")) return std::nullopt;
  phc.remove_prefix(1);
  if (!take_uint(phc, "p=", out.p) || !phc.starts_with("$")) return std::nullopt;
  return out;
}

}  // namespace

std::string hash_password(std::string_view password, const Argon2Params& params) {
  if (password.size() > kMaxPasswordBytes) throw std::invalid_argument("password too long");
  auto salt = random_bytes(params.salt_bytes);
  std::size_t encoded_len = argon2_encodedlen(params.iterations, params.memory_kib, params.parallelism,
                                              params.salt_bytes, params.hash_bytes, Argon2_id);
  std::string encoded(encoded_len, '\0');
  int rc = argon2id_hash_encoded(params.iterations, params.memory_kib, params.parallelism, password.data(),
                                 password.size(), salt.data(), salt.size(), params.hash_bytes, encoded.data(),
                                 encoded.size());
  if (rc != ARGON2_OK) throw std::runtime_error(std::string("Argon2id hashing failed: ") + argon2_error_message(rc));
  encoded.resize(std::char_traits<char>::length(encoded.c_str()));
  return encoded;
}

bool verify_password(std::string_view phc, std::string_view password) {
  if (password.size() > kMaxPasswordBytes || !parse_phc(phc)) return false;
  std::string encoded(phc);  // argon2 wants a NUL-terminated string
  return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

bool needs_rehash(std::string_view phc, const Argon2Params& params) {
  auto parsed = parse_phc(phc);
  if (!parsed) return true;
  return parsed->version != ARGON2_VERSION_13 || parsed->m != params.memory_kib || parsed->t != params.iterations ||
         parsed->p != params.parallelism;
}

bool is_common_password(std::string_view password) { return common_set().contains(lower_ascii(password)); }

std::optional<std::string> password_policy_violation(std::string_view password, std::string_view username) {
  if (password.size() > kMaxPasswordBytes) return "The password is too long (at most 1024 bytes).";
  std::size_t length = utf8_length(password);
  if (length < kMinPasswordLength) return "The password must be at least 12 characters long.";
  bool lower = false, upper = false, digit = false, other = false;
  for (unsigned char c : password) {
    if (c >= 'a' && c <= 'z') lower = true;
    else if (c >= 'A' && c <= 'Z') upper = true;
    else if (c >= '0' && c <= '9') digit = true;
    else other = true;
  }
  int classes = int(lower) + int(upper) + int(digit) + int(other);
  if (classes < kMinPasswordClasses && length < kClassesWaivedLength) {
    return "The password needs at least three of: lower case, upper case, digits, other characters "
           "(or at least 16 characters).";
  }
  std::string lowered = lower_ascii(password);
  std::string user = lower_ascii(username);
  if (!user.empty() && (lowered == user || (user.size() >= kUserNameInPasswordMin && lowered.find(user) != std::string::npos))) {
    return "The password must not contain the user name.";
  }
  if (is_common_password(lowered)) return "The password is too common.";
  // Strip leading and trailing non-letters: "Password2024!" -> "password".
  std::size_t b = 0, e = lowered.size();
  while (b < e && !is_alpha_ascii(static_cast<unsigned char>(lowered[b]))) ++b;
  while (e > b && !is_alpha_ascii(static_cast<unsigned char>(lowered[e - 1]))) --e;
  std::string core = lowered.substr(b, e - b);
  if (core.size() >= 4 && core != lowered && is_common_password(core)) {
    return "The password is too common (a common password with digits or symbols added).";
  }
  // A single character or a two-character pattern repeated ("aaaa...", "abab...").
  bool repeated = true;
  for (std::size_t i = 2; i < lowered.size() && repeated; ++i) repeated = lowered[i] == lowered[i - 2];
  if (repeated) return "The password must not be a repeated pattern.";
  cleanse(lowered);
  return std::nullopt;
}

}  // namespace privstack::auth
