#include "auth/repository.h"

#include <algorithm>

namespace privstack::auth {

AuthSnapshot MemoryAuthRepository::load() {
  std::lock_guard lock(mutex_);
  AuthSnapshot s;
  for (const auto& [k, v] : users_) s.users.push_back(v);
  for (const auto& [k, v] : sessions_) s.sessions.push_back(v);
  for (const auto& [k, v] : tokens_) s.tokens.push_back(v);
  return s;
}

boost::asio::awaitable<bool> MemoryAuthRepository::insert_user(UserRecord user) {
  std::lock_guard lock(mutex_);
  co_return users_.emplace(user.name, user).second;
}

boost::asio::awaitable<void> MemoryAuthRepository::update_user(UserRecord user) {
  std::lock_guard lock(mutex_);
  UserRecord& stored = users_[user.name];
  // As in the store: the last sign-in is begin_session's alone.
  user.last_sign_in_at = stored.last_sign_in_at;
  user.last_sign_in_method = stored.last_sign_in_method;
  stored = std::move(user);
  co_return;
}

boost::asio::awaitable<void> MemoryAuthRepository::delete_user(std::string name) {
  std::lock_guard lock(mutex_);
  users_.erase(name);
  std::erase_if(sessions_, [&](const auto& kv) { return kv.second.user == name; });
  std::erase_if(tokens_, [&](const auto& kv) { return kv.second.owner == name; });
  co_return;
}

boost::asio::awaitable<void> MemoryAuthRepository::put_session(SessionRecord session) {
  std::lock_guard lock(mutex_);
  sessions_[session.token_hash] = session;
  co_return;
}

boost::asio::awaitable<void> MemoryAuthRepository::begin_session(SessionRecord session, std::string method) {
  std::lock_guard lock(mutex_);
  if (auto it = users_.find(session.user); it != users_.end()) {
    it->second.last_sign_in_at = session.created_at;
    it->second.last_sign_in_method = std::move(method);
  }
  sessions_[session.token_hash] = session;
  co_return;
}

boost::asio::awaitable<void> MemoryAuthRepository::delete_session(std::string token_hash) {
  std::lock_guard lock(mutex_);
  sessions_.erase(token_hash);
  co_return;
}

boost::asio::awaitable<void> MemoryAuthRepository::delete_sessions_of(std::string user) {
  std::lock_guard lock(mutex_);
  std::erase_if(sessions_, [&](const auto& kv) { return kv.second.user == user; });
  co_return;
}

boost::asio::awaitable<void> MemoryAuthRepository::put_token(TokenRecord token) {
  std::lock_guard lock(mutex_);
  tokens_[token.id] = token;
  co_return;
}

boost::asio::awaitable<void> MemoryAuthRepository::delete_token(std::string id) {
  std::lock_guard lock(mutex_);
  tokens_.erase(id);
  co_return;
}

}  // namespace privstack::auth
