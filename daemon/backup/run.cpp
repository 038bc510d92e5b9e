// A backup run, phase by phase: snapshot (with the off-site upload
// following the file), test restore, local publication, off-site
// publication and remote retention, local retention, report.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "audit/audit.h"
#include "backup/archive.h"
#include "backup/plan.h"
#include "backup/restore.h"
#include "backup/service_impl.h"
#include "core/error.h"
#include "core/log.h"
#include "core/metrics.h"

namespace privstack::backup {

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// ".<start>-<pid>.partial" in `dir`: the archive while it is written.
fs::path partial_path(const fs::path& dir, std::int64_t started) {
  return dir / ("." + format_utc(started, "%Y%m%dT%H%M%SZ") + "-" + std::to_string(::getpid()) +
                std::string(kPartial));
}

// Creates `temp` (0600, never an existing file) for writing.
std::FILE* create_partial(const fs::path& temp) {
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + temp.string() + ": " + std::strerror(errno));
  std::FILE* f = ::fdopen(fd, "wb");
  if (f == nullptr) {
    ::close(fd);
    throw std::runtime_error("cannot open " + temp.string());
  }
  return f;
}

}  // namespace

json::object BackupService::Impl::run_blocking(const std::string& trigger, const std::string& actor,
                                               const std::string& source) {
  auto cfg = config();
  const Config& c = *cfg;
  auto t0 = std::chrono::steady_clock::now();
  const std::int64_t started_at = now_unix();
  fs::path dir = c.backup.local_directory;
  fs::path temp;
  phases.clear();
  try {
    set_phase("snapshot");
    progress_bytes = 0;
    const std::vector<std::uint8_t> pub = recovery_key(c);
    clear_leftovers(c);
    temp = partial_path(dir, now_unix());
    std::FILE* f = create_partial(temp);
    OffSite off_site;
    start_off_site(c, temp, off_site);
    SnapshotResult snap = write_archive(f, temp, pub, off_site.follower.get());

    set_phase("test restore");
    const TestRestore restored = test_restore_archive(c, temp, snap);

    const WrittenArchive w = publish_local(dir, temp, snap, restored);
    const std::int64_t duration_ms = elapsed_ms(t0);
    json::object doc = run_report(w, trigger, duration_ms);
    log_written(w, trigger, duration_ms, actor, source, !c.backup.s3.endpoint.empty());

    Upload upload = publish_off_site(c, w, off_site, actor, source);
    doc["upload"] = std::move(upload.report);

    set_phase("pruning");
    doc["pruned"] = prune_local(c, w.id, actor, source);

    record_outcome(w, upload, t0);
    record_run({started_at, elapsed_ms(t0), w.id, static_cast<std::int64_t>(w.archive_bytes),
                upload.failed ? "upload_failed" : "ok", upload.error, trigger});
    set_phase("");  // closes the last phase's timing
    doc["phase_ms"] = phases.totals();
    {
      std::lock_guard lock(mutex);
      last_run = last_run_of(doc, upload.failed);
    }
    return doc;
  } catch (const std::exception& e) {
    std::error_code ec;
    if (!temp.empty()) fs::remove(temp, ec);  // never leave a half-written archive
    record_failure(trigger, dir, e.what(), actor, source);
    record_run({started_at, elapsed_ms(t0), "", 0, "failed", e.what(), trigger});
    throw current_error_as("backup failed");
  }
}

std::vector<std::uint8_t> BackupService::Impl::recovery_key(const Config& c) {
  if (c.backup.recovery_public_key.empty()) {
    // The caller's problem to fix: not_configured (409), not internal.
    throw Error(ErrorCode::not_configured,
        "backup.recovery_public_key is not set: generate a recovery key pair and configure its public half");
  }
  return parse_recovery_public_key(c.backup.recovery_public_key);
}

void BackupService::Impl::clear_leftovers(const Config& c) {
  const fs::path dir = c.backup.local_directory;
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all);
  // Partial files of an interrupted run (crash, kill -9) go first.
  remove_partials(dir);
  // ...and the scratch stores of an interrupted test restore (no run is
  // in progress: `running` admits one at a time).
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(c.state_directory, ec)) {
    if (entry.path().filename().string().starts_with("privstack-verify-")) fs::remove_all(entry.path(), ec);
  }
}

void BackupService::Impl::start_off_site(const Config& c, const fs::path& temp, OffSite& off_site) {
  // The off-site copy is sent while the archive is written: a follower
  // thread reads the file as it grows and uploads its parts
  // (follow_upload.h); the upload is completed after the test restore.
  if (c.backup.s3.endpoint.empty()) return;
  try {
    off_site.config = s3_config(c);
    off_site.client = std::make_unique<S3Client>(off_site.config);
    off_site.follower = std::make_unique<FollowingUpload>(*off_site.client, temp, follow_options(c, *off_site.client));
  } catch (const std::exception& e) {
    off_site.setup_error = e.what();
  }
}

