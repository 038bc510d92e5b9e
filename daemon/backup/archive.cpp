#include "backup/archive.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <zstd.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>

#include "core/crypto.h"
#include "core/encoding.h"
#include "core/time.h"

namespace privstack::backup {
namespace {

namespace json = boost::json;

constexpr std::size_t kTagSize = 16;
constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kKeySize = 32;
constexpr std::size_t kMaxHeaderJson = 64 * 1024;
constexpr std::size_t kHeaderFixed = 16;  // magic 8, version 1, reserved 3, json length 4
constexpr std::size_t kChunkFrame = 5;    // length 4, flags 1
constexpr std::uint8_t kFlagFinal = 0x01;
constexpr char kTrailerMagic[8] = {'P', 'S', 'T', 'R', 'A', 'I', 'L', 'R'};
constexpr std::size_t kTrailerSize = 8 + 8 + 8 + 8 + 32;
constexpr std::string_view kWrapInfo = "privstack-backup v1 data key wrap";
constexpr std::string_view kKeyWrapping = "X25519-HKDF-SHA256-AES-256-GCM";

using Bytes = std::vector<std::uint8_t>;

[[noreturn]] void fail(const std::string& message) { throw ArchiveError(message); }

struct PkeyDel {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxDel {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct CipherCtxDel {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct BioDel {
  void operator()(BIO* p) const { BIO_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDel>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDel>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDel>;
using Bio = std::unique_ptr<BIO, BioDel>;

// Wipes a buffer holding key material when it goes away.
struct SecretBytes {
  Bytes bytes;
  SecretBytes() = default;
  explicit SecretBytes(std::size_t n) : bytes(n) {}
  ~SecretBytes() {
    cleanse(bytes);
  }
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
};

// Base64 as the header and the recovery key file have it; line breaks and
// blanks (PEM-like wrapping) are ignored, empty text is malformed.
std::optional<Bytes> unbase64(std::string_view text) {
  std::string clean;
  for (char c : text)
    if (c != '\n' && c != '\r' && c != ' ' && c != '\t') clean.push_back(c);
  if (clean.empty()) return std::nullopt;
  return base64_decode(clean);
}

void put_u32(Bytes& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_u64(Bytes& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
std::uint32_t get_u32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

Bytes sha256(std::span<const std::uint8_t> data) {
  Bytes out(SHA256_DIGEST_LENGTH);
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1)
    fail("SHA-256 failed");
  return out;
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) fail("SHA-256 init failed");
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const std::uint8_t> d) {
    if (!d.empty() && EVP_DigestUpdate(ctx_, d.data(), d.size()) != 1) fail("SHA-256 failed");
  }
  Bytes final() {
    Bytes out(SHA256_DIGEST_LENGTH);
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_, out.data(), &len) != 1) fail("SHA-256 failed");
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// AES-256-GCM with one key, many nonces.
class Gcm {
 public:
  Gcm(std::span<const std::uint8_t> key, bool encrypt) : ctx_(EVP_CIPHER_CTX_new()), encrypt_(encrypt) {
    if (!ctx_ || key.size() != kKeySize) fail("cipher setup failed");
    int ok = encrypt ? EVP_EncryptInit_ex(ctx_.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr)
                     : EVP_DecryptInit_ex(ctx_.get(), EVP_aes_256_gcm(), nullptr, key.data(), nullptr);
    if (ok != 1) fail("cipher setup failed");
  }

