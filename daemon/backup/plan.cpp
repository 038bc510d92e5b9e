#include "backup/plan.h"

#include <algorithm>

namespace privstack::backup {

namespace {

std::vector<RetentionItem> good_items(const std::vector<LocalArchive>& archives) {
  std::vector<RetentionItem> items;
  for (const auto& a : archives) {
    if (a.good) items.push_back({a.id, a.header.metadata.created_unix, true});
  }
  return items;
}

}  // namespace

RetentionPolicy policy_of(const Config& c) {
  const auto& r = c.backup.retention;
  return RetentionPolicy{r.daily, r.weekly, r.monthly, r.keep_last};
}

RetentionPlan local_plan(const std::vector<LocalArchive>& archives, const Config& c) {
  return plan_retention(good_items(archives), policy_of(c));
}

RetentionPlan next_run_plan(const std::vector<LocalArchive>& archives, const Config& c, std::int64_t next_run) {
  std::vector<RetentionItem> items = good_items(archives);
  for (const auto& item : items) next_run = std::max(next_run, item.time);
  // First in the input: among equal times it is the newest (plan_retention
  // keeps input order for ties), as the run's own archive would be. Its id
  // cannot be an archive's (archive ids are never empty).
  items.insert(items.begin(), RetentionItem{"", next_run, true});
  RetentionPlan plan = plan_retention(std::move(items), policy_of(c));
  std::erase_if(plan.decisions, [](const RetentionDecision& d) { return d.id.empty(); });
  return plan;
}

std::string s3_prefix(const Config& c) {
  std::string p = c.backup.s3.prefix;
  if (!p.empty() && !p.ends_with('/')) p += '/';
  return p;
}

std::string bucket_label(const Config& c) { return c.backup.s3.bucket + "/" + s3_prefix(c); }

std::vector<S3Object> archive_objects(const Config& c, std::vector<S3Object> objects) {
  const std::string prefix = s3_prefix(c);
  std::vector<S3Object> out;
  for (auto& o : objects) {
    if (!o.key.starts_with(prefix)) continue;
    std::string name = o.key.substr(prefix.size());
    if (name.find('/') != std::string::npos || !is_archive_name(name)) continue;
    out.push_back(std::move(o));
  }
  return out;
}

RetentionPlan remote_plan(const std::vector<S3Object>& archives, const std::string& prefix,
                          const std::string& uploaded, const RetentionPolicy& policy) {
  const std::string& key = uploaded;
  std::vector<RetentionItem> items;
  for (const auto& o : archives) {
    std::string name = o.key.substr(prefix.size());
    auto t = parse_stamp(std::string_view(name).substr(0, 16));
    if (!t) continue;
    // Only the archive just verified is known good; never delete it.
    items.push_back({o.key, *t, o.key == key});
  }
  // Keys name times in whole seconds. Among equal times the archive just
  // uploaded is the newest (plan_retention keeps input order for ties).
  std::sort(items.begin(), items.end(), [&key](const RetentionItem& x, const RetentionItem& y) {
    if (x.time != y.time) return x.time > y.time;
    if ((x.id == key) != (y.id == key)) return x.id == key;
    return x.id > y.id;
  });
  return plan_retention(std::move(items), policy);
}

std::vector<std::string> deletions(const RetentionPlan& plan, const std::string& spared) {
  std::vector<std::string> out;
  for (auto& id : plan.delete_ids()) {
    if (id == spared) continue;
    out.push_back(std::move(id));
  }
  return out;
}

}  // namespace privstack::backup
