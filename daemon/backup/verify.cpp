// The keyless check of the stored copies: `backup verify ID` (one local
// archive) and the scheduled verification (backup.verify_schedule: every
// local archive and the newest one in the bucket), each against the SHA-256
// recorded at its test restore.
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "audit/audit.h"
#include "audit/routes.h"
#include "backup/plan.h"
#include "backup/restore.h"
#include "backup/service_impl.h"
#include "core/error.h"
#include "core/log.h"

namespace privstack::backup {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

const std::string kDigestCheck = "SHA-256 recorded at the test restore";

// The keyless check of one stored copy: structure and, when a digest was
// recorded, that the bytes are still those that passed the test restore.
// Throws with the defect.
json::object check_stored_copy(const fs::path& file, const std::optional<std::string>& expected_sha256) {
  std::FILE* f = std::fopen(file.c_str(), "rb");
  if (f == nullptr) throw std::runtime_error("cannot open " + file.string() + ": " + std::strerror(errno));
  std::string digest;
  json::object doc;
  try {
    HashingFile hashing(f);
    doc = to_json(verify_archive_structure(hashing.source()));
    digest = hashing.finish();
  } catch (...) {
    std::fclose(f);
    throw;
  }
  std::fclose(f);
  doc["sha256"] = digest;
  if (expected_sha256) {
    if (digest != *expected_sha256) {
      throw std::runtime_error("its SHA-256 is " + digest + ", not " + *expected_sha256 +
                               " as recorded at its test restore: the archive was altered or damaged");
    }
    doc["sha256_matches_test_restore"] = true;
  } else {
    doc["sha256_matches_test_restore"] = nullptr;  // made before digests were recorded
  }
  return doc;
}

}  // namespace

void BackupService::Impl::report_damaged(const std::string& id, const std::string& place, const std::string& where,
                                         const std::string& why, const std::string& actor, const std::string& source) {
  log::emit(log::events::backup_verify_failed, "backup " + id + " (" + place + ") is damaged: " + why,
            {{"BACKUP_ID", id}, {"PLACE", place}, {"FILE", where}});
  record_audit(actor, source, "backup.verify", "backup:" + id, audit::kFailure, place + ": " + why);
}

json::object BackupService::Impl::verify_blocking(const std::string& id, const std::string& actor) {
  auto cfg = config();
  if (id.empty() || id.find('/') != std::string::npos || id.starts_with(".")) {
    throw Error(ErrorCode::not_found, "no such backup: " + id);
  }
  fs::path file = cfg->backup.local_directory / (id + std::string(kSuffix));
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    throw Error(ErrorCode::not_found, "no such backup: " + id,
                "no such backup: " + id + " (not in " + cfg->backup.local_directory.string() + ")");
  }
  json::object doc;
  try {
    doc = check_stored_copy(file, read_digest(file));
  } catch (const std::exception& e) {
    record_check("local", id, false, kDigestCheck, e.what());
    report_damaged(id, "local", file.string(), e.what(), actor, std::string(audit::kControlSource));
    throw Error(ErrorCode::integrity_failed, "backup " + id + " is damaged", e.what());
  }
  record_check("local", id, true, kDigestCheck);
  doc["id"] = id;
  doc["file"] = file.string();
  doc["level"] = "structure";
  doc["ok"] = true;
  // Which key opens it, and whether that is the configured one.
  if (!cfg->backup.recovery_public_key.empty()) {
    try {
      std::string configured = recovery_key_id(parse_recovery_public_key(cfg->backup.recovery_public_key));
      doc["recovery_key_matches_config"] = configured == std::string(doc.at("recovery_key_id").as_string());
    } catch (const std::exception&) {
    }
  }
  doc["note"] =
      "header, chunk framing and the SHA-256 recorded at the test restore checked; an offline restore test "
      "needs the recovery private key: privstackctl backup verify --recovery-key FILE " + id;
  record_audit(actor, std::string(audit::kControlSource), "backup.verify", "backup:" + id, audit::kSuccess,
               "structure ok");
  return doc;
}