  // out receives ciphertext || tag.
  void seal(std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> aad,
            std::span<const std::uint8_t> plain, Bytes& out) {
    int len = 0;
    if (EVP_EncryptInit_ex(ctx_.get(), nullptr, nullptr, nullptr, nonce.data()) != 1) fail("encryption failed");
    if (EVP_EncryptUpdate(ctx_.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
      fail("encryption failed");
    std::size_t base = out.size();
    out.resize(base + plain.size() + kTagSize);
    if (!plain.empty() &&
        EVP_EncryptUpdate(ctx_.get(), out.data() + base, &len, plain.data(), static_cast<int>(plain.size())) != 1)
      fail("encryption failed");
    if (EVP_EncryptFinal_ex(ctx_.get(), out.data() + base + plain.size(), &len) != 1) fail("encryption failed");
    if (EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, out.data() + base + plain.size()) != 1)
      fail("encryption failed");
  }

  // sealed is ciphertext || tag; false when authentication fails.
  bool open(std::span<const std::uint8_t> nonce, std::span<const std::uint8_t> aad,
            std::span<const std::uint8_t> sealed, Bytes& out) {
    if (sealed.size() < kTagSize) return false;
    std::size_t n = sealed.size() - kTagSize;
    int len = 0;
    out.resize(n);
    if (EVP_DecryptInit_ex(ctx_.get(), nullptr, nullptr, nullptr, nonce.data()) != 1) return false;
    if (EVP_DecryptUpdate(ctx_.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) return false;
    if (n > 0 && EVP_DecryptUpdate(ctx_.get(), out.data(), &len, sealed.data(), static_cast<int>(n)) != 1)
      return false;
    Bytes tag(sealed.begin() + static_cast<std::ptrdiff_t>(n), sealed.end());
    if (EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1) return false;
    if (EVP_DecryptFinal_ex(ctx_.get(), out.data() + n, &len) != 1) {
      cleanse(out);
      out.clear();
      return false;
    }
    return true;
  }

 private:
  CipherCtx ctx_;
  [[maybe_unused]] bool encrypt_;
};

Pkey x25519_public(std::span<const std::uint8_t> pub) {
  if (pub.size() != 32) fail("an X25519 public key has 32 bytes");
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, pub.data(), pub.size()));
  if (!key) fail("not a valid X25519 public key");
  return key;
}

Pkey x25519_private(std::span<const std::uint8_t> priv) {
  if (priv.size() != 32) fail("an X25519 private key has 32 bytes");
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), priv.size()));
  if (!key) fail("not a valid X25519 private key");
  return key;
}

Bytes raw_public(EVP_PKEY* key) {
  Bytes out(32);
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key, out.data(), &len) != 1 || len != 32) fail("X25519 key export failed");
  return out;
}

// HKDF-SHA256(X25519(own, peer), salt = ephemeral_public || recipient_public).
void derive_wrap_key(EVP_PKEY* own, EVP_PKEY* peer, std::span<const std::uint8_t> ephemeral_public,
                     std::span<const std::uint8_t> recipient_public, SecretBytes& wrap_key) {
  PkeyCtx ctx(EVP_PKEY_CTX_new(own, nullptr));
  SecretBytes shared(32);
  std::size_t len = shared.bytes.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1 ||
      EVP_PKEY_derive(ctx.get(), shared.bytes.data(), &len) != 1 || len != 32)
    fail("X25519 key agreement failed (invalid public key?)");
  if (std::all_of(shared.bytes.begin(), shared.bytes.end(), [](std::uint8_t b) { return b == 0; }))
    fail("X25519 key agreement gave the all-zero secret (invalid public key)");

  Bytes salt(ephemeral_public.begin(), ephemeral_public.end());
  salt.insert(salt.end(), recipient_public.begin(), recipient_public.end());
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* kctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  if (!kctx) fail("HKDF unavailable");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, shared.bytes.data(), shared.bytes.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.data(), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(kWrapInfo.data()),
                                        kWrapInfo.size()),
      OSSL_PARAM_construct_end()};
  wrap_key.bytes.assign(kKeySize, 0);
  int ok = EVP_KDF_derive(kctx, wrap_key.bytes.data(), wrap_key.bytes.size(), params);
  EVP_KDF_CTX_free(kctx);
  if (ok != 1) fail("HKDF failed");
}

Bytes chunk_nonce(std::uint64_t index) {
  Bytes nonce(4, 0);
  put_u64(nonce, index);
  return nonce;
}

Bytes chunk_aad(const Bytes& header_hash, std::uint64_t index, std::uint8_t flags, std::uint32_t length) {
  Bytes aad(header_hash);
  put_u64(aad, index);
  aad.push_back(flags);
  put_u32(aad, length);
  return aad;
}

