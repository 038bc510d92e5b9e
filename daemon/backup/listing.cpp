// GET /api/v1/backups and `backup list`: the local archives with the
// retention preview, the bucket's listing (cached for a minute), and every
// copy, local and off-site, with its latest check.
#include <algorithm>
#include <boost/json.hpp>

#include "backup/archive.h"
#include "backup/plan.h"
#include "backup/service_impl.h"
#include "backup/timetable.h"

namespace privstack::backup {

namespace json = boost::json;

namespace {

// How long GET /api/v1/backups answers from the last listing of the bucket
// before listing it again: the console reloads the page often, and a
// listing is a round trip to the off-site store (or a timeout when it is
// unreachable).
constexpr std::int64_t kListingMaxAge = 60;
// A listing for the page must not hold it for the upload's 60 s timeout
// (nor for the upload's retries: it makes one attempt).
constexpr std::chrono::seconds kListingTimeout{10};

// Whether a backup can run at all: without a usable recovery public key
// every run fails, so the console says so before anyone presses "Back up
// now" (the configuration check refuses a malformed key, so `problem` is
// normally only "not set").
json::object recovery_key_json(const Config& c) {
  if (c.backup.recovery_public_key.empty()) {
    return json::object{{"configured", false},
                        {"key_id", nullptr},
                        {"problem", "backup.recovery_public_key is not set"}};
  }
  try {
    auto pub = parse_recovery_public_key(c.backup.recovery_public_key);
    return json::object{{"configured", true}, {"key_id", recovery_key_id(pub)}, {"problem", nullptr}};
  } catch (const std::exception& e) {
    return json::object{{"configured", false}, {"key_id", nullptr}, {"problem", e.what()}};
  }
}

// When the next run makes its archive, for the "after the next run"
// preview: the schedule's next slot, or now (a "Back up now") when
// backup.schedule is off.
std::int64_t next_run_unix(const Config& c, WallTime now) {
  auto schedule = Schedule::parse(c.backup.schedule);  // checked at config load
  auto next = schedule ? schedule->next_after(now) : std::nullopt;
  return std::chrono::duration_cast<std::chrono::seconds>(next.value_or(now).time_since_epoch()).count();
}

// An archive's fate in a plan: "ignored" when unreadable (never pruned).
const char* fate(const LocalArchive& a, const std::set<std::string>& keep) {
  return !a.good ? "ignored" : keep.contains(a.id) ? "keep" : "delete";
}

std::set<std::string> kept(const RetentionPlan& plan) {
  std::set<std::string> out;
  for (auto& id : plan.keep_ids()) out.insert(std::move(id));
  return out;
}

json::object archive_json(const LocalArchive& a) {
  json::object o;
  o["id"] = a.id;
  o["file"] = a.path.string();
  o["size"] = a.size;
  o["good"] = a.good;
  o["created"] = a.header.metadata.created_unix;
  o["created_at"] = format_rfc3339(a.header.metadata.created_unix);
  if (a.good) {
    o["archive_id"] = a.header.archive_id;
    o["recovery_key_id"] = a.header.recovery_key_id;
    o["source_host"] = a.header.metadata.source_host;
    o["schema_version"] = a.header.metadata.schema_version;
    json::object rows;
    for (const auto& [t, n] : a.header.metadata.row_counts) rows[t] = n;
    o["row_counts"] = std::move(rows);
  } else {
    o["error"] = a.error;
  }
  return o;
}

}  // namespace

void BackupService::Impl::remember_listing(const Config& c, std::vector<S3Object> archives, std::string by) {
  std::lock_guard lock(mutex);
  remote_listing = RemoteListing{bucket_label(c), now_unix(), std::move(by), std::move(archives)};
  ++listings_made;
  remote_listing_error.clear();
}

std::optional<BackupService::Impl::RemoteListing> BackupService::Impl::current_listing(const Config& c, bool refresh) {
  const std::string bucket = bucket_label(c);
  auto ours = [&] { return remote_listing && remote_listing->for_bucket == bucket; };
  std::uint64_t seen = 0;
  {
    std::lock_guard lock(mutex);
    if (running || (!refresh && ours() && now_unix() - remote_listing->listed_at < kListingMaxAge)) {
      if (ours()) return remote_listing;
      return std::nullopt;
    }
    seen = listings_made;
  }
  std::lock_guard one_at_a_time(listing_mutex);
  {
    // Listed anew while this request waited for the one before it.
    std::lock_guard lock(mutex);
    if (listings_made != seen && ours()) return remote_listing;
  }
  try {
    S3Config sc = s3_config(c);
    CleanseOnExit wipe{sc.credentials.secret_access_key};
    sc.timeout = kListingTimeout;
    // One attempt: retries with backoff are for the run, which must ship;
    // the page only shows where the bucket stands, and five timed-out
    // attempts held `backup list` for about a minute while the server
    // was frozen (the error is shown instead; the next request lists anew).
    sc.max_attempts = 1;
    S3Client client(sc);
    remember_listing(c, archive_objects(c, client.list_objects(s3_prefix(c))), "backup list");
  } catch (const std::exception& e) {
    std::lock_guard lock(mutex);
    remote_listing_error = e.what();
  }
  std::lock_guard lock(mutex);
  if (remote_listing && remote_listing->for_bucket == bucket) return remote_listing;
  return std::nullopt;
}

json::value BackupService::Impl::check_json(const std::string& place, const std::string& id) {
  auto it = copy_checks.find({place, id});  // caller holds `mutex`
  if (it == copy_checks.end()) return nullptr;
  json::object o{{"ok", it->second.ok}, {"at", format_rfc3339(it->second.at)}, {"by", it->second.by}};
  if (!it->second.error.empty()) o["error"] = it->second.error;
  return o;
}

json::object BackupService::Impl::off_site_json(const Config& c, const std::optional<RemoteListing>& listing) {
  if (c.backup.s3.endpoint.empty()) return json::object{{"configured", false}};
  json::object o{{"configured", true}, {"bucket", c.backup.s3.bucket}, {"prefix", c.backup.s3.prefix}};
  if (c.backup.s3.put_only) {
    o["listable"] = false;
    o["reason"] =
        "backup.s3.put_only: these write-only credentials cannot list or read the bucket, so which copies it "
        "holds is unknown here; its lifecycle rules keep and expire them. Copies shipped since privstackd started "
        "are marked shipped, each checked by the Content-MD5 of every part (no HEAD: these credentials cannot "
        "read).";
    return o;
  }
  o["listable"] = true;
  o["listed_at"] = listing ? json::value(format_rfc3339(listing->listed_at)) : json::value(nullptr);
  o["listed_by"] = listing ? json::value(listing->listed_by) : json::value(nullptr);
  o["archives"] = listing ? listing->archives.size() : 0;
  std::lock_guard lock(mutex);
  if (!remote_listing_error.empty()) o["error"] = remote_listing_error;
  return o;
}

json::array BackupService::Impl::copies_json(const Config& c, const std::vector<LocalArchive>& archives,
                                             const Fates& fates, const std::optional<RemoteListing>& listing) {
  struct Copy {
    std::int64_t created = 0;
    // The order: the header's milliseconds when the archive is here (two
    // archives of one second list newest first, as scan() and retention
    // order them), the name's second when only the bucket holds it.
    std::int64_t created_ms = 0;
    const LocalArchive* local = nullptr;
    const S3Object* remote = nullptr;
  };
  std::map<std::string, Copy> by_id;
  for (const auto& a : archives) {
    by_id[a.id].local = &a;
    by_id[a.id].created = a.header.metadata.created_unix;
    by_id[a.id].created_ms = a.header.metadata.created_ms;
  }
  const std::string prefix = s3_prefix(c);
  if (listing) {
    for (const auto& o : listing->archives) {
      std::string name = o.key.substr(prefix.size());
      std::string id = name.substr(0, name.size() - kSuffix.size());
      Copy& copy = by_id[id];
      copy.remote = &o;
      if (copy.local == nullptr) {
        copy.created = parse_stamp(std::string_view(id).substr(0, 16)).value_or(0);
        copy.created_ms = copy.created * 1000;
      }
    }
  }
  const bool s3 = !c.backup.s3.endpoint.empty();
  const bool listable = s3 && !c.backup.s3.put_only;
  std::vector<std::pair<std::string, Copy>> sorted(by_id.begin(), by_id.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& x, const auto& y) {
    if (x.second.created_ms != y.second.created_ms) return x.second.created_ms > y.second.created_ms;
    return x.first > y.first;
  });
  std::lock_guard lock(mutex);
  json::array out;
  for (const auto& [id, copy] : sorted) {
    json::object e{{"id", id}, {"created", copy.created},
                   {"created_at", format_rfc3339(copy.created)}};
    json::object local{{"present", copy.local != nullptr}};
    if (copy.local) {
      local["size"] = copy.local->size;
      local["good"] = copy.local->good;
      local["test_restored"] = read_digest(copy.local->path).has_value();
      local["retention"] = fate(*copy.local, fates.now);
      local["retention_after_next_run"] = fate(*copy.local, fates.after_next_run);
      local["verified"] = check_json("local", id);
    }
    e["local"] = std::move(local);
    if (!s3) {
      e["off_site"] = nullptr;
    } else if (!listable) {
      json::value check = check_json("s3", id);
      e["off_site"] = json::object{{"present", nullptr}, {"shipped", !check.is_null()}, {"verified", check}};
    } else {
      json::object remote{{"present", listing ? json::value(copy.remote != nullptr) : json::value(nullptr)}};
      if (copy.remote) {
        remote["key"] = copy.remote->key;
        remote["size"] = copy.remote->size;
        remote["last_modified"] = copy.remote->last_modified;
        remote["verified"] = check_json("s3", id);
      }
      e["off_site"] = std::move(remote);
    }
    out.push_back(std::move(e));
  }
  return out;
}

