#include "wallet/bip32.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <secp256k1.h>
#include <sys/random.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "core/crypto.h"
#include "core/encoding.h"
#include "wallet/secp.h"

namespace privstack::wallet {

const secp256k1_context* secp_context() {
  static secp256k1_context* const ctx = [] {
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    unsigned char seed[32];
    if (::getrandom(seed, sizeof seed, 0) == static_cast<ssize_t>(sizeof seed)) {
      if (secp256k1_context_randomize(c, seed) != 1) { /* blinding is an extra; keep the context */ }
    }
    cleanse(seed, sizeof seed);
    return c;
  }();
  return ctx;
}

namespace bip32 {

namespace {

constexpr std::uint32_t kVersionXprv = 0x0488ADE4u;
constexpr std::uint32_t kVersionXpub = 0x0488B21Eu;

void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}
std::uint32_t get32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}

// out (64 bytes, locked) = HMAC-SHA512(key, data)
void hmac_sha512(std::span<const std::uint8_t> key, std::span<const std::uint8_t> data, LockedBuffer& out) {
  unsigned int len = 0;
  if (HMAC(EVP_sha512(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(), &len) ==
          nullptr ||
      len != 64) {
    throw std::runtime_error("HMAC-SHA512 failed");
  }
}

std::array<std::uint8_t, 33> public_of(std::span<const std::uint8_t> seckey) {
  secp256k1_pubkey pub;
  if (secp256k1_ec_pubkey_create(secp_context(), &pub, seckey.data()) != 1) {
    throw Bip32Error("invalid private key");
  }
  std::array<std::uint8_t, 33> out{};
  std::size_t len = out.size();
  secp256k1_ec_pubkey_serialize(secp_context(), out.data(), &len, &pub, SECP256K1_EC_COMPRESSED);
  return out;
}

std::array<std::uint8_t, 4> hash160_prefix(std::span<const std::uint8_t> data) {
  std::uint8_t sha[SHA256_DIGEST_LENGTH];
  SHA256(data.data(), data.size(), sha);
  std::uint8_t rmd[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(sha, sizeof sha, rmd, &len, EVP_ripemd160(), nullptr) != 1 || len != 20) {
    throw std::runtime_error("RIPEMD-160 unavailable in OpenSSL");
  }
  return {rmd[0], rmd[1], rmd[2], rmd[3]};
}

}  // namespace

std::string base58check_encode(std::span<const std::uint8_t> payload) {
  std::vector<std::uint8_t> data(payload.begin(), payload.end());
  std::uint8_t h1[SHA256_DIGEST_LENGTH], h2[SHA256_DIGEST_LENGTH];
  SHA256(payload.data(), payload.size(), h1);
  SHA256(h1, sizeof h1, h2);
  data.insert(data.end(), h2, h2 + 4);
  std::string out = base58_encode(data);
  cleanse(data);
  return out;
}

std::vector<std::uint8_t> base58check_decode(std::string_view text) {
  auto data = base58_decode(text);
  if (!data) throw Bip32Error("invalid Base58 character");
  if (data->size() < 4) throw Bip32Error("Base58Check string too short");
  std::uint8_t h1[SHA256_DIGEST_LENGTH], h2[SHA256_DIGEST_LENGTH];
  SHA256(data->data(), data->size() - 4, h1);
  SHA256(h1, sizeof h1, h2);
  if (!constant_time_equals(ByteView(h2, 4), ByteView(*data).last(4))) {
    throw Bip32Error("Base58Check checksum mismatch");
  }
  // Copy out rather than resize(size() - 4): GCC 12 at -O1 with ASan cannot prove
  // size() >= 4 here and raises -Wstringop-overflow on the resize path.
  std::vector<std::uint8_t> payload(data->begin(), data->end() - 4);
  cleanse(*data);
  return payload;
}

std::vector<std::uint32_t> parse_path(std::string_view path) {
  if (path.empty() || path[0] != 'm') throw Bip32Error("a derivation path starts with m (like m/44'/0'/0'/0/0)");
  std::vector<std::uint32_t> out;
  if (path.size() == 1) return out;
  if (path[1] != '/') throw Bip32Error("a derivation path starts with m/");
  std::size_t pos = 2;
  std::size_t step = 1;
  while (true) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view s = path.substr(pos, end - pos);
    bool hardened = false;
    if (!s.empty() && (s.back() == '\'' || s.back() == 'h' || s.back() == 'H')) {
      hardened = true;
      s.remove_suffix(1);
    }
    std::uint32_t v = 0;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || v >= kHardened ||
        (s.size() > 1 && s[0] == '0')) {
      throw Bip32Error("step " + std::to_string(step) + " of the derivation path is not an index below 2^31 "
                       "(optionally followed by ' for hardened)");
    }
    out.push_back(hardened ? (v | kHardened) : v);
    if (end == path.size()) break;
    pos = end + 1;
    ++step;
  }
  if (out.size() > 255) throw Bip32Error("a derivation path has at most 255 steps");
  return out;
}

