// BIP32 hierarchical deterministic keys on secp256k1 (libsecp256k1).
//
// Private keys and chain codes of extended private keys live in
// LockedBuffers. Public extended keys are plain values: they are meant to be
// shown (`wallet derive PATH` prints the xpub only).
//
// Path syntax: "m" or "m/44'/0'/0'/0/7"; a hardened step is written with a
// trailing ', h or H; indices are below 2^31.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "wallet/locked_memory.h"

namespace privstack::wallet::bip32 {

inline constexpr std::uint32_t kHardened = 0x80000000u;

class Bip32Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ExtendedPublicKey {
  std::array<std::uint8_t, 33> public_key{};  // compressed SEC1
  std::array<std::uint8_t, 32> chain_code{};
  std::uint8_t depth = 0;
  std::array<std::uint8_t, 4> parent_fingerprint{};
  std::uint32_t child_number = 0;

  // First 4 bytes of HASH160(public_key).
  std::array<std::uint8_t, 4> fingerprint() const;
  // CKDpub; throws Bip32Error for a hardened index.
  ExtendedPublicKey derive(std::uint32_t index) const;
  // Base58Check with version 0x0488B21E ("xpub...").
  std::string serialize() const;
  static ExtendedPublicKey parse(std::string_view xpub);
};

class ExtendedPrivateKey {
 public:
  // Master key: I = HMAC-SHA512("Bitcoin seed", seed); 16..64 byte seeds.
  static ExtendedPrivateKey from_seed(std::span<const std::uint8_t> seed);
  // CKDpriv (hardened when index >= kHardened).
  ExtendedPrivateKey derive(std::uint32_t index) const;
  ExtendedPrivateKey derive_path(std::string_view path) const;
  ExtendedPublicKey neuter() const;
  // Base58Check with version 0x0488ADE4 ("xprv..."), in locked memory. For
  // tests and offline export only: the daemon never returns it.
  LockedBuffer serialize() const;

  std::span<const std::uint8_t> private_key() const { return key_.bytes(); }
  std::span<const std::uint8_t> chain_code() const { return chain_.bytes(); }
  std::uint8_t depth() const { return depth_; }
  std::uint32_t child_number() const { return child_number_; }

 private:
  ExtendedPrivateKey();
  LockedBuffer key_;    // 32 bytes
  LockedBuffer chain_;  // 32 bytes
  std::uint8_t depth_ = 0;
  std::array<std::uint8_t, 4> parent_fingerprint_{};
  std::uint32_t child_number_ = 0;
};

// "m/44'/0'/3'/0/7" -> {44|H, 0|H, 3|H, 0, 7}. Throws Bip32Error with the
// position of the bad step.
std::vector<std::uint32_t> parse_path(std::string_view path);
// Inverse of parse_path, hardened steps written with '.
std::string format_path(std::span<const std::uint32_t> path);

// Derives a public path from an xpub (normal steps only).
ExtendedPublicKey derive_public_path(const ExtendedPublicKey& key, std::string_view path);

// Base58Check (double SHA-256 checksum).
std::string base58check_encode(std::span<const std::uint8_t> payload);
std::vector<std::uint8_t> base58check_decode(std::string_view text);  // throws Bip32Error

}  // namespace privstack::wallet::bip32
