// Verifiable credentials for results: canonical JSON, the Merkle tree of a
// batch, the ECDSA signature of its root, and offline verification
// (docs/credential-format.md is the normative description).
//
// Pure functions: no store, no wallet state. privstackctl links this for
// `credential verify FILE` (offline), the daemon for issuance and
// POST /api/v1/credentials/verify.
#pragma once

#include <array>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace privstack::wallet::credential {

using Hash = std::array<std::uint8_t, 32>;

inline constexpr std::string_view kCredentialType = "PrivstackCredential";
inline constexpr std::string_view kProofType = "PrivstackMerkleProof";
inline constexpr std::string_view kSignatureAlgorithm = "ecdsa-secp256k1-sha256";
// Domain separation for the signed digest: SHA-256(kRootTag || root).
inline constexpr std::string_view kRootTag = "privstack-merkle-root-v1:";

class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The canonical serialization (docs/credential-format.md): objects with keys
// sorted by their UTF-8 bytes, no whitespace, strings with only '"', '\\'
// and control characters escaped (\b \f \n \r \t, else \u00xx lowercase),
// integers in decimal. Floating-point numbers are refused (FormatError).
// Equal to Python's json.dumps(v, sort_keys=True, separators=(",", ":"),
// ensure_ascii=False) for the documents this module makes.
std::string canonical_json(const boost::json::value& value);

// leaf = SHA-256(0x00 || canonical credential); node = SHA-256(0x01 || L || R).
Hash leaf_hash(std::string_view canonical);
Hash node_hash(const Hash& left, const Hash& right);
// The digest the issuer signs: SHA-256(kRootTag || root).
Hash root_digest(const Hash& root);

struct PathStep {
  bool sibling_left = false;  // the sibling is the left operand
  Hash sibling{};
};

// A batch's tree. An odd node at the end of a level is promoted unchanged
// to the next level (never duplicated).
struct MerkleTree {
  Hash root{};
  std::vector<std::vector<PathStep>> paths;  // one per leaf
};
MerkleTree build_tree(std::span<const Hash> leaves);  // at least one leaf
Hash root_from_path(const Hash& leaf, std::span<const PathStep> path);

// ECDSA over secp256k1 (libsecp256k1, RFC 6979 nonces, low-S), DER-encoded.
std::vector<std::uint8_t> sign_digest(std::span<const std::uint8_t> private_key, const Hash& digest);
// Public key (33-byte compressed SEC1) of a private key.
std::array<std::uint8_t, 33> public_key_of(std::span<const std::uint8_t> private_key);
enum class SigCheck { ok, malformed, high_s, bad_public_key, mismatch };
SigCheck verify_digest(std::span<const std::uint8_t> der, std::span<const std::uint8_t> public_key,
                       const Hash& digest);

// What every proof of a signed batch shares (hex strings as in the file).
struct BatchSignature {
  std::string batch_id;
  std::string merkle_root;
  std::string signature;
  std::string public_key;
  std::string derivation_path;
};
// The "proof" member of the file of the credential with leaf hash `leaf`
// and Merkle path `path` in that batch (docs/credential-format.md).
boost::json::object make_proof(const BatchSignature& batch, const Hash& leaf, std::span<const PathStep> path);

// Offline verification of a credential file {"credential": {...}, "proof": {...}}.
struct Verification {
  bool valid = false;
  std::string error;  // first failed check, empty when valid
  std::string credential_id;
  std::string batch_id;
  std::string public_key;       // hex, from the proof
  std::string derivation_path;  // from the proof
  std::string merkle_root;      // hex, from the proof
  std::int64_t issuer_profile = -1;
  // Each check that ran, in order: name -> passed.
  std::vector<std::pair<std::string, bool>> checks;
  boost::json::object to_json() const;
};
Verification verify(const boost::json::value& file);
Verification verify_text(std::string_view text);  // parse errors are a failed "format" check

}  // namespace privstack::wallet::credential