SnapshotResult BackupService::Impl::write_archive(std::FILE* f, const fs::path& temp,
                                                  std::span<const std::uint8_t> pub, FollowingUpload* follower) {
  SnapshotResult snap;
  try {
    std::uint64_t written = 0;
    Sink sink = [this, f, &temp, &written, to_follow = follower](std::span<const std::uint8_t> b) {
      check_cancelled();
      if (std::fwrite(b.data(), 1, b.size(), f) != b.size() || (to_follow && std::fflush(f) != 0)) {
        throw std::runtime_error("cannot write " + temp.string() + ": " + std::strerror(errno));
      }
      written += b.size();
      if (to_follow) to_follow->written(written);
    };
    auto progress = [this](std::uint64_t n) { progress_bytes = n; };
    snap = snapshot_store(store, sink, pub, hostname(), progress);
    if (std::fflush(f) != 0 || ::fsync(::fileno(f)) != 0) {
      throw std::runtime_error("cannot write " + temp.string() + ": " + std::strerror(errno));
    }
    if (follower) follower->file_complete(written);
  } catch (...) {
    std::fclose(f);
    throw;
  }
  if (std::fclose(f) != 0) throw std::runtime_error("cannot write " + temp.string() + ": " + std::strerror(errno));
  return snap;
}

BackupService::Impl::TestRestore BackupService::Impl::test_restore_archive(const Config& c, const fs::path& temp,
                                                                           SnapshotResult& snap) {
  // The test restore, while the data key is still in memory (the only
  // moment the appliance can decrypt its own archive): read the file
  // back, authenticate every chunk, restore into a scratch encrypted
  // store, check its integrity and audit chain. An archive that fails
  // is never published. Its SHA-256 is recorded for the scheduled
  // verification (backup.verify_schedule).
  TestRestore restored;
  // All of it: reading back, the scratch store, its removal (a store's
  // size unlinked) and the digest.
  const auto test_restore_started = std::chrono::steady_clock::now();
  {
    std::FILE* rf = std::fopen(temp.c_str(), "rb");
    if (rf == nullptr) throw std::runtime_error("cannot read back " + temp.string() + ": " + std::strerror(errno));
    try {
      HashingFile hashing(rf);
      Source read = [this, inner = hashing.source()](std::span<std::uint8_t> b) {
        check_cancelled();
        return inner(b);
      };
      ArchiveReader reader(read, *snap.writer);
      test_restore(reader, c.state_directory);
      restored.sha256 = hashing.finish();
    } catch (const std::exception& e) {
      std::fclose(rf);
      throw std::runtime_error(std::string("the new archive failed its test restore: ") + e.what());
    }
    std::fclose(rf);
    snap.writer.reset();  // zeroizes the data key
  }
  restored.duration_ms = static_cast<std::int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - test_restore_started)
          .count());
  return restored;
}

WrittenArchive BackupService::Impl::publish_local(const fs::path& dir, fs::path& temp, const SnapshotResult& snap,
                                                  const TestRestore& restored) {
  WrittenArchive w;
  w.header = snap.header;
  w.archive_bytes = snap.archive_bytes;
  w.payload_bytes = snap.payload_bytes;
  w.sha256 = restored.sha256;
  w.test_restore_ms = restored.duration_ms;
  w.id = archive_name(w.header);
  w.file = dir / (w.id + std::string(kSuffix));
  fs::rename(temp, w.file);
  temp.clear();
  write_digest(w.file, w.sha256);
  fsync_directory(dir);
  return w;
}

void BackupService::Impl::log_written(const WrittenArchive& w, const std::string& trigger, std::int64_t duration_ms,
                                      const std::string& actor, const std::string& source, bool off_site) {
  const ArchiveHeader& h = w.header;
  log::emit(log::events::backup_completed,
            "backup " + w.id + " written (" + std::to_string(w.archive_bytes) + " bytes)",
            {{"BACKUP_ID", w.id},
             {"TRIGGER", trigger},
             {"FILE", w.file.string()},
             {"ARCHIVE_BYTES", w.archive_bytes},
             {"PAYLOAD_BYTES", w.payload_bytes},
             {"RECOVERY_KEY_ID", h.recovery_key_id},
             // "none": this archive is the whole backup (the incident rules
             // treat it as a success); "s3": backup.uploaded follows.
             {"OFF_SITE", off_site ? "s3" : "none"},
             {"DURATION_MS", duration_ms}});
  record_audit(actor, source, "backup.run", "backup:" + w.id, audit::kSuccess,
               "trigger=" + trigger + "; bytes=" + std::to_string(w.archive_bytes) +
                   "; recovery_key=" + h.recovery_key_id);
}

