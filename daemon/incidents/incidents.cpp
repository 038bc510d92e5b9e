#include "incidents/incidents.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "audit/routes.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/offload.h"
#include "core/secret.h"
#include "core/time.h"
#include "http/body.h"
#include "http/control.h"
#include "http/http.h"
#include "incidents/mail.h"
#include "incidents/webhook.h"
#include "store/store.h"

namespace privstack::incidents {

namespace asio = boost::asio;
namespace json = boost::json;

const char* to_string(Severity s) {
  switch (s) {
    case Severity::low: return "low";
    case Severity::medium: return "medium";
    case Severity::high: return "high";
    case Severity::critical: return "critical";
  }
  return "high";
}

std::optional<Severity> parse_severity(std::string_view s) {
  for (Severity v : {Severity::low, Severity::medium, Severity::high, Severity::critical}) {
    if (s == to_string(v)) return v;
  }
  return std::nullopt;
}

namespace {

const store::Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE incidents (
  id INTEGER PRIMARY KEY,
  rule TEXT NOT NULL,
  rule_key TEXT NOT NULL,
  title TEXT NOT NULL,
  severity INTEGER NOT NULL,
  state TEXT NOT NULL,
  owner TEXT NOT NULL DEFAULT '',
  breach INTEGER NOT NULL DEFAULT 0,
  detected_us INTEGER NOT NULL,
  updated_us INTEGER NOT NULL,
  resolved_us INTEGER,
  event_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX incidents_open ON incidents(rule, rule_key, state);
CREATE TABLE incident_timeline (
  id INTEGER PRIMARY KEY,
  incident_id INTEGER NOT NULL REFERENCES incidents(id),
  at_us INTEGER NOT NULL,
  kind TEXT NOT NULL,
  actor TEXT NOT NULL DEFAULT '',
  event TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '',
  fields TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_timeline_by_incident ON incident_timeline(incident_id, id);
CREATE TABLE incident_deliveries (
  id INTEGER PRIMARY KEY,
  incident_id INTEGER NOT NULL,
  delivery_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  at_us INTEGER NOT NULL,
  target TEXT NOT NULL,
  status INTEGER NOT NULL,
  error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX incident_deliveries_by_incident ON incident_deliveries(incident_id, id);
)sql"},
};

constexpr std::int64_t kTimelineCap = 1000;  // events kept per incident; the count keeps going

std::int64_t now_us() { return default_clock().unix_micros(); }

std::string rfc3339(std::int64_t us) { return format_rfc3339(us / 1000000); }

log::Priority priority_of(Severity s) {
  switch (s) {
    case Severity::critical: return log::Priority::crit;
    case Severity::high: return log::Priority::err;
    case Severity::medium: return log::Priority::warning;
    case Severity::low: return log::Priority::notice;
  }
  return log::Priority::warning;
}

std::string random_id() { return random_hex(12); }

// A copy of an observed journal entry.
struct Ev {
  std::string name;
  int priority = 6;
  std::string message;
  std::vector<std::pair<std::string, std::string>> fields;  // without the PRIVSTACK_ prefix
  std::int64_t at_us = 0;

  std::string field(std::string_view n) const {
    for (const auto& [k, v] : fields) {
      if (k == n) return v;
    }
    return {};
  }
  std::string fields_json() const {
    json::object o;
    for (const auto& [k, v] : fields) {
      if (!v.empty()) o[k] = v;
    }
    return json::serialize(o);
  }
};

bool is_login_failure(const std::string& n) { return n == "auth.login_failed" || n == "auth.totp_failed"; }
bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

struct Notification {
  std::int64_t incident_id = 0;
  std::string kind;  // incident.opened, incident.updated, incident.acknowledged, ...
  std::string body;  // the webhook's JSON document, or the whole email message
  std::string channel = "webhook";  // or "email"
};

// What happened, for people: "opened", "acknowledged", ... as a phrase.
std::string change_phrase(std::string_view kind) {
  std::string_view what = kind.substr(kind.find('.') + 1);
  if (what == "breach_flag_changed") return "re-flagged as to a personal-data breach";
  return std::string(what);
}

std::string text_of(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return {};
  if (v->is_string()) return std::string(v->as_string());
  if (v->is_int64()) return std::to_string(v->as_int64());
  return {};
}

// The email about one change of an incident: the facts an on-call reader
// needs without opening the console, the breach clock first when it runs.
Mail incident_mail(const Config& cfg, const std::string& host, const std::string& kind, const json::object& doc,
                   const json::object& latest, const std::string& unique) {
  Mail m;
  const auto& email = cfg.notifications.email;
  m.from = email.from.empty() ? "privstack@" + host : email.from;
  m.to = email.to;
  std::string id = text_of(doc, "id");
  std::string what = change_phrase(kind);
  m.subject = "[privstack " + host + "] incident " + id + " " + what + " (" + text_of(doc, "severity") +
              "): " + text_of(doc, "title");
  m.message_id = "incident-" + id + "-" + unique + "@" + host;
  std::string b = "Incident " + id + " on " + host + " was " + what + ".\n\n";
  if (const json::value* left = doc.if_contains("notification_time_left_seconds"); left && left->is_int64()) {
    std::int64_t s = left->as_int64();
    b += "POSSIBLE PERSONAL-DATA BREACH: notify by " + text_of(doc, "notification_deadline") +
         (s < 0 ? " (OVERDUE by " + std::to_string(-s / 3600) + " h)"
                : " (" + std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min left)") +
         "\n\n";
  }
  b += "Title:     " + text_of(doc, "title") + "\n";
  b += "Severity:  " + text_of(doc, "severity") + "\n";
  b += "State:     " + text_of(doc, "state") + "\n";
  b += "Rule:      " + text_of(doc, "rule") + "\n";
  if (std::string owner = text_of(doc, "owner"); !owner.empty()) b += "Owner:     " + owner + "\n";
  b += "Detected:  " + text_of(doc, "detected_at") + "\n";
  b += "Events:    " + text_of(doc, "event_count") + "\n";
  if (!latest.empty()) b += "Latest:    " + text_of(latest, "at") + " " + text_of(latest, "message") + "\n";
  b += "\nIn the console: Incidents, incident " + id + "; from a shell: privstackctl incidents show " + id + "\n";
  m.body = std::move(b);
  return m;
}

}  // namespace

struct IncidentService::Impl {
  Impl(store::Store& s, std::function<std::shared_ptr<const Config>()> c) : store(s), config(std::move(c)) {}

