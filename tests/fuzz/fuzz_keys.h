// Fixed keys of the fuzz targets and their seed corpora (make_seeds.cpp).
// Test keys only, never used for anything real.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "backup/archive.h"

namespace privstack::fuzz {

// The backup recovery key of the seed archives: 32 bytes 0x01..0x20.
inline const std::vector<std::uint8_t>& archive_private_key() {
  static const std::vector<std::uint8_t> key = [] {
    std::vector<std::uint8_t> k(32);
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(i + 1);
    return k;
  }();
  return key;
}

inline const std::vector<std::uint8_t>& archive_public_key() {
  static const std::vector<std::uint8_t> key = backup::recovery_public_from_private(archive_private_key());
  return key;
}

// The secp256k1 key that signs the seed credentials: 32 bytes 0x33.
inline std::vector<std::uint8_t> credential_signing_key() { return std::vector<std::uint8_t>(32, 0x33); }

}  // namespace privstack::fuzz