BackupService::Impl::Upload BackupService::Impl::publish_off_site(const Config& c, const WrittenArchive& w,
                                                                  OffSite& off_site, const std::string& actor,
                                                                  const std::string& source) {
  Upload upload;
  if (c.backup.s3.endpoint.empty()) {
    upload.report = json::object{{"state", "not configured"}};
    return upload;
  }
  const std::string& id = w.id;
  LocalArchive a;
  a.id = id;
  a.path = w.file;
  a.size = fs::file_size(w.file);
  a.good = true;
  a.header = w.header;
  try {
    if (!off_site.follower) throw std::runtime_error(off_site.setup_error);
    json::object up = complete_upload(c, a, *off_site.client, *off_site.follower);
    const std::string key(up.at("key").as_string());
    // put_only credentials cannot list or delete: the bucket's lifecycle
    // rules (and Object Lock) keep the remote history.
    if (!c.backup.s3.put_only) up["pruned"] = prune_remote(c, key, *off_site.client);
    log::emit(log::events::backup_uploaded, "backup " + id + " shipped to s3://" + c.backup.s3.bucket + "/" + key,
              {{"BACKUP_ID", id}, {"BUCKET", c.backup.s3.bucket}, {"KEY", key}, {"ARCHIVE_BYTES", a.size}});
    record_audit(actor, source, "backup.upload", "backup:" + id, audit::kSuccess,
                 "bucket=" + c.backup.s3.bucket + "; key=" + key);
    upload.report = std::move(up);
  } catch (const std::exception& e) {
    upload.failed = true;
    upload.error = e.what();
    upload.report = upload_failure(c.backup.s3.bucket, c.backup.s3.region, upload.error);
    log::emit(log::events::backup_upload_failed, "backup " + id + " was not shipped: " + upload.error,
              {{"BACKUP_ID", id}, {"BUCKET", c.backup.s3.bucket}, {"REGION", c.backup.s3.region}});
    record_audit(actor, source, "backup.upload", "backup:" + id, audit::kFailure, upload.error);
  }
  return upload;
}

FollowingUpload::Options BackupService::Impl::follow_options(const Config& c, S3Client& client) {
  FollowingUpload::Options o;
  o.key_for = [prefix = s3_prefix(c)](const ArchiveHeader& h) {
    return prefix + archive_name(h) + std::string(kSuffix);
  };
  // A multipart upload under our prefix that is still open was left by an
  // interrupted run (crash, kill -9, power loss: one upload runs at a time
  // and each prefix belongs to one appliance). Abort it, so that its parts
  // stop costing storage, before uploading anew.
  // Best effort: credentials without s3:ListBucketMultipartUploads still
  // upload (the bucket's lifecycle rule then has to clean up).
  o.abort_stale = [&client, prefix = s3_prefix(c), put_only = c.backup.s3.put_only] {
    if (put_only) throw std::runtime_error("backup.s3.put_only: left to the bucket's lifecycle rule");
    std::vector<std::string> aborted;
    for (const auto& [stale_key, upload_id] : client.list_multipart_uploads(prefix)) {
      std::string name = stale_key.substr(std::min(stale_key.size(), prefix.size()));
      if (name.find('/') != std::string::npos || !is_archive_name(name)) continue;
      client.abort_multipart_upload(stale_key, upload_id);
      aborted.push_back(stale_key);
    }
    return aborted;
  };
  o.check_cancelled = [this] { check_cancelled(); };
  return o;
}

json::object BackupService::Impl::complete_upload(const Config& c, const LocalArchive& a, S3Client& client,
                                                  FollowingUpload& follower) {
  json::object up;
  std::string key = s3_prefix(c) + a.id + std::string(kSuffix);
  up["bucket"] = c.backup.s3.bucket;
  up["key"] = key;
  up["region"] = c.backup.s3.region;
  const S3Config& sc = client.config();
  set_phase("uploading");
  progress_bytes = follower.sent();
  const bool put_only = c.backup.s3.put_only;
  std::uint64_t verified = follower.finish(!put_only);
  if (follower.key() != key) {
    throw std::logic_error("the upload went to " + follower.key() + ", not " + key);
  }
  progress_bytes = verified;
  json::array aborted;
  for (auto& k : follower.stale_aborted()) aborted.push_back(json::value(k));
  if (!aborted.empty()) up["aborted_stale_uploads"] = std::move(aborted);
  if (std::string e = follower.stale_cleanup_error(); !e.empty()) up["stale_uploads_error"] = e;
  // The parts went out while the archive was written; this is how long
  // the upload still ran after the archive was complete.
  up["tail_ms"] = follower.lag_ms();
  if (verified != a.size) {
    throw std::runtime_error("the uploaded object has " + std::to_string(verified) + " bytes, the archive " +
                             std::to_string(a.size));
  }
  up["state"] = "uploaded";
  up["bytes"] = verified;
  // Requests sent again after a 5xx, SlowDown or network error (each one
  // is logged as backup.s3_retry): a busy or failing endpoint shows here.
  up["retries"] = client.retries();
  if (std::string until = client.lock_retain_until(); !until.empty()) {
    up["object_lock"] = json::object{{"mode", sc.lock_mode}, {"retain_days", sc.lock_retain_days}};
  }
  if (put_only) {
    // These credentials cannot list or delete: the bucket's lifecycle
    // rules (and Object Lock) keep the remote history.
    up["verified_by"] = "Content-MD5 of every part";
    up["pruned"] = json::array();
    up["retention"] = "bucket lifecycle rules (backup.s3.put_only)";
    record_check("s3", a.id, true, "Content-MD5 of every part");
    return up;
  }
  up["verified_by"] = "HEAD: size and ETag";
  record_check("s3", a.id, true, "HEAD: size and ETag");
  return up;
}

