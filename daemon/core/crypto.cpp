#include "core/crypto.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <climits>
#include <memory>
#include <stdexcept>

#include "core/encoding.h"

namespace privstack {

void random_fill(void* out, std::size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  while (n > 0) {
    const int chunk = n > INT_MAX ? INT_MAX : static_cast<int>(n);
    if (RAND_bytes(p, chunk) != 1) throw std::runtime_error("the system random number generator failed");
    p += chunk;
    n -= static_cast<std::size_t>(chunk);
  }
}

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::vector<std::uint8_t> out(n);
  random_fill(out.data(), n);
  return out;
}

std::string random_hex(std::size_t n) {
  auto bytes = random_bytes(n);
  std::string out = hex_encode(bytes);
  cleanse(bytes);
  return out;
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool constant_time_equals(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void cleanse(void* data, std::size_t size) noexcept {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

void cleanse(std::string& s) noexcept { cleanse(s.data(), s.size()); }

std::vector<std::uint8_t> parse_x25519_public_key(std::string_view text) {
  using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
  if (text.find("-----BEGIN") != std::string_view::npos) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())), BIO_free);
    Pkey key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr, EVP_PKEY_free);
    ERR_clear_error();
    if (!key) throw std::invalid_argument("is not a PEM \"PUBLIC KEY\"");
    if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_X25519) {
      throw std::invalid_argument(std::string("is not an X25519 key (it is ") + EVP_PKEY_get0_type_name(key.get()) +
                                  ")");
    }
    std::vector<std::uint8_t> raw(32);
    std::size_t len = raw.size();
    if (EVP_PKEY_get_raw_public_key(key.get(), raw.data(), &len) != 1 || len != raw.size()) {
      throw std::invalid_argument("is not a readable X25519 public key");
    }
    return raw;
  }
  std::string clean;
  for (char c : text) {
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') clean.push_back(c);
  }
  auto raw = clean.empty() ? std::nullopt : base64_decode(clean);
  bool valid = raw && raw->size() == 32 &&
               Pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, raw->data(), raw->size()), EVP_PKEY_free);
  ERR_clear_error();
  if (!valid) throw std::invalid_argument("is neither a PEM \"PUBLIC KEY\" nor the base64 of a 32-byte X25519 public key");
  return *raw;
}

}  // namespace privstack
