#include "backup/s3_sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <stdexcept>

#include "core/encoding.h"
#include "core/time.h"

namespace privstack::backup::sigv4 {
namespace {

std::vector<std::uint8_t> hmac(std::span<const std::uint8_t> key, std::string_view data) {
  std::vector<std::uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len))
    throw std::runtime_error("HMAC-SHA256 failed");
  out.resize(len);
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trims and collapses runs of spaces/tabs into one space.
std::string canonical_value(std::string_view v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

bool valid_amz_date(std::string_view d) {
  if (d.size() != 16 || d[8] != 'T' || d[15] != 'Z') return false;
  for (std::size_t i = 0; i < 15; ++i)
    if (i != 8 && !std::isdigit(static_cast<unsigned char>(d[i]))) return false;
  return true;
}

}  // namespace

std::string sha256_hex(std::span<const std::uint8_t> data) {
  std::uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(data.data(), data.size(), digest);
  return hex_encode(digest);
}

std::string sha256_hex(std::string_view data) {
  return sha256_hex(std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
}

std::vector<std::uint8_t> signing_key(std::string_view secret, std::string_view date, std::string_view region,
                                      std::string_view service) {
  std::string k0 = "AWS4" + std::string(secret);
  auto k = hmac(std::span(reinterpret_cast<const std::uint8_t*>(k0.data()), k0.size()), date);
  k = hmac(k, region);
  k = hmac(k, service);
  return hmac(k, "aws4_request");
}

std::string uri_encode(std::string_view text, bool encode_slash) {
  return percent_encode(text, encode_slash ? "" : "/");
}

std::string encode_path(std::string_view decoded_path) {
  if (decoded_path.empty()) return "/";
  return uri_encode(decoded_path, false);
}

std::string encode_query(const Pairs& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& [k, v] : query) enc.emplace_back(uri_encode(k, true), uri_encode(v, true));
  std::sort(enc.begin(), enc.end());
  std::string out;
  for (const auto& [k, v] : enc) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

std::string utc_time(std::chrono::system_clock::time_point when, const char* format) {
  return format_utc(std::chrono::system_clock::to_time_t(when), format);
}

std::string amz_date(std::chrono::system_clock::time_point when) { return utc_time(when, "%Y%m%dT%H%M%SZ"); }

Signed sign(const Request& request, const Credentials& credentials, std::string_view region,
            std::string_view service, std::string_view amz_date_text) {
  if (!valid_amz_date(amz_date_text)) throw std::invalid_argument("x-amz-date must look like 20150830T123600Z");
  std::string_view date = amz_date_text.substr(0, 8);

  // Headers: lowercase names, sorted; repeated names joined with ','.
  std::map<std::string, std::string> headers;
  for (const auto& [name, value] : request.headers) {
    std::string key = lower(name);
    std::string v = canonical_value(value);
    auto [it, inserted] = headers.emplace(key, v);
    if (!inserted) it->second += "," + v;
  }
  std::string canonical_headers, signed_headers;
  for (const auto& [name, value] : headers) {
    canonical_headers += name + ":" + value + "\n";
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers += name;
  }

  Signed out;
  out.signed_headers = signed_headers;
  out.canonical_request = request.method + "\n" + encode_path(request.path) + "\n" + encode_query(request.query) +
                          "\n" + canonical_headers + "\n" + signed_headers + "\n" + request.payload_sha256;
  std::string scope = std::string(date) + "/" + std::string(region) + "/" + std::string(service) + "/aws4_request";
  out.string_to_sign = "AWS4-HMAC-SHA256\n" + std::string(amz_date_text) + "\n" + scope + "\n" +
                       sha256_hex(out.canonical_request);
  auto key = signing_key(credentials.secret_access_key, date, region, service);
  out.signature = hex_encode(hmac(key, out.string_to_sign));
  out.authorization = "AWS4-HMAC-SHA256 Credential=" + credentials.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + out.signature;
  return out;
}

}  // namespace privstack::backup::sigv4