Bytes wrap_aad(std::string_view archive_id) {
  Bytes aad(kKeyWrapping.begin(), kKeyWrapping.end());
  aad.push_back(0);
  aad.insert(aad.end(), archive_id.begin(), archive_id.end());
  return aad;
}

std::string header_json(const ArchiveHeader& h) {
  json::object rows;
  for (const auto& [table, count] : h.metadata.row_counts) rows[table] = count;
  json::object o;
  o["format"] = "privstack-backup";
  o["version"] = h.version;
  o["archive_id"] = h.archive_id;
  o["created"] = h.metadata.created_unix;
  o["created_utc"] = format_rfc3339(h.metadata.created_unix);
  o["created_ms"] = h.metadata.created_ms;
  o["source_host"] = h.metadata.source_host;
  o["schema_version"] = h.metadata.schema_version;
  o["row_counts"] = std::move(rows);
  o["payload"] = h.metadata.payload_type;
  o["compression"] = h.compression;
  o["cipher"] = h.cipher;
  o["chunk_size"] = h.chunk_size;
  o["key_wrapping"] = json::object{{"algorithm", h.key_wrapping},
                                   {"recovery_key_id", h.recovery_key_id},
                                   {"ephemeral_public_key", base64_encode(h.ephemeral_public)},
                                   {"nonce", base64_encode(h.wrap_nonce)},
                                   {"wrapped_key", base64_encode(h.wrapped_key)}};
  return json::serialize(o);
}

ArchiveHeader parse_header_json(std::string_view text) {
  json::value v;
  try {
    v = json::parse(text);
  } catch (const std::exception&) {
    fail("archive header is not valid JSON: the archive is corrupted");
  }
  try {
    const auto& o = v.as_object();
    if (o.at("format").as_string() != "privstack-backup") fail("archive header names another format");
    ArchiveHeader h;
    h.version = static_cast<int>(o.at("version").to_number<std::int64_t>());
    if (h.version != kArchiveVersion)
      fail("archive format version " + std::to_string(h.version) + " is not supported (this build reads version " +
           std::to_string(kArchiveVersion) + ")");
    h.archive_id = std::string(o.at("archive_id").as_string());
    // The creation time is multiplied into milliseconds and formatted as a
    // date; a hostile or corrupted header must not overflow either, so it is
    // held to 1970..9999 before any arithmetic (the fuzzer found the overflow).
    constexpr std::int64_t kLastSecond = 253402300799;  // 9999-12-31T23:59:59Z
    h.metadata.created_unix = o.at("created").to_number<std::int64_t>();
    if (h.metadata.created_unix < 0 || h.metadata.created_unix > kLastSecond)
      fail("archive header has an impossible creation time: the archive is corrupted");
    const json::value* ms = o.if_contains("created_ms");
    h.metadata.created_ms = ms != nullptr ? ms->to_number<std::int64_t>() : h.metadata.created_unix * 1000;
    if (h.metadata.created_ms < 0 || h.metadata.created_ms > kLastSecond * 1000 + 999)
      fail("archive header has an impossible creation time: the archive is corrupted");
    h.metadata.source_host = std::string(o.at("source_host").as_string());
    h.metadata.schema_version = static_cast<int>(o.at("schema_version").to_number<std::int64_t>());
    for (const auto& [k, n] : o.at("row_counts").as_object())
      h.metadata.row_counts[std::string(k)] = n.to_number<std::int64_t>();
    h.metadata.payload_type = std::string(o.at("payload").as_string());
    h.compression = std::string(o.at("compression").as_string());
    h.cipher = std::string(o.at("cipher").as_string());
    h.chunk_size = o.at("chunk_size").to_number<std::size_t>();
    const auto& kw = o.at("key_wrapping").as_object();
    h.key_wrapping = std::string(kw.at("algorithm").as_string());
    h.recovery_key_id = std::string(kw.at("recovery_key_id").as_string());
    auto eph = unbase64(kw.at("ephemeral_public_key").as_string());
    auto nonce = unbase64(kw.at("nonce").as_string());
    auto wrapped = unbase64(kw.at("wrapped_key").as_string());
    if (!eph || eph->size() != 32 || !nonce || nonce->size() != kNonceSize || !wrapped ||
        wrapped->size() != kKeySize + kTagSize)
      fail("archive header has a malformed key_wrapping section: the archive is corrupted");
    h.ephemeral_public = *eph;
    h.wrap_nonce = *nonce;
    h.wrapped_key = *wrapped;
    if (h.compression != "zstd") fail("archive compression \"" + h.compression + "\" is not supported");
    if (h.cipher != "AES-256-GCM") fail("archive cipher \"" + h.cipher + "\" is not supported");
    if (h.key_wrapping != kKeyWrapping) fail("archive key wrapping \"" + h.key_wrapping + "\" is not supported");
    if (h.chunk_size < kMinChunkSize || h.chunk_size > kMaxChunkSize)
      fail("archive chunk size " + std::to_string(h.chunk_size) + " is out of range");
    return h;
  } catch (const ArchiveError&) {
    throw;
  } catch (const std::exception&) {
    fail("archive header lacks a field or has one of the wrong type: the archive is corrupted");
  }
}

