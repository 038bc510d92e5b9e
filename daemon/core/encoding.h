// Text encodings of bytes, written once for the whole daemon: hex (RFC 4648
// base16), base64 (standard alphabet, padded), base64url (URL-safe alphabet,
// no padding), base58 (Bitcoin alphabet) and URI percent-encoding.
//
// Encoders never fail. Decoders return nullopt on malformed input (a
// character outside the alphabet, a wrong length, misplaced padding) and
// never skip whitespace: callers that accept wrapped text strip it first.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace privstack {

using ByteView = std::span<const std::uint8_t>;

inline ByteView byte_view(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// --- hex (base16) ---
enum class HexCase { lower, upper };
std::string hex_encode(ByteView data, HexCase letters = HexCase::lower);
inline std::string hex_encode(std::string_view data, HexCase letters = HexCase::lower) {
  return hex_encode(byte_view(data), letters);
}
// Appends the hex of `data` to `out` (no temporary string; for hot loops).
void hex_append(std::string& out, ByteView data, HexCase letters = HexCase::lower);
// Odd length or a non-hex character: nullopt. `lower_only` also rejects
// 'A'..'F' (formats with one spelling per value, such as credential files).
enum class HexInput { any_case, lower_only };
std::optional<std::vector<std::uint8_t>> hex_decode(std::string_view text, HexInput accept = HexInput::any_case);

// --- base64 (RFC 4648 section 4: "+/", padded with '=') ---
std::string base64_encode(ByteView data);
inline std::string base64_encode(std::string_view data) { return base64_encode(byte_view(data)); }
// Length a multiple of 4, '=' only as the last one or two characters.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text);

// --- base64url (RFC 4648 section 5: "-_", no padding) ---
std::string base64url_encode(ByteView data);
inline std::string base64url_encode(std::string_view data) { return base64url_encode(byte_view(data)); }
// Rejects '=' and lengths that no unpadded encoding has (4n + 1).
std::optional<std::vector<std::uint8_t>> base64url_decode(std::string_view text);

// --- base58 (Bitcoin alphabet; leading zero bytes as leading '1') ---
// The encoder wipes its working buffers (it encodes extended private keys).
std::string base58_encode(ByteView data);
std::optional<std::vector<std::uint8_t>> base58_decode(std::string_view text);

// --- percent-encoding (RFC 3986) ---
// Keeps the unreserved characters (ALPHA DIGIT - . _ ~) and those in `keep`;
// every other byte becomes %XX with upper-case hex.
std::string percent_encode(std::string_view text, std::string_view keep = {});

// `text` as a JSON string, the way RFC 8785 (JCS) and JSON.stringify write
// it: quotes; \" \\ \b \f \n \r \t; other control characters as \u00xx
// (lower-case hex); every other byte (UTF-8) as it is.
void append_json_string(std::string& out, std::string_view text);

}  // namespace privstack