std::string format_path(std::span<const std::uint32_t> path) {
  std::string out = "m";
  for (std::uint32_t i : path) {
    out += '/';
    out += std::to_string(i & ~kHardened);
    if (i & kHardened) out += '\'';
  }
  return out;
}

// --- public --------------------------------------------------------------

std::array<std::uint8_t, 4> ExtendedPublicKey::fingerprint() const { return hash160_prefix(public_key); }

ExtendedPublicKey ExtendedPublicKey::derive(std::uint32_t index) const {
  if (index & kHardened) throw Bip32Error("a hardened child cannot be derived from a public key");
  if (depth == 255) throw Bip32Error("maximum derivation depth reached");
  std::uint8_t data[37];
  std::memcpy(data, public_key.data(), 33);
  put32(data + 33, index);
  LockedBuffer i(64);
  hmac_sha512(chain_code, data, i);
  secp256k1_pubkey pub;
  if (secp256k1_ec_pubkey_parse(secp_context(), &pub, public_key.data(), public_key.size()) != 1) {
    throw Bip32Error("invalid public key");
  }
  // tweak_add fails when IL >= n or the result is the point at infinity: BIP32
  // says to proceed with the next index; we report it (probability < 2^-127).
  if (secp256k1_ec_pubkey_tweak_add(secp_context(), &pub, i.data()) != 1) {
    throw Bip32Error("invalid child key at this index; use the next index");
  }
  ExtendedPublicKey child;
  std::size_t len = child.public_key.size();
  secp256k1_ec_pubkey_serialize(secp_context(), child.public_key.data(), &len, &pub, SECP256K1_EC_COMPRESSED);
  std::memcpy(child.chain_code.data(), i.data() + 32, 32);
  child.depth = static_cast<std::uint8_t>(depth + 1);
  child.parent_fingerprint = fingerprint();
  child.child_number = index;
  return child;
}

std::string ExtendedPublicKey::serialize() const {
  std::uint8_t buf[78];
  put32(buf, kVersionXpub);
  buf[4] = depth;
  std::memcpy(buf + 5, parent_fingerprint.data(), 4);
  put32(buf + 9, child_number);
  std::memcpy(buf + 13, chain_code.data(), 32);
  std::memcpy(buf + 45, public_key.data(), 33);
  return base58check_encode(buf);
}

ExtendedPublicKey ExtendedPublicKey::parse(std::string_view xpub) {
  const std::vector<std::uint8_t> data = base58check_decode(xpub);
  if (data.size() != 78 || get32(data.data()) != kVersionXpub) throw Bip32Error("not an xpub");
  ExtendedPublicKey k;
  k.depth = data[4];
  std::memcpy(k.parent_fingerprint.data(), data.data() + 5, 4);
  k.child_number = get32(data.data() + 9);
  std::memcpy(k.chain_code.data(), data.data() + 13, 32);
  std::memcpy(k.public_key.data(), data.data() + 45, 33);
  secp256k1_pubkey pub;
  if (secp256k1_ec_pubkey_parse(secp_context(), &pub, k.public_key.data(), 33) != 1 ||
      (k.public_key[0] != 2 && k.public_key[0] != 3)) {
    throw Bip32Error("xpub holds an invalid public key");
  }
  return k;
}

