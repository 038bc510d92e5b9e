// Offline restore and verification of backup archives (docs/operations.md,
// "Restoring from a backup"), for privstackctl: they need the recovery
// private key, which the appliance never holds, so they run in the CLI with
// the daemon stopped, never in privstackd.
//
//   restore_offline(): archive -> a NEW encrypted store in a state
//     directory. The dump is replayed into a scratch file next to the
//     target, integrity- and audit-chain-checked, the restore recorded in
//     the restored audit log, and only then renamed into place. Any error
//     (wrong key, damaged archive, failed check) leaves the directory as it
//     was.
//   verify_offline(): the same into a scratch directory that is deleted
//     afterwards: proves an archive restores, without touching any store.
//   verify_archive_structure(): what can be checked WITHOUT the private key
//     (the daemon's `backup verify ID`): header, chunk framing, one final
//     chunk of the trailer's size and nothing after it.
#pragma once

#include <sys/types.h>

#include <boost/json/object.hpp>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "backup/archive.h"

namespace privstack::backup {

// True when the PEM is passphrase-protected ("ENCRYPTED PRIVATE KEY",
// e.g. from `openssl pkey -aes256`, or a legacy "Proc-Type: 4,ENCRYPTED").
bool recovery_key_is_encrypted(std::string_view pem);

// The private half (32 raw bytes) of a passphrase-protected PEM. Throws
// ArchiveError naming the problem (never the passphrase) when the
// passphrase is wrong or the file is not an X25519 private key.
std::vector<std::uint8_t> parse_recovery_private_key(const std::string& pem, std::string_view passphrase);

// Keyless structural check of a whole archive.
struct StructureReport {
  ArchiveHeader header;
  std::uint64_t data_chunks = 0;
  std::uint64_t ciphertext_bytes = 0;  // data chunks' ciphertext, without tags
  std::uint64_t archive_bytes = 0;
};
// Throws ArchiveError at the first defect.
StructureReport verify_archive_structure(const Source& source);
boost::json::object to_json(const StructureReport& r);

// Is a store database open in another process (a running privstackd)?
// Returns that process's pid when SQLite's WAL lock says so.
std::optional<pid_t> database_in_use(const std::filesystem::path& database);

struct OfflineRestore {
  std::filesystem::path state_directory;  // created (0750) when absent
  std::filesystem::path database;         // normally <state_directory>/privstack.db
  std::filesystem::path key_file;         // used when it exists, else created (0600)
  bool force = false;                     // replace an existing database
  std::string actor;                      // who, for the audit entry ("local:uid=0")
  std::string archive_name;               // where the archive came from (file or s3:// URL)
  // As root: give the created files to this user (default: the owner of
  // the state directory, which is privstack's on an installed system).
  std::optional<std::string> owner;
};

// Restores `source` per `target`. Throws ArchiveError / std::runtime_error
// with an operator-facing message; on any throw nothing was changed (files
// it created are removed). Returns a summary to print.
boost::json::object restore_offline(const Source& source, std::span<const std::uint8_t> recovery_private_key,
                                    const OfflineRestore& target);

// Authenticates, decompresses and restores `source` into a scratch
// encrypted store under `scratch_parent` (a fresh private directory made
// there and always deleted), then checks integrity and the audit chain.
boost::json::object verify_offline(const Source& source, std::span<const std::uint8_t> recovery_private_key,
                                   const std::filesystem::path& scratch_parent);

// The same from an open reader: the daemon's test restore of an archive it
// has just written, read back with the writer's data key
// (ArchiveReader(source, writer)).
boost::json::object test_restore(ArchiveReader& reader, const std::filesystem::path& scratch_parent);

}  // namespace privstack::backup
