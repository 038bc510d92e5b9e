#include "backup/retention.h"

#include <algorithm>
#include <ctime>

namespace privstack::backup {
namespace {

std::tm local(std::int64_t unix_time) {
  std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

// `last` buckets by position: every archive is its own bucket (restic's
// keep-last), so the rule keeps the first `last` archives, newest first.
struct Rule {
  int count;
  const char* reason;
  int (*bucket)(std::int64_t) = nullptr;  // null: by position
  std::int64_t previous = -1;  // the bucket of the archive this rule kept last
};

}  // namespace

int day_bucket(std::int64_t unix_time) {
  std::tm tm = local(unix_time);
  return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

int month_bucket(std::int64_t unix_time) {
  std::tm tm = local(unix_time);
  return (tm.tm_year + 1900) * 100 + (tm.tm_mon + 1);
}

int iso_week_bucket(std::int64_t unix_time) {
  std::tm tm = local(unix_time);
  // ISO 8601: the week belongs to the year of its Thursday.
  int wday = tm.tm_wday == 0 ? 7 : tm.tm_wday;  // Monday = 1 .. Sunday = 7
  int thursday_yday = tm.tm_yday - wday + 4;     // day of year of this week's Thursday
  int year = tm.tm_year + 1900;
  auto leap = [](int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; };
  if (thursday_yday < 0) {
    --year;
    thursday_yday += leap(year) ? 366 : 365;
  } else if (thursday_yday >= (leap(year) ? 366 : 365)) {
    thursday_yday -= leap(year) ? 366 : 365;
    ++year;
  }
  int week = thursday_yday / 7 + 1;
  return year * 100 + week;
}

std::vector<std::string> RetentionPlan::keep_ids() const {
  std::vector<std::string> out;
  for (const auto& d : decisions)
    if (d.keep) out.push_back(d.id);
  return out;
}

std::vector<std::string> RetentionPlan::delete_ids() const {
  std::vector<std::string> out;
  for (const auto& d : decisions)
    if (!d.keep) out.push_back(d.id);
  return out;
}

RetentionPlan plan_retention(std::vector<RetentionItem> items, const RetentionPolicy& policy) {
  // Newest first; equal times keep their input order (like restic's stable sort).
  std::stable_sort(items.begin(), items.end(),
                   [](const RetentionItem& a, const RetentionItem& b) { return a.time > b.time; });
  Rule rules[] = {{std::max(policy.last, 0), "last"},
                  {std::max(policy.daily, 0), "daily", day_bucket},
                  {std::max(policy.weekly, 0), "weekly", iso_week_bucket},
                  {std::max(policy.monthly, 0), "monthly", month_bucket}};
  bool no_policy = policy.last <= 0 && policy.daily <= 0 && policy.weekly <= 0 && policy.monthly <= 0;

  RetentionPlan plan;
  plan.decisions.reserve(items.size());
  bool good_kept = false;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto& item = items[i];
    RetentionDecision d{item.id, item.time, false, {}};
    if (no_policy) {
      d.keep = true;
      d.reasons.emplace_back("no policy");
    }
    for (auto& rule : rules) {
      if (rule.count <= 0) continue;
      std::int64_t b = rule.bucket ? rule.bucket(item.time) : static_cast<std::int64_t>(i);
      if (b != rule.previous) {
        rule.previous = b;
        --rule.count;
        d.keep = true;
        d.reasons.emplace_back(rule.reason);
      }
    }
    if (item.good && d.keep) good_kept = true;
    plan.decisions.push_back(std::move(d));
  }
  // Never delete the only good copy: keep the newest good archive if the
  // rules kept no good one.
  if (!good_kept) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (items[i].good) {
        plan.decisions[i].keep = true;
        plan.decisions[i].reasons.emplace_back("newest good copy");
        break;
      }
    }
  }
  return plan;
}

}  // namespace privstack::backup
