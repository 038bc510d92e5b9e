// Persistence of users, sessions and API tokens.
//
// AuthService keeps all of them in memory (they are few, and a lookup on
// every request must not touch SQLite) and writes every change through this
// interface before it answers. StoreAuthRepository keeps them in the
// encrypted store; MemoryAuthRepository is for unit tests.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/permissions.h"

namespace privstack::store {
class Store;
}

namespace privstack::auth {

struct UserRecord {
  std::string name;
  Role role = Role::support;
  std::string password_hash;  // Argon2id PHC string
  bool locked = false;
  std::string totp_secret;  // base32; empty: no TOTP
  bool totp_enabled = false;  // false while enrollment is unconfirmed
  std::int64_t totp_last_step = -1;  // the last accepted step: no code is accepted twice
  std::vector<std::string> recovery_codes;  // SHA-256 hex of each unused code
  std::int64_t created_at = 0;
  std::int64_t password_changed_at = 0;
  // The last full sign-in (after the second factor, if any); 0: never.
  // Written only with the session it opened (begin_session), never by
  // update_user: a copy of the record taken before a sign-in must not undo it.
  std::int64_t last_sign_in_at = 0;
  std::string last_sign_in_method;  // "password", "password+totp", ... (text: more methods will come)
};

struct SessionRecord {
  std::string token_hash;  // SHA-256 hex of the cookie value; the value itself is never stored
  std::string user;
  std::int64_t created_at = 0;
  std::int64_t last_seen = 0;
  bool totp_enrollment_pending = false;
};

struct TokenRecord {
  std::string id;  // public identifier (16 hex digits)
  std::string name;
  std::string owner;
  Role role = Role::support;
  std::string token_hash;  // SHA-256 hex of the bearer token
  std::int64_t created_at = 0;
  std::int64_t expires_at = 0;  // 0: never
  std::int64_t last_used = 0;
};

struct AuthSnapshot {
  std::vector<UserRecord> users;
  std::vector<SessionRecord> sessions;
  std::vector<TokenRecord> tokens;
};

class AuthRepository {
 public:
  virtual ~AuthRepository() = default;
  // Everything, at start-up (blocking; before the server accepts requests).
  virtual AuthSnapshot load() = 0;
  // Inserts a user; false when the name is taken.
  virtual boost::asio::awaitable<bool> insert_user(UserRecord user) = 0;
  virtual boost::asio::awaitable<void> update_user(UserRecord user) = 0;
  // Also deletes the user's sessions and tokens.
  virtual boost::asio::awaitable<void> delete_user(std::string name) = 0;
  virtual boost::asio::awaitable<void> put_session(SessionRecord session) = 0;
  // The session a sign-in opened and the user's last sign-in (its time is
  // the session's created_at), in one write.
  virtual boost::asio::awaitable<void> begin_session(SessionRecord session, std::string method) = 0;
  virtual boost::asio::awaitable<void> delete_session(std::string token_hash) = 0;
  virtual boost::asio::awaitable<void> delete_sessions_of(std::string user) = 0;
  virtual boost::asio::awaitable<void> put_token(TokenRecord token) = 0;
  virtual boost::asio::awaitable<void> delete_token(std::string id) = 0;
  // Blocking variants for the control socket's first-admin path are not
  // needed: control handlers are coroutines too.
};

class MemoryAuthRepository : public AuthRepository {
 public:
  AuthSnapshot load() override;
  boost::asio::awaitable<bool> insert_user(UserRecord user) override;
  boost::asio::awaitable<void> update_user(UserRecord user) override;
  boost::asio::awaitable<void> delete_user(std::string name) override;
  boost::asio::awaitable<void> put_session(SessionRecord session) override;
  boost::asio::awaitable<void> begin_session(SessionRecord session, std::string method) override;
  boost::asio::awaitable<void> delete_session(std::string token_hash) override;
  boost::asio::awaitable<void> delete_sessions_of(std::string user) override;
  boost::asio::awaitable<void> put_token(TokenRecord token) override;
  boost::asio::awaitable<void> delete_token(std::string id) override;

 private:
  std::mutex mutex_;
  std::map<std::string, UserRecord> users_;
  std::map<std::string, SessionRecord> sessions_;
  std::map<std::string, TokenRecord> tokens_;
};

// The encrypted store. The constructor registers and runs the "auth"
// migrations (blocking).
class StoreAuthRepository : public AuthRepository {
 public:
  explicit StoreAuthRepository(store::Store& store);
  AuthSnapshot load() override;
  boost::asio::awaitable<bool> insert_user(UserRecord user) override;
  boost::asio::awaitable<void> update_user(UserRecord user) override;
  boost::asio::awaitable<void> delete_user(std::string name) override;
  boost::asio::awaitable<void> put_session(SessionRecord session) override;
  boost::asio::awaitable<void> begin_session(SessionRecord session, std::string method) override;
  boost::asio::awaitable<void> delete_session(std::string token_hash) override;
  boost::asio::awaitable<void> delete_sessions_of(std::string user) override;
  boost::asio::awaitable<void> put_token(TokenRecord token) override;
  boost::asio::awaitable<void> delete_token(std::string id) override;

 private:
  store::Store& store_;
};

}  // namespace privstack::auth
