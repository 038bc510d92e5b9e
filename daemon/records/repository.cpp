#include <algorithm>

#include "core/time.h"
#include "records/records.h"

namespace privstack::records {

namespace {

constexpr store::Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE recipients (
  id          INTEGER PRIMARY KEY,
  external_id TEXT NOT NULL UNIQUE,
  name        TEXT NOT NULL,
  email       TEXT NOT NULL,
  grp         TEXT NOT NULL DEFAULT '',
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);
CREATE INDEX recipients_email ON recipients(email);
CREATE INDEX recipients_grp ON recipients(grp);
CREATE TABLE results (
  id            INTEGER PRIMARY KEY,
  recipient_id  INTEGER NOT NULL REFERENCES recipients(id),
  achievement   TEXT NOT NULL,
  score         REAL,
  status        TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'in_progress')),
  completed_at  INTEGER,
  credential_id TEXT,
  created_at    INTEGER NOT NULL,
  updated_at    INTEGER NOT NULL
);
CREATE INDEX results_recipient ON results(recipient_id, id);
CREATE INDEX results_status ON results(status);
CREATE TABLE records_access_grants (
  id         INTEGER PRIMARY KEY,
  user       TEXT NOT NULL,
  ticket     TEXT NOT NULL,
  reason     TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX records_access_grants_user ON records_access_grants(user, expires_at);
)sql"},
};

Recipient read_recipient(const store::Statement& s) {
  Recipient r;
  r.id = s.column_int64(0);
  r.external_id = s.column_text(1);
  r.name = s.column_text(2);
  r.email = s.column_text(3);
  r.group = s.column_text(4);
  r.created_at = s.column_int64(5);
  r.updated_at = s.column_int64(6);
  return r;
}

Result read_result(const store::Statement& s) {
  Result r;
  r.id = s.column_int64(0);
  r.recipient_id = s.column_int64(1);
  r.achievement = s.column_text(2);
  r.score = s.column<std::optional<double>>(3);
  r.status = s.column_text(4);
  r.completed_at = s.column<std::optional<std::int64_t>>(5);
  r.credential_id = s.column<std::optional<std::string>>(6);
  r.created_at = s.column_int64(7);
  r.updated_at = s.column_int64(8);
  return r;
}

Grant read_grant(const store::Statement& s) {
  Grant g;
  g.id = s.column_int64(0);
  g.user = s.column_text(1);
  g.ticket = s.column_text(2);
  g.reason = s.column_text(3);
  g.created_at = s.column_int64(4);
  g.expires_at = s.column_int64(5);
  return g;
}

}  // namespace

void Repository::migrate(store::Store& store) { store.migrate("records", kMigrations); }

std::int64_t Repository::insert(store::Connection& c, Recipient& r, Clock& clock) {
  if (recipient_by_external_id(c, r.external_id)) throw Error(ErrorCode::conflict, "a recipient with this external_id exists");
  if (r.created_at == 0) r.created_at = clock.unix_seconds();
  r.updated_at = r.created_at;
  if (r.id > 0) {
    c.exec("INSERT INTO recipients (id, external_id, name, email, grp, created_at, updated_at) "
           "VALUES (?, ?, ?, ?, ?, ?, ?)",
           r.id, r.external_id, r.name, r.email, r.group, r.created_at, r.updated_at);
  } else {
    c.exec("INSERT INTO recipients (external_id, name, email, grp, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
           r.external_id, r.name, r.email, r.group, r.created_at, r.updated_at);
    r.id = c.last_insert_rowid();
  }
  return r.id;
}

std::int64_t Repository::insert(store::Connection& c, Result& r, Clock& clock) {
  if (!recipient(c, r.recipient_id)) throw Error(ErrorCode::conflict, "no recipient with this id");
  if (r.created_at == 0) r.created_at = clock.unix_seconds();
  r.updated_at = r.created_at;
  if (r.id > 0) {
    if (result(c, r.id)) throw Error(ErrorCode::conflict, "a result with this id exists");
    c.exec("INSERT INTO results (id, recipient_id, achievement, score, status, completed_at, credential_id, "
           "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
           r.id, r.recipient_id, r.achievement, r.score, r.status, r.completed_at, r.credential_id, r.created_at,
           r.updated_at);
  } else {
    c.exec("INSERT INTO results (recipient_id, achievement, score, status, completed_at, credential_id, created_at, "
           "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
           r.recipient_id, r.achievement, r.score, r.status, r.completed_at, r.credential_id, r.created_at,
           r.updated_at);
    r.id = c.last_insert_rowid();
  }
  return r.id;
}