json::object BackupService::Impl::verify_stored_blocking(const std::string& actor, const std::string& source) {
  auto cfg = config();
  const Config& c = *cfg;
  const fs::path dir = c.backup.local_directory;
  json::array checked;
  int damaged = 0;
  auto archives = scan(dir);
  for (const auto& a : archives) {
    check_cancelled();  // between copies: a cancelled check is not a damaged copy
    json::object r{{"id", a.id}, {"place", "local"}};
    try {
      json::object d = check_stored_copy(a.path, read_digest(a.path));
      r["ok"] = true;
      r["sha256_matches_test_restore"] = d.at("sha256_matches_test_restore");
      record_check("local", a.id, true, kDigestCheck);
    } catch (const std::exception& e) {
      ++damaged;
      r["ok"] = false;
      r["error"] = e.what();
      record_check("local", a.id, false, kDigestCheck, e.what());
      report_damaged(a.id, "local", a.path.string(), e.what(), actor, source);
    }
    checked.push_back(std::move(r));
  }
  // The bucket: the newest archive with a recorded digest, downloaded into
  // a partial file (removed afterwards, and by the next run after a crash).
  json::object doc_extra;
  if (!c.backup.s3.endpoint.empty() && c.backup.s3.put_only) {
    doc_extra["s3"] = "not checked: backup.s3.put_only credentials cannot read the bucket";
  } else if (!c.backup.s3.endpoint.empty()) {
    const LocalArchive* newest = nullptr;
    for (const auto& a : archives) {
      if (a.good && read_digest(a.path)) {
        newest = &a;
        break;
      }
    }
    if (newest != nullptr) {
      std::string key = s3_prefix(c) + newest->id + std::string(kSuffix);
      fs::path temp = dir / ("." + newest->id + ".verify-" + std::to_string(::getpid()) + std::string(kPartial));
      json::object r{{"id", newest->id}, {"place", "s3"}, {"key", key}};
      std::string where = "s3://" + c.backup.s3.bucket + "/" + key;
      try {
        set_phase("verifying (download)");
        S3Config sc = s3_config(c);
        CleanseOnExit wipe{sc.credentials.secret_access_key};
        S3Client client(sc);
        {
          std::ofstream out(temp, std::ios::binary | std::ios::trunc);
          if (!out) throw std::runtime_error("cannot create " + temp.string());
          client.get_object(key, [&](std::span<const std::uint8_t> b) {
            out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
            if (!out) throw std::runtime_error("cannot write " + temp.string());
          });
        }
        json::object d = check_stored_copy(temp, read_digest(newest->path));
        r["ok"] = true;
        r["sha256_matches_test_restore"] = d.at("sha256_matches_test_restore");
        record_check("s3", newest->id, true, kDigestCheck + " (downloaded)");
      } catch (const std::exception& e) {
        ++damaged;
        r["ok"] = false;
        r["error"] = e.what();
        record_check("s3", newest->id, false, kDigestCheck + " (downloaded)", e.what());
        report_damaged(newest->id, "s3", where, e.what(), actor, source);
      }
      std::error_code ec;
      fs::remove(temp, ec);
      checked.push_back(std::move(r));
    }
  }
  json::object doc{{"checked", checked.size()}, {"damaged", damaged}, {"archives", std::move(checked)}};
  for (auto& [k, v] : doc_extra) doc[k] = v;
  if (damaged == 0) {
    log::emit(log::events::backup_verified,
              "stored backups verified: " + std::to_string(doc.at("checked").as_uint64()) + " copies intact",
              {{"CHECKED", static_cast<std::int64_t>(doc.at("checked").as_uint64())}});
    record_audit(actor, source, "backup.verify", "backups", audit::kSuccess,
                 "checked=" + std::to_string(doc.at("checked").as_uint64()));
  }
  return doc;
}

}  // namespace privstack::backup
