// The history of backup runs (GET /api/v1/backups/runs, the console's
// "Runs" chart): one row per run, good or failed, the newest kKeepRuns
// kept. last_run (service_impl.h) stays the in-memory "last run" of the
// listing; this is what survives a restart.
#include <boost/json.hpp>

#include "backup/service_impl.h"
#include "core/log.h"
#include "store/store.h"

namespace privstack::backup {

namespace json = boost::json;

namespace {

constexpr store::Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE backup_runs (
  id           INTEGER PRIMARY KEY,
  started_at   INTEGER NOT NULL,  -- unix seconds
  duration_ms  INTEGER NOT NULL,
  archive_id   TEXT NOT NULL,     -- '' when no archive was written
  archive_bytes INTEGER NOT NULL, -- 0 when no archive was written
  outcome      TEXT NOT NULL,     -- 'ok', 'upload_failed', 'failed'
  error        TEXT NOT NULL,
  trigger      TEXT NOT NULL
);
)sql"},
};

constexpr std::int64_t kKeepRuns = 200;

}  // namespace

void BackupService::Impl::migrate_run_history(store::Store& store) { store.migrate("backup", kMigrations); }

void BackupService::Impl::record_run(const RunRecord& r) noexcept {
  // Best effort: a run that wrote its archive stays good when its history
  // row cannot be written (the journal says so).
  try {
    store.write([&](store::Connection& c) {
      c.exec("INSERT INTO backup_runs (started_at, duration_ms, archive_id, archive_bytes, outcome, error, trigger) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
             r.started_at, r.duration_ms, r.archive_id, r.archive_bytes, r.outcome, r.error, r.trigger);
      const std::int64_t id = c.last_insert_rowid();
      c.exec("DELETE FROM backup_runs WHERE id <= ?1", id - kKeepRuns);
    });
  } catch (const std::exception& e) {
    log::emit(log::events::audit_write_failed, std::string("cannot record the backup run in its history: ") + e.what());
  }
}

json::object BackupService::Impl::runs_blocking() {
  return store.read([](store::Connection& c) {
    json::array runs;
    c.for_each("SELECT started_at, duration_ms, archive_id, archive_bytes, outcome, error, trigger "
               "FROM backup_runs ORDER BY id DESC",
               [&](const store::Statement& s) {
                 runs.push_back(json::object{{"started_at", s.column<std::int64_t>(0)},
                                             {"duration_ms", s.column<std::int64_t>(1)},
                                             {"archive_id", s.column<std::string>(2)},
                                             {"archive_bytes", s.column<std::int64_t>(3)},
                                             {"outcome", s.column<std::string>(4)},
                                             {"error", s.column<std::string>(5)},
                                             {"trigger", s.column<std::string>(6)}});
               });
    return json::object{{"runs", std::move(runs)}};
  });
}

}  // namespace privstack::backup