ExtendedPublicKey derive_public_path(const ExtendedPublicKey& key, std::string_view path) {
  ExtendedPublicKey k = key;
  for (std::uint32_t i : parse_path(path)) k = k.derive(i);
  return k;
}

// --- private -------------------------------------------------------------

ExtendedPrivateKey::ExtendedPrivateKey() : key_(32), chain_(32) {}

ExtendedPrivateKey ExtendedPrivateKey::from_seed(std::span<const std::uint8_t> seed) {
  if (seed.size() < 16 || seed.size() > 64) throw Bip32Error("a BIP32 seed has 16 to 64 bytes");
  static constexpr std::string_view kKey = "Bitcoin seed";
  LockedBuffer i(64);
  hmac_sha512(std::span(reinterpret_cast<const std::uint8_t*>(kKey.data()), kKey.size()), seed, i);
  if (secp256k1_ec_seckey_verify(secp_context(), i.data()) != 1) {
    throw Bip32Error("this seed gives an invalid master key");
  }
  ExtendedPrivateKey m;
  std::memcpy(m.key_.data(), i.data(), 32);
  std::memcpy(m.chain_.data(), i.data() + 32, 32);
  return m;
}

ExtendedPrivateKey ExtendedPrivateKey::derive(std::uint32_t index) const {
  if (depth_ == 255) throw Bip32Error("maximum derivation depth reached");
  LockedBuffer data(37);
  const auto pub = public_of(key_.bytes());
  if (index & kHardened) {
    data.data()[0] = 0;
    std::memcpy(data.data() + 1, key_.data(), 32);
  } else {
    std::memcpy(data.data(), pub.data(), 33);
  }
  put32(data.data() + 33, index);
  LockedBuffer i(64);
  hmac_sha512(chain_.bytes(), data.bytes(), i);
  ExtendedPrivateKey child;
  std::memcpy(child.key_.data(), key_.data(), 32);
  if (secp256k1_ec_seckey_verify(secp_context(), i.data()) != 1 ||
      secp256k1_ec_seckey_tweak_add(secp_context(), child.key_.data(), i.data()) != 1) {
    throw Bip32Error("invalid child key at this index; use the next index");
  }
  std::memcpy(child.chain_.data(), i.data() + 32, 32);
  child.depth_ = static_cast<std::uint8_t>(depth_ + 1);
  child.parent_fingerprint_ = hash160_prefix(pub);
  child.child_number_ = index;
  return child;
}

ExtendedPrivateKey ExtendedPrivateKey::derive_path(std::string_view path) const {
  const auto steps = parse_path(path);
  if (steps.empty()) {
    ExtendedPrivateKey copy;
    std::memcpy(copy.key_.data(), key_.data(), 32);
    std::memcpy(copy.chain_.data(), chain_.data(), 32);
    copy.depth_ = depth_;
    copy.parent_fingerprint_ = parent_fingerprint_;
    copy.child_number_ = child_number_;
    return copy;
  }
  ExtendedPrivateKey k = derive(steps[0]);
  for (std::size_t s = 1; s < steps.size(); ++s) k = k.derive(steps[s]);
  return k;
}

ExtendedPublicKey ExtendedPrivateKey::neuter() const {
  ExtendedPublicKey p;
  p.public_key = public_of(key_.bytes());
  std::memcpy(p.chain_code.data(), chain_.data(), 32);
  p.depth = depth_;
  p.parent_fingerprint = parent_fingerprint_;
  p.child_number = child_number_;
  return p;
}

LockedBuffer ExtendedPrivateKey::serialize() const {
  LockedBuffer buf(78);
  put32(buf.data(), kVersionXprv);
  buf.data()[4] = depth_;
  std::memcpy(buf.data() + 5, parent_fingerprint_.data(), 4);
  put32(buf.data() + 9, child_number_);
  std::memcpy(buf.data() + 13, chain_.data(), 32);
  buf.data()[45] = 0;
  std::memcpy(buf.data() + 46, key_.data(), 32);
  std::string s = base58check_encode(buf.bytes());
  LockedBuffer out = LockedBuffer::copy_of(s);
  cleanse(s.data(), s.size());
  return out;
}

}  // namespace bip32
}  // namespace privstack::wallet
