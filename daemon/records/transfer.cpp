// CSV and JSON Lines export, CSV import.
#include <boost/json/serialize.hpp>
#include <charconv>
#include <map>
#include <set>

#include "audit/csv.h"
#include "audit/routes.h"
#include "core/time.h"
#include "records/records.h"

namespace privstack::records {

namespace json = boost::json;

std::string csv_header() {
  std::string out;
  csv::append_row(out, std::span<const std::string_view>(kCsvColumns));
  return out;
}

std::string ExportCursor::to_string() const { return std::to_string(recipient_id) + "." + std::to_string(result_id); }

std::optional<ExportCursor> ExportCursor::parse(std::string_view text) {
  auto dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  ExportCursor c;
  auto a = std::from_chars(text.data(), text.data() + dot, c.recipient_id);
  auto b = std::from_chars(text.data() + dot + 1, text.data() + text.size(), c.result_id);
  if (a.ec != std::errc() || a.ptr != text.data() + dot || b.ec != std::errc() || b.ptr != text.data() + text.size() ||
      c.recipient_id < 0 || c.result_id < 0) {
    return std::nullopt;
  }
  return c;
}

ExportPage export_csv_page(store::Connection& c, ExportCursor after, int limit) {
  ExportPage page;
  page.data.reserve(static_cast<std::size_t>(limit) * 160);
  // Keyset over (recipient id, result id); the rowid range on p.id keeps
  // every page an index seek, whatever its offset.
  auto s = c.prepare(
      "SELECT p.id, r.id, p.external_id, p.name, p.email, p.grp, r.achievement, r.score, r.status, "
      "r.completed_at, r.credential_id FROM recipients p LEFT JOIN results r ON r.recipient_id = p.id "
      "WHERE p.id >= ?1 AND (p.id > ?1 OR ifnull(r.id, 0) > ?2) ORDER BY p.id, r.id LIMIT ?3");
  s.bind_all(after.recipient_id, after.result_id, static_cast<std::int64_t>(limit));
  ExportCursor last = after;
  std::string id, score, completed;
  while (s.step()) {
    last.recipient_id = s.column_int64(0);
    bool has_result = !s.is_null(1);
    last.result_id = has_result ? s.column_int64(1) : 0;
    id = has_result ? std::to_string(last.result_id) : std::string();
    score = s.is_null(7) ? std::string() : format_score(s.column_double(7));
    completed = s.is_null(9) ? std::string() : format_rfc3339(s.column_int64(9));
    std::string ext = s.column_text(2), name = s.column_text(3), email = s.column_text(4), grp = s.column_text(5);
    std::string ach = has_result ? s.column_text(6) : std::string();
    std::string status = has_result ? s.column_text(8) : std::string();
    std::string cred = s.is_null(10) ? std::string() : s.column_text(10);
    csv::append_row(page.data, {id, ext, name, email, grp, ach, score, status, completed, cred});
    ++page.rows;
  }
  if (page.rows == limit) page.next = last;
  return page;
}

JsonlPage export_jsonl_page(store::Connection& c, int phase, std::int64_t after, int limit) {
  JsonlPage page;
  page.phase = phase;
  page.after = after;
  if (phase == 0) {
    RecipientFilter f;
    f.after_id = after;
    f.limit = limit;
    auto items = Repository::list(c, f);
    for (const auto& r : items) {
      json::object o = to_json(r);
      o.emplace("type", "recipient");
      page.data += json::serialize(o);
      page.data += '\n';
    }
    page.rows = static_cast<std::int64_t>(items.size());
    if (static_cast<int>(items.size()) < limit) {
      page.phase = 1;
      page.after = 0;
    } else {
      page.after = items.back().id;
    }
  } else if (phase == 1) {
    ResultFilter f;
    f.after_id = after;
    f.limit = limit;
    auto items = Repository::list(c, f);
    for (const auto& r : items) {
      json::object o = to_json(r);
      o.emplace("type", "result");
      page.data += json::serialize(o);
      page.data += '\n';
    }
    page.rows = static_cast<std::int64_t>(items.size());
    if (static_cast<int>(items.size()) < limit) {
      page.phase = 2;
    } else {
      page.after = items.back().id;
    }
  } else {
    page.phase = 2;
  }
  return page;
}

json::object ImportReport::to_json() const {
  json::object o;
  o["ok"] = ok;
  o["rows"] = rows;
  o["recipients_created"] = recipients_created;
  o["recipients_updated"] = recipients_updated;
  o["results_created"] = results_created;
  o["results_updated"] = results_updated;
  json::array errs;
  for (const auto& e : errors) {
    errs.push_back(json::object{{"row", static_cast<std::int64_t>(e.row)}, {"column", e.column}, {"reason", e.reason}});
  }
  o["errors"] = std::move(errs);
  o["error_count"] = error_count;
  return o;
}

std::string ImportReport::describe_errors() const {
  std::string out;
  for (const auto& e : errors) {
    out += "row " + std::to_string(e.row);
    if (!e.column.empty()) out += ", column " + e.column;
    out += ": " + e.reason + "\n";
  }
  if (error_count > static_cast<std::int64_t>(errors.size())) {
    out += "... and " + std::to_string(error_count - static_cast<std::int64_t>(errors.size())) + " more\n";
  }
  return out;
}

namespace {

struct Row {
  std::size_t row = 0;
  std::optional<std::int64_t> result_id;
  Recipient recipient;
  std::optional<Result> result;
};

// Column index -> (field name in kCsvColumns).
enum Col { kResultId, kExternalId, kName, kEmail, kGroup, kAchievement, kScore, kStatus, kCompletedAt, kCredentialId };

std::string_view recipient_column(std::string_view field) {
  if (field == "external_id") return "recipient_external_id";
  if (field == "name") return "recipient_name";
  if (field == "email") return "recipient_email";
  if (field == "group") return "recipient_group";
  return field;
}

}  // namespace

ImportReport import_csv(store::Connection& c, std::string_view text, Clock& clock) {
  ImportReport rep;
  auto error = [&](std::size_t row, std::string_view column, std::string reason) {
    ++rep.error_count;
    if (rep.errors.size() < kMaxImportErrors) rep.errors.push_back({row, std::string(column), std::move(reason)});
  };
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // a BOM from spreadsheet software
  if (!csv::valid_utf8(text)) {
    // Report the first line with invalid bytes.
    std::size_t line = 1;
    for (std::size_t start = 0; start < text.size(); ++line) {
      std::size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      if (!csv::valid_utf8(text.substr(start, end - start))) break;
      start = end + 1;
    }
    error(line, "", "the file is not valid UTF-8");
    return rep;
  }
  csv::Reader reader(text);
  auto header = reader.next();
  if (!header) {
    error(1, "", reader.error() ? *reader.error() : "the file is empty (expected the header row)");
    return rep;
  }
  constexpr std::size_t ncols = std::size(kCsvColumns);
  bool header_ok = header->cells.size() == ncols;
  for (std::size_t i = 0; header_ok && i < ncols; ++i) header_ok = header->cells[i] == kCsvColumns[i];
  if (!header_ok) {
    error(1, "", "the header must be: " + csv_header().substr(0, csv_header().size() - 2));
    return rep;
  }

  std::vector<Row> rows;
  std::size_t record = 1;
  std::map<std::string, std::size_t> recipient_rows;  // external_id -> index of its first row
  std::set<std::int64_t> result_ids;
  while (auto rec = reader.next()) {
    ++record;
    ++rep.rows;
    auto& cells = rec->cells;
    if (cells.size() != ncols) {
      error(record, "", "has " + std::to_string(cells.size()) + " columns, expected " + std::to_string(ncols));
      continue;
    }
    std::vector<std::string> v(ncols);
    for (std::size_t i = 0; i < ncols; ++i) v[i] = std::string(csv::unneutralise(cells[i]));
    Row row;
    row.row = record;
    std::size_t before = static_cast<std::size_t>(rep.error_count);
    if (!v[kResultId].empty()) {
      std::int64_t id = 0;
      auto [p, ec] = std::from_chars(v[kResultId].data(), v[kResultId].data() + v[kResultId].size(), id);
      if (ec != std::errc() || p != v[kResultId].data() + v[kResultId].size() || id <= 0) {
        error(record, "result_id", "must be empty or a positive integer");
      } else if (!result_ids.insert(id).second) {
        error(record, "result_id", "appears on an earlier row too");
      } else {
        row.result_id = id;
      }
    }
    row.recipient.external_id = v[kExternalId];
    row.recipient.name = v[kName];
    row.recipient.email = v[kEmail];
    row.recipient.group = v[kGroup];
    for (const auto& fe : validate(row.recipient)) error(record, recipient_column(fe.field), fe.message);
    bool result_empty = !row.result_id && v[kAchievement].empty() && v[kScore].empty() && v[kStatus].empty() &&
                        v[kCompletedAt].empty() && v[kCredentialId].empty();
    if (!result_empty) {
      Result r;
      r.id = row.result_id.value_or(0);
      r.recipient_id = 1;  // resolved when applying
      r.achievement = v[kAchievement];
      r.status = v[kStatus];
      if (!v[kScore].empty()) {
        double d = 0;
        auto [p, ec] = std::from_chars(v[kScore].data(), v[kScore].data() + v[kScore].size(), d);
        if (ec != std::errc() || p != v[kScore].data() + v[kScore].size()) {
          error(record, "score", "must be empty or a number from 0 to 100");
        } else {
          r.score = d;
        }
      }
      if (!v[kCompletedAt].empty()) {
        auto t = audit::parse_time(v[kCompletedAt]);
        if (!t) error(record, "completed_at", "must be empty, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
        else r.completed_at = *t;
      }
      if (!v[kCredentialId].empty()) r.credential_id = v[kCredentialId];
      for (const auto& fe : validate(r)) {
        if (fe.field == "score" && v[kScore].empty()) continue;
        error(record, fe.field, fe.message);
      }
      row.result = std::move(r);
    }
    // The same recipient on several rows must be described the same way.
    if (auto it = recipient_rows.find(row.recipient.external_id); it != recipient_rows.end()) {
      const Recipient& first = rows[it->second].recipient;
      if (first.name != row.recipient.name || first.email != row.recipient.email || first.group != row.recipient.group) {
        error(record, "recipient_external_id",
              "describes the recipient differently from row " + std::to_string(rows[it->second].row));
      }
    } else if (!row.recipient.external_id.empty()) {
      recipient_rows.emplace(row.recipient.external_id, rows.size());
    }
    if (static_cast<std::size_t>(rep.error_count) == before) rows.push_back(std::move(row));
    else rows.push_back(Row{});  // keeps indexes of recipient_rows valid; never applied
  }
  if (reader.error()) error(reader.error_line(), "", *reader.error());
  if (rep.error_count > 0) return rep;

  // Apply: the caller's transaction makes it all-or-nothing.
  std::map<std::string, std::int64_t> recipient_ids;
  for (auto& row : rows) {
    auto known = recipient_ids.find(row.recipient.external_id);
    std::int64_t rid = 0;
    if (known != recipient_ids.end()) {
      rid = known->second;
    } else if (auto existing = Repository::recipient_by_external_id(c, row.recipient.external_id)) {
      rid = existing->id;
      if (existing->name != row.recipient.name || existing->email != row.recipient.email ||
          existing->group != row.recipient.group) {
        Recipient updated = *existing;
        updated.name = row.recipient.name;
        updated.email = row.recipient.email;
        updated.group = row.recipient.group;
        Repository::update(c, updated, clock);
        ++rep.recipients_updated;
      }
      recipient_ids.emplace(row.recipient.external_id, rid);
    } else {
      rid = Repository::insert(c, row.recipient, clock);
      ++rep.recipients_created;
      recipient_ids.emplace(row.recipient.external_id, rid);
    }
    if (!row.result) continue;
    Result& r = *row.result;
    r.recipient_id = rid;
    if (row.result_id) {
      if (auto existing = Repository::result(c, *row.result_id)) {
        r.created_at = existing->created_at;
        Repository::update(c, r, clock);
        ++rep.results_updated;
        continue;
      }
    }
    Repository::insert(c, r, clock);
    ++rep.results_created;
  }
  rep.ok = true;
  return rep;
}

}  // namespace privstack::records
