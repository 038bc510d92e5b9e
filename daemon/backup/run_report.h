// A backup run's report: what POST /api/v1/backups and `privstackctl
// backup run` answer, what GET /api/v1/backups shows as "last_run", and
// how long each of the run's phases took ("phase_ms").
#pragma once

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "backup/archive.h"
#include "core/time.h"

namespace privstack::backup {

// How long each phase took, in milliseconds: the time from one enter() to
// the next is added to the phase that was current, so a phase entered twice
// is the sum of both stretches. The phase "" is idle and not timed.
class PhaseTimer {
 public:
  explicit PhaseTimer(const Clock& clock = default_clock()) : clock_(clock) {}

  // Ends the current phase and starts `next` ("" ends timing).
  void enter(std::string next);
  // Forgets the totals (a new run); the current phase goes on.
  void clear() { totals_.clear(); }

  const std::string& phase() const { return phase_; }
  // {"snapshot": 812, "test restore": 240, ...}, phases that have ended.
  const boost::json::object& totals() const { return totals_; }

 private:
  const Clock& clock_;
  std::string phase_;
  std::chrono::steady_clock::time_point started_;
  boost::json::object totals_;
};

// The archive a run wrote and test-restored.
struct WrittenArchive {
  std::string id;
  std::filesystem::path file;
  ArchiveHeader header;
  std::uint64_t archive_bytes = 0;
  std::uint64_t payload_bytes = 0;
  std::string sha256;            // at the test restore
  std::int64_t test_restore_ms = 0;
};

// The report of a run that wrote `w`, before its off-site copy ("upload"),
// its pruning ("pruned") and its phase times ("phase_ms") are added.
boost::json::object run_report(const WrittenArchive& w, const std::string& trigger, std::int64_t duration_ms);

// The "upload" member of a run whose off-site copy failed.
boost::json::object upload_failure(const std::string& bucket, const std::string& region, const std::string& error);

// "last_run" after a run that wrote an archive: its report without the row
// counts, with "state" "ok" or "upload failed".
boost::json::object last_run_of(boost::json::object report, bool upload_failed);
// "last_run" after a run that failed at `unix_time`.
boost::json::object failed_run(const std::string& trigger, const std::string& error, std::int64_t unix_time);

}  // namespace privstack::backup
