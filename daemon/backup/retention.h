// The retention planner, used for the local and the remote copies alike.
//
// Semantics are those of `restic forget --keep-last L --keep-daily D
// --keep-weekly W --keep-monthly M` (restic 0.14, Debian 12): archives
// sorted newest first; for each rule with a count left, an archive is kept
// when its bucket (local calendar day, ISO 8601 week, calendar month; for
// `last`, the archive itself) differs from the bucket of the previous
// archive that rule kept, and the count goes down by one. So `last` keeps
// the L newest archives, and each calendar rule keeps the newest archive of
// each of its last N non-empty buckets; an archive kept by any rule is kept.
//
// On top of restic's rules, two safety rules (which never apply in the
// restic comparison): with every count at 0 nothing is deleted, and the
// newest archive marked `good` is always kept — pruning never removes the
// only copy known to verify.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace privstack::backup {

struct RetentionPolicy {
  int daily = 5;
  int weekly = 4;
  int monthly = 6;
  // Last so that {daily, weekly, monthly} still reads as before.
  int last = 3;
};

struct RetentionItem {
  std::string id;             // archive name or key
  std::int64_t time = 0;      // creation, Unix seconds
  bool good = true;           // verified (or at least completely written)
};

struct RetentionDecision {
  std::string id;
  std::int64_t time = 0;
  bool keep = false;
  std::vector<std::string> reasons;  // "last", "daily", "weekly", "monthly", "newest good copy", "no policy"
};

struct RetentionPlan {
  std::vector<RetentionDecision> decisions;  // newest first
  std::vector<std::string> keep_ids() const;
  std::vector<std::string> delete_ids() const;
};

// Buckets use the local time zone (TZ) as the archives' creation times were
// seen by the operator, like restic with snapshots taken on this machine.
RetentionPlan plan_retention(std::vector<RetentionItem> items, const RetentionPolicy& policy);

// Bucket keys (exposed for tests): YYYYMMDD, ISO YYYYWW, YYYYMM in local time.
int day_bucket(std::int64_t unix_time);
int iso_week_bucket(std::int64_t unix_time);
int month_bucket(std::int64_t unix_time);

}  // namespace privstack::backup
