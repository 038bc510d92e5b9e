// Webhook notifications: an HTTPS POST of a JSON document, signed so the
// receiver can check it came from this appliance and is not a replay.
//
//   X-Privstack-Timestamp: <Unix seconds>
//   X-Privstack-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//   X-Privstack-Delivery:  <delivery id, unique per attempt series>
//
// Receivers recompute the HMAC over the raw body and reject timestamps more
// than a few minutes old (docs/operations.md, "Webhook notifications").
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

namespace privstack::incidents {

struct WebhookTarget {
  std::string url;                // https://host[:port]/path (http:// only for loopback)
  std::filesystem::path ca_file;  // extra trust anchors; empty: system store only
};

struct DeliveryResult {
  int status = 0;     // HTTP status; 0 when no response was received
  std::string error;  // empty on a 2xx response
  bool ok() const { return status >= 200 && status < 300 && error.empty(); }
};

// hex(HMAC-SHA256(secret, timestamp + "." + body)).
std::string sign(std::string_view secret, std::string_view timestamp, std::string_view body);

// One POST attempt, blocking, with a connect+response timeout. Never throws.
DeliveryResult post_webhook(const WebhookTarget& target, std::string_view secret, const std::string& body,
                            const std::string& timestamp, const std::string& delivery_id,
                            std::chrono::seconds timeout = std::chrono::seconds(10));

}  // namespace privstack::incidents
