// Credential issuance for results (docs/credential-format.md): a batch of
// results becomes one credential each, the credentials' hashes form a
// Merkle tree, and the root is signed with the issuer profile's key
// m/44'/0'/PROFILE'/0/BATCH_INDEX from the unlocked wallet.
//
//   IssuanceService issuance(store, &audit_log, wallet);  // migrates "credentials"
//   auto batch = issuance.issue({{1, 2, 3}, 0}, "user:alice", "10.0.0.5");
//   issuance.verify(file_json);          // offline checks + revocation + issuer key
//   issuance.revoke(credential_id, "reason", actor, source);
//
// Results are read and marked (results.credential_id) through the records
// module's Repository, in the same transaction that stores the batch, its
// credentials and the audit entry. Blocking (SQLCipher): run on the
// blocking pool. Thread-safe; issuances are serialized.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wallet/wallet.h"

namespace privstack::wallet {

inline constexpr std::size_t kMaxBatch = 10000;

struct IssueRequest {
  std::vector<std::int64_t> result_ids;
  std::uint32_t profile = 0;   // issuer profile = BIP44 account number (< 2^31)
  std::string issuer_name = "privstack";
};

struct IssuedBatch {
  std::string batch_id;
  std::uint32_t profile = 0;
  std::uint32_t key_index = 0;
  std::string derivation_path;
  std::string public_key;  // hex
  std::string merkle_root; // hex
  std::string signature;   // DER hex
  std::int64_t issued_at = 0;
  std::vector<std::string> credential_ids;
  std::vector<std::string> files;  // canonical JSON of each credential file
};

class IssuanceService {
 public:
  // `clock` stamps batches and revocations (a ManualClock in tests).
  IssuanceService(store::Store& store, audit::AuditLog* audit, WalletService& wallet, Clock& clock = default_clock());
  ~IssuanceService();

  // Throws Error with reasons: locked, not_initialized, bad_request
  // (400), not_found (404, names the missing result ids), not_issuable
  // (422: status not "passed"), already_issued (409).
  IssuedBatch issue(const IssueRequest& request, const std::string& actor, const std::string& source);

  // Offline verification plus what only the issuer knows: whether the
  // credential is known, revoked, and signed by the key this wallet derives
  // for its path. "status": valid | revoked | invalid.
  boost::json::object verify(std::string_view file_text);

  // Adds the credential to its profile's revocation list (idempotent for an
  // already revoked credential: Error(conflict) with reason already_revoked).
  boost::json::object revoke(const std::string& credential_id, const std::string& reason, const std::string& actor,
                             const std::string& source);
  // The revocation list of an issuer profile.
  boost::json::object revocations(std::uint32_t profile);
  // The stored credential file, or nullopt.
  std::optional<std::string> credential_file(const std::string& credential_id);
  // Recent batches (newest first).
  boost::json::object batches(int limit);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace privstack::wallet
