// Sealing the mnemonic under the issuing password.
//
//   key        = Argon2id(password, salt; m, t, p) -> 32 bytes (locked memory)
//   ciphertext = AES-256-GCM(key, nonce, plaintext, aad) || 16-byte tag
//   aad        = "privstack-wallet-seal-v1|argon2id|m=<m>,t=<t>,p=<p>|" + context
//
// The KDF parameters, salt and nonce are recorded with the ciphertext (they
// are not secret), so parameters can be raised later without losing old
// seals; they are also bound into the AAD. Each seal uses a fresh random salt
// and nonce. The password itself is never stored. A wrong password (or any
// modified byte) fails the GCM tag check: WrongPassword, with no partial
// plaintext.
//
// Argon2id is deliberately slow (default 64 MiB, 3 passes): never call these
// on an io thread.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "wallet/locked_memory.h"

namespace privstack::wallet {

struct SealParams {
  std::uint32_t memory_kib = 64 * 1024;  // RFC 9106 second recommended option
  std::uint32_t iterations = 3;
  std::uint32_t parallelism = 1;
};

struct SealedBlob {
  int format = 1;
  SealParams params;
  std::vector<std::uint8_t> salt;        // 16 bytes
  std::vector<std::uint8_t> nonce;       // 12 bytes
  std::vector<std::uint8_t> ciphertext;  // plaintext size + 16 (tag at the end)
};

class WrongPassword : public std::runtime_error {
 public:
  WrongPassword() : std::runtime_error("wrong issuing password") {}
};

// Throws std::invalid_argument for parameters outside sane bounds
// (memory 8 MiB..4 GiB, iterations 1..64, parallelism 1..16).
SealedBlob seal(std::span<const std::uint8_t> plaintext, std::string_view password, const SealParams& params = {},
                std::string_view context = "wallet");
LockedBuffer unseal(const SealedBlob& blob, std::string_view password, std::string_view context = "wallet");

}  // namespace privstack::wallet
