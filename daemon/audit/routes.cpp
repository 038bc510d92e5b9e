#include "audit/routes.h"

#include <boost/json.hpp>
#include <charconv>
#include <ctime>
#include <memory>

#include "core/log.h"
#include "core/time.h"

namespace privstack::audit {

namespace asio = boost::asio;
namespace json = boost::json;

std::string actor_of(const Identity& identity) {
  switch (identity.method) {
    case AuthMethod::api_token: return actor_token(identity.token_id, identity.user);
    case AuthMethod::control_socket: return actor_local(identity.uid);
    case AuthMethod::session: break;
  }
  return actor_user(identity.user);
}

std::string actor_of(const http::Request& request) {
  return request.identity ? actor_of(*request.identity) : std::string("anonymous");
}

std::string actor_of(const http::ControlRequest& request) { return actor_of(request.identity); }

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

std::optional<std::int64_t> query_int(const http::Request& r, std::string_view name) {
  auto v = r.query_param(name);
  if (!v) return std::nullopt;
  std::int64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || p != v->data() + v->size()) return std::nullopt;
  return out;
}

Filter filter_from(const http::Request& r) {
  Filter f;
  f.actor = r.query_param("actor");
  f.action = r.query_param("action");
  f.object = r.query_param("object");
  for (auto [name, slot] : {std::pair{"from", &f.from_us}, std::pair{"to", &f.to_us}}) {
    if (auto v = r.query_param(name)) {
      auto t = parse_time(*v);
      if (!t) throw Error(ErrorCode::invalid_argument, std::string(name) + ": expected YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Unix seconds");
      *slot = *t * 1000000;
    }
  }
  if (r.query_param("cursor")) {
    auto c = query_int(r, "cursor");
    if (!c || *c < 0) throw Error(ErrorCode::invalid_argument, "cursor: not a cursor from a previous page");
    f.after_seq = *c;
  }
  if (r.query_param("limit")) {
    auto l = query_int(r, "limit");
    if (!l || *l < 1 || *l > 1000) throw Error(ErrorCode::invalid_argument, "limit: 1 to 1000");
    f.limit = static_cast<int>(*l);
  }
  return f;
}

Entry control_entry(const http::ControlRequest& r, std::string action, std::string object, std::string detail = {}) {
  Entry e;
  e.actor = actor_of(r);
  e.source = std::string(kControlSource);
  e.action = std::move(action);
  e.object = std::move(object);
  e.outcome = std::string(kSuccess);
  e.detail = std::move(detail);
  return e;
}

void log_verify(const VerifyReport& r) {
  if (r.ok) {
    log::emit(log::events::audit_verify_passed, "audit log verified: " + std::to_string(r.entries) + " entries",
              {{"AUDIT_ENTRIES", r.entries}, {"AUDIT_SEQ", r.head_seq}});
  } else {
    log::emit(log::events::audit_verify_failed, "audit log does NOT verify: " + r.problem,
              {{"AUDIT_ENTRIES", r.entries},
               {"AUDIT_FIRST_BROKEN", r.first_broken ? *r.first_broken : std::int64_t{-1}}});
  }
}

}  // namespace

std::optional<std::int64_t> parse_time(std::string_view s) {
  if (!s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos && s.size() <= 12) {
    std::int64_t v = 0;
    std::from_chars(s.data(), s.data() + s.size(), v);
    return v;
  }
  int y, mo, d, h = 0, mi = 0, se = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d)) {
    return std::nullopt;
  }
  if (s.size() > 10) {
    if (s.size() < 20 || (s[10] != 'T' && s[10] != ' ') || !digits(s, 11, 2, h) || s[13] != ':' ||
        !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se)) {
      return std::nullopt;
    }
    std::size_t i = 19;
    if (s[i] == '.') {
      ++i;
      std::size_t start = i;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
      if (i == start) return std::nullopt;
    }
    if (i + 1 != s.size() || s[i] != 'Z') return std::nullopt;
  }
  if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return std::nullopt;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > mdays[mo - 1] + (mo == 2 && leap ? 1 : 0)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  return static_cast<std::int64_t>(timegm(&tm));
}

