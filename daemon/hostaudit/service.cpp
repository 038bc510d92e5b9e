// HostAuditService: scans off the io threads, the store, journald, the
// audit log, the HTTP routes, control commands and the schedule.
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <set>

#include "core/offload.h"
#include "hostaudit/acceptance.h"
#include "http/body.h"
#include "audit/audit.h"
#include "audit/routes.h"
#include "core/log.h"
#include "core/schedule.h"
#include "core/time.h"
#include "hostaudit/hostaudit.h"
#include "http/control.h"
#include "http/http.h"
#include "store/store.h"

namespace privstack::hostaudit {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr store::Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE hostaudit_scans (
  id          INTEGER PRIMARY KEY,
  started_us  INTEGER NOT NULL,
  finished_us INTEGER NOT NULL,
  trigger     TEXT NOT NULL,
  actor       TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  state       TEXT NOT NULL,   -- JSON: what the next scan compares against
  report      TEXT NOT NULL    -- JSON: the full report
);
CREATE TABLE hostaudit_findings (
  scan_id       INTEGER NOT NULL REFERENCES hostaudit_scans(id) ON DELETE CASCADE,
  finding_id    TEXT NOT NULL,
  check_id      TEXT NOT NULL,
  severity      TEXT NOT NULL,
  title         TEXT NOT NULL,
  detail        TEXT NOT NULL,
  remediation   TEXT NOT NULL,
  command       TEXT NOT NULL,
  first_seen_us INTEGER NOT NULL,
  PRIMARY KEY (scan_id, finding_id)
);
)sql"},
    // Findings accepted as a known risk (hostaudit/acceptance.h), keyed by
    // the finding's stable id so an acceptance outlives the scan it was made
    // on. Expired rows stay (readers compare expires_at with their clock);
    // accepting again replaces the row.
    {2, R"sql(
CREATE TABLE hostaudit_acceptances (
  finding_id  TEXT PRIMARY KEY,
  reason      TEXT NOT NULL,
  accepted_by TEXT NOT NULL,
  accepted_at INTEGER NOT NULL,  -- Unix seconds
  expires_at  INTEGER NOT NULL   -- Unix seconds, exclusive
);
)sql"},
};

constexpr std::int64_t kKeepScans = 100;

using privstack::offload;  // core/offload.h

PreviousScan state_from_json(const json::value& v) {
  PreviousScan p;
  if (!v.is_object()) return p;
  const auto& o = v.as_object();
  if (auto* f = o.if_contains("fingerprint"); f && f->is_string()) p.fingerprint = std::string(f->as_string());
  if (auto* s = o.if_contains("sockets"); s && s->is_array()) {
    for (const auto& k : s->as_array()) {
      if (k.is_string()) p.sockets.insert(std::string(k.as_string()));
    }
  }
  return p;
}

json::object state_to_json(const PreviousScan& p) {
  json::array socks;
  for (const auto& k : p.sockets) socks.push_back(json::string(k));
  return json::object{{"fingerprint", p.fingerprint}, {"sockets", std::move(socks)}};
}

// The acceptances in force at `now`, by finding id.
std::map<std::string, Acceptance> acceptances_in_force(store::Connection& c, std::int64_t now) {
  std::map<std::string, Acceptance> out;
  c.for_each(
      "SELECT finding_id, reason, accepted_by, accepted_at, expires_at FROM hostaudit_acceptances WHERE expires_at > ?1",
      [&](const store::Statement& s) {
        Acceptance a{s.column<std::string>(0), s.column<std::string>(1), s.column<std::string>(2),
                     s.column<std::int64_t>(3), s.column<std::int64_t>(4)};
        if (in_force(a, now)) out.emplace(a.finding_id, std::move(a));
      },
      now);
  return out;
}

// Adds "accepted" to each finding of `findings` that has an acceptance in force.
void mark_accepted(json::array& findings, const std::map<std::string, Acceptance>& accepted) {
  for (auto& fv : findings) {
    if (!fv.is_object()) continue;
    auto& f = fv.as_object();
    const auto* id = f.if_contains("id");
    if (!id || !id->is_string()) continue;
    if (auto it = accepted.find(std::string(id->as_string())); it != accepted.end()) {
      f["accepted"] = it->second.to_json();
    }
  }
}

