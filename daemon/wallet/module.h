// The wallet and issuance as a daemon module: HTTP routes, control
// commands, journald events, health, the expiry timer and the logout hook.
//
//   GET  /api/v1/wallet                        status (wallet.issue)
//   POST /api/v1/wallet/unlock                 {password, window_seconds?} (session only)
//   POST /api/v1/wallet/extend                 {window_seconds?}
//   POST /api/v1/wallet/lock
//   GET  /api/v1/wallet/derive?path=           public key / xpub only
//   POST /api/v1/credentials/issue             {result_ids, profile?, issuer_name?}
//   POST /api/v1/credentials/verify            body: a credential file
//   GET  /api/v1/credentials/batches
//   GET  /api/v1/credentials/revocations?profile=N
//   GET  /api/v1/credentials/{id}
//   POST /api/v1/credentials/{id}/revoke       {reason}
//
// Wallet initialization is on the control socket only (privstackctl wallet
// init [--import]): the mnemonic never crosses the network.
#pragma once

#include "core/module.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "wallet/issuance.h"
#include "wallet/wallet.h"

namespace privstack {
class Health;
}
namespace privstack::http {
class Router;
class ControlServer;
}  // namespace privstack::http

namespace privstack::wallet {

class WalletModule {
 public:
  // `blocking` runs Argon2id, signing and SQLCipher work (never io threads).
  WalletModule(store::Store& store, audit::AuditLog* audit, boost::asio::any_io_executor blocking, Health* health,
               WalletSettings settings = {}, Clock& clock = default_clock());
  ~WalletModule();

  WalletService& wallet();
  IssuanceService& issuance();

  void update_window(std::chrono::seconds window);
  void register_routes(http::Router& router);
  void register_control(http::ControlServer& control);
  // Closes the window when `user` (an account name) opened it. Safe to call
  // from an io thread (the work is posted to the blocking pool).
  void on_logout(const std::string& user);
  // Locks at the deadline; runs until `stopping` returns true.
  boost::asio::awaitable<void> expiry_loop(std::function<bool()> stopping);
  // Closes the window at shutdown (audited).
  boost::asio::awaitable<void> shutdown();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// This module as a daemon module (core/module.h).
std::unique_ptr<Module> make_module(ModuleContext& ctx);

}  // namespace privstack::wallet
