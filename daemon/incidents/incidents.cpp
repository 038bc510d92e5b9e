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

#include "core/crypto.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/offload.h"
#include "core/secret.h"
#include "core/time.h"
#include "incidents/mail.h"
#include "incidents/notice.h"
#include "incidents/rules.h"
#include "incidents/webhook.h"
#include "store/store.h"

namespace privstack::incidents {

namespace asio = boost::asio;
namespace json = boost::json;

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

// The unresolved incident of (rule, key), if any: a rule feeds one incident
// per key until it is resolved, by an operator or by its cause clearing.
std::optional<std::int64_t> unresolved_incident(store::Connection& c, const std::string& rule,
                                                const std::string& key) {
  return c.query_one<std::int64_t>(
      "SELECT id FROM incidents WHERE rule = ?1 AND rule_key = ?2 AND state != 'resolved' ORDER BY id DESC LIMIT 1",
      rule, key);
}

void mark_resolved(store::Connection& c, std::int64_t id, std::int64_t at_us) {
  c.exec("UPDATE incidents SET state = 'resolved', updated_us = ?2, resolved_us = ?2 WHERE id = ?1", id, at_us);
}

struct Notification {
  std::int64_t incident_id = 0;
  std::string kind;  // incident.opened, incident.updated, incident.acknowledged, ...
  std::string body;  // the webhook's JSON document, or the whole email message
  std::string channel = "webhook";  // or "email"
};

}  // namespace

struct IncidentService::Impl {
  Impl(store::Store& s, std::function<std::shared_ptr<const Config>()> c, Clock& clock)
      : store(s), config(std::move(c)), clock(clock) {}

  store::Store& store;
  std::function<std::shared_ptr<const Config>()> config;
  Clock& clock;
  std::int64_t now_us() const { return clock.unix_micros(); }
  // One thread: the rules, the store writes and the API's blocking work run
  // here in order, so rule state needs no lock.
  asio::thread_pool pool{1};
  int observer_id = 0;
  std::atomic<bool> stopped{false};
  std::string hostname;

  // ---- rule state (pool thread only)
  // The rules' thresholds: read at start() and replaced by reload(), so a
  // SIGHUP reaches them through the module contract like every setting.
  RuleEngine rules;

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
    ObservedEvent ev;
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

  void process(const ObservedEvent& ev) {
    auto is_open = [this](const std::string& rule, const std::string& key) {
      return open_incident_id(rule, key).has_value();
    };
    if (auto clear = RuleEngine::clears(ev)) resolve_cleared(*clear, ev);
    if (auto hit = rules.process(ev, is_open)) raise(*hit);
  }

  // The cause of an incident is gone (RuleEngine::clears): the unresolved
  // incident of (rule, key), if there is one, is resolved by "system" with
  // the reason and the event in its timeline.
  void resolve_cleared(const Clearance& clear, const ObservedEvent& ev) {
    std::int64_t t = now_us();
    std::string message = "resolved automatically: " + clear.reason;
    Severity sev = Severity::medium;
    std::optional<std::int64_t> id = store.write([&](store::Connection& c) -> std::optional<std::int64_t> {
      auto open = unresolved_incident(c, clear.rule, clear.key);
      if (!open) return std::nullopt;
      sev = static_cast<Severity>(
          c.query_one<std::int64_t>("SELECT severity FROM incidents WHERE id = ?1", *open).value_or(1));
      mark_resolved(c, *open, t);
      c.exec("INSERT INTO incident_timeline (incident_id, at_us, kind, actor, event, message, fields) "
             "VALUES (?1, ?2, 'resolve', 'system', ?3, ?4, ?5)",
             *open, t, ev.name, message, ev.fields_json());
      return open;
    });
    if (!id) return;
    log::emit(log::events::incident_changed, priority_of(sev), "incident " + std::to_string(*id) + " " + message,
              {{"INCIDENT_ID", *id},
               {"ACTION", "resolve"},
               {"ACTOR", "system"},
               {"SEVERITY", to_string(sev)},
               {"TRIGGER_EVENT", ev.name}});
    notify(*id, "incident.resolved");
    update_open_gauge();
  }