std::string string_arg(const json::object& args, std::string_view name) {
  const auto* v = args.if_contains(name);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

log::Priority priority_of(Severity s) {
  switch (s) {
    case Severity::critical: return log::Priority::crit;
    case Severity::high: return log::Priority::err;
    case Severity::medium: return log::Priority::warning;
    case Severity::low: return log::Priority::notice;
    case Severity::info: return log::Priority::info;
  }
  return log::Priority::warning;
}

}  // namespace

struct HostAuditService::Impl {
  store::Store& store;
  audit::AuditLog* audit_log;
  asio::any_io_executor blocking;
  std::function<std::shared_ptr<const Config>()> config;
  Clock& clock;
  std::mutex running;  // one scan at a time
  std::mutex hook_mutex;
  IncidentHook incident_hook;

  Impl(store::Store& s, audit::AuditLog* a, asio::any_io_executor b, std::function<std::shared_ptr<const Config>()> c,
       Clock& clock)
      : store(s), audit_log(a), blocking(std::move(b)), config(std::move(c)), clock(clock) {}

  // Blocking: runs on the blocking pool.
  json::object run_blocking(const std::string& trigger, const std::string& actor, const std::string& source) {
    std::unique_lock lock(running, std::try_to_lock);
    if (!lock.owns_lock()) throw Error(ErrorCode::already_running, "a host audit scan is already running");
    auto cfg = config();
    // The previous scan: its state and its findings.
    struct Previous {
      std::optional<PreviousScan> state;
      std::map<std::string, std::int64_t> first_seen;  // finding id -> first_seen_us
    };
    Previous prev = store.read([](store::Connection& c) {
      Previous p;
      auto last = c.query_one<std::int64_t>("SELECT id FROM hostaudit_scans ORDER BY id DESC LIMIT 1");
      if (!last) return p;
      auto state = c.query_one<std::string>("SELECT state FROM hostaudit_scans WHERE id = ?1", *last);
      try {
        p.state = state_from_json(json::parse(state.value_or("{}")));
      } catch (const std::exception&) {
        p.state = PreviousScan{};
      }
      c.for_each(
          "SELECT finding_id, first_seen_us FROM hostaudit_findings WHERE scan_id = ?1",
          [&](const store::Statement& s) { p.first_seen[s.column<std::string>(0)] = s.column<std::int64_t>(1); }, *last);
      return p;
    });

    ScanOptions options;
    options.previous = prev.state;
    options.clock = &clock;
    ScanReport report;
    try {
      report = scan(*cfg, options);
    } catch (const std::exception& e) {
      log::emit(log::events::hostaudit_scan_failed, std::string("host audit scan failed: ") + e.what(),
                {{"TRIGGER", trigger}});
      record_audit(actor, source, "hostaudit.scan", "host", audit::kFailure, e.what());
      throw;
    }
    report.trigger = trigger;
    // Acceptances are judged at this scan's clock: an expired one no longer
    // keeps a reappearing finding from opening an incident.
    std::int64_t now_s = clock.unix_seconds();
    auto accepted = store.read([&](store::Connection& c) { return acceptances_in_force(c, now_s); });
    std::set<std::string> now_ids;
    for (const auto& f : report.findings) {
      now_ids.insert(f.id);
      if (!prev.first_seen.contains(f.id)) report.new_findings.push_back(f.id);
    }
    for (const auto& [id, _] : prev.first_seen) {
      if (!now_ids.contains(id)) report.resolved_findings.push_back(id);
    }

    std::string state_text = json::serialize(state_to_json(report.state()));
    std::int64_t id = store.write([&](store::Connection& c) {
      c.exec("INSERT INTO hostaudit_scans (started_us, finished_us, trigger, actor, fingerprint, state, report) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, '{}')",
             report.started_us, report.finished_us, trigger, actor, report.fingerprint, state_text);
      std::int64_t scan_id = c.last_insert_rowid();
      report.id = scan_id;
      c.exec("UPDATE hostaudit_scans SET report = ?1 WHERE id = ?2", json::serialize(report.to_json()), scan_id);
      for (const auto& f : report.findings) {
        auto it = prev.first_seen.find(f.id);
        std::int64_t first = it == prev.first_seen.end() ? report.started_us : it->second;
        c.exec("INSERT OR IGNORE INTO hostaudit_findings (scan_id, finding_id, check_id, severity, title, detail, "
               "remediation, command, first_seen_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
               scan_id, f.id, f.check, std::string(to_string(f.severity)), f.title, f.detail, f.remediation, f.command,
               first);
      }
      c.exec("DELETE FROM hostaudit_findings WHERE scan_id <= ?1", scan_id - kKeepScans);
      c.exec("DELETE FROM hostaudit_scans WHERE id <= ?1", scan_id - kKeepScans);
      return scan_id;
    });

    // Journald: one entry per new finding, one per resolved, one summary.
    std::map<std::string, const Finding*> by_id;
    for (const auto& f : report.findings) by_id[f.id] = &f;
    for (const auto& nid : report.new_findings) {
      const Finding& f = *by_id.at(nid);
      auto acc = accepted.find(f.id);
      if (acc != accepted.end()) {
        // Accepted as a known risk: still in the journal (at info, with
        // ACCEPTED_UNTIL, which the incident rules skip), no incident.
        log::emit(log::events::hostaudit_finding, log::Priority::info,
                  "host audit finding (accepted as a known risk): " + f.title,
                  {{"FINDING_ID", f.id},
                   {"CHECK", f.check},
                   {"SEVERITY", std::string(to_string(f.severity))},
                   {"SCAN_ID", id},
                   {"DETAIL", f.detail},
                   {"ACCEPTED_UNTIL", format_rfc3339(acc->second.expires_at)}});
        continue;
      }
      log::emit(log::events::hostaudit_finding, priority_of(f.severity), "host audit finding: " + f.title,
                {{"FINDING_ID", f.id},
                 {"CHECK", f.check},
                 {"TITLE", f.title},
                 {"SEVERITY", std::string(to_string(f.severity))},
                 {"SCAN_ID", id},
                 {"DETAIL", f.detail}});
      if (f.severity >= Severity::high) {
        std::lock_guard hl(hook_mutex);
        if (incident_hook) {
          try {
            incident_hook(f, id);
          } catch (const std::exception&) {
            // The incidents module logs its own failures; the scan stands.
          }
        }
      }
    }
    for (const auto& rid : report.resolved_findings) {
      log::emit(log::events::hostaudit_finding_resolved, "host audit finding resolved: " + rid,
                {{"FINDING_ID", rid}, {"SCAN_ID", id}});
    }
    json::object doc = report.to_json();
    if (auto* list = doc.if_contains("findings"); list && list->is_array()) mark_accepted(list->as_array(), accepted);
    const auto& summary = doc.at("summary").as_object();
    const auto& sev = summary.at("findings").as_object();
    std::int64_t high = sev.at("high").as_int64() + sev.at("critical").as_int64();
    log::emit(log::events::hostaudit_scan_completed,
              "host audit scan " + std::to_string(id) + ": " + std::to_string(report.findings.size()) + " finding(s), " +
                  std::to_string(high) + " high, " + std::to_string(summary.at("exposed").as_int64()) +
                  " exposed socket(s)",
              {{"SCAN_ID", id},
               {"TRIGGER", trigger},
               {"FINDINGS", static_cast<std::int64_t>(report.findings.size())},
               {"HIGH", high},
               {"NEW_FINDINGS", static_cast<std::int64_t>(report.new_findings.size())},
               {"EXPOSED", summary.at("exposed").as_int64()},
               {"RULESET", report.fingerprint},
               {"DURATION_MS", (report.finished_us - report.started_us) / 1000}});
    record_audit(actor, source, "hostaudit.scan", "hostaudit-scan:" + std::to_string(id), audit::kSuccess,
                 "trigger=" + trigger + "; findings=" + std::to_string(report.findings.size()) +
                     "; new=" + std::to_string(report.new_findings.size()));
    return doc;
  }

