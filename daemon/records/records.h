// Customer data: recipients (people) and their learning results, with
// validation, the JSON API, support access grants, and data portability
// (streamed CSV / JSON Lines export, all-or-nothing CSV import).
//
// Every read, export, import, change and deletion writes an audit entry in
// the same store transaction as the access itself: if the entry cannot be
// written, the data is not returned (or the change is not made).
//
// Support users (role "support") read only under an access grant that
// states a reason (ticket reference and text) and expires; the reason is in
// every audit entry made under the grant.
#pragma once

#include "core/module.h"

#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "audit/audit.h"
#include "core/error.h"
#include "core/time.h"
#include "http/control.h"
#include "http/http.h"
#include "store/store.h"

namespace privstack::records {

// ------------------------------------------------------------------ model

struct Recipient {
  std::int64_t id = 0;
  std::string external_id;  // the customer's own identifier; unique
  std::string name;
  std::string email;
  std::string group;  // may be empty
  std::int64_t created_at = 0;  // Unix seconds
  std::int64_t updated_at = 0;
};

inline constexpr std::string_view kStatuses[] = {"passed", "failed", "in_progress"};

struct Result {
  std::int64_t id = 0;
  std::int64_t recipient_id = 0;
  std::string achievement;           // course or achievement
  std::optional<double> score;       // 0..100
  std::string status = "passed";     // one of kStatuses
  std::optional<std::int64_t> completed_at;  // Unix seconds
  std::optional<std::string> credential_id;  // set once a credential was issued
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

using privstack::FieldError;  // core/error.h: the problem body's `errors` entries

std::vector<FieldError> validate(const Recipient& r);
std::vector<FieldError> validate(const Result& r);
// Field checks shared by the API and CSV import.
std::optional<std::string> check_email(std::string_view email);
// Length in characters, valid UTF-8, no control characters (free-text
// fields, `multiline`, may hold tabs and line breaks).
std::optional<std::string> check_text(std::string_view value, std::size_t min, std::size_t max,
                                      bool multiline = false);

boost::json::object to_json(const Recipient& r);
boost::json::object to_json(const Result& r);
// Applies the members of `in` to `out` (a create when `create`, else a
// partial update). Unknown members and wrong types are field errors.
void apply_json(const boost::json::object& in, Recipient& out, bool create, std::vector<FieldError>& errors);
void apply_json(const boost::json::object& in, Result& out, bool create, std::vector<FieldError>& errors);
// Shortest decimal form that reads back as the same double.
std::string format_score(double score);

// ------------------------------------------------------------------ repository

struct RecipientFilter {
  std::optional<std::string> external_id, email, group;
  std::int64_t after_id = 0;
  int limit = 100;
};
struct ResultFilter {
  std::optional<std::int64_t> recipient_id;
  std::optional<std::string> status, achievement;
  std::optional<std::int64_t> completed_from, completed_to;
  std::int64_t after_id = 0;
  int limit = 100;
};

struct Grant {
  std::int64_t id = 0;
  std::string user;
  std::string ticket;
  std::string reason;
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;
  std::string audit_reason() const { return "ticket " + ticket + ": " + reason; }
};

// All functions run inside the caller's transaction. `clock` stamps
// created_at/updated_at and starts grants.
class Repository {
 public:
  static void migrate(store::Store& store);

  // throws Error(conflict) (external_id taken)
  static std::int64_t insert(store::Connection& c, Recipient& r, Clock& clock = default_clock());
  // throws Error(conflict) (no such recipient)
  static std::int64_t insert(store::Connection& c, Result& r, Clock& clock = default_clock());
  static std::optional<Recipient> recipient(store::Connection& c, std::int64_t id);
  static std::optional<Recipient> recipient_by_external_id(store::Connection& c, std::string_view external_id);
  static std::optional<Result> result(store::Connection& c, std::int64_t id);
  static void update(store::Connection& c, const Recipient& r, Clock& clock = default_clock());
  static void update(store::Connection& c, const Result& r, Clock& clock = default_clock());
  static bool delete_recipient(store::Connection& c, std::int64_t id);  // and its results
  static bool delete_result(store::Connection& c, std::int64_t id);
  static std::vector<Recipient> list(store::Connection& c, const RecipientFilter& f);
  static std::vector<Result> list(store::Connection& c, const ResultFilter& f);