  store::Store& store;
  std::function<std::shared_ptr<const Config>()> config;
  // One thread: the rules, the store writes and the API's blocking work run
  // here in order, so rule state needs no lock.
  asio::thread_pool pool{1};
  int observer_id = 0;
  std::atomic<bool> stopped{false};
  std::string hostname;

  // ---- rule state (pool thread only)
  // The rules' thresholds: read at start() and replaced by reload(), so a
  // SIGHUP reaches them through the module contract like every setting.
  Config::Incidents rules;
  std::deque<Ev> login_events;  // failures and lockouts in the window
  std::map<std::string, std::deque<Ev>> counted;  // other counting rules, by rule name

  // ---- webhook sender
  std::mutex send_mutex;
  std::condition_variable send_cv;
  std::deque<Notification> outbox;
  bool send_stop = false;
  std::thread sender;

  // ------------------------------------------------------------------ observe

  void observe(const log::Emitted& e) {
    std::string_view name = e.event.name;
    // Metrics that come straight from events (cheap, no lock but the registry's).
    if (name == "auth.login_succeeded") {
      metrics::inc(metrics::names::logins, {{"outcome", "succeeded"}});
    } else if (name == "auth.login_failed" || name == "auth.totp_failed") {
      std::string_view reason = e.field("REASON");
      bool refused = reason == "throttled" || reason == "locked_out";
      metrics::inc(metrics::names::logins, {{"outcome", refused ? "refused" : "failed"}});
    } else if (name == "auth.lockout") {
      metrics::inc(metrics::names::logins, {{"outcome", "lockout"}});
    } else if (name == "auth.permission_denied") {
      metrics::inc(metrics::names::permission_denied);
    } else if (name == "wallet.locked") {
      metrics::set(metrics::names::wallet_locked, 1);
    } else if (name == "wallet.unlocked") {
      metrics::set(metrics::names::wallet_locked, 0);
    }
    if (name.starts_with("incident.") || name.starts_with("notification.")) return;  // our own entries
    if (stopped.load()) return;
    Ev ev;
    ev.name = std::string(name);
    ev.priority = e.priority;
    ev.message = std::string(e.message);
    ev.at_us = now_us();
    ev.fields.reserve(e.fields.size());
    for (const auto& [k, v] : e.fields) {
      ev.fields.emplace_back(k.size() > 10 ? k.substr(10) : k, v);
    }
    asio::post(pool, [this, ev = std::move(ev)]() mutable {
      try {
        process(ev);
      } catch (const std::exception& ex) {
        // Logged without the rules seeing it (an incident.* entry).
        log::emit(log::events::notification_failed, std::string("incident rules failed: ") + ex.what(),
                  {{"ERROR", ex.what()}, {"FINAL", "1"}});
      }
    });
  }

  // ------------------------------------------------------------------ rules

  void prune(std::deque<Ev>& d, std::int64_t cutoff) {
    while (!d.empty() && d.front().at_us < cutoff) d.pop_front();
  }

