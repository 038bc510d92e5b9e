#include "auth/repository.h"
#include "store/store.h"

namespace privstack::auth {
namespace {

using store::Connection;

constexpr store::Migration kMigrations[] = {
    {1, "CREATE TABLE auth_users ("
        "  name TEXT PRIMARY KEY NOT NULL,"
        "  role TEXT NOT NULL,"
        "  password_hash TEXT NOT NULL,"
        "  locked INTEGER NOT NULL DEFAULT 0,"
        "  totp_secret TEXT NOT NULL DEFAULT '',"
        "  totp_enabled INTEGER NOT NULL DEFAULT 0,"
        "  totp_last_step INTEGER NOT NULL DEFAULT -1,"
        "  recovery_codes TEXT NOT NULL DEFAULT '',"
        "  created_at INTEGER NOT NULL,"
        "  password_changed_at INTEGER NOT NULL"
        ");"
        "CREATE TABLE auth_sessions ("
        "  token_hash TEXT PRIMARY KEY NOT NULL,"
        "  user_name TEXT NOT NULL,"
        "  created_at INTEGER NOT NULL,"
        "  last_seen INTEGER NOT NULL,"
        "  totp_pending INTEGER NOT NULL DEFAULT 0"
        ");"
        "CREATE INDEX auth_sessions_user ON auth_sessions(user_name);"
        "CREATE TABLE auth_tokens ("
        "  id TEXT PRIMARY KEY NOT NULL,"
        "  name TEXT NOT NULL,"
        "  owner TEXT NOT NULL,"
        "  role TEXT NOT NULL,"
        "  token_hash TEXT NOT NULL UNIQUE,"
        "  created_at INTEGER NOT NULL,"
        "  expires_at INTEGER NOT NULL DEFAULT 0,"
        "  last_used INTEGER NOT NULL DEFAULT 0"
        ");"},
    // The last sign-in of each user (time and method); 0 and '': never.
    {2, "ALTER TABLE auth_users ADD COLUMN last_sign_in_at INTEGER NOT NULL DEFAULT 0;"
        "ALTER TABLE auth_users ADD COLUMN last_sign_in_method TEXT NOT NULL DEFAULT '';"},
};

std::string join_codes(const std::vector<std::string>& codes) {
  std::string out;
  for (const auto& c : codes) {
    if (!out.empty()) out += ' ';
    out += c;
  }
  return out;
}

std::vector<std::string> split_codes(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find(' ', i);
    if (j == std::string::npos) j = text.size();
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// Not the last sign-in: begin_session writes that (repository.h).
void write_user(Connection& c, const UserRecord& u) {
  c.exec("UPDATE auth_users SET role = ?2, password_hash = ?3, locked = ?4, totp_secret = ?5, totp_enabled = ?6,"
         " totp_last_step = ?7, recovery_codes = ?8, password_changed_at = ?9 WHERE name = ?1",
         u.name, std::string(to_string(u.role)), u.password_hash, u.locked, u.totp_secret, u.totp_enabled,
         u.totp_last_step, join_codes(u.recovery_codes), u.password_changed_at);
}

void write_session(Connection& c, const SessionRecord& s) {
  // No UPSERT: SQLCipher 3.4 is SQLite 3.15.
  c.exec("INSERT OR REPLACE INTO auth_sessions (token_hash, user_name, created_at, last_seen, totp_pending)"
         " VALUES (?1, ?2, ?3, ?4, ?5)",
         s.token_hash, s.user, s.created_at, s.last_seen, s.totp_enrollment_pending);
}

}  // namespace

StoreAuthRepository::StoreAuthRepository(store::Store& store) : store_(store) {
  store_.migrate("auth", std::span<const store::Migration>(kMigrations));
}

AuthSnapshot StoreAuthRepository::load() {
  return store_.read([](Connection& c) {
    AuthSnapshot s;
    c.for_each(
        "SELECT name, role, password_hash, locked, totp_secret, totp_enabled, totp_last_step, recovery_codes,"
        " created_at, password_changed_at, last_sign_in_at, last_sign_in_method FROM auth_users ORDER BY name",
        [&](const store::Statement& st) {
          UserRecord u;
          u.name = st.column<std::string>(0);
          u.role = parse_role(st.column<std::string>(1)).value_or(Role::support);
          u.password_hash = st.column<std::string>(2);
          u.locked = st.column<bool>(3);
          u.totp_secret = st.column<std::string>(4);
          u.totp_enabled = st.column<bool>(5);
          u.totp_last_step = st.column<std::int64_t>(6);
          u.recovery_codes = split_codes(st.column<std::string>(7));
          u.created_at = st.column<std::int64_t>(8);
          u.password_changed_at = st.column<std::int64_t>(9);
          u.last_sign_in_at = st.column<std::int64_t>(10);
          u.last_sign_in_method = st.column<std::string>(11);
          s.users.push_back(std::move(u));
        });
    c.for_each("SELECT token_hash, user_name, created_at, last_seen, totp_pending FROM auth_sessions",
               [&](const store::Statement& st) {
                 s.sessions.push_back({st.column<std::string>(0), st.column<std::string>(1),
                                       st.column<std::int64_t>(2), st.column<std::int64_t>(3), st.column<bool>(4)});
               });
    c.for_each(
        "SELECT id, name, owner, role, token_hash, created_at, expires_at, last_used FROM auth_tokens",
        [&](const store::Statement& st) {
          TokenRecord t;
          t.id = st.column<std::string>(0);
          t.name = st.column<std::string>(1);
          t.owner = st.column<std::string>(2);
          t.role = parse_role(st.column<std::string>(3)).value_or(Role::support);
          t.token_hash = st.column<std::string>(4);
          t.created_at = st.column<std::int64_t>(5);
          t.expires_at = st.column<std::int64_t>(6);
          t.last_used = st.column<std::int64_t>(7);
          s.tokens.push_back(std::move(t));
        });
    return s;
  });
}

boost::asio::awaitable<bool> StoreAuthRepository::insert_user(UserRecord u) {
  auto job = [u = std::move(u)](Connection& c) {
    auto inserted = c.exec(
        "INSERT OR IGNORE INTO auth_users (name, role, password_hash, locked, totp_secret, totp_enabled, totp_last_step,"
        " recovery_codes, created_at, password_changed_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        u.name, std::string(to_string(u.role)), u.password_hash, u.locked, u.totp_secret, u.totp_enabled,
        u.totp_last_step, join_codes(u.recovery_codes), u.created_at, u.password_changed_at);
    return inserted == 1;
  };
  co_return co_await store_.async_write(std::move(job));
}

// GCC 12 destroys a lambda that is a prvalue operand of co_await twice:
// every job is a named local moved into async_write.
boost::asio::awaitable<void> StoreAuthRepository::update_user(UserRecord u) {
  auto job = [u = std::move(u)](Connection& c) { write_user(c, u); };
  co_await store_.async_write(std::move(job));
}

boost::asio::awaitable<void> StoreAuthRepository::delete_user(std::string name) {
  auto job = [name = std::move(name)](Connection& c) {
    c.exec("DELETE FROM auth_sessions WHERE user_name = ?1", name);
    c.exec("DELETE FROM auth_tokens WHERE owner = ?1", name);
    c.exec("DELETE FROM auth_users WHERE name = ?1", name);
  };
  co_await store_.async_write(std::move(job));
}

boost::asio::awaitable<void> StoreAuthRepository::put_session(SessionRecord s) {
  auto job = [s = std::move(s)](Connection& c) { write_session(c, s); };
  co_await store_.async_write(std::move(job));
}

boost::asio::awaitable<void> StoreAuthRepository::begin_session(SessionRecord s, std::string method) {
  auto job = [s = std::move(s), method = std::move(method)](Connection& c) {
    write_session(c, s);
    c.exec("UPDATE auth_users SET last_sign_in_at = ?2, last_sign_in_method = ?3 WHERE name = ?1", s.user,
           s.created_at, method);
  };
  co_await store_.async_write(std::move(job));
}

boost::asio::awaitable<void> StoreAuthRepository::delete_session(std::string token_hash) {
  auto job = [h = std::move(token_hash)](Connection& c) {
    c.exec("DELETE FROM auth_sessions WHERE token_hash = ?1", h);
  };
  co_await store_.async_write(std::move(job));
}

boost::asio::awaitable<void> StoreAuthRepository::delete_sessions_of(std::string user) {
  auto job = [u = std::move(user)](Connection& c) { c.exec("DELETE FROM auth_sessions WHERE user_name = ?1", u); };
  co_await store_.async_write(std::move(job));
}

boost::asio::awaitable<void> StoreAuthRepository::put_token(TokenRecord t) {
  auto job = [t = std::move(t)](Connection& c) {
    c.exec("INSERT OR REPLACE INTO auth_tokens (id, name, owner, role, token_hash, created_at, expires_at,"
           " last_used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
           t.id, t.name, t.owner, std::string(to_string(t.role)), t.token_hash, t.created_at, t.expires_at,
           t.last_used);
  };
  co_await store_.async_write(std::move(job));
}

boost::asio::awaitable<void> StoreAuthRepository::delete_token(std::string id) {
  auto job = [id = std::move(id)](Connection& c) { c.exec("DELETE FROM auth_tokens WHERE id = ?1", id); };
  co_await store_.async_write(std::move(job));
}

}  // namespace privstack::auth
