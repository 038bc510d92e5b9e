#include "wallet/seal.h"

#include <argon2.h>
#include <openssl/evp.h>

#include <memory>

#include "core/crypto.h"

namespace privstack::wallet {

namespace {

void check_params(const SealParams& p) {
  if (p.memory_kib < 8 * 1024 || p.memory_kib > 4u * 1024 * 1024 || p.iterations < 1 || p.iterations > 64 ||
      p.parallelism < 1 || p.parallelism > 16) {
    throw std::invalid_argument("sealing parameters out of range");
  }
}

std::string aad_of(const SealParams& p, std::string_view context) {
  return "privstack-wallet-seal-v1|argon2id|m=" + std::to_string(p.memory_kib) + ",t=" + std::to_string(p.iterations) +
         ",p=" + std::to_string(p.parallelism) + "|" + std::string(context);
}

LockedBuffer derive_key(std::string_view password, std::span<const std::uint8_t> salt, const SealParams& p) {
  LockedBuffer key(32);
  const int rc = argon2id_hash_raw(p.iterations, p.memory_kib, p.parallelism, password.data(), password.size(),
                                   salt.data(), salt.size(), key.data(), key.size());
  if (rc != ARGON2_OK) throw std::runtime_error(std::string("Argon2id failed: ") + argon2_error_message(rc));
  return key;
}

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

}  // namespace

SealedBlob seal(std::span<const std::uint8_t> plaintext, std::string_view password, const SealParams& params,
                std::string_view context) {
  check_params(params);
  SealedBlob blob;
  blob.params = params;
  blob.salt.resize(16);
  blob.nonce.resize(12);
  random_fill(blob.salt.data(), 16);
  random_fill(blob.nonce.data(), 12);
  const LockedBuffer key = derive_key(password, blob.salt, params);
  const std::string aad = aad_of(params, context);
  Ctx ctx(EVP_CIPHER_CTX_new());
  blob.ciphertext.resize(plaintext.size() + 16);
  int len = 0, total = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), blob.nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), blob.ciphertext.data(), &len, plaintext.data(),
                        static_cast<int>(plaintext.size())) != 1) {
    throw std::runtime_error("AES-256-GCM encryption failed");
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), blob.ciphertext.data() + total, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, 16, blob.ciphertext.data() + plaintext.size()) != 1) {
    throw std::runtime_error("AES-256-GCM encryption failed");
  }
  return blob;
}

LockedBuffer unseal(const SealedBlob& blob, std::string_view password, std::string_view context) {
  if (blob.format != 1) throw std::runtime_error("unknown sealed-wallet format " + std::to_string(blob.format));
  check_params(blob.params);
  if (blob.salt.size() < 16 || blob.nonce.size() != 12 || blob.ciphertext.size() < 16) {
    throw std::runtime_error("sealed wallet record is malformed");
  }
  const LockedBuffer key = derive_key(password, blob.salt, blob.params);
  const std::string aad = aad_of(blob.params, context);
  const std::size_t n = blob.ciphertext.size() - 16;
  LockedBuffer out(n);
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  std::uint8_t tag[16];
  std::copy(blob.ciphertext.end() - 16, blob.ciphertext.end(), tag);
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), blob.nonce.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), out.data(), &len, blob.ciphertext.data(), static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag) != 1) {
    throw std::runtime_error("AES-256-GCM decryption failed");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &len) != 1) {
    out.reset();  // wipe whatever was decrypted
    throw WrongPassword();
  }
  return out;
}

}  // namespace privstack::wallet
