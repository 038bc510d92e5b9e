// Canonical JSON, Merkle trees, ECDSA signing, offline verification with
// tamper detection, and issuance on a real store (docs/credential-format.md).
#include "core/encoding.h"
#include "wallet/credential.h"

#include <gtest/gtest.h>
#include <secp256k1.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <functional>

#include "audit/audit.h"
#include "records/records.h"
#include "store/store.h"
#include "wallet/issuance.h"
#include "wallet/secp.h"
#include "wallet/wallet.h"
#include "test_batch.h"

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace privstack;
using namespace privstack::wallet;
using namespace privstack::wallet::credential;
using namespace std::chrono_literals;

Hash h_of(int i) {
  Hash h{};
  h[0] = static_cast<std::uint8_t>(i);
  h[31] = static_cast<std::uint8_t>(i * 7);
  return h;
}

std::vector<std::uint8_t> test_key(std::uint8_t b) { return std::vector<std::uint8_t>(32, b); }

TEST(CanonicalJson, SortsKeysEscapesAndRefusesFloats) {
  json::value v = json::parse(R"({"b":1,"a":{"z":true,"y":null},"c":["x\"\\\n\t\u0001",-5],"é":"ü"})");
  EXPECT_EQ(canonical_json(v), "{\"a\":{\"y\":null,\"z\":true},\"b\":1,\"c\":[\"x\\\"\\\\\\n\\t\\u0001\",-5],\"é\":\"ü\"}");
  EXPECT_THROW(canonical_json(json::parse(R"({"score":1.5})")), FormatError);
  // Member order in the input does not matter.
  EXPECT_EQ(canonical_json(json::parse(R"({"x":1,"y":2})")), canonical_json(json::parse(R"({"y":2,"x":1})")));
}

TEST(Merkle, EveryPathLeadsToTheRootForManySizes) {
  for (int n = 1; n <= 40; ++n) {
    std::vector<Hash> leaves;
    for (int i = 0; i < n; ++i) leaves.push_back(h_of(i + 1));
    const MerkleTree t = build_tree(leaves);
    ASSERT_EQ(t.paths.size(), leaves.size());
    for (int i = 0; i < n; ++i) {
      EXPECT_EQ(root_from_path(leaves[i], t.paths[i]), t.root) << "n=" << n << " i=" << i;
      // A different leaf with the same path does not reach the root.
      EXPECT_NE(root_from_path(h_of(200), t.paths[i]), t.root);
    }
  }
}

TEST(Merkle, ShapeIsAsDocumented) {
  const Hash a = h_of(1), b = h_of(2), c = h_of(3);
  EXPECT_EQ(build_tree(std::vector<Hash>{a}).root, a);
  EXPECT_TRUE(build_tree(std::vector<Hash>{a}).paths[0].empty());
  // Three leaves: the odd one is promoted, not duplicated.
  const MerkleTree t = build_tree(std::vector<Hash>{a, b, c});
  EXPECT_EQ(t.root, node_hash(node_hash(a, b), c));
  ASSERT_EQ(t.paths[2].size(), 1u);
  EXPECT_TRUE(t.paths[2][0].sibling_left);
  EXPECT_EQ(t.paths[2][0].sibling, node_hash(a, b));
  // Leaf and node hashes are domain-separated.
  EXPECT_NE(leaf_hash(std::string(64, 'x')), node_hash(h_of(0), h_of(0)));
}

TEST(Signature, LowSSignVerifyAndRejections) {
  const auto key = test_key(0x11);
  const auto pub = public_key_of(key);
  const Hash d = root_digest(h_of(9));
  const auto sig = sign_digest(key, d);
  EXPECT_EQ(verify_digest(sig, pub, d), SigCheck::ok);
  Hash other = d;
  other[5] ^= 1;
  EXPECT_EQ(verify_digest(sig, pub, other), SigCheck::mismatch);
  const auto pub2 = public_key_of(test_key(0x22));
  EXPECT_EQ(verify_digest(sig, pub2, d), SigCheck::mismatch);
  EXPECT_EQ(verify_digest(std::vector<std::uint8_t>{0x30, 0x00}, pub, d), SigCheck::malformed);
  auto bad_pub = pub;
  bad_pub[0] = 0x05;
  EXPECT_EQ(verify_digest(sig, bad_pub, d), SigCheck::bad_public_key);

  // The same signature with s replaced by n - s (high-S) is refused.
  secp256k1_ecdsa_signature parsed;
  ASSERT_EQ(secp256k1_ecdsa_signature_parse_der(secp_context(), &parsed, sig.data(), sig.size()), 1);
  std::array<std::uint8_t, 64> compact{};
  secp256k1_ecdsa_signature_serialize_compact(secp_context(), compact.data(), &parsed);
  static constexpr std::uint8_t kN[32] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                          0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48,
                                          0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41};
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int v = kN[i] - compact[32 + i] - borrow;
    borrow = v < 0 ? 1 : 0;
    compact[32 + i] = static_cast<std::uint8_t>(v + (borrow ? 256 : 0));
  }
  secp256k1_ecdsa_signature high;
  ASSERT_EQ(secp256k1_ecdsa_signature_parse_compact(secp_context(), &high, compact.data()), 1);
  std::array<std::uint8_t, 72> der{};
  std::size_t len = der.size();
  secp256k1_ecdsa_signature_serialize_der(secp_context(), der.data(), &len, &high);
  EXPECT_EQ(verify_digest(std::span<const std::uint8_t>(der.data(), len), pub, d), SigCheck::high_s);
}