// Reads exactly buf.size() bytes unless the source ends; returns the count.
std::size_t read_full(const Source& source, std::span<std::uint8_t> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    std::size_t n = source(buf.subspan(got));
    if (n == 0) break;
    got += n;
  }
  return got;
}

struct RawHeader {
  Bytes bytes;  // everything the header hash covers
  ArchiveHeader header;
};

RawHeader read_raw_header(const Source& source) {
  RawHeader raw;
  raw.bytes.resize(kHeaderFixed);
  std::size_t n = read_full(source, raw.bytes);
  if (n < sizeof kArchiveMagic || std::memcmp(raw.bytes.data(), kArchiveMagic, sizeof kArchiveMagic) != 0)
    fail("not a privstack backup archive (bad magic)");
  if (n < kHeaderFixed) fail("archive truncated inside its header");
  if (raw.bytes[8] != kArchiveVersion)
    fail("archive format version " + std::to_string(raw.bytes[8]) + " is not supported (this build reads version " +
         std::to_string(kArchiveVersion) + ")");
  std::uint32_t json_len = get_u32(raw.bytes.data() + 12);
  if (json_len == 0 || json_len > kMaxHeaderJson) fail("archive header length is out of range: the archive is corrupted");
  raw.bytes.resize(kHeaderFixed + json_len);
  if (read_full(source, std::span(raw.bytes).subspan(kHeaderFixed)) != json_len)
    fail("archive truncated inside its header");
  raw.header = parse_header_json(
      std::string_view(reinterpret_cast<const char*>(raw.bytes.data() + kHeaderFixed), json_len));
  return raw;
}

}  // namespace

// ---- recovery key ---------------------------------------------------------

RecoveryKeyPair generate_recovery_key() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  if (!key) fail("X25519 key generation failed");
  RecoveryKeyPair pair;
  Bio priv(BIO_new(BIO_s_secmem()));
  Bio pub(BIO_new(BIO_s_mem()));
  if (!priv || !pub || PEM_write_bio_PrivateKey(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub.get(), key.get()) != 1)
    fail("recovery key export failed");
  char* data = nullptr;
  long len = BIO_get_mem_data(priv.get(), &data);
  pair.private_pem.assign(data, static_cast<std::size_t>(len));
  len = BIO_get_mem_data(pub.get(), &data);
  pair.public_pem.assign(data, static_cast<std::size_t>(len));
  return pair;
}

std::vector<std::uint8_t> parse_recovery_public_key(const std::string& text) {
  try {
    return parse_x25519_public_key(text);
  } catch (const std::invalid_argument& e) {
    fail(std::string("the recovery public key ") + e.what());
  }
}

