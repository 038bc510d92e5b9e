// The archives in backup.local_directory: their names, the scan of the
// directory, and the digest written next to each one (docs/backup-format.md,
// "Files and objects").
//
//   <YYYYMMDDTHHMMSSZ>-<8 hex>.psbak          a complete archive (its id + ".psbak")
//   <id>.psbak.sha256                         its SHA-256 at the test restore (sha256sum format)
//   .<anything>.partial                       a file being written; removed at the next run
//
// Anything else in the directory is not an archive and is left alone.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/types.h>

#include "backup/archive.h"

namespace privstack::backup {

inline constexpr std::string_view kSuffix = ".psbak";
inline constexpr std::string_view kPartial = ".partial";

// "20261122T210400Z" -> Unix seconds; nullopt when malformed.
std::optional<std::int64_t> parse_stamp(std::string_view s);

// A complete archive's file name (or key under the prefix): "<id>.psbak",
// not hidden (partial files start with '.').
bool is_archive_name(const std::string& name);

// An archive's name (its id): its creation time and the start of its
// random id. Local files and S3 keys are this plus kSuffix.
std::string archive_name(const ArchiveHeader& h);

struct LocalArchive {
  std::string id;
  std::filesystem::path path;
  std::uint64_t size = 0;
  bool good = false;
  std::string error;
  ArchiveHeader header;
};

// The archives in `dir`, newest first. Partial files are not archives. An
// archive whose header cannot be read is listed (good = false, `error`),
// with its creation time taken from its name.
std::vector<LocalArchive> scan(const std::filesystem::path& dir);

// Removes the partial files (".<name>.partial") an interrupted run left in
// `dir` (crash, kill -9). Nothing else is touched; throws when `dir`
// cannot be read.
void remove_partials(const std::filesystem::path& dir);

// "<id>.psbak.sha256" next to each archive: the SHA-256 of the archive's
// bytes as they passed the test restore at creation, in sha256sum's format
// (an operator can run `sha256sum -c`). The scheduled verification compares
// the stored copies, local and in the bucket, against it: the appliance can
// never decrypt an archive again after writing it, but it can prove that
// what is stored is still exactly what was test-restored.
inline constexpr std::string_view kDigestSuffix = ".sha256";

std::filesystem::path digest_path(const std::filesystem::path& archive);
// The recorded digest: 64 lowercase hex digits (the first word of the
// file), else nullopt (absent, short, uppercase, not hex).
std::optional<std::string> read_digest(const std::filesystem::path& archive);
// Writes "<hex>  <file name>\n" (0600) through a partial file and a rename.
void write_digest(const std::filesystem::path& archive, const std::string& hex);

void fsync_directory(const std::filesystem::path& dir);

// A Source over `f` that also feeds everything it reads into a SHA-256.
class HashingFile {
 public:
  explicit HashingFile(std::FILE* f);
  ~HashingFile();
  HashingFile(const HashingFile&) = delete;
  HashingFile& operator=(const HashingFile&) = delete;

  Source source();
  // Reads what the consumer left, then the hex digest of the whole file.
  std::string finish();

 private:
  std::FILE* f_;
  EVP_MD_CTX* ctx_;
};

}  // namespace privstack::backup