std::vector<json::value> make_batch(int n) { return test_batch::make_batch(n, test_key(0x33)); }

std::string flip_hex(std::string h, std::size_t pos) {
  h[pos] = h[pos] == '0' ? '1' : '0';
  return h;
}

TEST(Verify, ValidBatchAndEveryTamperingDetected) {
  auto files = make_batch(5);
  for (const auto& f : files) {
    const auto v = verify(f);
    EXPECT_TRUE(v.valid) << v.error;
  }
  // Round trip through text (any member order).
  EXPECT_TRUE(verify_text(json::serialize(files[3])).valid);

  struct Case {
    const char* name;
    std::function<void(json::object&)> tamper;
    const char* failed_check;
  };
  const std::vector<Case> cases = {
      {"recipient name", [](json::object& f) { f["credential"].as_object()["recipient"].as_object()["name"] = "Mallory"; }, "target_hash"},
      {"achievement", [](json::object& f) { f["credential"].as_object()["achievement"].as_object()["status"] = "failed"; }, "target_hash"},
      {"result id", [](json::object& f) { f["credential"].as_object()["result_id"] = 99; }, "target_hash"},
      {"issued_at", [](json::object& f) { f["credential"].as_object()["issued_at"] = "2030-01-01T00:00:00Z"; }, "target_hash"},
      {"added field", [](json::object& f) { f["credential"].as_object()["extra"] = "x"; }, "target_hash"},
      {"removed field", [](json::object& f) { f["credential"].as_object().erase("issuer"); }, "target_hash"},
      {"float score", [](json::object& f) { f["credential"].as_object()["achievement"].as_object()["score"] = 93.5; }, "canonical"},
      {"target hash", [](json::object& f) {
         auto& p = f["proof"].as_object();
         p["target_hash"] = flip_hex(std::string(p["target_hash"].as_string()), 3);
       }, "target_hash"},
      {"path hash", [](json::object& f) {
         auto& step = f["proof"].as_object()["merkle_path"].as_array()[0].as_object();
         step["hash"] = flip_hex(std::string(step["hash"].as_string()), 10);
       }, "merkle_root"},
      {"path position", [](json::object& f) {
         auto& step = f["proof"].as_object()["merkle_path"].as_array()[0].as_object();
         step["position"] = step["position"].as_string() == "left" ? "right" : "left";
       }, "merkle_root"},
      {"path step removed", [](json::object& f) { f["proof"].as_object()["merkle_path"].as_array().pop_back(); }, "merkle_root"},
      {"merkle root", [](json::object& f) {
         auto& p = f["proof"].as_object();
         p["merkle_root"] = flip_hex(std::string(p["merkle_root"].as_string()), 0);
       }, "merkle_root"},
      {"signature", [](json::object& f) {
         auto& p = f["proof"].as_object();
         std::string s(p["signature"].as_string());
         p["signature"] = flip_hex(s, s.size() - 4);
       }, "signature"},
      {"public key", [](json::object& f) {
         f["proof"].as_object()["public_key"] = hex_encode(public_key_of(test_key(0x44)));
       }, "signature"},
      {"batch id", [](json::object& f) { f["proof"].as_object()["batch_id"] = "batch2"; }, "batch"},
      {"type", [](json::object& f) { f["proof"].as_object()["type"] = "Other"; }, "type"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    json::object f = files[2].as_object();
    c.tamper(f);
    const auto v = verify(f);
    EXPECT_FALSE(v.valid);
    ASSERT_FALSE(v.checks.empty());
    EXPECT_EQ(v.checks.back().first, c.failed_check);
    EXPECT_FALSE(v.checks.back().second);
    EXPECT_FALSE(v.error.empty());
  }
  EXPECT_FALSE(verify_text("not json").valid);
  EXPECT_FALSE(verify_text("{}").valid);
}

// Issuance on a real SQLCipher store with records and the audit log.
class IssuanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/issuance-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store::init_key_file(dir_ / "store.key");
    store::Options o;
    o.database = dir_ / "privstack.db";
    o.key = {dir_ / "store.key", false};
    store_ = store::Store::open(o);
    audit_ = std::make_unique<audit::AuditLog>(*store_, Secret("0123456789abcdef0123456789abcdef"));
    WalletSettings s;
    s.seal = SealParams{8 * 1024, 1, 1};
    wallet_ = std::make_unique<WalletService>(*store_, audit_.get(), s);
    issuance_ = std::make_unique<IssuanceService>(*store_, audit_.get(), *wallet_);
    wallet_->import("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
                    kPassword, "", "user:admin");
    store_->write([&](store::Connection& c) {
      records::Recipient r;
      r.external_id = "R-1";
      r.name = "Ann Lee";
      r.email = "ann@example.com";
      records::Repository::insert(c, r);
      for (int i = 0; i < 7; ++i) {
        records::Result res;
        res.recipient_id = r.id;
        res.achievement = "Course " + std::to_string(i);
        res.status = i == 6 ? "failed" : "passed";
        if (i == 0) res.score = 87.25;
        results_.push_back(records::Repository::insert(c, res));
      }
    });
  }
  void TearDown() override {
    issuance_.reset();
    wallet_.reset();
    audit_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  std::string error_of(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const privstack::Error& e) {
      return e.reason();
    }
    return "none";
  }
  static constexpr const char* kPassword = "Issuing-Secret-2024x";
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<WalletService> wallet_;
  std::unique_ptr<IssuanceService> issuance_;
  std::vector<std::int64_t> results_;
};