std::optional<Recipient> Repository::recipient(store::Connection& c, std::int64_t id) {
  auto s = c.prepare("SELECT id, external_id, name, email, grp, created_at, updated_at FROM recipients WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_recipient(s);
}

std::optional<Recipient> Repository::recipient_by_external_id(store::Connection& c, std::string_view external_id) {
  auto s = c.prepare(
      "SELECT id, external_id, name, email, grp, created_at, updated_at FROM recipients WHERE external_id = ?");
  s.bind(1, external_id);
  if (!s.step()) return std::nullopt;
  return read_recipient(s);
}

std::optional<Result> Repository::result(store::Connection& c, std::int64_t id) {
  auto s = c.prepare("SELECT id, recipient_id, achievement, score, status, completed_at, credential_id, created_at, "
                     "updated_at FROM results WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_result(s);
}

void Repository::update(store::Connection& c, const Recipient& r, Clock& clock) {
  auto other = recipient_by_external_id(c, r.external_id);
  if (other && other->id != r.id) throw Error(ErrorCode::conflict, "a recipient with this external_id exists");
  c.exec("UPDATE recipients SET external_id = ?, name = ?, email = ?, grp = ?, updated_at = ? WHERE id = ?",
         r.external_id, r.name, r.email, r.group, clock.unix_seconds(), r.id);
}

void Repository::update(store::Connection& c, const Result& r, Clock& clock) {
  if (!recipient(c, r.recipient_id)) throw Error(ErrorCode::conflict, "no recipient with this id");
  c.exec("UPDATE results SET recipient_id = ?, achievement = ?, score = ?, status = ?, completed_at = ?, "
         "credential_id = ?, updated_at = ? WHERE id = ?",
         r.recipient_id, r.achievement, r.score, r.status, r.completed_at, r.credential_id, clock.unix_seconds(), r.id);
}

bool Repository::delete_recipient(store::Connection& c, std::int64_t id) {
  c.exec("DELETE FROM results WHERE recipient_id = ?", id);
  return c.exec("DELETE FROM recipients WHERE id = ?", id) > 0;
}

bool Repository::delete_result(store::Connection& c, std::int64_t id) {
  return c.exec("DELETE FROM results WHERE id = ?", id) > 0;
}

std::vector<Recipient> Repository::list(store::Connection& c, const RecipientFilter& f) {
  std::vector<Recipient> out;
  auto s = c.prepare(
      "SELECT id, external_id, name, email, grp, created_at, updated_at FROM recipients WHERE id > ?1 "
      "AND (?2 IS NULL OR external_id = ?2) AND (?3 IS NULL OR email = ?3) AND (?4 IS NULL OR grp = ?4) "
      "ORDER BY id LIMIT ?5");
  s.bind_all(f.after_id, f.external_id, f.email, f.group, static_cast<std::int64_t>(std::clamp(f.limit, 1, 1000)));
  while (s.step()) out.push_back(read_recipient(s));
  return out;
}

std::vector<Result> Repository::list(store::Connection& c, const ResultFilter& f) {
  std::vector<Result> out;
  auto s = c.prepare(
      "SELECT id, recipient_id, achievement, score, status, completed_at, credential_id, created_at, updated_at "
      "FROM results WHERE id > ?1 AND (?2 IS NULL OR recipient_id = ?2) AND (?3 IS NULL OR status = ?3) "
      "AND (?4 IS NULL OR achievement = ?4) AND (?5 IS NULL OR completed_at >= ?5) "
      "AND (?6 IS NULL OR completed_at < ?6) ORDER BY id LIMIT ?7");
  s.bind_all(f.after_id, f.recipient_id, f.status, f.achievement, f.completed_from, f.completed_to,
             static_cast<std::int64_t>(std::clamp(f.limit, 1, 1000)));
  while (s.step()) out.push_back(read_result(s));
  return out;
}

Grant Repository::create_grant(store::Connection& c, std::string user, std::string ticket, std::string reason,
                               std::chrono::seconds duration, Clock& clock) {
  Grant g;
  g.user = std::move(user);
  g.ticket = std::move(ticket);
  g.reason = std::move(reason);
  g.created_at = clock.unix_seconds();
  g.expires_at = g.created_at + duration.count();
  c.exec("INSERT INTO records_access_grants (user, ticket, reason, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
         g.user, g.ticket, g.reason, g.created_at, g.expires_at);
  g.id = c.last_insert_rowid();
  return g;
}

std::optional<Grant> Repository::active_grant(store::Connection& c, std::string_view user, std::int64_t now) {
  auto s = c.prepare("SELECT id, user, ticket, reason, created_at, expires_at FROM records_access_grants "
                     "WHERE user = ? AND expires_at > ? ORDER BY id DESC LIMIT 1");
  s.bind_all(user, now);
  if (!s.step()) return std::nullopt;
  return read_grant(s);
}

std::vector<Grant> Repository::grants(store::Connection& c, std::optional<std::string> user, std::int64_t now) {
  std::vector<Grant> out;
  auto s = c.prepare("SELECT id, user, ticket, reason, created_at, expires_at FROM records_access_grants "
                     "WHERE (?1 IS NULL OR user = ?1) AND expires_at > ?2 ORDER BY id DESC LIMIT 1000");
  s.bind_all(user, now);
  while (s.step()) out.push_back(read_grant(s));
  return out;
}

}  // namespace privstack::records