  std::optional<std::int64_t> open_incident_id(const std::string& rule, const std::string& key) {
    return store.read([&](store::Connection& c) {
      return unresolved_incident(c, rule, key);
    });
  }

  // Opens an incident for (rule, key) with every event in `feed` in its
  // timeline, or adds the newest event of `feed` to the open one.
  void raise(const RuleHit& hit) {
    const std::string& rule = hit.rule;
    const std::string& key = hit.key;
    const Severity sev = hit.severity;
    const std::string& title = hit.title;
    const bool breach = hit.breach;
    const std::deque<ObservedEvent>& feed = hit.feed;
    if (feed.empty()) return;
    std::int64_t t = now_us();
    bool opened = false;
    Severity before = sev;
    std::int64_t id = store.write([&](store::Connection& c) {
      auto existing = unresolved_incident(c, rule, key);
      std::int64_t iid = 0;
      std::vector<const ObservedEvent*> add;
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
      for (const ObservedEvent* e : add) {
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
      std::string deadline = breach ? rfc3339(breach_clock(t, t).deadline_us) : std::string();
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
      BreachClock clock_now = breach_clock(detected, now_us());
      doc["notification_deadline"] = rfc3339(clock_now.deadline_us);
      doc["notification_time_left_seconds"] = clock_now.left_seconds;
      doc["notification_overdue"] = clock_now.overdue();
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

  // The newest `limit` (at most 500) incidents in `state`, and how many there
  // are in all: with limit 0 only the count (the console's menu badge), so
  // no incident document is built.
  json::object list(const std::string& state, std::int64_t limit) {
    limit = std::clamp<std::int64_t>(limit, 0, 500);
    // ?1 is the state filter: "" or "all", "unresolved", or one state.
#define PRIVSTACK_INCIDENT_MATCHES "(?1 IN ('', 'all') OR (?1 = 'unresolved' AND state != 'resolved') OR state = ?1)"
    return store.read([&](store::Connection& c) {
      std::vector<std::int64_t> ids;
      c.for_each("SELECT id FROM incidents WHERE " PRIVSTACK_INCIDENT_MATCHES " ORDER BY id DESC LIMIT ?2",
                 [&](const store::Statement& s) { ids.push_back(s.column<std::int64_t>(0)); }, state, limit);
      std::int64_t count =
          c.query_one<std::int64_t>("SELECT COUNT(*) FROM incidents WHERE " PRIVSTACK_INCIDENT_MATCHES, state)
              .value_or(0);
#undef PRIVSTACK_INCIDENT_MATCHES
      json::array items;
      for (auto id : ids) items.push_back(incident_doc(c, id, false));
      return json::object{{"incidents", std::move(items)}, {"count", count}};
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
        mark_resolved(c, id, t);
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

IncidentService::IncidentService(store::Store& store, std::function<std::shared_ptr<const Config>()> config,
                                 Clock& clock)
    : impl_(std::make_shared<Impl>(store, std::move(config), clock)) {
  store.migrate("incidents", kMigrations);
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) == 0) impl_->hostname = host;
}

IncidentService::~IncidentService() { stop(); }

void IncidentService::start() {
  auto impl = impl_;
  impl->rules.set_thresholds(impl->config()->incidents);  // before the first event is observed
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
  asio::post(impl_->pool, [impl = impl_, rules = next.incidents] { impl->rules.set_thresholds(rules); });
}

asio::awaitable<void> IncidentService::drain() {
  auto job = [] { return 0; };
  co_await offload(impl_->pool.get_executor(), std::move(job));
}

json::object IncidentService::list_blocking(const std::string& state_filter, std::int64_t limit) {
  return impl_->list(state_filter, limit);
}
std::optional<json::object> IncidentService::get_blocking(std::int64_t id) { return impl_->get(id); }
json::object IncidentService::act_blocking(std::int64_t id, const std::string& action, const std::string& actor,
                                           const json::object& body) {
  return impl_->act(id, action, actor, body);
}
asio::any_io_executor IncidentService::executor() { return impl_->pool.get_executor(); }

}  // namespace privstack::incidents
