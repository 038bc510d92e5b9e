// Keyless structural verification and passphrase-protected recovery keys
// (backup/restore.h). The full restore is exercised against a real daemon in
// tests/integration/test_backup_restore.py.
#include "backup/restore.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace privstack::backup {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes archive_of(std::size_t payload_bytes, const RecoveryKeyPair& pair) {
  Bytes out;
  ArchiveMetadata m;
  m.created_unix = 1763780400;
  m.source_host = "appliance-1";
  m.row_counts = {{"users", 1}};
  WriterOptions options;
  options.chunk_size = kMinChunkSize;
  ArchiveWriter w([&](std::span<const std::uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); },
                  parse_recovery_public_key(pair.public_pem), m, options);
  std::mt19937 rng(7);
  std::string plain;
  while (plain.size() < payload_bytes) plain += std::to_string(rng()) + ",";  // compresses only partly
  w.write(plain);
  w.finish();
  return out;
}

std::size_t header_size(const Bytes& a) {
  return 16 + ((std::size_t{a[12]} << 24) | (std::size_t{a[13]} << 16) | (std::size_t{a[14]} << 8) | a[15]);
}

TEST(ArchiveStructure, GoodArchiveCountsChunks) {
  auto pair = generate_recovery_key();
  Bytes a = archive_of(400 * 1024, pair);
  StructureReport r = verify_archive_structure(memory_source(a));
  EXPECT_GE(r.data_chunks, 2u);
  EXPECT_EQ(r.archive_bytes, a.size());
  EXPECT_EQ(r.header.metadata.source_host, "appliance-1");
  EXPECT_EQ(r.header.recovery_key_id,
            recovery_key_id(parse_recovery_public_key(pair.public_pem)));
}

TEST(ArchiveStructure, DefectsAreRefused) {
  auto pair = generate_recovery_key();
  const Bytes a = archive_of(200 * 1024, pair);
  auto refused = [](const Bytes& b, const char* words) {
    try {
      verify_archive_structure(memory_source(b));
      ADD_FAILURE() << "accepted: " << words;
    } catch (const ArchiveError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  refused(Bytes(a.begin(), a.end() - (5 + 64 + 16)), "without its final");  // final chunk cut at a boundary
  refused(Bytes(a.begin(), a.end() - 7), "truncated inside chunk");
  Bytes appended = a;
  appended.push_back(0);
  refused(appended, "follow the final chunk");
  Bytes flags = a;
  flags[header_size(a) + 4] = 0x80;
  refused(flags, "unknown flags");
  Bytes length = a;
  length[header_size(a)] = 0x7f;  // chunk 0 longer than chunk_size
  refused(length, "impossible length");
  refused(Bytes(a.begin(), a.begin() + 10), "truncated inside its header");
}

TEST(RecoveryKey, PassphraseProtectedPem) {
  auto pair = generate_recovery_key();
  Bytes plain = parse_recovery_private_key(pair.private_pem);
  EXPECT_FALSE(recovery_key_is_encrypted(pair.private_pem));

  // As `openssl pkey -aes256 -passout ...` writes it (PKCS#8, PBES2).
  BIO* in = BIO_new_mem_buf(pair.private_pem.data(), static_cast<int>(pair.private_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in, nullptr, nullptr, nullptr);
  ASSERT_NE(key, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  const std::string pass = "correct horse battery staple";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(out, key, EVP_aes_256_cbc(), pass.data(), static_cast<int>(pass.size()),
                                          nullptr, nullptr),
            1);
  char* data = nullptr;
  long len = BIO_get_mem_data(out, &data);
  std::string encrypted(data, static_cast<std::size_t>(len));
  BIO_free(out);
  BIO_free(in);
  EVP_PKEY_free(key);

  EXPECT_TRUE(recovery_key_is_encrypted(encrypted));
  EXPECT_EQ(parse_recovery_private_key(encrypted, pass), plain);
  try {
    parse_recovery_private_key(encrypted, "wrong");
    ADD_FAILURE() << "a wrong passphrase was accepted";
  } catch (const ArchiveError& e) {
    EXPECT_NE(std::string(e.what()).find("passphrase is wrong"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("wrong\""), std::string::npos);
  }
  // Without a passphrase the encrypted file is refused, never prompted for.
  EXPECT_THROW(parse_recovery_private_key(encrypted), ArchiveError);
}

TEST(DatabaseInUse, NoShmFileMeansNotInUse) {
  EXPECT_FALSE(database_in_use(std::filesystem::temp_directory_path() / "no-such-privstack.db").has_value());
}

}  // namespace
}  // namespace privstack::backup