  void process(const Ev& ev) {
    const Config::Incidents& ic = rules;
    std::int64_t cutoff = ev.at_us - static_cast<std::int64_t>(ic.window.count()) * 1000000;
    const std::string& n = ev.name;

    // Repeated login failures and lockouts, across accounts and addresses.
    if (is_login_failure(n) || n == "auth.lockout") {
      prune(login_events, cutoff);
      login_events.push_back(ev);
      std::set<std::string> users, remotes;
      std::int64_t failures = 0;
      bool lockout = false;
      for (const auto& e : login_events) {
        if (is_login_failure(e.name)) ++failures;
        if (e.name == "auth.lockout") lockout = true;
        if (!e.field("USER").empty()) users.insert(e.field("USER"));
        if (!e.field("REMOTE").empty()) remotes.insert(e.field("REMOTE"));
      }
      bool open = open_incident_id("login_failures", "").has_value();
      if (open || failures >= ic.login_failure_threshold) {
        Severity sev = (lockout || users.size() > 1 || remotes.size() > 1) ? Severity::high : Severity::medium;
        std::string title = "Repeated failed logins: " + std::to_string(failures) + " in " +
                            std::to_string(ic.window.count()) + " s, " + std::to_string(users.size()) +
                            " account(s), " + std::to_string(remotes.size()) + " address(es)";
        raise("login_failures", "", sev, title, false, login_events);
      }
      return;
    }
    // A successful login after many failures for the same account.
    if (n == "auth.login_succeeded") {
      prune(login_events, cutoff);
      std::string user = ev.field("USER");
      std::deque<Ev> feed;
      for (const auto& e : login_events) {
        if (is_login_failure(e.name) && e.field("USER") == user) feed.push_back(e);
      }
      std::size_t needed = static_cast<std::size_t>(std::max(3, ic.login_failure_threshold / 2));
      if (!user.empty() && feed.size() >= needed) {
        feed.push_back(ev);
        raise("login_after_failures", user, Severity::high,
              "Successful login for " + user + " after " + std::to_string(feed.size() - 1) + " failed attempts",
              true, feed);
      }
      return;
    }
    if (n == "auth.permission_denied") {
      count_rule("permission_denied", ev, cutoff, ic.permission_denied_threshold, Severity::medium,
                 "Burst of refused requests (permission, CSRF or Origin checks)");
      return;
    }
    if (n.starts_with("wallet.") && contains(n, "unlock") && contains(n, "fail")) {
      count_rule("wallet_unlock_failures", ev, cutoff, ic.wallet_unlock_failure_threshold, Severity::high,
                 "Repeated failed wallet unlocks");
      return;
    }
    if (n == "audit.verify_failed") {
      single("audit_tamper", "", Severity::critical, "Audit log verification failed: possible tampering", true, ev);
      return;
    }
    if (n == "store.open_failed" || n == "store.check_failed") {
      single("store_key", "", Severity::critical, "Encrypted store cannot be opened or fails its integrity check",
             false, ev);
      return;
    }
    if (n == "store.rekey_recovered") {
      single("store_key", "", Severity::medium, "Store key rotation was interrupted and recovered", false, ev);
      return;
    }
    if (n == "hostaudit.finding") {
      auto sev = parse_severity(ev.field("SEVERITY"));
      if (sev && *sev >= Severity::high) {
        std::string check = ev.field("CHECK");
        single("host_exposure", check, *sev, "Host audit: " + ev.message, false, ev);
      }
      return;
    }
    if (n == "tls.certificate_expiring") {
      std::string days = ev.field("DAYS_LEFT");
      bool soon = !days.empty() && std::atoi(days.c_str()) <= 7;
      single("certificate_expiry", "", soon ? Severity::high : Severity::medium,
             "TLS certificate expires in " + (days.empty() ? std::string("a few") : days) + " days", false, ev);
      return;
    }
    if (n.starts_with("backup.") || n.starts_with("restore.")) {
      bool failed = contains(n, "fail") || contains(n, "missed") || contains(n, "overdue");
      if (failed) {
        single("backup_failure", "", Severity::high, "Backup failed or missed its schedule", false, ev);
      } else if (contains(n, "restore") && !contains(n, "test")) {
        single("restore", "", Severity::medium, "A restore from backup was performed", false, ev);
      }
      return;
    }
  }

  void count_rule(const std::string& rule, const Ev& ev, std::int64_t cutoff, int threshold, Severity sev,
                  const std::string& title) {
    auto& d = counted[rule];
    prune(d, cutoff);
    d.push_back(ev);
    if (open_incident_id(rule, "") || static_cast<int>(d.size()) >= threshold) {
      raise(rule, "", sev, title + " (" + std::to_string(d.size()) + " in the window)", false, d);
    }
  }

  void single(const std::string& rule, const std::string& key, Severity sev, const std::string& title, bool breach,
              const Ev& ev) {
    std::deque<Ev> d{ev};
    raise(rule, key, sev, title, breach, d);
  }

  std::optional<std::int64_t> open_incident_id(const std::string& rule, const std::string& key) {
    return store.read([&](store::Connection& c) {
      return c.query_one<std::int64_t>(
          "SELECT id FROM incidents WHERE rule = ?1 AND rule_key = ?2 AND state != 'resolved' "
          "ORDER BY id DESC LIMIT 1",
          rule, key);
    });
  }

