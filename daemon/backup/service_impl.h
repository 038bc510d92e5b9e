// BackupService's state and its blocking work, shared by the files that
// implement it (internal: only daemon/backup includes this):
//
//   service.cpp   the shared state's helpers, one run at a time (RunSlot), the schedule loop
//   run.cpp       a backup run, phase by phase
//   run_history.cpp  the history of runs in the store (GET /api/v1/backups/runs)
//   listing.cpp   GET /api/v1/backups: local archives, the bucket's listing (cached), every copy
//   verify.cpp    the keyless check of the stored copies
//   routes.cpp    the HTTP routes and control commands
//
// The pure parts are elsewhere: local_dir.h (names, scan, digests),
// plan.h (what retention keeps and deletes, where), run_report.h (the
// report, phase times), timetable.h (when the schedule is due).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "backup/follow_upload.h"
#include "backup/local_dir.h"
#include "backup/run_report.h"
#include "backup/s3_client.h"
#include "backup/service.h"
#include "backup/snapshot.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/health.h"
#include "core/time.h"

namespace privstack::backup {

struct BackupService::Impl {
  Impl(store::Store& s, audit::AuditLog* a, boost::asio::any_io_executor b,
       std::function<std::shared_ptr<const Config>()> c, Health* h, Clock& clock)
      : store(s), audit_log(a), blocking(std::move(b)), config(std::move(c)), health(h), clock(clock), phases(clock) {}

  store::Store& store;
  audit::AuditLog* audit_log;
  boost::asio::any_io_executor blocking;
  std::function<std::shared_ptr<const Config>()> config;
  Health* health;
  Clock& clock;  // the module clock: archive times, listings, the schedule

  std::atomic<bool> running{false};
  std::mutex mutex;  // guards phases, last_run
  std::atomic<std::uint64_t> progress_bytes{0};
  std::atomic<bool> cancelled{false};

  void check_cancelled() const {
    if (cancelled) throw std::runtime_error("cancelled: privstackd is stopping");
  }
  std::optional<boost::json::object> last_run;

  // The bucket as the service last listed it (GET /api/v1/backups lists it
  // again when this is older than kListingMaxAge; a run's remote pruning
  // refreshes it), under `mutex`. `for_bucket` says which bucket and prefix
  // it lists: a reload that changes them invalidates it.
  struct RemoteListing {
    std::string for_bucket;
    std::int64_t listed_at = 0;
    std::string listed_by;  // "backup run" or "backup list"
    std::vector<S3Object> archives;
  };
  std::optional<RemoteListing> remote_listing;
  std::uint64_t listings_made = 0;
  std::string remote_listing_error;  // the latest failed listing, cleared by a good one
  std::mutex listing_mutex;           // one listing at a time

  // The latest check of each copy, keyed by (place, id), under `mutex`:
  // the upload's own check, or the verification's SHA-256 comparison.
  struct CopyCheck {
    bool ok = false;
    std::int64_t at = 0;
    std::string by;
    std::string error;
  };
  std::map<std::pair<std::string, std::string>, CopyCheck> copy_checks;

  // The current phase, and how long each phase of the current run took
  // (the run's report carries it: an operator sees whether the snapshot or
  // the upload is slow). Changed under `mutex`, by the thread that runs the
  // job (and by RunSlot at its end).
  PhaseTimer phases;

  // ---- service.cpp: shared by the run, the listing and the verification
  std::int64_t now_unix() const { return clock.unix_seconds(); }
  void record_check(const std::string& place, const std::string& id, bool ok, std::string by, std::string error = {});
  void set_phase(std::string p);
  void set_health(HealthState state, std::string detail);
  // Whether the health component holds check_configuration's "no recovery
  // key" state (which a key set by SIGHUP then clears) rather than a run's.
  std::atomic<bool> health_says_no_key{false};
  void record_audit(const std::string& actor, const std::string& source, const std::string& action,
                    const std::string& object, std::string_view outcome, const std::string& detail);
  S3Config s3_config(const Config& c);
  // The creation time of the newest good local archive (the schedule's
  // catch-up at start-up).
  std::optional<std::int64_t> newest_local();

  // ---- run.cpp: a backup run. run_blocking is the sequence of the phases
  // below; any exception fails the run (nothing partial is kept), except
  // the off-site copy's, which is reported in the result ("upload").
  boost::json::object run_blocking(const std::string& trigger, const std::string& actor, const std::string& source);

  // The off-site copy under way while the archive is written (its parts
  // are sent as the file grows, follow_upload.h). Members are destroyed
  // in reverse: the follower first, then the client, then the secret is
  // wiped.
  struct OffSite {
    S3Config config;
    CleanseOnExit<std::string> wipe_secret{config.credentials.secret_access_key};
    std::unique_ptr<S3Client> client;
    std::unique_ptr<FollowingUpload> follower;  // declared after the client: destroyed first
    std::string setup_error;                    // why there is no follower although S3 is configured
  };
  // The test restore's outcome: the archive's SHA-256 and how long it took.
  struct TestRestore {
    std::string sha256;
    std::int64_t duration_ms = 0;
  };
  // The off-site copy's outcome: the result's "upload".
  struct Upload {
    boost::json::object report;
    bool failed = false;
    std::string error;
  };