void register_routes(AuditLog& audit, http::Router& router) {
  AuditLog* log = &audit;
  router.add("GET", "/api/v1/audit", [log](http::Request& r) -> asio::awaitable<http::Response> {
    Filter f = filter_from(r);
    auto entries = co_await log->async_query(f);
    json::array items;
    for (const auto& e : entries) items.push_back(entry_json(e));
    json::object doc;
    doc["items"] = std::move(items);
    if (static_cast<int>(entries.size()) == f.limit) {
      doc["next_cursor"] = std::to_string(entries.back().seq);
    } else {
      doc["next_cursor"] = nullptr;
    }
    co_return http::Response::json(200, doc);
  });

  router.add("GET", "/api/v1/audit/verify", [log](http::Request& r) -> asio::awaitable<http::Response> {
    VerifyReport report = co_await log->async_verify();
    log_verify(report);
    Entry e;
    e.actor = actor_of(r);
    e.source = r.remote_address;
    e.action = "audit.verify";
    e.object = "audit-log";
    e.outcome = std::string(report.ok ? kSuccess : kFailure);
    e.detail = report.ok ? "verified " + std::to_string(report.entries) + " entries"
                         : "first broken entry " + std::to_string(report.first_broken.value_or(-1));
    co_await log->async_append(std::move(e));
    co_return http::Response::json(200, report.to_json());
  });

  router.add("GET", "/api/v1/audit/export", [log](http::Request& r) -> asio::awaitable<http::Response> {
    auto format = parse_export_format(r.query_param("format").value_or("jsonl"));
    if (!format) throw Error(ErrorCode::invalid_argument, "format: jsonl or csv");
    Entry e;
    e.actor = actor_of(r);
    e.source = r.remote_address;
    e.action = "audit.export";
    e.object = "audit-log";
    e.outcome = std::string(kSuccess);
    e.detail = *format == ExportFormat::csv ? "format=csv" : "format=jsonl";
    // The export includes the entry that records it.
    co_await log->async_append(std::move(e));
    struct State {
      std::int64_t after = 0;
      bool header_done = false;
      bool done = false;
    };
    auto st = std::make_shared<State>();
    ExportFormat fmt = *format;
    http::Response res;
    res.set_header("Content-Type", fmt == ExportFormat::csv ? "text/csv; charset=utf-8" : "application/jsonl");
    res.set_header("Content-Disposition",
                   fmt == ExportFormat::csv ? "attachment; filename=\"audit.csv\"" : "attachment; filename=\"audit.jsonl\"");
    res.stream = [log, st, fmt]() -> asio::awaitable<std::optional<std::string>> {
      if (st->done) co_return std::nullopt;
      std::string out;
      if (fmt == ExportFormat::csv && !st->header_done) out = csv_header();
      st->header_done = true;
      Filter f;
      f.after_seq = st->after;
      f.limit = 1000;
      auto entries = co_await log->async_query(f);
      for (const auto& e : entries) out += format_entry(e, fmt);
      if (static_cast<int>(entries.size()) < f.limit) st->done = true;
      if (!entries.empty()) st->after = entries.back().seq;
      co_return out;
    };
    co_return res;
  });
}

void register_control(AuditLog& audit, http::ControlServer& control) {
  AuditLog* log = &audit;
  control.add("audit verify", [log](const http::ControlRequest& r) -> asio::awaitable<json::value> {
    VerifyReport report = co_await log->async_verify();
    log_verify(report);
    Entry e = control_entry(r, "audit.verify", "audit-log",
                            report.ok ? "verified " + std::to_string(report.entries) + " entries"
                                      : "first broken entry " + std::to_string(report.first_broken.value_or(-1)));
    e.outcome = std::string(report.ok ? kSuccess : kFailure);
    co_await log->async_append(std::move(e));
    if (!report.ok) {
      std::string where = report.first_broken ? "first broken entry: " + std::to_string(*report.first_broken) + "; "
                                              : std::string();
      throw Error(ErrorCode::integrity_failed, "audit log does NOT verify: " + where + report.problem + "\n" +
                               json::serialize(report.to_json()));
    }
    co_return report.to_json();
  });
  // Paged: {"format": "jsonl"|"csv", "cursor": N, "limit": N} ->
  // {"data": TEXT, "next_cursor": N|null, "count": N}. privstackctl loops.
  control.add("audit export", [log](const http::ControlRequest& r) -> asio::awaitable<json::value> {
    std::string fname = "jsonl";
    if (auto* v = r.args.if_contains("format"); v && v->is_string()) fname = std::string(v->as_string());
    auto fmt = parse_export_format(fname);
    if (!fmt) throw Error(ErrorCode::invalid_argument, "--format is jsonl or csv");
    Filter f;
    if (auto* v = r.args.if_contains("cursor"); v && v->is_int64()) f.after_seq = v->as_int64();
    f.limit = 1000;
    if (auto* v = r.args.if_contains("limit"); v && v->is_int64()) f.limit = static_cast<int>(std::clamp<std::int64_t>(v->as_int64(), 1, 1000));
    std::string out;
    if (f.after_seq == 0) {
      audit::Entry e = control_entry(r, "audit.export", "audit-log", "format=" + fname);
      co_await log->async_append(std::move(e));
      if (*fmt == ExportFormat::csv) out = csv_header();
    }
    auto entries = co_await log->async_query(f);
    for (const auto& e : entries) out += format_entry(e, *fmt);
    json::object doc;
    doc["data"] = out;
    doc["count"] = static_cast<std::int64_t>(entries.size());
    if (static_cast<int>(entries.size()) == f.limit) doc["next_cursor"] = entries.back().seq; else doc["next_cursor"] = nullptr;
    co_return doc;
  });
}

}  // namespace privstack::audit