json::object BackupService::Impl::list_blocking(bool refresh_remote) {
  auto cfg = config();
  auto archives = scan(cfg->backup.local_directory);
  // Retention preview: what a prune of these archives keeps now, and what
  // the next run's prune keeps once that run's archive is the newest (an
  // archive kept now can be deleted then; the console warns of it).
  const std::int64_t next_run = next_run_unix(*cfg, clock.system_now());
  const Fates fates{kept(local_plan(archives, *cfg)), kept(next_run_plan(archives, *cfg, next_run))};
  json::array list;
  for (const auto& a : archives) {
    json::object o = archive_json(a);
    o["retention"] = fate(a, fates.now);
    o["retention_after_next_run"] = fate(a, fates.after_next_run);
    list.push_back(std::move(o));
  }
  json::object doc;
  doc["directory"] = cfg->backup.local_directory.string();
  doc["schedule"] = cfg->backup.schedule;
  doc["retention"] = json::object{{"keep_last", cfg->backup.retention.keep_last},
                                  {"daily", cfg->backup.retention.daily},
                                  {"weekly", cfg->backup.retention.weekly},
                                  {"monthly", cfg->backup.retention.monthly}};
  doc["next_run_at"] = format_rfc3339(next_run);
  doc["s3"] = cfg->backup.s3.endpoint.empty()
                  ? json::value(nullptr)
                  : json::value(json::object{{"bucket", cfg->backup.s3.bucket},
                                             {"region", cfg->backup.s3.region},
                                             {"prefix", cfg->backup.s3.prefix}});
  doc["recovery_key"] = recovery_key_json(*cfg);
  doc["backups"] = std::move(list);
  std::optional<RemoteListing> listing;
  if (!cfg->backup.s3.endpoint.empty() && !cfg->backup.s3.put_only) listing = current_listing(*cfg, refresh_remote);
  doc["copies"] = copies_json(*cfg, archives, fates, listing);
  doc["off_site"] = off_site_json(*cfg, listing);
  {
    std::lock_guard lock(mutex);
    doc["last_run"] = last_run ? json::value(*last_run) : json::value(nullptr);
    if (running) {
      doc["running"] = json::object{{"phase", phases.phase()}, {"bytes", progress_bytes.load()}};
    } else {
      doc["running"] = nullptr;
    }
  }
  return doc;
}

}  // namespace privstack::backup
