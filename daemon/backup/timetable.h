// When the scheduled backups (backup.schedule) and verifications
// (backup.verify_schedule) are due: the decisions of
// BackupService::schedule_loop, without its timer and its runs. Times are
// the wall clock's, passed in (the loop reads its clock once per turn).
// Schedules compute in local time; `utc` computes in UTC (tests), as
// Schedule::next_after does.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "backup/local_dir.h"
#include "core/schedule.h"

namespace privstack::backup {

using WallTime = std::chrono::system_clock::time_point;

// The creation time of the newest good archive among `archives` (scan()
// order, newest first): the backup the schedule counts from.
std::optional<std::int64_t> newest_good(const std::vector<LocalArchive>& archives);

// A backup missed while the daemon was down: the slot after the newest
// archive (`newest`, Unix seconds) came at or before `now`. Never with no
// archive at all.
bool missed_while_down(const Schedule& schedule, std::optional<std::int64_t> newest, WallTime now,
                       bool utc = false);

// A job whose next time is `next` runs at `now`: at that time or later,
// never when none is scheduled.
bool is_due(const std::optional<WallTime>& next, WallTime now);

// The next verification after one that ended at `now`: a minute later when
// a backup kept it from running (`busy`), else the schedule's next slot.
std::optional<WallTime> next_verify_after(const Schedule& schedule, bool busy, WallTime now, bool utc = false);

// How long the loop sleeps before it looks again: until a second after the
// earlier of `next` and `next_verify`, and at most a minute (a reloaded
// schedule takes effect within it).
std::chrono::seconds sleep_before_next(WallTime now, const std::optional<WallTime>& next,
                                       const std::optional<WallTime>& next_verify);

}  // namespace privstack::backup
