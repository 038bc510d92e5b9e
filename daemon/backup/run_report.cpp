#include "backup/run_report.h"

#include <boost/json.hpp>

namespace privstack::backup {

namespace json = boost::json;

void PhaseTimer::enter(std::string next) {
  auto now = clock_.steady_now();
  if (!phase_.empty()) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - started_).count();
    json::value& slot = totals_[phase_];
    slot = (slot.is_int64() ? slot.as_int64() : 0) + static_cast<std::int64_t>(ms);
  }
  phase_ = std::move(next);
  started_ = now;
}

json::object run_report(const WrittenArchive& w, const std::string& trigger, std::int64_t duration_ms) {
  const ArchiveHeader& h = w.header;
  json::object doc;
  doc["id"] = w.id;
  doc["file"] = w.file.string();
  doc["trigger"] = trigger;
  doc["created"] = h.metadata.created_unix;
  doc["created_at"] = format_rfc3339(h.metadata.created_unix);
  doc["archive_id"] = h.archive_id;
  doc["recovery_key_id"] = h.recovery_key_id;
  doc["archive_bytes"] = w.archive_bytes;
  doc["payload_bytes"] = w.payload_bytes;
  json::object rows;
  for (const auto& [t, n] : h.metadata.row_counts) rows[t] = n;
  doc["row_counts"] = std::move(rows);
  doc["duration_ms"] = duration_ms;
  doc["sha256"] = w.sha256;
  doc["test_restore"] = json::object{{"ok", true}, {"duration_ms", w.test_restore_ms}};
  return doc;
}

json::object upload_failure(const std::string& bucket, const std::string& region, const std::string& error) {
  json::object up;
  up["state"] = "failed";
  up["bucket"] = bucket;
  up["region"] = region;
  up["error"] = error;
  return up;
}

json::object last_run_of(json::object report, bool upload_failed) {
  report.erase("row_counts");
  report["state"] = upload_failed ? "upload failed" : "ok";
  return report;
}

json::object failed_run(const std::string& trigger, const std::string& error, std::int64_t unix_time) {
  return json::object{{"state", "failed"}, {"trigger", trigger}, {"error", error}, {"time", unix_time}};
}

}  // namespace privstack::backup
