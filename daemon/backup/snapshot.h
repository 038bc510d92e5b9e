// Snapshot and restore of the encrypted store (docs/backup-format.md,
// "Payload").
//
// The snapshot is a logical SQL dump (schema and rows, like sqlite3's
// .dump) taken inside one read transaction on a reader connection: it is a
// consistent view while the daemon keeps writing (WAL), and it goes straight
// into the archive writer, so no plaintext ever reaches the disk and memory
// stays flat: up to 2 MiB of rows between the thread that reads the store
// and the one that formats them (snapshot.cpp, Dumper), plus the archive's
// chunk buffers.
//
// The restore runs the dump's statements one at a time into a fresh
// SQLCipher database under a new key, in one transaction, and only renames
// it into place once the archive has been read to its authenticated end.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "backup/archive.h"

namespace privstack::store {
class Connection;
class Store;
}  // namespace privstack::store

namespace privstack::backup {

// Rows per table (user tables, sqlite_sequence excluded), in `c`'s transaction.
std::map<std::string, std::int64_t> count_rows(store::Connection& c);

// Writes the SQL dump of everything `c` sees to `out`, in pieces of about
// 64 KiB. Call inside a read transaction (Store::read) so that the dump is
// one consistent snapshot. `out` is called on a second thread, one call at
// a time, and never after dump_sql returns or throws; an exception it
// throws ends the dump and is rethrown here. Returns the bytes written.
std::uint64_t dump_sql(store::Connection& c, const std::function<void(std::string_view)>& out);

struct SnapshotResult {
  ArchiveHeader header;
  std::uint64_t payload_bytes = 0;
  std::uint64_t archive_bytes = 0;
  // The finished writer, which still holds the archive's data key: only for
  // ArchiveReader(source, *writer), the test restore at creation. Reset it
  // as soon as that is done (the key is zeroized with it). Its sink must not
  // be called again.
  std::unique_ptr<ArchiveWriter> writer;
};

// Takes a snapshot of `store` into an archive written to `sink`, wrapped for
// `recovery_public_key`. `progress` (optional) sees the payload bytes so far.
SnapshotResult snapshot_store(store::Store& store, const Sink& sink,
                              std::span<const std::uint8_t> recovery_public_key, const std::string& source_host,
                              const std::function<void(std::uint64_t)>& progress = {});

struct RestoreResult {
  ArchiveHeader header;
  ArchiveTrailer trailer;
  std::map<std::string, std::int64_t> row_counts;  // as restored
  std::uint64_t statements = 0;
};

// Restores an archive into a new database file `database` (which must not
// exist) encrypted with the key in `key_file` (created when absent). The
// database is built as "<database>.restoring" and renamed into place only
// when the whole archive authenticated and the row counts match the
// header; on any failure nothing is left behind and ArchiveError (or
// store::Error) is thrown.
RestoreResult restore_archive(const Source& source, std::span<const std::uint8_t> recovery_private_key,
                              const std::filesystem::path& database, const std::filesystem::path& key_file);
// The same from an open reader (e.g. ArchiveReader(source, writer), the
// test restore of an archive just written).
RestoreResult restore_archive(ArchiveReader& reader, const std::filesystem::path& database,
                              const std::filesystem::path& key_file);

}  // namespace privstack::backup