std::vector<std::uint8_t> parse_recovery_private_key(const std::string& pem) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  // A null passphrase callback with an encrypted PEM fails instead of prompting.
  auto no_prompt = [](char*, int, int, void*) -> int { return -1; };
  Pkey key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_prompt, nullptr) : nullptr);
  if (!key) fail("the recovery key file is not a PEM \"PRIVATE KEY\" (or it is passphrase-protected)");
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_X25519) fail("the recovery key is not an X25519 key");
  std::vector<std::uint8_t> out(32);
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_private_key(key.get(), out.data(), &len) != 1 || len != 32)
    fail("the recovery key could not be read");
  return out;
}

std::vector<std::uint8_t> recovery_public_from_private(std::span<const std::uint8_t> private_key) {
  Pkey key = x25519_private(private_key);
  return raw_public(key.get());
}

std::string recovery_key_id(std::span<const std::uint8_t> public_key) {
  Bytes digest = sha256(public_key);
  return hex_encode(std::span(digest).first(8));
}

// ---- writer ----------------------------------------------------------------

struct ArchiveWriter::Impl {
  Sink sink;
  ArchiveHeader header;
  Bytes header_hash;
  // Kept (zeroized with the writer) only so that ArchiveReader(source, writer)
  // can read the finished archive back for the test restore at creation.
  SecretBytes data_key;
  std::unique_ptr<Gcm> gcm;
  ZSTD_CCtx* zstd = nullptr;
  Bytes zout;      // zstd output scratch
  Bytes pending;   // compressed bytes not yet sealed into a chunk
  Bytes frame;     // one sealed chunk
  Sha256 plain_hash;
  std::uint64_t payload_bytes = 0;
  std::uint64_t compressed_bytes = 0;
  std::uint64_t index = 0;
  std::uint64_t out_bytes = 0;
  bool finished = false;

  ~Impl() { ZSTD_freeCCtx(zstd); }

  void emit(std::span<const std::uint8_t> bytes) {
    sink(bytes);
    out_bytes += bytes.size();
  }

  void seal_chunk(std::span<const std::uint8_t> plain, std::uint8_t flags) {
    frame.clear();
    put_u32(frame, static_cast<std::uint32_t>(plain.size()));
    frame.push_back(flags);
    Bytes aad = chunk_aad(header_hash, index, flags, static_cast<std::uint32_t>(plain.size()));
    gcm->seal(chunk_nonce(index), aad, plain, frame);
    ++index;
    emit(frame);
  }

