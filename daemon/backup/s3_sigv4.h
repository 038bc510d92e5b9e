// AWS Signature Version 4 for S3 requests (header-based signing).
//
// The caller builds the request (method, the *decoded* object path, the
// decoded query parameters, the headers it wants signed — at least host,
// x-amz-date and x-amz-content-sha256 for S3) and the hex SHA-256 of the
// payload (or "UNSIGNED-PAYLOAD"); sign_v4 returns every intermediate value
// (so the tests can compare each with AWS's published examples) and the
// Authorization header. encode_path/encode_query give the exact bytes to put
// on the wire, which are the ones that were signed.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace privstack::backup::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // optional; sent as x-amz-security-token
};

using Pairs = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method;        // "GET", "PUT", ...
  std::string path = "/";    // decoded, e.g. "/bucket/dir/a b.psbak"
  Pairs query;               // decoded names and values; a valueless name has ""
  Pairs headers;             // names in any case; all of them are signed
  std::string payload_sha256;  // lowercase hex, or "UNSIGNED-PAYLOAD"
};

struct Signed {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-content-sha256;x-amz-date"
  std::string signature;       // lowercase hex
  std::string authorization;   // the Authorization header's value
};

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";
inline constexpr std::string_view kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// amz_date is "YYYYMMDDTHHMMSSZ" (UTC) and must equal the request's
// x-amz-date header. Throws std::invalid_argument on a malformed date.
Signed sign(const Request& request, const Credentials& credentials, std::string_view region,
            std::string_view service, std::string_view amz_date);

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters
// (A-Z a-z 0-9 - _ . ~) kept, everything else %XX (uppercase hex); '/' kept
// when encode_slash is false (object paths).
std::string uri_encode(std::string_view text, bool encode_slash);
// The path as sent and as signed (S3: encoded once, not normalised).
std::string encode_path(std::string_view decoded_path);
// The canonical query string: encoded, sorted by name then value, "a=1&b=".
std::string encode_query(const Pairs& query);

// "YYYYMMDDTHHMMSSZ" for a point in time.
std::string amz_date(std::chrono::system_clock::time_point when);
// `when` in UTC, formatted by strftime (at most 63 characters).
std::string utc_time(std::chrono::system_clock::time_point when, const char* format);

// Helpers (exposed for tests and for the S3 client).
std::string sha256_hex(std::span<const std::uint8_t> data);
std::string sha256_hex(std::string_view data);
std::vector<std::uint8_t> signing_key(std::string_view secret, std::string_view date, std::string_view region,
                                      std::string_view service);

}  // namespace privstack::backup::sigv4