  void record_audit(const std::string& actor, const std::string& source, const std::string& action,
                    const std::string& object, std::string_view outcome, const std::string& detail) {
    if (audit_log == nullptr) return;
    audit::Entry e;
    e.actor = actor;
    e.source = source;
    e.action = action;
    e.object = object;
    e.outcome = std::string(outcome);
    e.detail = detail;
    audit_log->append_or_log(std::move(e));
  }

  json::object findings_blocking() {
    std::int64_t now = clock.unix_seconds();
    return store.read([now](store::Connection& c) {
      json::object doc;
      auto last = c.query_one<std::int64_t>("SELECT id FROM hostaudit_scans ORDER BY id DESC LIMIT 1");
      json::array list;
      if (last) {
        doc["scan_id"] = *last;
        doc["finished_us"] =
            c.query_one<std::int64_t>("SELECT finished_us FROM hostaudit_scans WHERE id = ?1", *last).value_or(0);
        c.for_each(
            "SELECT finding_id, check_id, severity, title, detail, remediation, command, first_seen_us "
            "FROM hostaudit_findings WHERE scan_id = ?1 ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' "
            "THEN 1 WHEN 'medium' THEN 2 WHEN 'low' THEN 3 ELSE 4 END, finding_id",
            [&](const store::Statement& s) {
              json::object f{{"id", s.column<std::string>(0)},         {"check", s.column<std::string>(1)},
                             {"severity", s.column<std::string>(2)},   {"title", s.column<std::string>(3)},
                             {"detail", s.column<std::string>(4)},     {"remediation", s.column<std::string>(5)},
                             {"first_seen_us", s.column<std::int64_t>(7)}};
              std::string cmd = s.column<std::string>(6);
              if (!cmd.empty()) f["command"] = cmd;
              list.push_back(std::move(f));
            },
            *last);
      } else {
        doc["scan_id"] = nullptr;
      }
      mark_accepted(list, acceptances_in_force(c, now));
      doc["findings"] = std::move(list);
      return doc;
    });
  }

