#include "auth/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdexcept>

#include "auth/util.h"
#include "core/crypto.h"
#include "core/encoding.h"

namespace privstack::auth {

std::string hotp(const std::vector<std::uint8_t>& key, std::uint64_t counter, int digits) {
  unsigned char msg[8];
  for (int i = 7; i >= 0; --i) {
    msg[i] = static_cast<unsigned char>(counter & 0xff);
    counter >>= 8;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha1(), key.data(), static_cast<int>(key.size()), msg, sizeof msg, mac, &len) == nullptr || len < 20) {
    throw std::runtime_error("HMAC-SHA1 failed");
  }
  int offset = mac[len - 1] & 0x0f;
  std::uint32_t bin = (std::uint32_t(mac[offset] & 0x7f) << 24) | (std::uint32_t(mac[offset + 1]) << 16) |
                      (std::uint32_t(mac[offset + 2]) << 8) | std::uint32_t(mac[offset + 3]);
  std::uint32_t mod = 1;
  for (int i = 0; i < digits; ++i) mod *= 10;
  std::string code = std::to_string(bin % mod);
  return std::string(static_cast<size_t>(digits) - code.size(), '0') + code;
}

std::string totp_code(const std::vector<std::uint8_t>& key, std::int64_t now) {
  return hotp(key, static_cast<std::uint64_t>(now / kTotpStep));
}

std::optional<std::int64_t> totp_verify(const std::vector<std::uint8_t>& key, std::string_view code,
                                        std::int64_t now, std::int64_t last_used_step) {
  if (code.size() != kTotpDigits) return std::nullopt;
  for (char c : code) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::int64_t current = now / kTotpStep;
  std::optional<std::int64_t> matched;
  // Check every candidate (no early exit) so timing does not reveal which.
  for (std::int64_t step = current - 1; step <= current + 1; ++step) {
    if (step < 0) continue;
    bool equal = constant_time_equals(hotp(key, static_cast<std::uint64_t>(step)), code);
    if (equal && step > last_used_step && !matched) matched = step;
  }
  return matched;
}

std::vector<std::uint8_t> new_totp_key() { return random_bytes(20); }

std::string otpauth_uri(std::string_view issuer, std::string_view account, const std::vector<std::uint8_t>& key) {
  std::string label = percent_encode(issuer) + ":" + percent_encode(account);
  return "otpauth://totp/" + label + "?secret=" + base32_encode(key) + "&issuer=" + percent_encode(issuer) +
         "&algorithm=SHA1&digits=6&period=30";
}

std::vector<std::string> new_recovery_codes(int count) {
  static constexpr char kAlphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";  // 32 symbols, no 0/o/1/l
  std::vector<std::string> out;
  for (int i = 0; i < count; ++i) {
    auto bytes = random_bytes(12);
    std::string code;
    for (int j = 0; j < 12; ++j) {
      if (j > 0 && j % 4 == 0) code += '-';
      code += kAlphabet[bytes[static_cast<size_t>(j)] & 31];
    }
    out.push_back(code);
  }
  return out;
}

std::string normalize_recovery_code(std::string_view code) {
  std::string out;
  for (char c : code) {
    if (c == '-' || c == ' ') continue;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    out += c;
  }
  return out;
}

}  // namespace privstack::auth