TEST_F(IssuanceTest, IssueVerifyRevoke) {
  const std::vector<std::int64_t> batch_ids(results_.begin(), results_.begin() + 5);
  EXPECT_EQ(error_of([&] { issuance_->issue({batch_ids, 0}, "user:alice", "127.0.0.1"); }), "locked");
  wallet_->unlock(kPassword, "user:alice", "127.0.0.1");
  EXPECT_EQ(error_of([&] { issuance_->issue({{results_[6]}, 0}, "user:alice", ""); }), "not_issuable");
  EXPECT_EQ(error_of([&] { issuance_->issue({{999999}, 0}, "user:alice", ""); }), "not_found");
  EXPECT_EQ(error_of([&] { issuance_->issue({{}, 0}, "user:alice", ""); }), "bad_request");

  const IssuedBatch b = issuance_->issue({batch_ids, 3}, "user:alice", "127.0.0.1");
  ASSERT_EQ(b.files.size(), 5u);
  EXPECT_EQ(b.derivation_path, "m/44'/0'/3'/0/0");
  // The key is the wallet's key at that path.
  EXPECT_EQ(wallet_->derive_public(b.derivation_path, "test").public_key, b.public_key);
  for (const auto& f : b.files) {
    const auto v = verify_text(f);
    EXPECT_TRUE(v.valid) << v.error;
    EXPECT_EQ(v.merkle_root, b.merkle_root);
    const auto online = issuance_->verify(f);
    EXPECT_EQ(online.at("status").as_string(), "valid");
    EXPECT_TRUE(online.at("known").as_bool());
    EXPECT_TRUE(online.at("issuer_key_matches").as_bool());
  }
  // Results are marked; a second issuance for them is refused.
  store_->read([&](store::Connection& c) {
    EXPECT_EQ(records::Repository::result(c, results_[0])->credential_id, b.credential_ids[0]);
  });
  EXPECT_EQ(error_of([&] { issuance_->issue({{results_[0]}, 3}, "user:alice", ""); }), "already_issued");
  // The next batch of the profile uses the next key.
  const IssuedBatch b2 = issuance_->issue({{results_[5]}, 3}, "user:alice", "");
  EXPECT_EQ(b2.derivation_path, "m/44'/0'/3'/0/1");
  EXPECT_TRUE(verify_text(b2.files[0]).valid);  // a batch of one: root = leaf

  // Revocation.
  issuance_->revoke(b.credential_ids[1], "issued in error", "user:admin", "");
  EXPECT_EQ(error_of([&] { issuance_->revoke(b.credential_ids[1], "again", "user:admin", ""); }), "already_revoked");
  EXPECT_EQ(issuance_->verify(b.files[1]).at("status").as_string(), "revoked");
  EXPECT_EQ(issuance_->revocations(3).at("revoked").as_array().size(), 1u);
  EXPECT_EQ(issuance_->revocations(0).at("revoked").as_array().size(), 0u);
  EXPECT_EQ(issuance_->credential_file(b.credential_ids[2]).value_or(""), b.files[2]);

  // A forged batch with another key at the same path: signature valid, key not the issuer's.
  auto forged = make_batch(1)[0].as_object();
  forged["proof"].as_object()["derivation_path"] = b.derivation_path;
  const auto doc = issuance_->verify(json::serialize(forged));
  EXPECT_EQ(doc.at("status").as_string(), "invalid");
  EXPECT_FALSE(doc.at("issuer_key_matches").as_bool());

  // Locked: issuance refused, verification still works from cached xpubs.
  wallet_->lock("user:alice", "manual");
  EXPECT_EQ(error_of([&] { issuance_->issue({{results_[6]}, 3}, "user:alice", ""); }), "locked");
  EXPECT_EQ(issuance_->verify(b.files[0]).at("status").as_string(), "valid");

  // Audited with batch and count.
  audit::Filter f;
  f.action = "credential.";
  f.limit = 100;
  int issued = 0;
  store_->read([&](store::Connection& c) {
    for (const auto& e : audit_->query(c, f)) {
      if (e.action == "credential.issue" && e.outcome == audit::kSuccess) {
        ++issued;
        EXPECT_NE(e.detail.find("count"), std::string::npos);
        EXPECT_NE(e.detail.find("batch"), std::string::npos);
      }
    }
  });
  EXPECT_EQ(issued, 2);
}

}  // namespace