  // Accepts a finding of the latest scan as a known risk (replacing an
  // earlier acceptance of it). Throws not_found / validation_failed.
  json::object accept_blocking(const std::string& finding_id, const AcceptRequest& request, const std::string& actor,
                               const std::string& source) {
    std::int64_t now = clock.unix_seconds();
    std::int64_t expires = validate_accept(request, now);
    Acceptance a{finding_id, *request.reason, actor, now, expires};
    bool found = store.write([&](store::Connection& c) {
      auto last = c.query_one<std::int64_t>("SELECT id FROM hostaudit_scans ORDER BY id DESC LIMIT 1");
      if (!last || !c.query_one<std::int64_t>(
                        "SELECT 1 FROM hostaudit_findings WHERE scan_id = ?1 AND finding_id = ?2", *last, finding_id)) {
        return false;
      }
      c.exec("INSERT OR REPLACE INTO hostaudit_acceptances (finding_id, reason, accepted_by, accepted_at, expires_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5)",
             a.finding_id, a.reason, a.accepted_by, a.accepted_at, a.expires_at);
      return true;
    });
    if (!found) throw Error(ErrorCode::not_found, "No such finding in the latest host audit scan.");
    std::string until = format_rfc3339(expires);
    record_audit(actor, source, "hostaudit.accept", "hostaudit-finding:" + finding_id, audit::kSuccess,
                 "until=" + until + "; reason=" + a.reason);
    log::emit(log::events::hostaudit_finding_accepted,
              "host audit finding " + finding_id + " accepted as a known risk until " + until + " by " + actor,
              {{"FINDING_ID", finding_id}, {"ACCEPTED_UNTIL", until}, {"ACTOR", actor}});
    return a.to_json();
  }

  // Revokes the acceptance of `finding_id` (expired or not). Throws not_found.
  json::object unaccept_blocking(const std::string& finding_id, const std::string& actor, const std::string& source) {
    bool removed = store.write([&](store::Connection& c) {
      c.exec("DELETE FROM hostaudit_acceptances WHERE finding_id = ?1", finding_id);
      return c.changes() > 0;
    });
    if (!removed) throw Error(ErrorCode::not_found, "This finding is not accepted.");
    record_audit(actor, source, "hostaudit.unaccept", "hostaudit-finding:" + finding_id, audit::kSuccess, "");
    log::emit(log::events::hostaudit_acceptance_revoked,
              "host audit finding " + finding_id + ": acceptance as a known risk revoked by " + actor,
              {{"FINDING_ID", finding_id}, {"ACTOR", actor}});
    return json::object{{"finding_id", finding_id}, {"revoked", true}};
  }
};

HostAuditService::HostAuditService(store::Store& store, audit::AuditLog* audit, asio::any_io_executor blocking,
                                   std::function<std::shared_ptr<const Config>()> config, Clock& clock)
    : impl_(std::make_shared<Impl>(store, audit, std::move(blocking), std::move(config), clock)) {
  store.migrate("hostaudit", kMigrations);
}

HostAuditService::~HostAuditService() = default;

void HostAuditService::set_incident_hook(IncidentHook hook) {
  std::lock_guard lock(impl_->hook_mutex);
  impl_->incident_hook = std::move(hook);
}

asio::awaitable<json::object> HostAuditService::run(std::string trigger, std::string actor, std::string source) {
  auto impl = impl_;
  auto job = [impl, trigger, actor, source]() { return impl->run_blocking(trigger, actor, source); };
  json::object doc = co_await offload(impl->blocking, std::move(job));
  co_return doc;
}

