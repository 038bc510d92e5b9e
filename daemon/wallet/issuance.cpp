#include "wallet/issuance.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>
#include <set>

#include "audit/audit.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/time.h"
#include "records/records.h"
#include "store/store.h"
#include "wallet/credential.h"

namespace privstack::wallet {

namespace json = boost::json;
namespace cred = credential;

namespace {

const store::Migration kMigrations[] = {
    {1,
     "CREATE TABLE credential_batches ("
     "  id TEXT PRIMARY KEY,"
     "  profile INTEGER NOT NULL,"
     "  key_index INTEGER NOT NULL,"
     "  derivation_path TEXT NOT NULL,"
     "  public_key TEXT NOT NULL,"
     "  merkle_root TEXT NOT NULL,"
     "  signature TEXT NOT NULL,"
     "  count INTEGER NOT NULL,"
     "  issued_at INTEGER NOT NULL,"
     "  issued_by TEXT NOT NULL,"
     "  anchor TEXT,"
     "  UNIQUE (profile, key_index));"
     "CREATE TABLE credentials ("
     "  id TEXT PRIMARY KEY,"
     "  batch_id TEXT NOT NULL REFERENCES credential_batches(id),"
     "  result_id INTEGER NOT NULL,"
     "  profile INTEGER NOT NULL,"
     "  target_hash TEXT NOT NULL,"
     "  file TEXT NOT NULL,"
     "  issued_at INTEGER NOT NULL,"
     "  revoked_at INTEGER,"
     "  revoked_by TEXT,"
     "  revocation_reason TEXT);"
     "CREATE INDEX credentials_batch ON credentials(batch_id);"
     "CREATE INDEX credentials_revoked ON credentials(profile, revoked_at);"},
};

std::string id_list(const std::vector<std::int64_t>& ids) {
  std::string out;
  for (std::size_t i = 0; i < ids.size() && i < 20; ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
  if (ids.size() > 20) out += ", ... (" + std::to_string(ids.size()) + " in all)";
  return out;
}

}  // namespace

struct IssuanceService::Impl {
  store::Store& store;
  audit::AuditLog* audit;
  WalletService& wallet;
  Clock& clock;
  std::mutex issuing;  // one issuance at a time (key_index allocation)

  Impl(store::Store& s, audit::AuditLog* a, WalletService& w, Clock& c) : store(s), audit(a), wallet(w), clock(c) {}

