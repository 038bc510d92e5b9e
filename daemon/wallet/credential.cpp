#include "wallet/credential.h"

#include <openssl/evp.h>
#include <secp256k1.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>

#include "core/encoding.h"
#include "wallet/secp.h"

namespace privstack::wallet::credential {

namespace json = boost::json;

namespace {

void append_value(std::string& out, const json::value& v, int depth) {
  if (depth > 32) throw FormatError("the document is nested too deeply");
  switch (v.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case json::kind::int64: out += std::to_string(v.get_int64()); break;
    case json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case json::kind::double_: throw FormatError("floating-point numbers are not allowed in a credential");
    case json::kind::string: append_json_string(out, v.get_string()); break;
    case json::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const auto& item : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        append_value(out, item, depth + 1);
      }
      out.push_back(']');
      break;
    }
    case json::kind::object: {
      const auto& o = v.get_object();
      std::vector<const json::key_value_pair*> members;
      members.reserve(o.size());
      for (const auto& kv : o) members.push_back(&kv);
      std::sort(members.begin(), members.end(),
                [](const json::key_value_pair* a, const json::key_value_pair* b) { return a->key() < b->key(); });
      for (std::size_t i = 1; i < members.size(); ++i) {
        if (members[i]->key() == members[i - 1]->key()) throw FormatError("duplicate member in an object");
      }
      out.push_back('{');
      bool first = true;
      for (const auto* kv : members) {
        if (!first) out.push_back(',');
        first = false;
        append_json_string(out, kv->key());
        out.push_back(':');
        append_value(out, kv->value(), depth + 1);
      }
      out.push_back('}');
      break;
    }
  }
}

Hash sha256_parts(std::initializer_list<std::span<const std::uint8_t>> parts) {
  struct Ctx {
    EVP_MD_CTX* p = EVP_MD_CTX_new();
    ~Ctx() { EVP_MD_CTX_free(p); }
  } ctx;
  Hash h{};
  unsigned int len = 0;
  bool ok = ctx.p != nullptr && EVP_DigestInit_ex(ctx.p, EVP_sha256(), nullptr) == 1;
  for (const auto& part : parts) ok = ok && EVP_DigestUpdate(ctx.p, part.data(), part.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx.p, h.data(), &len) == 1;
  if (!ok || len != h.size()) throw std::runtime_error("SHA-256 failed");
  return h;
}

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

const json::string* get_string(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? &v->get_string() : nullptr;
}

std::optional<Hash> hash_of_hex(const json::string* s) {
  if (s == nullptr || s->size() != 64) return std::nullopt;
  auto bytes = hex_decode(*s, HexInput::lower_only);
  if (!bytes) return std::nullopt;
  Hash h{};
  std::copy(bytes->begin(), bytes->end(), h.begin());
  return h;
}

}  // namespace

std::string canonical_json(const json::value& value) {
  std::string out;
  append_value(out, value, 0);
  return out;
}

Hash leaf_hash(std::string_view canonical) {
  static constexpr std::uint8_t kLeaf[1] = {0x00};
  return sha256_parts({kLeaf, bytes_of(canonical)});
}

Hash node_hash(const Hash& left, const Hash& right) {
  static constexpr std::uint8_t kNode[1] = {0x01};
  return sha256_parts({kNode, left, right});
}

Hash root_digest(const Hash& root) { return sha256_parts({bytes_of(kRootTag), root}); }

MerkleTree build_tree(std::span<const Hash> leaves) {
  if (leaves.empty()) throw std::invalid_argument("a Merkle tree needs at least one leaf");
  MerkleTree tree;
  tree.paths.resize(leaves.size());
  // pos[i]: index of leaf i's ancestor in the current level.
  std::vector<std::size_t> pos(leaves.size());
  for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = i;
  std::vector<Hash> level(leaves.begin(), leaves.end());
  while (level.size() > 1) {
    for (std::size_t i = 0; i < pos.size(); ++i) {
      const std::size_t p = pos[i];
      const std::size_t sibling = p ^ 1u;
      if (sibling < level.size()) tree.paths[i].push_back(PathStep{(p & 1u) != 0, level[sibling]});
      pos[i] = p / 2;
    }
    std::vector<Hash> next;
    next.reserve((level.size() + 1) / 2);
    for (std::size_t j = 0; j + 1 < level.size(); j += 2) next.push_back(node_hash(level[j], level[j + 1]));
    if (level.size() % 2 == 1) next.push_back(level.back());  // promoted unchanged
    level = std::move(next);
  }
  tree.root = level.front();
  return tree;
}

Hash root_from_path(const Hash& leaf, std::span<const PathStep> path) {
  Hash h = leaf;
  for (const auto& step : path) h = step.sibling_left ? node_hash(step.sibling, h) : node_hash(h, step.sibling);
  return h;
}