  void take_compressed(std::span<const std::uint8_t> bytes) {
    compressed_bytes += bytes.size();
    while (!bytes.empty()) {
      std::size_t n = std::min(bytes.size(), header.chunk_size - pending.size());
      pending.insert(pending.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
      bytes = bytes.subspan(n);
      if (pending.size() == header.chunk_size) {
        seal_chunk(pending, 0);
        pending.clear();
      }
    }
  }

  void compress(std::span<const std::uint8_t> data, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    for (;;) {
      ZSTD_outBuffer out{zout.data(), zout.size(), 0};
      std::size_t left = ZSTD_compressStream2(zstd, &out, &in, mode);
      if (ZSTD_isError(left)) fail(std::string("zstd compression failed: ") + ZSTD_getErrorName(left));
      take_compressed(std::span(zout.data(), out.pos));
      bool done = mode == ZSTD_e_continue ? in.pos == in.size : left == 0;
      if (done) break;
    }
  }
};

constexpr int kZstdJobSize = 1 << 20;

ArchiveWriter::ArchiveWriter(Sink sink, std::span<const std::uint8_t> recovery_public_key,
                             const ArchiveMetadata& metadata, WriterOptions options)
    : impl_(std::make_unique<Impl>()) {
  if (options.chunk_size < kMinChunkSize || options.chunk_size > kMaxChunkSize)
    fail("chunk size must be between 64 KiB and 1 MiB");
  Impl& w = *impl_;
  w.sink = std::move(sink);
  ArchiveHeader& h = w.header;
  h.version = kArchiveVersion;
  h.metadata = metadata;
  h.compression = "zstd";
  h.cipher = "AES-256-GCM";
  h.chunk_size = options.chunk_size;
  h.key_wrapping = std::string(kKeyWrapping);
  h.recovery_key_id = recovery_key_id(recovery_public_key);
  h.archive_id = random_hex(16);

  // Fresh data key, wrapped for the recovery key with an ephemeral X25519 key.
  SecretBytes& data_key = w.data_key;
  data_key.bytes = random_bytes(kKeySize);
  Pkey recipient = x25519_public(recovery_public_key);
  Pkey ephemeral(EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519"));
  if (!ephemeral) fail("X25519 key generation failed");
  h.ephemeral_public = raw_public(ephemeral.get());
  SecretBytes wrap_key;
  derive_wrap_key(ephemeral.get(), recipient.get(), h.ephemeral_public, recovery_public_key, wrap_key);
  h.wrap_nonce = random_bytes(kNonceSize);
  Gcm wrapper(wrap_key.bytes, true);
  wrapper.seal(h.wrap_nonce, wrap_aad(h.archive_id), data_key.bytes, h.wrapped_key);

  std::string text = header_json(h);
  Bytes head(kArchiveMagic, kArchiveMagic + sizeof kArchiveMagic);
  head.push_back(kArchiveVersion);
  head.insert(head.end(), 3, 0);
  put_u32(head, static_cast<std::uint32_t>(text.size()));
  head.insert(head.end(), text.begin(), text.end());
  w.header_hash = sha256(head);
  w.gcm = std::make_unique<Gcm>(data_key.bytes, true);

  w.zstd = ZSTD_createCCtx();
  if (!w.zstd) fail("zstd initialisation failed");
  ZSTD_CCtx_setParameter(w.zstd, ZSTD_c_compressionLevel, options.zstd_level);
  ZSTD_CCtx_setParameter(w.zstd, ZSTD_c_checksumFlag, 0);
  if (options.zstd_workers > 0 &&
      !ZSTD_isError(ZSTD_CCtx_setParameter(w.zstd, ZSTD_c_nbWorkers, options.zstd_workers))) {
    // zstd's default job for level 3 is 8 MiB, and it holds a few jobs'
    // input and output at once (tens of MiB); 1 MiB jobs keep the backup
    // within its memory budget at a negligible cost in ratio. A libzstd
    // built without threads refuses nbWorkers and compresses inline.
    ZSTD_CCtx_setParameter(w.zstd, ZSTD_c_jobSize, kZstdJobSize);
  }
  w.zout.resize(ZSTD_CStreamOutSize());
  w.pending.reserve(h.chunk_size);
  w.emit(head);
}

ArchiveWriter::~ArchiveWriter() = default;

void ArchiveWriter::write(std::span<const std::uint8_t> data) {
  if (impl_->finished) fail("archive already finished");
  impl_->plain_hash.update(data);
  impl_->payload_bytes += data.size();
  impl_->compress(data, ZSTD_e_continue);
}

void ArchiveWriter::write(std::string_view text) {
  write(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

void ArchiveWriter::finish() {
  Impl& w = *impl_;
  if (w.finished) fail("archive already finished");
  w.compress({}, ZSTD_e_end);
  if (!w.pending.empty()) {
    w.seal_chunk(w.pending, 0);
    w.pending.clear();
  }
  Bytes trailer(kTrailerMagic, kTrailerMagic + sizeof kTrailerMagic);
  put_u64(trailer, w.payload_bytes);
  put_u64(trailer, w.compressed_bytes);
  put_u64(trailer, w.index);  // data chunks so far
  Bytes digest = w.plain_hash.final();
  trailer.insert(trailer.end(), digest.begin(), digest.end());
  w.seal_chunk(trailer, kFlagFinal);
  w.finished = true;
}

const ArchiveHeader& ArchiveWriter::header() const { return impl_->header; }
std::uint64_t ArchiveWriter::bytes_out() const { return impl_->out_bytes; }

// ---- reader ----------------------------------------------------------------

ArchiveHeader read_archive_header(const Source& source) { return read_raw_header(source).header; }

struct ArchiveReader::Impl {
  Source source;
  ArchiveHeader header;
  Bytes header_hash;
  std::unique_ptr<Gcm> gcm;
  ZSTD_DCtx* zstd = nullptr;
  Bytes sealed;  // one chunk's ciphertext || tag
  Bytes chunk;   // its plaintext (compressed payload)
  std::size_t chunk_pos = 0;
  bool drain = false;        // zstd may hold more output
  bool frame_done = false;   // zstd reported the end of its frame
  std::uint64_t index = 0;   // next chunk's index
  std::uint64_t compressed_bytes = 0;
  std::uint64_t payload_bytes = 0;
  Sha256 plain_hash;
  ArchiveTrailer trailer;
  bool done = false;

  ~Impl() { ZSTD_freeDCtx(zstd); }

  // Reads the next chunk; returns false when it was the final one.
  bool next_chunk() {
    std::uint8_t frame[kChunkFrame];
    std::size_t n = read_full(source, frame);
    if (n == 0)
      fail("archive truncated: it ends after chunk " + std::to_string(index) +
           " without its final chunk (incomplete upload or cut file)");
    if (n < kChunkFrame) fail("archive truncated inside chunk " + std::to_string(index));
    std::uint32_t length = get_u32(frame);
    std::uint8_t flags = frame[4];
    if ((flags & ~kFlagFinal) != 0) fail("chunk " + std::to_string(index) + " has unknown flags: the archive is corrupted");
    bool final = flags & kFlagFinal;
    if (final ? length != kTrailerSize : (length == 0 || length > header.chunk_size))
      fail("chunk " + std::to_string(index) + " has an impossible length: the archive is corrupted");
    sealed.resize(length + kTagSize);
    if (read_full(source, sealed) != sealed.size()) fail("archive truncated inside chunk " + std::to_string(index));
    Bytes aad = chunk_aad(header_hash, index, flags, length);
    if (!gcm->open(chunk_nonce(index), aad, sealed, chunk))
      fail("chunk " + std::to_string(index) +
           " failed authentication: the archive is corrupted, truncated, reordered or spliced from another archive");
    ++index;
    chunk_pos = 0;
    if (!final) {
      compressed_bytes += chunk.size();
      return true;
    }
    if (std::memcmp(chunk.data(), kTrailerMagic, sizeof kTrailerMagic) != 0) fail("archive trailer is malformed");
    trailer.payload_bytes = get_u64(chunk.data() + 8);
    trailer.compressed_bytes = get_u64(chunk.data() + 16);
    trailer.chunks = get_u64(chunk.data() + 24);
    trailer.payload_sha256.assign(chunk.begin() + 32, chunk.end());
    chunk.clear();
    std::uint8_t extra = 0;
    if (source(std::span(&extra, 1)) != 0)
      fail("unexpected data after the final chunk: the archive was appended to or spliced");
    return false;
  }

  void finish_checks() {
    if (!frame_done || drain) fail("compressed payload is incomplete: the archive is corrupted");
    if (trailer.chunks != index - 1 || trailer.compressed_bytes != compressed_bytes)
      fail("archive trailer does not match the chunks read: the archive is corrupted");
    if (trailer.payload_bytes != payload_bytes)
      fail("payload length differs from the trailer's: the archive is corrupted");
    if (plain_hash.final() != trailer.payload_sha256)
      fail("payload SHA-256 differs from the trailer's: the archive is corrupted");
    done = true;
  }
};

ArchiveReader::ArchiveReader(Source source, std::span<const std::uint8_t> recovery_private_key)
    : impl_(std::make_unique<Impl>()) {
  Impl& r = *impl_;
  r.source = std::move(source);
  RawHeader raw = read_raw_header(r.source);
  r.header = std::move(raw.header);
  r.header_hash = sha256(raw.bytes);

  Pkey own = x25519_private(recovery_private_key);
  Bytes own_public = raw_public(own.get());
  std::string own_id = recovery_key_id(own_public);
  if (own_id != r.header.recovery_key_id)
    fail("wrong recovery key: the archive was made for recovery key " + r.header.recovery_key_id +
         ", the key given is " + own_id);
  Pkey ephemeral = x25519_public(r.header.ephemeral_public);
  SecretBytes wrap_key;
  derive_wrap_key(own.get(), ephemeral.get(), r.header.ephemeral_public, own_public, wrap_key);
  Gcm unwrapper(wrap_key.bytes, false);
  SecretBytes data_key;
  if (!unwrapper.open(r.header.wrap_nonce, wrap_aad(r.header.archive_id), r.header.wrapped_key, data_key.bytes))
    fail("the data key could not be unwrapped with this recovery key: the archive header is corrupted or the key is wrong");
  r.gcm = std::make_unique<Gcm>(data_key.bytes, false);
  r.zstd = ZSTD_createDCtx();
  if (!r.zstd) fail("zstd initialisation failed");
}

ArchiveReader::ArchiveReader(Source source, const ArchiveWriter& writer) : impl_(std::make_unique<Impl>()) {
  const ArchiveWriter::Impl& w = *writer.impl_;
  if (!w.finished) fail("internal error: an archive can only be read back once it is finished");
  Impl& r = *impl_;
  r.source = std::move(source);
  RawHeader raw = read_raw_header(r.source);
  r.header = std::move(raw.header);
  r.header_hash = sha256(raw.bytes);
  if (r.header_hash != w.header_hash || r.header.archive_id != w.header.archive_id)
    fail("the archive read back is not the one just written (archive " + r.header.archive_id + ", expected " +
         w.header.archive_id + ")");
  r.gcm = std::make_unique<Gcm>(w.data_key.bytes, false);
  r.zstd = ZSTD_createDCtx();
  if (!r.zstd) fail("zstd initialisation failed");
}

ArchiveReader::~ArchiveReader() = default;

const ArchiveHeader& ArchiveReader::header() const { return impl_->header; }

std::size_t ArchiveReader::read(std::span<std::uint8_t> out) {
  Impl& r = *impl_;
  if (r.done || out.empty()) return 0;
  ZSTD_outBuffer ob{out.data(), out.size(), 0};
  while (ob.pos == 0) {
    if (r.chunk_pos < r.chunk.size() || r.drain) {
      ZSTD_inBuffer ib{r.chunk.data(), r.chunk.size(), r.chunk_pos};
      std::size_t ret = ZSTD_decompressStream(r.zstd, &ob, &ib);
      if (ZSTD_isError(ret)) fail(std::string("decompression failed: ") + ZSTD_getErrorName(ret));
      // Once a frame has ended, a call without new input reports the start
      // of a next frame (ret != 0) without it being incomplete.
      if (ret == 0)
        r.frame_done = true;
      else if (ib.pos != r.chunk_pos)
        r.frame_done = false;
      r.chunk_pos = ib.pos;
      r.drain = ob.pos == ob.size;
      if (ob.pos > 0) break;
      if (r.chunk_pos < r.chunk.size()) continue;
    }
    if (!r.next_chunk()) {
      r.finish_checks();
      return 0;
    }
  }
  r.plain_hash.update(std::span(out.data(), ob.pos));
  r.payload_bytes += ob.pos;
  return ob.pos;
}

const ArchiveTrailer& ArchiveReader::trailer() const {
  if (!impl_->done) fail("the archive has not been read to its end");
  return impl_->trailer;
}

// ---- helpers ---------------------------------------------------------------

Sink file_sink(std::FILE* file) {
  return [file](std::span<const std::uint8_t> bytes) {
    if (std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size())
      fail(std::string("writing the archive failed: ") + std::strerror(errno));
  };
}

Source file_source(std::FILE* file) {
  return [file](std::span<std::uint8_t> buf) -> std::size_t {
    std::size_t n = std::fread(buf.data(), 1, buf.size(), file);
    if (n == 0 && std::ferror(file)) fail(std::string("reading the archive failed: ") + std::strerror(errno));
    return n;
  };
}

Source memory_source(std::span<const std::uint8_t> bytes) {
  auto pos = std::make_shared<std::size_t>(0);
  return [bytes, pos](std::span<std::uint8_t> buf) -> std::size_t {
    std::size_t n = std::min(buf.size(), bytes.size() - *pos);
    if (n > 0) std::memcpy(buf.data(), bytes.data() + *pos, n);
    *pos += n;
    return n;
  };
}

}  // namespace privstack::backup