  // Opens an incident for (rule, key) with every event in `feed` in its
  // timeline, or adds the newest event of `feed` to the open one.
  void raise(const std::string& rule, const std::string& key, Severity sev, const std::string& title, bool breach,
             const std::deque<Ev>& feed) {
    if (feed.empty()) return;
    std::int64_t t = now_us();
    bool opened = false;
    Severity before = sev;
    std::int64_t id = store.write([&](store::Connection& c) {
      auto existing = c.query_one<std::int64_t>(
          "SELECT id FROM incidents WHERE rule = ?1 AND rule_key = ?2 AND state != 'resolved' "
          "ORDER BY id DESC LIMIT 1",
          rule, key);
      std::int64_t iid = 0;
      std::vector<const Ev*> add;
      if (!existing) {
        c.exec("INSERT INTO incidents (rule, rule_key, title, severity, state, breach, detected_us, updated_us, "
               "event_count) VALUES (?1, ?2, ?3, ?4, 'open', ?5, ?6, ?6, 0)",
               rule, key, title, static_cast<std::int64_t>(sev), breach, t);
        iid = c.last_insert_rowid();
        opened = true;
        for (const auto& e : feed) add.push_back(&e);
      } else {
        iid = *existing;
        before = static_cast<Severity>(
            c.query_one<std::int64_t>("SELECT severity FROM incidents WHERE id = ?1", iid).value_or(0));
        add.push_back(&feed.back());
        c.exec("UPDATE incidents SET title = ?2, severity = max(severity, ?3), breach = max(breach, ?4), "
               "updated_us = ?5 WHERE id = ?1",
               iid, title, static_cast<std::int64_t>(sev), breach, t);
      }
      std::int64_t count = c.query_one<std::int64_t>("SELECT event_count FROM incidents WHERE id = ?1", iid).value_or(0);
      for (const Ev* e : add) {
        if (count < kTimelineCap) {
          c.exec("INSERT INTO incident_timeline (incident_id, at_us, kind, event, message, fields) "
                 "VALUES (?1, ?2, 'event', ?3, ?4, ?5)",
                 iid, e->at_us, e->name, e->message, e->fields_json());
        }
        ++count;
      }
      c.exec("UPDATE incidents SET event_count = ?2 WHERE id = ?1", iid, count);
      return iid;
    });
    Severity now_sev = std::max(before, sev);
    if (opened) {
      metrics::inc(metrics::names::incidents_opened, {{"rule", rule}});
      std::string deadline = breach ? rfc3339(t + kBreachNotificationWindowUs) : std::string();
      log::emit(log::events::incident_opened, priority_of(sev),
                "incident " + std::to_string(id) + " opened (" + to_string(sev) + "): " + title,
                {{"INCIDENT_ID", id},
                 {"RULE", rule},
                 {"SEVERITY", to_string(sev)},
                 {"BREACH", breach ? "1" : "0"},
                 {"NOTIFY_DEADLINE", deadline},
                 {"EVENTS", static_cast<std::int64_t>(feed.size())},
                 {"TRIGGER_EVENT", feed.back().name}});
      notify(id, "incident.opened");
    } else {
      log::emit(log::events::incident_updated, priority_of(now_sev),
                "incident " + std::to_string(id) + " updated by " + feed.back().name + ": " + title,
                {{"INCIDENT_ID", id},
                 {"RULE", rule},
                 {"SEVERITY", to_string(now_sev)},
                 {"TRIGGER_EVENT", feed.back().name}});
      if (now_sev > before) notify(id, "incident.escalated");
    }
    update_open_gauge();
  }

  void update_open_gauge() {
    std::map<std::int64_t, std::int64_t> counts;
    store.read([&](store::Connection& c) {
      c.for_each("SELECT severity, COUNT(*) FROM incidents WHERE state != 'resolved' GROUP BY severity",
                 [&](const store::Statement& s) { counts[s.column<std::int64_t>(0)] = s.column<std::int64_t>(1); });
    });
    for (Severity s : {Severity::low, Severity::medium, Severity::high, Severity::critical}) {
      metrics::set(metrics::names::incidents_open, static_cast<double>(counts[static_cast<std::int64_t>(s)]),
                   {{"severity", to_string(s)}});
    }
  }

  // ------------------------------------------------------------------ documents

