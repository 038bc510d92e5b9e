#include "core/encoding.h"

#include <openssl/crypto.h>

#include <array>

namespace privstack {
namespace {

constexpr char kHexLower[] = "0123456789abcdef";
constexpr char kHexUpper[] = "0123456789ABCDEF";
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr char kBase58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

int hex_value(char c, HexInput accept) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (accept == HexInput::any_case && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Character -> value for a 64- or 58-character alphabet; -1 elsewhere.
using Table = std::array<signed char, 256>;
constexpr Table table_of(const char* alphabet, int size) {
  Table t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < size; ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
  return t;
}
constexpr Table kBase64Values = table_of(kBase64, 64);
constexpr Table kBase64UrlValues = table_of(kBase64Url, 64);
constexpr Table kBase58Values = table_of(kBase58, 58);

std::string encode64(ByteView data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{data[i]} << 16) | (std::uint32_t{data[i + 1]} << 8) | data[i + 2];
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  const std::size_t rest = data.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t{data[i]} << 16;
    if (rest == 2) v |= std::uint32_t{data[i + 1]} << 8;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (rest == 2) out += alphabet[(v >> 6) & 63];
    if (pad) out.append(3 - rest, '=');
  }
  return out;
}

// Decodes unpadded text (padding already removed by the caller). A length of
// 4n + 1 leaves a dangling 6 bits and is malformed. The unused low bits of
// the last character are ignored, as OpenSSL's decoder does.
std::optional<std::vector<std::uint8_t>> decode64(std::string_view text, const Table& values) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 4 * 3 + 2);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = values[static_cast<unsigned char>(c)];
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((buffer >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace

void hex_append(std::string& out, ByteView data, HexCase letters) {
  const char* digits = letters == HexCase::upper ? kHexUpper : kHexLower;
  std::size_t at = out.size();
  out.resize(at + 2 * data.size());
  for (std::uint8_t b : data) {
    out[at++] = digits[b >> 4];
    out[at++] = digits[b & 15];
  }
}

std::string hex_encode(ByteView data, HexCase letters) {
  std::string out;
  hex_append(out, data, letters);
  return out;
}

std::optional<std::vector<std::uint8_t>> hex_decode(std::string_view text, HexInput accept) {
  if (text.size() % 2 != 0) return std::nullopt;
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = hex_value(text[i], accept);
    const int lo = hex_value(text[i + 1], accept);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<std::uint8_t>(hi << 4 | lo));
  }
  return out;
}

std::string base64_encode(ByteView data) { return encode64(data, kBase64, true); }

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  return decode64(text.substr(0, text.size() - pad), kBase64Values);
}

std::string base64url_encode(ByteView data) { return encode64(data, kBase64Url, false); }

std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view text) {
  return decode64(text, kBase64UrlValues);
}

std::string base58_encode(ByteView data) {
  std::size_t zeros = 0;
  while (zeros < data.size() && data[zeros] == 0) ++zeros;
  // Base conversion 256 -> 58, digits little-endian; log(256)/log(58) < 1.38.
  std::vector<std::uint8_t> digits;
  digits.reserve((data.size() - zeros) * 138 / 100 + 1);
  for (std::size_t i = zeros; i < data.size(); ++i) {
    unsigned carry = data[i];
    for (auto& d : digits) {
      carry += static_cast<unsigned>(d) << 8;
      d = static_cast<std::uint8_t>(carry % 58);
      carry /= 58;
    }
    while (carry > 0) {
      digits.push_back(static_cast<std::uint8_t>(carry % 58));
      carry /= 58;
    }
  }
  std::string out;
  out.reserve(zeros + digits.size());
  out.append(zeros, '1');
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) out.push_back(kBase58[*it]);
  if (!digits.empty()) OPENSSL_cleanse(digits.data(), digits.size());
  return out;
}

std::optional<std::vector<std::uint8_t>> base58_decode(std::string_view text) {
  std::size_t zeros = 0;
  while (zeros < text.size() && text[zeros] == '1') ++zeros;
  std::vector<std::uint8_t> bytes;  // little-endian base 256
  bytes.reserve((text.size() - zeros) * 733 / 1000 + 1);  // log(58)/log(256) < 0.733
  for (std::size_t i = zeros; i < text.size(); ++i) {
    const int v = kBase58Values[static_cast<unsigned char>(text[i])];
    if (v < 0) return std::nullopt;
    unsigned carry = static_cast<unsigned>(v);
    for (auto& b : bytes) {
      carry += static_cast<unsigned>(b) * 58;
      b = static_cast<std::uint8_t>(carry & 0xff);
      carry >>= 8;
    }
    while (carry > 0) {
      bytes.push_back(static_cast<std::uint8_t>(carry & 0xff));
      carry >>= 8;
    }
  }
  std::vector<std::uint8_t> out(zeros, 0);
  out.insert(out.end(), bytes.rbegin(), bytes.rend());
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
  return out;
}

std::string percent_encode(std::string_view text, std::string_view keep) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_' || c == '~';
    if (unreserved || (c != 0 && keep.find(ch) != std::string_view::npos)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHexUpper[c >> 4]);
      out.push_back(kHexUpper[c & 15]);
    }
  }
  return out;
}

void append_json_string(std::string& out, std::string_view text) {
  out.push_back('"');
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          hex_append(out, ByteView(&c, 1));
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

}  // namespace privstack
