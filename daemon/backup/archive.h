// The backup archive format (docs/backup-format.md): a header, the payload
// compressed with zstd and encrypted in authenticated AES-256-GCM chunks, and
// a trailer (carried in the last authenticated chunk) with the SHA-256 of the
// plaintext payload. Writer and reader stream: memory is a few chunks,
// whatever the payload size.
//
// Each archive has a fresh random data key, wrapped for the customer's
// recovery key (X25519 + HKDF-SHA256 + AES-256-GCM). The appliance only
// holds the public half, so it can write archives but never read them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace privstack::backup {

// Every refusal of an archive or a key is an ArchiveError whose what() says
// what is wrong in words an operator can act on.
class ArchiveError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// ---- recovery key ---------------------------------------------------------

struct RecoveryKeyPair {
  std::string private_pem;  // PKCS#8 "PRIVATE KEY"; shown/exported once, never kept
  std::string public_pem;   // SubjectPublicKeyInfo "PUBLIC KEY"; backup.recovery_public_key
};

// A fresh X25519 key pair.
RecoveryKeyPair generate_recovery_key();

// The public half (32 raw bytes) from a PEM "PUBLIC KEY" or from the base64
// of the 32 raw bytes (the two forms backup.recovery_public_key accepts).
std::vector<std::uint8_t> parse_recovery_public_key(const std::string& text);

// The private half (32 raw bytes) from a PEM "PRIVATE KEY".
std::vector<std::uint8_t> parse_recovery_private_key(const std::string& pem);

// The public half that goes with a private half.
std::vector<std::uint8_t> recovery_public_from_private(std::span<const std::uint8_t> private_key);

// Short identifier of a public key: hex of the first 8 bytes of its SHA-256.
std::string recovery_key_id(std::span<const std::uint8_t> public_key);

// ---- format ----------------------------------------------------------------

inline constexpr char kArchiveMagic[8] = {'P', 'S', 'B', 'A', 'C', 'K', 'U', 'P'};
inline constexpr std::uint8_t kArchiveVersion = 1;
inline constexpr std::size_t kMinChunkSize = 64 * 1024;
inline constexpr std::size_t kMaxChunkSize = 1024 * 1024;
inline constexpr std::size_t kDefaultChunkSize = 256 * 1024;

// What the writer is told about the payload; stored in the header.
struct ArchiveMetadata {
  std::int64_t created_unix = 0;  // seconds since the epoch, UTC
  // Milliseconds since the epoch: orders backups made within one second.
  // Archives written before this field existed read as created_unix * 1000.
  std::int64_t created_ms = 0;
  std::string source_host;
  int schema_version = 0;
  std::map<std::string, std::int64_t> row_counts;  // table -> rows
  std::string payload_type = "sql-dump";
};

// Everything the header holds (readable without the key).
struct ArchiveHeader {
  int version = 0;
  ArchiveMetadata metadata;
  std::string compression;      // "zstd"
  std::string cipher;           // "AES-256-GCM"
  std::size_t chunk_size = 0;   // maximum plaintext bytes per chunk
  std::string key_wrapping;     // "X25519-HKDF-SHA256-AES-256-GCM"
  std::string recovery_key_id;  // recovery_key_id() of the key it is wrapped for
  std::string archive_id;       // hex of 16 random bytes
  std::vector<std::uint8_t> ephemeral_public;  // 32 bytes
  std::vector<std::uint8_t> wrap_nonce;        // 12 bytes
  std::vector<std::uint8_t> wrapped_key;       // 32 bytes + 16-byte tag
};

// What the reader found in the trailer, once the archive is fully read.
struct ArchiveTrailer {
  std::uint64_t payload_bytes = 0;
  std::uint64_t compressed_bytes = 0;
  std::uint64_t chunks = 0;  // data chunks, the trailer chunk not counted
  std::vector<std::uint8_t> payload_sha256;
};

// Bytes out: called with each piece of the archive as it is produced.
using Sink = std::function<void(std::span<const std::uint8_t>)>;
// Bytes in: fills up to buffer.size() bytes, returns how many; 0 at end.
using Source = std::function<std::size_t(std::span<std::uint8_t>)>;

struct WriterOptions {
  std::size_t chunk_size = kDefaultChunkSize;  // kMinChunkSize..kMaxChunkSize
  int zstd_level = 3;
  // zstd compresses in this many background threads while the caller keeps
  // producing the dump: on two cores the SQL dump and its compression then
  // overlap instead of taking turns. 0 compresses on the caller's thread.
  int zstd_workers = 1;
};

class ArchiveWriter {
 public:
  // Writes the header at once. Throws ArchiveError for a bad key or option.
  ArchiveWriter(Sink sink, std::span<const std::uint8_t> recovery_public_key,
                const ArchiveMetadata& metadata, WriterOptions options = {});
  ~ArchiveWriter();
  ArchiveWriter(const ArchiveWriter&) = delete;
  ArchiveWriter& operator=(const ArchiveWriter&) = delete;

  // Adds plaintext payload.
  void write(std::span<const std::uint8_t> data);
  void write(std::string_view text);
  // Flushes the compressor, writes the last data chunk and the trailer chunk.
  // Nothing may be written afterwards.
  void finish();

  const ArchiveHeader& header() const;
  std::uint64_t bytes_out() const;  // archive bytes given to the sink so far

 private:
  friend class ArchiveReader;  // reads back with the data key (the test restore at creation)
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads only the header (no key needed): for listings and for `verify`
// to say which key an archive needs.
ArchiveHeader read_archive_header(const Source& source);

class ArchiveReader {
 public:
  // Reads and checks the header and unwraps the data key. Throws
  // ArchiveError when the header is malformed or the key is not the one the
  // archive was made for.
  ArchiveReader(Source source, std::span<const std::uint8_t> recovery_private_key);
  // Reads back the archive `writer` has just finished, with the writer's own
  // data key: the appliance's test restore at creation, the only moment it
  // can decrypt its own archive (it never holds the recovery private key).
  // Throws ArchiveError when `source` is not that archive.
  ArchiveReader(Source source, const ArchiveWriter& writer);
  ~ArchiveReader();
  ArchiveReader(const ArchiveReader&) = delete;
  ArchiveReader& operator=(const ArchiveReader&) = delete;

  const ArchiveHeader& header() const;

  // Fills `out` with authenticated, decompressed payload; returns the number
  // of bytes, 0 only once the trailer has been authenticated and the
  // payload's length and SHA-256 checked. Every byte returned comes from a
  // chunk that passed authentication, but the archive as a whole is only
  // proven complete when read() returns 0: a restore must write to a scratch
  // place and commit only then. Throws ArchiveError on any defect.
  std::size_t read(std::span<std::uint8_t> out);

  // Only after read() returned 0.
  const ArchiveTrailer& trailer() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience for files and tests.
Sink file_sink(std::FILE* file);
Source file_source(std::FILE* file);
Source memory_source(std::span<const std::uint8_t> bytes);

}  // namespace privstack::backup