  // backup.recovery_public_key, parsed; not_configured when unset.
  static std::vector<std::uint8_t> recovery_key(const Config& c);
  // Creates the directory (0700) and removes what an interrupted run left:
  // partial files, scratch stores of a test restore.
  static void clear_leftovers(const Config& c);
  // Starts the off-site copy of `temp` when backup.s3 is configured. A setup
  // error (a region outside backup.allowed_regions, an unreadable secret)
  // is the upload's failure (`setup_error`): the local copy is still made.
  void start_off_site(const Config& c, const std::filesystem::path& temp, OffSite& off_site);
  // The snapshot into `f` (the partial file `temp`, closed here), fsynced,
  // with the follower told how far the file is written.
  SnapshotResult write_archive(std::FILE* f, const std::filesystem::path& temp,
                               std::span<const std::uint8_t> recovery_public_key, FollowingUpload* follower);
  // Reads `temp` back with the data key and restores it into a scratch
  // store; zeroizes the data key.
  TestRestore test_restore_archive(const Config& c, const std::filesystem::path& temp, SnapshotResult& snap);
  // Renames `temp` to the archive's name (and clears it: from then on the
  // archive stays whatever fails), writes its digest, fsyncs the directory.
  WrittenArchive publish_local(const std::filesystem::path& dir, std::filesystem::path& temp,
                               const SnapshotResult& snap, const TestRestore& restored);
  // The journal's backup.completed and the audit entry of a written archive.
  // off_site: whether an upload to S3 follows (OFF_SITE on backup.completed).
  void log_written(const WrittenArchive& w, const std::string& trigger, std::int64_t duration_ms,
                   const std::string& actor, const std::string& source, bool off_site);
  // Completes the off-site copy and prunes the bucket. A failure keeps the
  // local copy and is reported.
  Upload publish_off_site(const Config& c, const WrittenArchive& w, OffSite& off_site, const std::string& actor,
                          const std::string& source);
  // How the run's follower (follow_upload.h) names the object and cleans
  // up before its first request.
  FollowingUpload::Options follow_options(const Config& c, S3Client& client);
  // Completes the upload of `a` that `follower` sent while the archive was
  // written and verifies it (the stream upload HEADs the object and checks
  // its size). Returns the "upload" report without "pruned" (put_only:
  // with it, as nothing is pruned).
  boost::json::object complete_upload(const Config& c, const LocalArchive& a, S3Client& client,
                                      FollowingUpload& follower);
  // Remote retention, from the bucket's real listing; never deletes `key`
  // (the archive just uploaded). Returns the keys deleted.
  boost::json::array prune_remote(const Config& c, const std::string& key, S3Client& client);
  // Local retention; never deletes `id`. Returns the ids deleted.
  boost::json::array prune_local(const Config& c, const std::string& id, const std::string& actor,
                                 const std::string& source);
  // Health and metrics after a run that wrote `w` (started at `t0`).
  void record_outcome(const WrittenArchive& w, const Upload& upload, std::chrono::steady_clock::time_point t0);
  // Journal, audit, health, metrics and last_run of a run that failed.
  void record_failure(const std::string& trigger, const std::filesystem::path& dir, const std::string& what,
                      const std::string& actor, const std::string& source);
  // Milliseconds since `t0`.
  static std::int64_t elapsed_ms(std::chrono::steady_clock::time_point t0);

  // ---- run_history.cpp: one row per run in the store (backup_runs)
  struct RunRecord {
    std::int64_t started_at = 0;  // unix seconds
    std::int64_t duration_ms = 0;
    std::string archive_id;         // empty when none was written
    std::int64_t archive_bytes = 0;
    std::string outcome;            // "ok", "upload_failed", "failed"
    std::string error;
    std::string trigger;
  };
  static void migrate_run_history(store::Store& store);
  // Appends `r` and drops the rows beyond the newest 200; a store failure
  // is logged, never thrown (the run's own outcome stands).
  void record_run(const RunRecord& r) noexcept;
  // GET /api/v1/backups/runs: {"runs": [...]}, newest first.
  boost::json::object runs_blocking();

  // ---- listing.cpp
  void remember_listing(const Config& c, std::vector<S3Object> archives, std::string by);
  // The bucket's archives for GET /api/v1/backups: the last listing while it
  // is recent, or while a run is going (the run lists the bucket itself when
  // it prunes); otherwise a new listing. nullopt when the bucket has not
  // been listed (remote_listing_error says why).
  std::optional<RemoteListing> current_listing(const Config& c, bool refresh);
  boost::json::value check_json(const std::string& place, const std::string& id);
  // Where the bucket stands for the listing: not configured, not listable
  // (put_only), or listed at a given time.
  boost::json::object off_site_json(const Config& c, const std::optional<RemoteListing>& listing);
  // The local archives' retention preview: the ids a prune keeps now, and
  // those the next run's prune keeps (plan.h, next_run_plan).
  struct Fates {
    std::set<std::string> now;
    std::set<std::string> after_next_run;
  };
  // Every archive stored anywhere, one entry per id, newest first: whether
  // the local directory and the bucket hold it, their sizes and their
  // latest checks.
  boost::json::array copies_json(const Config& c, const std::vector<LocalArchive>& archives, const Fates& fates,
                                 const std::optional<RemoteListing>& listing);
  boost::json::object list_blocking(bool refresh_remote);

  // ---- verify.cpp
  // A damaged stored copy: journald (backup.verify_failed opens a
  // backup_failure incident, daemon/incidents) and the audit log.
  void report_damaged(const std::string& id, const std::string& place, const std::string& where,
                      const std::string& why, const std::string& actor, const std::string& source);
  // `backup verify ID` in the daemon: the keyless check of the local copy
  // (docs/operations.md, "Verifying a backup").
  boost::json::object verify_blocking(const std::string& id, const std::string& actor);
  // The scheduled verification (backup.verify_schedule): every local
  // archive, and the newest one downloaded back from the bucket, checked
  // against the digest recorded at its test restore. Returns the report;
  // damaged copies are reported one by one (report_damaged).
  boost::json::object verify_stored_blocking(const std::string& actor, const std::string& source);
};

}  // namespace privstack::backup