  json::object incident_doc(store::Connection& c, std::int64_t id, bool full) {
    json::object doc;
    bool found = false;
    std::int64_t detected = 0;
    bool breach = false;
    c.for_each(
        "SELECT id, rule, rule_key, title, severity, state, owner, breach, detected_us, updated_us, resolved_us, "
        "event_count FROM incidents WHERE id = ?1",
        [&](const store::Statement& s) {
          found = true;
          doc["id"] = s.column<std::int64_t>(0);
          doc["rule"] = s.column<std::string>(1);
          if (!s.column<std::string>(2).empty()) doc["key"] = s.column<std::string>(2);
          doc["title"] = s.column<std::string>(3);
          doc["severity"] = to_string(static_cast<Severity>(s.column<std::int64_t>(4)));
          doc["state"] = s.column<std::string>(5);
          doc["owner"] = s.column<std::string>(6);
          breach = s.column<bool>(7);
          doc["personal_data_breach"] = breach;
          detected = s.column<std::int64_t>(8);
          doc["detected_at"] = rfc3339(detected);
          doc["updated_at"] = rfc3339(s.column<std::int64_t>(9));
          auto resolved = s.column<std::optional<std::int64_t>>(10);
          doc["resolved_at"] = resolved ? json::value(rfc3339(*resolved)) : json::value(nullptr);
          doc["event_count"] = s.column<std::int64_t>(11);
        },
        id);
    if (!found) return {};
    if (breach) {
      std::int64_t deadline = detected + kBreachNotificationWindowUs;
      std::int64_t left = (deadline - now_us()) / 1000000;
      doc["notification_deadline"] = rfc3339(deadline);
      doc["notification_time_left_seconds"] = left;
      doc["notification_overdue"] = left < 0;
    } else {
      doc["notification_deadline"] = nullptr;
    }
    if (!full) return doc;
    json::array timeline;
    c.for_each(
        "SELECT at_us, kind, actor, event, message, fields FROM incident_timeline WHERE incident_id = ?1 ORDER BY id",
        [&](const store::Statement& s) {
          json::object t{{"at", rfc3339(s.column<std::int64_t>(0))},
                         {"at_us", s.column<std::int64_t>(0)},
                         {"kind", s.column<std::string>(1)}};
          if (!s.column<std::string>(2).empty()) t["actor"] = s.column<std::string>(2);
          if (!s.column<std::string>(3).empty()) t["event"] = s.column<std::string>(3);
          t["message"] = s.column<std::string>(4);
          boost::system::error_code ec;
          json::value f = json::parse(s.column<std::string>(5), ec);
          if (!ec && f.is_object() && !f.as_object().empty()) t["fields"] = f;
          timeline.push_back(std::move(t));
        },
        id);
    doc["timeline"] = std::move(timeline);
    json::array deliveries;
    c.for_each(
        "SELECT delivery_id, kind, attempt, at_us, target, status, error FROM incident_deliveries "
        "WHERE incident_id = ?1 ORDER BY id",
        [&](const store::Statement& s) {
          json::object d{{"delivery_id", s.column<std::string>(0)},
                         {"kind", s.column<std::string>(1)},
                         {"attempt", s.column<std::int64_t>(2)},
                         {"at", rfc3339(s.column<std::int64_t>(3))},
                         {"target", s.column<std::string>(4)},
                         {"status", s.column<std::int64_t>(5)}};
          if (!s.column<std::string>(6).empty()) d["error"] = s.column<std::string>(6);
          deliveries.push_back(std::move(d));
        },
        id);
    doc["deliveries"] = std::move(deliveries);
    return doc;
  }

  json::object list(const std::string& state) {
    return store.read([&](store::Connection& c) {
      std::vector<std::int64_t> ids;
      auto collect = [&](const store::Statement& s) { ids.push_back(s.column<std::int64_t>(0)); };
      if (state.empty() || state == "all") {
        c.for_each("SELECT id FROM incidents ORDER BY id DESC LIMIT 500", collect);
      } else if (state == "unresolved") {
        c.for_each("SELECT id FROM incidents WHERE state != 'resolved' ORDER BY id DESC LIMIT 500", collect);
      } else {
        c.for_each("SELECT id FROM incidents WHERE state = ?1 ORDER BY id DESC LIMIT 500", collect, state);
      }
      json::array items;
      for (auto id : ids) items.push_back(incident_doc(c, id, false));
      return json::object{{"incidents", std::move(items)}};
    });
  }

  std::optional<json::object> get(std::int64_t id) {
    json::object doc = store.read([&](store::Connection& c) { return incident_doc(c, id, true); });
    if (doc.empty()) return std::nullopt;
    return doc;
  }

  // ------------------------------------------------------------------ operator actions

