// A batch of signed credential files built from the credential.h
// primitives, without a wallet or a store: for the verifier's unit tests
// (credential_test.cpp) and the seeds of the fuzz target
// (tests/fuzz/make_seeds.cpp).
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "core/encoding.h"
#include "wallet/credential.h"

namespace privstack::wallet::credential::test_batch {

// `n` credential files of batch "batch1", signed with `private_key`.
inline std::vector<boost::json::value> make_batch(int n, const std::vector<std::uint8_t>& private_key) {
  namespace json = boost::json;
  std::vector<json::object> creds;
  std::vector<Hash> leaves;
  for (int i = 0; i < n; ++i) {
    json::object c{{"type", kCredentialType},
                   {"version", 1},
                   {"id", "cred" + std::to_string(i)},
                   {"batch_id", "batch1"},
                   {"issued_at", "2026-01-01T00:00:00Z"},
                   {"issuer", json::object{{"profile", 0}, {"name", "Test"}}},
                   {"recipient", json::object{{"external_id", "r" + std::to_string(i)}, {"name", "Ann \"A\" Lee"}}},
                   {"achievement", json::object{{"name", "Course"}, {"status", "passed"}, {"score", "93.5"}}},
                   {"result_id", i + 1}};
    leaves.push_back(leaf_hash(canonical_json(c)));
    creds.push_back(std::move(c));
  }
  const MerkleTree t = build_tree(leaves);
  const BatchSignature batch{"batch1", hex_encode(t.root), hex_encode(sign_digest(private_key, root_digest(t.root))),
                             hex_encode(public_key_of(private_key)), "m/44'/0'/0'/0/0"};
  std::vector<json::value> files;
  for (int i = 0; i < n; ++i) {
    files.push_back(json::object{{"credential", creds[i]}, {"proof", make_proof(batch, leaves[i], t.paths[i])}});
  }
  return files;
}

}  // namespace privstack::wallet::credential::test_batch