  audit::Entry entry(const std::string& actor, const std::string& source, std::string action, std::string object,
                     std::string_view outcome, std::string detail) const {
    audit::Entry e;
    e.actor = actor;
    e.source = source;
    e.action = std::move(action);
    e.object = std::move(object);
    e.outcome = std::string(outcome);
    e.detail = std::move(detail);
    return e;
  }
};

IssuanceService::IssuanceService(store::Store& store, audit::AuditLog* audit, WalletService& wallet, Clock& clock)
    : impl_(std::make_unique<Impl>(store, audit, wallet, clock)) {
  records::Repository::migrate(store);  // results must exist first (idempotent)
  store.migrate("credentials", std::span<const store::Migration>(kMigrations));
}

IssuanceService::~IssuanceService() = default;

IssuedBatch IssuanceService::issue(const IssueRequest& request, const std::string& actor, const std::string& source) {
  if (request.result_ids.empty()) throw Error(ErrorCode::invalid_argument, "result_ids must list at least one result").with_reason("bad_request");
  if (request.result_ids.size() > kMaxBatch) {
    throw Error(ErrorCode::invalid_argument, "at most " + std::to_string(kMaxBatch) + " results per batch").with_reason("bad_request");
  }
  if (request.profile >= bip32::kHardened) throw Error(ErrorCode::invalid_argument, "profile must be below 2^31").with_reason("bad_request");
  {
    std::set<std::int64_t> seen;
    for (auto id : request.result_ids) {
      if (!seen.insert(id).second) throw Error(ErrorCode::invalid_argument, "result " + std::to_string(id) + " is listed twice").with_reason("bad_request");
    }
  }
  // Fail fast (and without reading customer data) while locked.
  const Status st = impl_->wallet.status();
  if (!st.initialized) throw Error(ErrorCode::not_configured, "the wallet is not initialized").with_reason("not_initialized");
  if (!st.unlocked) {
    if (impl_->audit != nullptr) {
      impl_->audit->append(impl_->entry(actor, source, "credential.issue", "credential-batch", audit::kDenied,
                                        "wallet locked; " + std::to_string(request.result_ids.size()) + " results"));
    }
    throw Error(ErrorCode::locked, "the wallet is locked: unlock it with the issuing password to issue").with_reason("locked");
  }

  std::lock_guard serial(impl_->issuing);
  IssuedBatch batch;
  batch.profile = request.profile;
  batch.batch_id = random_hex(16);
  batch.issued_at = impl_->clock.unix_seconds();
  const std::string issued_at_text = format_rfc3339(batch.issued_at);

  // 1. Read the results and recipients; pick the batch's key index.
  struct Row {
    records::Result result;
    records::Recipient recipient;
  };
  std::vector<Row> rows;
  rows.reserve(request.result_ids.size());
  impl_->store.read([&](store::Connection& c) {
    std::vector<std::int64_t> missing, not_passed, issued;
    std::map<std::int64_t, records::Recipient> recipients;
    for (auto id : request.result_ids) {
      auto r = records::Repository::result(c, id);
      if (!r) {
        missing.push_back(id);
        continue;
      }
      if (r->status != "passed") not_passed.push_back(id);
      if (r->credential_id) issued.push_back(id);
      auto it = recipients.find(r->recipient_id);
      if (it == recipients.end()) {
        auto rec = records::Repository::recipient(c, r->recipient_id);
        if (!rec) {
          missing.push_back(id);
          continue;
        }
        it = recipients.emplace(r->recipient_id, std::move(*rec)).first;
      }
      rows.push_back(Row{std::move(*r), it->second});
    }
    if (!missing.empty()) throw Error(ErrorCode::not_found, "no such result: " + id_list(missing)).with_reason("not_found");
    if (!not_passed.empty()) {
      throw Error(ErrorCode::validation_failed, "only passed results get a credential; not passed: " + id_list(not_passed)).with_reason("not_issuable");
    }
    if (!issued.empty()) throw Error(ErrorCode::conflict, "already issued: " + id_list(issued)).with_reason("already_issued");
    const auto next = c.query_one<std::int64_t>(
        "SELECT COALESCE(MAX(key_index) + 1, 0) FROM credential_batches WHERE profile = ?",
        static_cast<std::int64_t>(request.profile));
    batch.key_index = static_cast<std::uint32_t>(next.value_or(0));
  });
  if (batch.key_index >= bip32::kHardened) throw Error(ErrorCode::invalid_argument, "this profile has no key index left").with_reason("bad_request");
  batch.derivation_path = account_path(request.profile) + "/0/" + std::to_string(batch.key_index);

  // 2. The credentials, their leaves and the tree.
  std::vector<json::object> credentials;
  std::vector<cred::Hash> leaves;
  credentials.reserve(rows.size());
  leaves.reserve(rows.size());
  batch.credential_ids.reserve(rows.size());
  for (const auto& row : rows) {
    json::object achievement{{"name", row.result.achievement}, {"status", row.result.status}};
    if (row.result.score) achievement["score"] = records::format_score(*row.result.score);
    if (row.result.completed_at) achievement["completed_at"] = format_rfc3339(*row.result.completed_at);
    std::string id = random_hex(16);
    json::object doc{
        {"type", cred::kCredentialType},
        {"version", 1},
        {"id", id},
        {"batch_id", batch.batch_id},
        {"issued_at", issued_at_text},
        {"issuer", json::object{{"profile", static_cast<std::int64_t>(request.profile)}, {"name", request.issuer_name}}},
        {"recipient", json::object{{"external_id", row.recipient.external_id}, {"name", row.recipient.name}}},
        {"achievement", std::move(achievement)},
        {"result_id", row.result.id},
    };
    leaves.push_back(cred::leaf_hash(cred::canonical_json(doc)));
    credentials.push_back(std::move(doc));
    batch.credential_ids.push_back(std::move(id));
  }
  const cred::MerkleTree tree = cred::build_tree(leaves);
  const cred::Hash digest = cred::root_digest(tree.root);
  batch.merkle_root = hex_encode(tree.root);

  // 3. Sign the root with the profile's key (refused while locked). The
  // public derivation first: it is audited and caches the account xpub, so
  // the key stays checkable while the wallet is locked.
  const Derived pub = impl_->wallet.derive_public(batch.derivation_path, actor);
  std::vector<std::uint8_t> signature;
  impl_->wallet.with_private_key(batch.derivation_path, [&](const bip32::ExtendedPrivateKey& key) {
    const auto own = cred::public_key_of(key.private_key());
    if (hex_encode(own) != pub.public_key) throw std::runtime_error("derived key mismatch");
    signature = cred::sign_digest(key.private_key(), digest);
  });
  batch.public_key = pub.public_key;
  batch.signature = hex_encode(signature);

  // 4. Proofs and files.
  batch.files.reserve(rows.size());
  const cred::BatchSignature signed_batch{batch.batch_id, batch.merkle_root, batch.signature, batch.public_key,
                                         batch.derivation_path};
  for (std::size_t i = 0; i < credentials.size(); ++i) {
    json::object proof = cred::make_proof(signed_batch, leaves[i], tree.paths[i]);
    json::object file{{"credential", std::move(credentials[i])}, {"proof", std::move(proof)}};
    batch.files.push_back(cred::canonical_json(file));
  }

  // 5. Store the batch, its credentials and the results' marks, with the
  // audit entry, in one transaction.
  impl_->store.write([&](store::Connection& c) {
    c.exec("INSERT INTO credential_batches (id, profile, key_index, derivation_path, public_key, merkle_root, "
           "signature, count, issued_at, issued_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
           batch.batch_id, static_cast<std::int64_t>(batch.profile), static_cast<std::int64_t>(batch.key_index),
           batch.derivation_path, batch.public_key, batch.merkle_root, batch.signature,
           static_cast<std::int64_t>(rows.size()), batch.issued_at, actor);
    auto insert = c.prepare(
        "INSERT INTO credentials (id, batch_id, result_id, profile, target_hash, file, issued_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      // Checked again inside the transaction: another writer may have issued meanwhile.
      auto current = records::Repository::result(c, rows[i].result.id);
      if (!current || current->credential_id) {
        throw Error(ErrorCode::conflict, "result " + std::to_string(rows[i].result.id) +
                                                " changed during issuance; nothing was issued").with_reason("already_issued");
      }
      current->credential_id = batch.credential_ids[i];
      records::Repository::update(c, *current);
      insert.reset();
      insert.clear_bindings();
      insert.bind_all(batch.credential_ids[i], batch.batch_id, rows[i].result.id,
                      static_cast<std::int64_t>(batch.profile), hex_encode(leaves[i]), batch.files[i],
                      batch.issued_at);
      insert.run();
    }
    if (impl_->audit != nullptr) {
      impl_->audit->append(c, impl_->entry(actor, source, "credential.issue", "credential-batch:" + batch.batch_id,
                                           audit::kSuccess,
                                           "batch " + batch.batch_id + "; count " + std::to_string(rows.size()) +
                                               "; profile " + std::to_string(batch.profile) + "; key " +
                                               batch.derivation_path + "; root " + batch.merkle_root));
    }
  });
  return batch;
}

json::object IssuanceService::verify(std::string_view file_text) {
  cred::Verification v = cred::verify_text(file_text);
  json::object doc = v.to_json();
  bool known = false, revoked = false;
  std::optional<bool> key_matches;
  if (v.valid) {
    impl_->store.read([&](store::Connection& c) {
      auto q = c.prepare(
          "SELECT c.revoked_at, c.revocation_reason, b.public_key, b.merkle_root, b.derivation_path "
          "FROM credentials c JOIN credential_batches b ON b.id = c.batch_id WHERE c.id = ?");
      q.bind(1, v.credential_id);
      if (q.step()) {
        known = true;
        if (!q.is_null(0)) {
          revoked = true;
          doc["revoked_at"] = format_rfc3339(q.column_int64(0));
          doc["revocation_reason"] = q.column_text(1);
        }
        key_matches = q.column_text(2) == v.public_key && q.column_text(3) == v.merkle_root &&
                      q.column_text(4) == v.derivation_path;
      }
    });
    if (!known) {
      // Not issued here (or from another store): is the key this wallet's?
      try {
        key_matches = impl_->wallet.derive_public(v.derivation_path, "system:verify").public_key == v.public_key;
      } catch (const Error& e) {
        // Not derivable (locked, not initialized, a path it cannot take):
        // unknown. A store failure is not an answer: it propagates.
        if (e.code() == ErrorCode::internal || e.code() == ErrorCode::unavailable ||
            e.code() == ErrorCode::insufficient_storage) {
          throw;
        }
      }
    }
  }
  doc["known"] = known;
  doc["revoked"] = revoked;
  doc["issuer_key_matches"] = key_matches ? json::value(*key_matches) : json::value(nullptr);
  std::string status = "valid";
  if (!v.valid) {
    status = "invalid";
  } else if (key_matches && !*key_matches) {
    status = "invalid";
    doc["error"] = "the credential is not signed by this issuer's key for its derivation path";
  } else if (revoked) {
    status = "revoked";
  }
  doc["status"] = status;
  return doc;
}

json::object IssuanceService::revoke(const std::string& credential_id, const std::string& reason,
                                     const std::string& actor, const std::string& source) {
  if (reason.empty() || reason.size() > 500) throw Error(ErrorCode::invalid_argument, "a reason (1-500 characters) is required").with_reason("bad_request");
  const std::int64_t t = impl_->clock.unix_seconds();
  return impl_->store.write([&](store::Connection& c) {
    auto row = c.prepare("SELECT revoked_at, profile, batch_id FROM credentials WHERE id = ?");
    row.bind(1, credential_id);
    if (!row.step()) throw Error(ErrorCode::not_found, "no such credential").with_reason("not_found");
    if (!row.is_null(0)) throw Error(ErrorCode::conflict, "the credential is already revoked").with_reason("already_revoked");
    const std::int64_t profile = row.column_int64(1);
    const std::string batch_id = row.column_text(2);
    c.exec("UPDATE credentials SET revoked_at = ?, revoked_by = ?, revocation_reason = ? WHERE id = ?", t, actor,
           reason, credential_id);
    if (impl_->audit != nullptr) {
      impl_->audit->append(c, impl_->entry(actor, source, "credential.revoke", "credential:" + credential_id,
                                           audit::kSuccess,
                                           "batch " + batch_id + "; profile " + std::to_string(profile) + "; reason " + reason));
    }
    return json::object{{"id", credential_id},
                        {"profile", profile},
                        {"revoked_at", format_rfc3339(t)},
                        {"reason", reason}};
  });
}

json::object IssuanceService::revocations(std::uint32_t profile) {
  return impl_->store.read([&](store::Connection& c) {
    json::array list;
    c.for_each(
        "SELECT id, revoked_at, revocation_reason FROM credentials WHERE profile = ? AND revoked_at IS NOT NULL "
        "ORDER BY revoked_at, id",
        [&](const store::Statement& s) {
          list.push_back(json::object{{"id", s.column_text(0)},
                                      {"revoked_at", format_rfc3339(s.column_int64(1))},
                                      {"reason", s.column_text(2)}});
        },
        static_cast<std::int64_t>(profile));
    return json::object{{"profile", static_cast<std::int64_t>(profile)}, {"revoked", std::move(list)}};
  });
}

std::optional<std::string> IssuanceService::credential_file(const std::string& credential_id) {
  return impl_->store.read([&](store::Connection& c) {
    return c.query_one<std::string>("SELECT file FROM credentials WHERE id = ?", credential_id);
  });
}

json::object IssuanceService::batches(int limit) {
  return impl_->store.read([&](store::Connection& c) {
    json::array list;
    c.for_each(
        "SELECT id, profile, derivation_path, public_key, merkle_root, signature, count, issued_at, issued_by "
        "FROM credential_batches ORDER BY issued_at DESC, id LIMIT ?",
        [&](const store::Statement& s) {
          list.push_back(json::object{{"batch_id", s.column_text(0)},
                                      {"profile", s.column_int64(1)},
                                      {"derivation_path", s.column_text(2)},
                                      {"public_key", s.column_text(3)},
                                      {"merkle_root", s.column_text(4)},
                                      {"signature", s.column_text(5)},
                                      {"count", s.column_int64(6)},
                                      {"issued_at", format_rfc3339(s.column_int64(7))},
                                      {"issued_by", s.column_text(8)}});
        },
        static_cast<std::int64_t>(limit));
    return json::object{{"batches", std::move(list)}};
  });
}

}  // namespace privstack::wallet
