// TLS server contexts and the self-signed certificate made on first start.
//
// Policy (docs/threat-model.md): TLS 1.2 and 1.3 only; TLS 1.2 limited to
// ECDHE with AEAD suites, AES-256-GCM and CHACHA20-POLY1305 before
// AES-128-GCM; server preference; X25519 and P-256; no compression, no
// renegotiation, no session tickets (we do not rotate ticket keys).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace privstack::http {

class TlsContext;  // opaque; defined in tls_context.h for the server only

struct CertificateInfo {
  std::string subject;
  std::vector<std::string> subject_alt_names;
  std::chrono::system_clock::time_point not_after;
};

// Loads a PEM certificate chain and private key. Throws std::runtime_error
// naming the file and OpenSSL's reason (never key material).
std::shared_ptr<TlsContext> make_tls_context(const std::filesystem::path& certificate_chain,
                                             const std::filesystem::path& private_key);

CertificateInfo certificate_info(const TlsContext& context);

// Writes a self-signed ECDSA P-256 certificate for `names` (DNS names or IP
// literals, all placed in subjectAltName; the first is the CN) valid for
// 398 days. The key is written 0600 first, then the certificate 0644.
void generate_self_signed(const std::filesystem::path& certificate, const std::filesystem::path& private_key,
                          const std::vector<std::string>& names);

// The host's names for a self-signed certificate: its hostname, "localhost", 127.0.0.1 and ::1, plus `listen_address`
// when it is a specific address.
std::vector<std::string> default_certificate_names(const std::string& listen_address);

}  // namespace privstack::http