json::array BackupService::Impl::prune_remote(const Config& c, const std::string& key, S3Client& client) {
  // Remote retention, from the bucket's real contents.
  set_phase("pruning remote");
  std::string prefix = s3_prefix(c);
  std::vector<S3Object> listed = archive_objects(c, client.list_objects(prefix));
  RetentionPlan plan = remote_plan(listed, prefix, key, policy_of(c));
  json::array pruned;
  for (const auto& id : deletions(plan, key)) {
    client.delete_object(id);
    pruned.push_back(json::value(id));
    std::erase_if(listed, [&id](const S3Object& o) { return o.key == id; });
  }
  remember_listing(c, std::move(listed), "backup run");
  if (!pruned.empty()) {
    log::emit(log::events::backup_pruned, "pruned " + std::to_string(pruned.size()) + " archive(s) from the bucket",
              {{"PLACE", "s3"},
               {"DELETED", static_cast<std::int64_t>(pruned.size())},
               {"KEPT", static_cast<std::int64_t>(plan.keep_ids().size())}});
  }
  return pruned;
}

json::array BackupService::Impl::prune_local(const Config& c, const std::string& id, const std::string& actor,
                                             const std::string& source) {
  const fs::path dir = c.backup.local_directory;
  auto archives = scan(dir);
  RetentionPlan plan = local_plan(archives, c);
  json::array pruned;
  for (const auto& del : deletions(plan, id)) {
    std::error_code rec;
    fs::path gone = dir / (del + std::string(kSuffix));
    if (fs::remove(gone, rec)) pruned.push_back(json::value(del));
    fs::remove(digest_path(gone), rec);
  }
  if (!pruned.empty()) {
    log::emit(log::events::backup_pruned, "pruned " + std::to_string(pruned.size()) + " local archive(s)",
              {{"PLACE", "local"},
               {"DELETED", static_cast<std::int64_t>(pruned.size())},
               {"KEPT", static_cast<std::int64_t>(plan.keep_ids().size())}});
    std::string ids;
    for (const auto& p : pruned) ids += (ids.empty() ? "" : ",") + std::string(p.as_string());
    record_audit(actor, source, "backup.prune", "backups:local", audit::kSuccess, "deleted=" + ids);
  }
  return pruned;
}

std::int64_t BackupService::Impl::elapsed_ms(std::chrono::steady_clock::time_point t0) {
  return static_cast<std::int64_t>(
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
}

void BackupService::Impl::record_outcome(const WrittenArchive& w, const Upload& upload,
                                         std::chrono::steady_clock::time_point t0) {
  if (upload.failed) {
    set_health(HealthState::degraded, "backup " + w.id + " written; upload failed: " + upload.error);
    metrics::inc(metrics::names::backup_failures);
  } else {
    set_health(HealthState::ok, "last backup " + w.id);
    // What the documented alert (operations.md, "Metrics") watches.
    metrics::set(metrics::names::backup_last_success, static_cast<double>(now_unix()));
    metrics::set(metrics::names::backup_last_size, static_cast<double>(w.archive_bytes));
    metrics::set(metrics::names::backup_duration,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
}

void BackupService::Impl::record_failure(const std::string& trigger, const fs::path& dir, const std::string& what,
                                         const std::string& actor, const std::string& source) {
  log::emit(log::events::backup_failed, "backup failed: " + what, {{"TRIGGER", trigger}, {"DIRECTORY", dir.string()}});
  record_audit(actor, source, "backup.run", "backups:local", audit::kFailure, what);
  set_health(HealthState::degraded, "last backup failed: " + what);
  metrics::inc(metrics::names::backup_failures);
  {
    std::lock_guard lock(mutex);
    last_run = failed_run(trigger, what, now_unix());
  }
}

}  // namespace privstack::backup