asio::awaitable<json::object> HostAuditService::latest_findings() {
  auto impl = impl_;
  auto job = [impl]() { return impl->findings_blocking(); };
  json::object doc = co_await offload(impl->blocking, std::move(job));
  co_return doc;
}

asio::awaitable<void> HostAuditService::schedule_loop(std::function<bool()> stopping) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  std::string current;
  std::optional<Schedule> schedule;
  std::optional<std::chrono::system_clock::time_point> next;
  while (!stopping()) {
    auto cfg = impl_->config();
    if (cfg->host_audit.schedule != current) {
      current = cfg->host_audit.schedule;
      std::string error;
      schedule = Schedule::parse(current, &error);
      if (!schedule) {
        log::emit(log::events::hostaudit_scan_failed,
                  "host_audit.schedule \"" + current + "\" is not valid (" + error + "); no scheduled scans");
      }
      next = schedule ? schedule->next_after(impl_->clock.system_now()) : std::nullopt;
    }
    auto now = impl_->clock.system_now();
    if (next && now >= *next) {
      try {
        co_await run("schedule", "system", "");
      } catch (const std::exception&) {
        // Logged by the scan (hostaudit.scan_failed) or a concurrent scan is running.
      }
      next = schedule->next_after(impl_->clock.system_now());
      continue;
    }
    // Wake at least every minute: reloads and clock changes are noticed.
    auto wait = std::chrono::seconds(60);
    if (next) {
      auto left = std::chrono::duration_cast<std::chrono::seconds>(*next - now) + std::chrono::seconds(1);
      if (left < wait) wait = left;
    }
    timer.expires_after(wait);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void HostAuditService::register_routes(http::Router& router) {
  auto impl = impl_;
  router.add("POST", "/api/v1/host-audit/scans", [this](http::Request& req) -> asio::awaitable<http::Response> {
    json::object doc = co_await run("api", audit::actor_of(req), req.remote_address);
    http::Response r = http::Response::json(201, doc);
    r.set_header("Location", "/api/v1/host-audit/scans/" + std::to_string(doc.at("id").as_int64()));
    co_return r;
  });
  router.add("GET", "/api/v1/host-audit/scans", [impl](http::Request&) -> asio::awaitable<http::Response> {
    auto job = [impl]() {
      return impl->store.read([](store::Connection& c) {
        json::array scans;
        c.for_each("SELECT id, started_us, finished_us, trigger, actor, fingerprint, "
                   "(SELECT COUNT(*) FROM hostaudit_findings f WHERE f.scan_id = s.id), "
                   "(SELECT COUNT(*) FROM hostaudit_findings f WHERE f.scan_id = s.id AND f.severity = 'info'), "
                   "(SELECT COUNT(*) FROM hostaudit_findings f WHERE f.scan_id = s.id AND f.severity = 'low'), "
                   "(SELECT COUNT(*) FROM hostaudit_findings f WHERE f.scan_id = s.id AND f.severity = 'medium'), "
                   "(SELECT COUNT(*) FROM hostaudit_findings f WHERE f.scan_id = s.id AND f.severity = 'high'), "
                   "(SELECT COUNT(*) FROM hostaudit_findings f WHERE f.scan_id = s.id AND f.severity = 'critical') "
                   "FROM hostaudit_scans s ORDER BY id DESC LIMIT 100",
                   [&](const store::Statement& s) {
                     // by_severity: the console's findings-per-scan chart.
                     scans.push_back(json::object{{"id", s.column<std::int64_t>(0)},
                                                  {"started_us", s.column<std::int64_t>(1)},
                                                  {"finished_us", s.column<std::int64_t>(2)},
                                                  {"trigger", s.column<std::string>(3)},
                                                  {"actor", s.column<std::string>(4)},
                                                  {"ruleset_fingerprint", s.column<std::string>(5)},
                                                  {"findings", s.column<std::int64_t>(6)},
                                                  {"by_severity", json::object{{"info", s.column<std::int64_t>(7)},
                                                                               {"low", s.column<std::int64_t>(8)},
                                                                               {"medium", s.column<std::int64_t>(9)},
                                                                               {"high", s.column<std::int64_t>(10)},
                                                                               {"critical", s.column<std::int64_t>(11)}}}});
                   });
        return json::object{{"scans", std::move(scans)}};
      });
    };
    json::object doc = co_await offload(impl->blocking, std::move(job));
    co_return http::Response::json(200, doc);
  });
  router.add("GET", "/api/v1/host-audit/scans/{id}", [impl](http::Request& req) -> asio::awaitable<http::Response> {
    std::string id_text = req.params["id"];
    if (id_text.empty() || id_text.size() > 18 || !std::all_of(id_text.begin(), id_text.end(), ::isdigit)) {
      co_return http::Response::problem(ErrorCode::not_found, "No such scan.");
    }
    std::int64_t id = std::stoll(id_text);
    auto job = [impl, id]() {
      return impl->store.read([&](store::Connection& c) {
        return c.query_one<std::string>("SELECT report FROM hostaudit_scans WHERE id = ?1", id).value_or("");
      });
    };
    std::string report = co_await offload(impl->blocking, std::move(job));
    if (report.empty()) co_return http::Response::problem(ErrorCode::not_found, "No such scan.");
    http::Response r = http::Response::text(200, std::move(report), "application/json");
    co_return r;
  });
  router.add("GET", "/api/v1/host-audit/findings", [this](http::Request&) -> asio::awaitable<http::Response> {
    json::object doc = co_await latest_findings();
    co_return http::Response::json(200, doc);
  });
  // Finding ids contain '/' ("HA-NET-001:tcp/8080"), which a path segment
  // cannot carry (the path is decoded before routing): the id is in the
  // body to accept and in the query to revoke.
  router.add("POST", "/api/v1/host-audit/acceptances", [impl](http::Request& req) -> asio::awaitable<http::Response> {
    json::object body = http::read_json_object(req, {.empty_is_object = false});
    std::string finding = string_arg(body, "finding_id");
    if (finding.empty()) {
      throw acceptance_invalid({{"finding_id", "The id of a finding of the latest scan is required."}});
    }
    AcceptRequest request = accept_request_from_json(body);
    auto job = [impl, finding, request, actor = audit::actor_of(req), source = req.remote_address] {
      return impl->accept_blocking(finding, request, actor, source);
    };
    json::object doc = co_await offload(impl->blocking, std::move(job));
    co_return http::Response::json(201, doc);
  });
  router.add("DELETE", "/api/v1/host-audit/acceptances", [impl](http::Request& req) -> asio::awaitable<http::Response> {
    std::string finding = req.query_param("finding_id").value_or("");
    if (finding.empty()) throw Error(ErrorCode::invalid_argument, "finding_id: the id of an accepted finding is required.");
    auto job = [impl, finding, actor = audit::actor_of(req), source = req.remote_address] {
      return impl->unaccept_blocking(finding, actor, source);
    };
    json::object doc = co_await offload(impl->blocking, std::move(job));
    co_return http::Response::json(200, doc);
  });
}

void HostAuditService::register_control(http::ControlServer& control) {
  control.add("hostaudit run", [this](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    try {
      json::object doc = co_await run("manual", audit::actor_of(req), std::string(audit::kControlSource));
      co_return doc;
    } catch (const std::exception&) {
      throw current_error_as("host audit failed");
    }
  });
  control.add("hostaudit findings", [this](const http::ControlRequest&) -> asio::awaitable<json::value> {
    json::object doc = co_await latest_findings();
    co_return doc;
  });
  auto impl = impl_;
  control.add("hostaudit accept", [impl](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    std::string finding = string_arg(req.args, "id");
    if (finding.empty()) throw Error(ErrorCode::invalid_argument, "usage: hostaudit accept ID --reason TEXT [--until DATE]");
    AcceptRequest request;
    if (auto* r = req.args.if_contains("reason"); r && r->is_string()) request.reason = std::string(r->as_string());
    if (auto* u = req.args.if_contains("until"); u && u->is_string()) request.expires_at = std::string(u->as_string());
    auto job = [impl, finding, request, actor = audit::actor_of(req)] {
      return impl->accept_blocking(finding, request, actor, std::string(audit::kControlSource));
    };
    json::object doc = co_await offload(impl->blocking, std::move(job));
    co_return doc;
  });
  control.add("hostaudit unaccept", [impl](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    std::string finding = string_arg(req.args, "id");
    if (finding.empty()) throw Error(ErrorCode::invalid_argument, "usage: hostaudit unaccept ID");
    auto job = [impl, finding, actor = audit::actor_of(req)] {
      return impl->unaccept_blocking(finding, actor, std::string(audit::kControlSource));
    };
    json::object doc = co_await offload(impl->blocking, std::move(job));
    co_return doc;
  });
}

}  // namespace privstack::hostaudit