std::vector<std::uint8_t> sign_digest(std::span<const std::uint8_t> private_key, const Hash& digest) {
  if (private_key.size() != 32) throw std::invalid_argument("a secp256k1 private key has 32 bytes");
  secp256k1_ecdsa_signature sig;
  if (secp256k1_ecdsa_sign(secp_context(), &sig, digest.data(), private_key.data(), nullptr, nullptr) != 1) {
    throw std::runtime_error("ECDSA signing failed");
  }
  // libsecp256k1 always produces low-S signatures; normalize anyway.
  secp256k1_ecdsa_signature_normalize(secp_context(), &sig, &sig);
  std::vector<std::uint8_t> der(72);
  std::size_t len = der.size();
  if (secp256k1_ecdsa_signature_serialize_der(secp_context(), der.data(), &len, &sig) != 1) {
    throw std::runtime_error("cannot serialize the signature");
  }
  std::vector<std::uint8_t> out(der.begin(), der.begin() + static_cast<std::ptrdiff_t>(len));
  return out;
}

std::array<std::uint8_t, 33> public_key_of(std::span<const std::uint8_t> private_key) {
  if (private_key.size() != 32) throw std::invalid_argument("a secp256k1 private key has 32 bytes");
  secp256k1_pubkey pub;
  if (secp256k1_ec_pubkey_create(secp_context(), &pub, private_key.data()) != 1) {
    throw std::runtime_error("invalid private key");
  }
  std::array<std::uint8_t, 33> out{};
  std::size_t len = out.size();
  secp256k1_ec_pubkey_serialize(secp_context(), out.data(), &len, &pub, SECP256K1_EC_COMPRESSED);
  return out;
}

SigCheck verify_digest(std::span<const std::uint8_t> der, std::span<const std::uint8_t> public_key,
                       const Hash& digest) {
  secp256k1_ecdsa_signature sig;
  if (der.empty() || secp256k1_ecdsa_signature_parse_der(secp_context(), &sig, der.data(), der.size()) != 1) {
    return SigCheck::malformed;
  }
  // Strict DER: re-serializing must give the same bytes.
  std::array<std::uint8_t, 72> again{};
  std::size_t len = again.size();
  secp256k1_ecdsa_signature_serialize_der(secp_context(), again.data(), &len, &sig);
  if (len != der.size() || std::memcmp(again.data(), der.data(), len) != 0) return SigCheck::malformed;
  secp256k1_ecdsa_signature normalized;
  if (secp256k1_ecdsa_signature_normalize(secp_context(), &normalized, &sig) == 1) return SigCheck::high_s;
  secp256k1_pubkey pub;
  if (public_key.size() != 33 ||
      secp256k1_ec_pubkey_parse(secp_context(), &pub, public_key.data(), public_key.size()) != 1) {
    return SigCheck::bad_public_key;
  }
  return secp256k1_ecdsa_verify(secp_context(), &sig, digest.data(), &pub) == 1 ? SigCheck::ok : SigCheck::mismatch;
}

json::object make_proof(const BatchSignature& batch, const Hash& leaf, std::span<const PathStep> path) {
  json::array steps;
  for (const auto& step : path) {
    steps.push_back(json::object{{"position", step.sibling_left ? "left" : "right"}, {"hash", hex_encode(step.sibling)}});
  }
  return json::object{
      {"type", kProofType},
      {"signature_algorithm", kSignatureAlgorithm},
      {"batch_id", batch.batch_id},
      {"target_hash", hex_encode(leaf)},
      {"merkle_path", std::move(steps)},
      {"merkle_root", batch.merkle_root},
      {"signature", batch.signature},
      {"public_key", batch.public_key},
      {"derivation_path", batch.derivation_path},
  };
}

json::object Verification::to_json() const {
  json::object checks_doc;
  for (const auto& [name, ok] : checks) checks_doc[name] = ok;
  json::object doc{{"valid", valid}, {"checks", std::move(checks_doc)}};
  if (!error.empty()) doc["error"] = error;
  if (!credential_id.empty()) doc["credential_id"] = credential_id;
  if (!batch_id.empty()) doc["batch_id"] = batch_id;
  if (issuer_profile >= 0) doc["issuer_profile"] = issuer_profile;
  if (!public_key.empty()) doc["public_key"] = public_key;
  if (!derivation_path.empty()) doc["derivation_path"] = derivation_path;
  if (!merkle_root.empty()) doc["merkle_root"] = merkle_root;
  return doc;
}