  // action: acknowledge, resolve, assign, comment, breach.
  json::object act(std::int64_t id, const std::string& action, const std::string& actor, const json::object& body) {
    std::string text;
    if (auto it = body.find("comment"); it != body.end() && it->value().is_string()) text = it->value().as_string().c_str();
    if (auto it = body.find("text"); it != body.end() && it->value().is_string()) text = it->value().as_string().c_str();
    if (text.size() > 4000) throw Error(ErrorCode::invalid_argument, "comment is longer than 4000 characters");
    std::string owner;
    bool breach = false;
    if (action == "assign") {
      auto it = body.find("owner");
      if (it == body.end() || !it->value().is_string() || it->value().as_string().empty() ||
          it->value().as_string().size() > 256) {
        throw Error(ErrorCode::invalid_argument, "owner (a non-empty string) is required");
      }
      owner = it->value().as_string().c_str();
    } else if (action == "comment") {
      if (text.empty()) throw Error(ErrorCode::invalid_argument, "text (a non-empty string) is required");
    } else if (action == "breach") {
      auto it = body.find("personal_data_breach");
      if (it == body.end() || !it->value().is_bool()) throw Error(ErrorCode::invalid_argument, "personal_data_breach (true/false) is required");
      breach = it->value().as_bool();
    }
    std::int64_t t = now_us();
    Severity sev = Severity::medium;
    std::string message;
    store.write([&](store::Connection& c) {
      auto state = c.query_one<std::string>("SELECT state FROM incidents WHERE id = ?1", id);
      if (!state) throw Error(ErrorCode::not_found, "No such incident.");
      sev = static_cast<Severity>(c.query_one<std::int64_t>("SELECT severity FROM incidents WHERE id = ?1", id).value_or(1));
      if (action == "acknowledge") {
        if (*state != "open") throw Error(ErrorCode::conflict, "Only an open incident can be acknowledged (it is " + *state + ").");
        c.exec("UPDATE incidents SET state = 'acknowledged', updated_us = ?2, owner = CASE WHEN owner = '' THEN ?3 "
               "ELSE owner END WHERE id = ?1",
               id, t, actor);
        message = "acknowledged by " + actor;
      } else if (action == "resolve") {
        if (*state == "resolved") throw Error(ErrorCode::conflict, "The incident is already resolved.");
        c.exec("UPDATE incidents SET state = 'resolved', updated_us = ?2, resolved_us = ?2 WHERE id = ?1", id, t);
        message = "resolved by " + actor;
      } else if (action == "assign") {
        c.exec("UPDATE incidents SET owner = ?2, updated_us = ?3 WHERE id = ?1", id, owner, t);
        message = "assigned to " + owner + " by " + actor;
      } else if (action == "breach") {
        c.exec("UPDATE incidents SET breach = ?2, updated_us = ?3 WHERE id = ?1", id, breach, t);
        message = std::string(breach ? "marked" : "unmarked") + " as a possible personal-data breach by " + actor;
      } else {
        c.exec("UPDATE incidents SET updated_us = ?2 WHERE id = ?1", id, t);
        message = "comment by " + actor;
      }
      std::string entry = message + (text.empty() ? "" : ": " + text);
      c.exec("INSERT INTO incident_timeline (incident_id, at_us, kind, actor, message) VALUES (?1, ?2, ?3, ?4, ?5)", id,
             t, action, actor, entry);
    });
    log::emit(log::events::incident_changed, priority_of(sev), "incident " + std::to_string(id) + " " + message,
              {{"INCIDENT_ID", id}, {"ACTION", action}, {"ACTOR", actor}, {"SEVERITY", to_string(sev)}});
    if (action != "comment") notify(id, "incident." + std::string(action == "acknowledge" ? "acknowledged"
                                                                 : action == "resolve"   ? "resolved"
                                                                 : action == "assign"    ? "assigned"
                                                                                         : "breach_flag_changed"));
    update_open_gauge();
    return *get(id);
  }

  // ------------------------------------------------------------------ webhook

  void notify(std::int64_t id, const std::string& kind) {
    auto cfg = config();
    bool webhook = !cfg->notifications.webhook.url.empty();
    bool email = !cfg->notifications.email.to.empty();
    if (!webhook && !email) return;
    json::object doc = store.read([&](store::Connection& c) { return incident_doc(c, id, false); });
    // The latest timeline entry says what happened.
    json::object last = store.read([&](store::Connection& c) {
      json::object o;
      c.for_each("SELECT at_us, kind, event, message FROM incident_timeline WHERE incident_id = ?1 "
                 "ORDER BY id DESC LIMIT 1",
                 [&](const store::Statement& s) {
                   o = json::object{{"at", rfc3339(s.column<std::int64_t>(0))},
                                    {"kind", s.column<std::string>(1)},
                                    {"event", s.column<std::string>(2)},
                                    {"message", s.column<std::string>(3)}};
                 },
                 id);
      return o;
    });
    std::vector<Notification> out;
    if (email) out.push_back({id, kind, compose_mail(incident_mail(*cfg, hostname, kind, doc, last, random_id())), "email"});
    if (webhook) {
      json::object body{{"type", kind},
                        {"sent_at", rfc3339(now_us())},
                        {"appliance", hostname},
                        {"incident", std::move(doc)},
                        {"latest", std::move(last)}};
      out.push_back({id, kind, json::serialize(body), "webhook"});
    }
    {
      std::lock_guard lock(send_mutex);
      for (auto& n : out) outbox.push_back(std::move(n));
    }
    send_cv.notify_one();
  }