  static Grant create_grant(store::Connection& c, std::string user, std::string ticket, std::string reason,
                            std::chrono::seconds duration, Clock& clock = default_clock());
  static std::optional<Grant> active_grant(store::Connection& c, std::string_view user, std::int64_t now);
  static std::vector<Grant> grants(store::Connection& c, std::optional<std::string> user, std::int64_t now);
};

// ------------------------------------------------------------------ CSV / JSONL

// The CSV columns, in order (the header row of every export).
inline constexpr std::string_view kCsvColumns[] = {
    "result_id",       "recipient_external_id", "recipient_name", "recipient_email", "recipient_group",
    "achievement",     "score",                 "status",         "completed_at",    "credential_id"};
std::string csv_header();

// Keyset cursor over (recipient id, result id): one row per result, plus one
// row with empty result columns for a recipient without results.
struct ExportCursor {
  std::int64_t recipient_id = 0;
  std::int64_t result_id = 0;
  std::string to_string() const;
  static std::optional<ExportCursor> parse(std::string_view text);
};
struct ExportPage {
  std::string data;  // CSV rows (no header)
  std::int64_t rows = 0;
  std::optional<ExportCursor> next;  // nullopt: this was the last page
};
ExportPage export_csv_page(store::Connection& c, ExportCursor after, int limit);

// JSON Lines of everything: {"type":"recipient",...} lines, then
// {"type":"result",...} lines. Paged by (phase, id).
struct JsonlPage {
  std::string data;
  std::int64_t rows = 0;
  int phase = 0;  // 0 recipients, 1 results, 2 done
  std::int64_t after = 0;
};
JsonlPage export_jsonl_page(store::Connection& c, int phase, std::int64_t after, int limit);

struct ImportError {
  std::size_t row = 0;  // CSV record number; the header is row 1
  std::string column;   // empty when the whole row or file is concerned
  std::string reason;
};
struct ImportReport {
  bool ok = false;
  std::int64_t rows = 0;
  std::int64_t recipients_created = 0, recipients_updated = 0;
  std::int64_t results_created = 0, results_updated = 0;
  std::vector<ImportError> errors;  // at most kMaxImportErrors
  std::int64_t error_count = 0;
  boost::json::object to_json() const;
  std::string describe_errors() const;  // "row R, column C: reason" lines
};
inline constexpr std::size_t kMaxImportErrors = 1000;

// Parses and validates the whole file, then applies it on `c` (inside the
// caller's transaction). When report.ok is false nothing was changed by this
// function (callers roll back to be sure).
ImportReport import_csv(store::Connection& c, std::string_view text, Clock& clock = default_clock());

// ------------------------------------------------------------------ service

struct Settings {
  std::chrono::seconds default_grant{std::chrono::hours(1)};
  std::chrono::seconds max_grant{std::chrono::hours(8)};
  int export_page_rows = 2000;
};

class RecordsService {
 public:
  // Registers the schema (migration "records") on the store.
  RecordsService(store::Store& store, audit::AuditLog& audit, Settings settings = {}, Clock& clock = default_clock());
  void register_routes(http::Router& router);
  void register_control(http::ControlServer& control);

 private:
  store::Store& store_;
  audit::AuditLog& audit_;
  Settings settings_;
  Clock& clock_;
};

// This module as a daemon module (core/module.h).
std::unique_ptr<Module> make_module(ModuleContext& ctx);

}  // namespace privstack::records