Verification verify(const json::value& file) {
  Verification v;
  auto check = [&](const char* name, bool ok, const std::string& why) {
    v.checks.emplace_back(name, ok);
    if (!ok && v.error.empty()) v.error = why;
    return ok;
  };
  const json::object* top = file.if_object();
  const json::object* cred = nullptr;
  const json::object* proof = nullptr;
  if (top != nullptr) {
    if (const auto* c = top->if_contains("credential")) cred = c->if_object();
    if (const auto* p = top->if_contains("proof")) proof = p->if_object();
  }
  if (!check("format", cred != nullptr && proof != nullptr,
             "not a credential file: expected an object with \"credential\" and \"proof\" objects")) {
    return v;
  }
  const json::string* type = get_string(*cred, "type");
  const json::string* ptype = get_string(*proof, "type");
  const json::string* alg = get_string(*proof, "signature_algorithm");
  const json::value* version = cred->if_contains("version");
  const bool types_ok = type != nullptr && *type == kCredentialType && ptype != nullptr && *ptype == kProofType &&
                        alg != nullptr && *alg == kSignatureAlgorithm && version != nullptr &&
                        version->is_int64() && version->get_int64() == 1;
  if (!check("type", types_ok, "unknown credential, proof or signature type or version")) return v;
  if (const auto* s = get_string(*cred, "id")) v.credential_id = std::string(*s);
  if (const auto* s = get_string(*cred, "batch_id")) v.batch_id = std::string(*s);
  if (const auto* issuer = cred->if_contains("issuer"); issuer != nullptr && issuer->is_object()) {
    if (const auto* p = issuer->get_object().if_contains("profile"); p != nullptr && p->is_int64()) {
      v.issuer_profile = p->get_int64();
    }
  }
  if (const auto* s = get_string(*proof, "public_key")) v.public_key = std::string(*s);
  if (const auto* s = get_string(*proof, "derivation_path")) v.derivation_path = std::string(*s);
  if (const auto* s = get_string(*proof, "merkle_root")) v.merkle_root = std::string(*s);

  std::string canonical;
  try {
    canonical = canonical_json(top->at("credential"));
  } catch (const FormatError& e) {
    check("canonical", false, std::string("the credential cannot be serialized canonically: ") + e.what());
    return v;
  }
  check("canonical", true, {});

  const Hash leaf = leaf_hash(canonical);
  const auto target = hash_of_hex(get_string(*proof, "target_hash"));
  if (!check("target_hash", target && *target == leaf,
             "the credential does not match the proof's target_hash (a field was changed)")) {
    return v;
  }

  const json::string* pbatch = get_string(*proof, "batch_id");
  if (!check("batch", pbatch != nullptr && !v.batch_id.empty() && *pbatch == v.batch_id,
             "the proof's batch_id differs from the credential's")) {
    return v;
  }

  std::vector<PathStep> path;
  bool path_ok = false;
  if (const auto* p = proof->if_contains("merkle_path"); p != nullptr && p->is_array() && p->get_array().size() <= 64) {
    path_ok = true;
    for (const auto& step : p->get_array()) {
      const json::object* so = step.if_object();
      const json::string* position = so != nullptr ? get_string(*so, "position") : nullptr;
      const auto sibling = so != nullptr ? hash_of_hex(get_string(*so, "hash")) : std::nullopt;
      if (so == nullptr || so->size() != 2 || position == nullptr || (*position != "left" && *position != "right") ||
          !sibling) {
        path_ok = false;
        break;
      }
      path.push_back(PathStep{*position == "left", *sibling});
    }
  }
  if (!check("merkle_path", path_ok, "the proof's merkle_path is malformed")) return v;
  const auto root = hash_of_hex(get_string(*proof, "merkle_root"));
  if (!check("merkle_root", root && root_from_path(leaf, path) == *root,
             "the Merkle path does not lead to the proof's merkle_root")) {
    return v;
  }

  const auto sig = hex_decode(get_string(*proof, "signature") ? std::string_view(*get_string(*proof, "signature")) : "",
                              HexInput::lower_only);
  const auto pub = hex_decode(v.public_key, HexInput::lower_only);
  const SigCheck sc = verify_digest(sig ? *sig : std::vector<std::uint8_t>{},
                                    pub ? *pub : std::vector<std::uint8_t>{}, root_digest(*root));
  std::string why;
  switch (sc) {
    case SigCheck::ok: break;
    case SigCheck::malformed: why = "the signature is not a strict DER ECDSA signature"; break;
    case SigCheck::high_s: why = "the signature is not low-S"; break;
    case SigCheck::bad_public_key: why = "the proof's public_key is not a compressed secp256k1 point"; break;
    case SigCheck::mismatch: why = "the signature does not verify against the public key and Merkle root"; break;
  }
  if (!check("signature", sc == SigCheck::ok, why)) return v;
  v.valid = true;
  return v;
}

Verification verify_text(std::string_view text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) {
    Verification v;
    v.checks.emplace_back("format", false);
    v.error = "not valid JSON: " + ec.message();
    return v;
  }
  return verify(doc);
}

}  // namespace privstack::wallet::credential