  // One delivery attempt over n's channel. skip: the channel was turned off
  // (config reload) since the notification was queued.
  struct Attempt {
    bool skip = false;
    std::string target;
    int status = 0;  // HTTP status (webhook) or the program's exit status (email)
    std::string error;
    bool ok() const { return !skip && error.empty(); }
  };

  Attempt attempt_delivery(const Config& cfg, const Notification& n, const std::string& delivery_id) {
    Attempt a;
    Attempt skip;
    skip.skip = true;
    if (n.channel == "email") {
      const auto& em = cfg.notifications.email;
      if (em.to.empty()) return skip;
      a.target = "sendmail:";
      for (const auto& to : em.to) a.target += (a.target.back() == ':' ? "" : ",") + to;
      MailResult r = send_mail(em.sendmail.string(), n.body);
      a.status = r.exit_code;
      a.error = r.error;
      return a;
    }
    const auto& wh = cfg.notifications.webhook;
    if (wh.url.empty()) return skip;
    a.target = wh.url;
    DeliveryResult r;
    try {
      if (wh.secret_file.empty()) throw std::runtime_error("notifications.webhook.secret_file is not set");
      Secret secret = read_secret_file(wh.secret_file);
      std::string ts = std::to_string(now_us() / 1000000);
      r = post_webhook({wh.url, wh.ca_file}, secret.reveal(), n.body, ts, delivery_id);
    } catch (const std::exception& e) {
      r.error = e.what();
    }
    a.status = r.status;
    a.error = r.ok() ? std::string() : (r.error.empty() ? "HTTP " + std::to_string(r.status) : r.error);
    return a;
  }

  void record_delivery(const Notification& n, const std::string& delivery_id, int attempt, const Attempt& r) {
    try {
      store.write([&](store::Connection& c) {
        c.exec("INSERT INTO incident_deliveries (incident_id, delivery_id, kind, attempt, at_us, target, status, error) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
               n.incident_id, delivery_id, n.kind, attempt, now_us(), r.target, r.status, r.error);
      });
    } catch (const std::exception&) {
      // The journal entry below still records the attempt.
    }
  }

