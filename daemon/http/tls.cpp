#include "http/tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <stdexcept>

#include "core/crypto.h"
#include "core/secret.h"
#include "http/tls_context.h"

namespace privstack::http {
namespace {

// TLS 1.2: ECDHE + AEAD only, strongest first. TLS 1.3 suites are all AEAD.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
constexpr const char* kTls13Suites = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";
constexpr const char* kGroups = "X25519:P-256";

std::string openssl_reason() {
  unsigned long err = ERR_get_error();
  ERR_clear_error();
  if (err == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(err, buf, sizeof buf);
  return buf;
}

template <class T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PKeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;

std::string x509_name_to_string(X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

CertificateInfo describe(X509* cert) {
  CertificateInfo info;
  info.subject = x509_name_to_string(X509_get_subject_name(cert));
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type == GEN_DNS) {
        info.subject_alt_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                                            static_cast<size_t>(ASN1_STRING_length(gn->d.dNSName)));
      } else if (gn->type == GEN_IPADD) {
        char text[INET6_ADDRSTRLEN] = {};
        int len = ASN1_STRING_length(gn->d.iPAddress);
        const unsigned char* bytes = ASN1_STRING_get0_data(gn->d.iPAddress);
        inet_ntop(len == 4 ? AF_INET : AF_INET6, bytes, text, sizeof text);
        info.subject_alt_names.emplace_back(text);
      }
    }
    GENERAL_NAMES_free(sans);
  }
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1) {
    info.not_after = std::chrono::system_clock::from_time_t(timegm(&tm));
  }
  return info;
}

bool is_ip_literal(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

void add_extension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) throw std::runtime_error("cannot build certificate extension: " + openssl_reason());
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

}  // namespace

std::shared_ptr<TlsContext> make_tls_context(const std::filesystem::path& certificate_chain,
                                             const std::filesystem::path& private_key) {
  auto context = std::make_shared<TlsContext>();
  SSL_CTX* ctx = context->ssl.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_NO_TICKET);
  // Client-initiated renegotiation is refused by OpenSSL 3 unless
  // SSL_OP_ALLOW_CLIENT_RENEGOTIATION is set, which we never set.
  // No stateless tickets (SSL_OP_NO_TICKET) and no TLS 1.3 tickets either:
  // resumption would need ticket-key rotation we do not do.
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 || SSL_CTX_set_ciphersuites(ctx, kTls13Suites) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    throw std::runtime_error("cannot apply the TLS policy: " + openssl_reason());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, certificate_chain.c_str()) != 1) {
    throw std::runtime_error("cannot load TLS certificate " + certificate_chain.string() + ": " + openssl_reason());
  }
  if (auto problem = check_secret_file(private_key)) {
    throw std::runtime_error("TLS private key: " + *problem);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, private_key.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("cannot load TLS private key " + private_key.string() + ": " + openssl_reason());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    throw std::runtime_error("TLS private key " + private_key.string() + " does not match certificate " +
                             certificate_chain.string());
  }
  context->info = describe(SSL_CTX_get0_certificate(ctx));
  return context;
}

CertificateInfo certificate_info(const TlsContext& context) { return context.info; }

void generate_self_signed(const std::filesystem::path& certificate, const std::filesystem::path& private_key,
                          const std::vector<std::string>& names) {
  if (names.empty()) throw std::invalid_argument("generate_self_signed needs at least one name");
  PKeyPtr key(EVP_EC_gen("P-256"));
  if (!key) throw std::runtime_error("cannot generate an ECDSA P-256 key: " + openssl_reason());

  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);  // v3
  unsigned char serial[16];
  random_fill(serial, sizeof serial);
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);  // tolerate small clock skew
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 398L * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("privstack"), -1,
                             -1, 0);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(names[0].c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);
  std::string san;
  for (const std::string& n : names) {
    if (!san.empty()) san += ",";
    san += (is_ip_literal(n) ? "IP:" : "DNS:") + n;
  }
  add_extension(cert.get(), NID_subject_alt_name, san);
  add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert.get(), NID_key_usage, "critical,digitalSignature");
  add_extension(cert.get(), NID_ext_key_usage, "serverAuth");
  add_extension(cert.get(), NID_subject_key_identifier, "hash");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    throw std::runtime_error("cannot sign the self-signed certificate: " + openssl_reason());
  }

  BioPtr key_bio(BIO_new(BIO_s_secmem()));
  PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* key_pem = nullptr;
  long key_len = BIO_get_mem_data(key_bio.get(), &key_pem);
  std::filesystem::create_directories(private_key.parent_path());
  write_secret_file(private_key, std::string_view(key_pem, static_cast<size_t>(key_len)));

  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(cert_bio.get(), cert.get());
  char* cert_pem = nullptr;
  long cert_len = BIO_get_mem_data(cert_bio.get(), &cert_pem);
  std::filesystem::create_directories(certificate.parent_path());
  std::filesystem::path tmp = certificate;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(cert_pem, cert_len);
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  std::filesystem::permissions(tmp, std::filesystem::perms(0644));
  std::filesystem::rename(tmp, certificate);
}

std::vector<std::string> default_certificate_names(const std::string& listen_address) {
  std::vector<std::string> names;
  auto add = [&](const std::string& n) {
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  };
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) {
    // No FQDN lookup: on a host without reachable DNS it can stall start-up
    // for many seconds. Admins who need other names configure a certificate.
    add(host);
  }
  add("localhost");
  add("127.0.0.1");
  add("::1");
  if (listen_address != "0.0.0.0" && listen_address != "::") add(listen_address);
  return names;
}

}  // namespace privstack::http