  void sender_loop() {
    static constexpr int kAttempts = 5;
    for (;;) {
      Notification n;
      {
        std::unique_lock lock(send_mutex);
        send_cv.wait(lock, [&] { return send_stop || !outbox.empty(); });
        if (send_stop) return;
        n = std::move(outbox.front());
        outbox.pop_front();
      }
      std::string delivery_id = random_id();
      std::chrono::seconds backoff(1);
      for (int attempt = 1; attempt <= kAttempts; ++attempt) {
        auto cfg = config();
        Attempt r = attempt_delivery(*cfg, n, delivery_id);
        if (r.skip) break;
        record_delivery(n, delivery_id, attempt, r);
        const auto counter =
            n.channel == "email" ? metrics::names::email_deliveries : metrics::names::webhook_deliveries;
        if (r.ok()) {
          metrics::inc(counter, {{"result", "delivered"}});
          log::emit(log::events::notification_delivered,
                    n.channel + " notification delivered for incident " + std::to_string(n.incident_id) + " (" +
                        n.kind + ")",
                    {{"INCIDENT_ID", n.incident_id},
                     {"CHANNEL", n.channel},
                     {"KIND", n.kind},
                     {"DELIVERY_ID", delivery_id},
                     {"STATUS", r.status},
                     {"ATTEMPT", attempt}});
          break;
        }
        metrics::inc(counter, {{"result", "failed"}});
        bool final = attempt == kAttempts;
        log::emit(log::events::notification_failed,
                  n.channel + " delivery for incident " + std::to_string(n.incident_id) + " failed: " + r.error,
                  {{"INCIDENT_ID", n.incident_id},
                   {"CHANNEL", n.channel},
                   {"KIND", n.kind},
                   {"DELIVERY_ID", delivery_id},
                   {"STATUS", r.status},
                   {"ATTEMPT", attempt},
                   {"ERROR", r.error},
                   {"FINAL", final ? "1" : "0"}});
        if (final) break;
        std::unique_lock lock(send_mutex);
        if (send_cv.wait_for(lock, backoff, [&] { return send_stop; })) return;
        backoff *= 2;
      }
    }
  }
};

IncidentService::IncidentService(store::Store& store, std::function<std::shared_ptr<const Config>()> config)
    : impl_(std::make_shared<Impl>(store, std::move(config))) {
  store.migrate("incidents", kMigrations);
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) impl_->hostname = host;
}

IncidentService::~IncidentService() { stop(); }

void IncidentService::start() {
  auto impl = impl_;
  impl->rules = impl->config()->incidents;  // before the first event is observed
  impl->update_open_gauge();
  impl->sender = std::thread([impl] { impl->sender_loop(); });
  impl->observer_id = log::add_observer([impl](const log::Emitted& e) { impl->observe(e); });
}

void IncidentService::stop() {
  if (impl_->stopped.exchange(true)) return;
  if (impl_->observer_id) log::remove_observer(impl_->observer_id);
  {
    std::lock_guard lock(impl_->send_mutex);
    impl_->send_stop = true;
  }
  impl_->send_cv.notify_all();
  if (impl_->sender.joinable()) impl_->sender.join();
  impl_->pool.join();
}

void IncidentService::reload(const Config& next) {
  // On the pool thread, between two events: the rule state is its alone.
  asio::post(impl_->pool, [impl = impl_, rules = next.incidents] { impl->rules = rules; });
}

asio::awaitable<void> IncidentService::drain() {
  auto job = [] { return 0; };
  co_await offload(impl_->pool.get_executor(), std::move(job));
}

json::object IncidentService::list_blocking(const std::string& state_filter) { return impl_->list(state_filter); }
std::optional<json::object> IncidentService::get_blocking(std::int64_t id) { return impl_->get(id); }

namespace {

std::optional<std::int64_t> parse_id(const std::string& text) {
  if (text.empty() || text.size() > 18 || !std::all_of(text.begin(), text.end(), ::isdigit)) return std::nullopt;
  return std::stoll(text);
}

}  // namespace

void IncidentService::register_routes(http::Router& router) {
  auto impl = impl_;
  router.add("GET", "/api/v1/incidents", [impl](http::Request& req) -> asio::awaitable<http::Response> {
    std::string state = req.query_param("state").value_or("");
    if (!state.empty() && state != "all" && state != "unresolved" && state != "open" && state != "acknowledged" &&
        state != "resolved") {
      throw Error(ErrorCode::invalid_argument, "state must be open, acknowledged, resolved, unresolved or all.");
    }
    auto job = [impl, state] { return impl->list(state); };
    json::object doc = co_await offload(impl->pool.get_executor(), std::move(job));
    co_return http::Response::json(200, doc);
  });
  router.add("GET", "/api/v1/incidents/{id}", [impl](http::Request& req) -> asio::awaitable<http::Response> {
    auto id = parse_id(req.params["id"]);
    if (!id) throw Error(ErrorCode::not_found, "No such incident.");
    auto job = [impl, i = *id] { return impl->get(i); };
    auto doc = co_await offload(impl->pool.get_executor(), std::move(job));
    if (!doc) throw Error(ErrorCode::not_found, "No such incident.");
    co_return http::Response::json(200, *doc);
  });
  for (std::string action : {"acknowledge", "resolve", "assign", "comments", "breach"}) {
    std::string name = action == "comments" ? "comment" : action;
    router.add("POST", "/api/v1/incidents/{id}/" + action,
               [impl, name](http::Request& req) -> asio::awaitable<http::Response> {
                 auto id = parse_id(req.params["id"]);
                 if (!id) throw Error(ErrorCode::not_found, "No such incident.");
                 json::object body = http::read_json_object(req);
                 std::string actor = audit::actor_of(req);
                 auto job = [impl, i = *id, name, actor, body] { return impl->act(i, name, actor, body); };
                 json::object v = co_await offload(impl->pool.get_executor(), std::move(job));
                 co_return http::Response::json(200, v);
               });
  }
}

void IncidentService::register_control(http::ControlServer& control) {
  auto impl = impl_;
  control.add("incidents list", [impl](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    std::string state = "unresolved";
    if (auto it = req.args.find("state"); it != req.args.end() && it->value().is_string()) {
      state = it->value().as_string().c_str();
    }
    auto job = [impl, state] { return impl->list(state); };
    json::object doc = co_await offload(impl->pool.get_executor(), std::move(job));
    co_return doc;
  });
  control.add("incidents show", [impl](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    std::optional<std::int64_t> id;
    if (auto it = req.args.find("id"); it != req.args.end() && it->value().is_string()) {
      id = parse_id(it->value().as_string().c_str());
    }
    if (!id) throw Error(ErrorCode::invalid_argument, "usage: incidents show ID");
    auto job = [impl, i = *id] { return impl->get(i); };
    auto doc = co_await offload(impl->pool.get_executor(), std::move(job));
    if (!doc) throw Error(ErrorCode::not_found, "no such incident");
    co_return *doc;
  });
  for (std::string action : {"acknowledge", "resolve", "assign", "comment"}) {
    control.add("incidents " + action, [impl, action](const http::ControlRequest& req) -> asio::awaitable<json::value> {
      std::optional<std::int64_t> id;
      if (auto it = req.args.find("id"); it != req.args.end() && it->value().is_string()) {
        id = parse_id(it->value().as_string().c_str());
      }
      if (!id) throw Error(ErrorCode::invalid_argument, "usage: incidents " + action + " ID");
      std::string actor = audit::actor_of(req);
      json::object body = req.args;
      auto job = [impl, i = *id, action, actor, body] { return impl->act(i, action, actor, body); };
      json::object v = co_await offload(impl->pool.get_executor(), std::move(job));
      co_return v;
    });
  }
}

}  // namespace privstack::incidents
