#include "wallet/module.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <initializer_list>
#include <map>
#include <vector>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "audit/audit.h"
#include "audit/routes.h"
#include "core/crypto.h"
#include "core/health.h"
#include "core/log.h"
#include "core/offload.h"
#include "core/secret.h"
#include "core/time.h"
#include "http/body.h"
#include "http/control.h"
#include "http/http.h"
#include "wallet/credential.h"

namespace privstack::wallet {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

using privstack::wipe;  // core/secret.h, for std::string
void wipe(json::string& s) {
  cleanse(s.data(), s.size());
  s.clear();
}

// Wipes secret strings when the scope ends, whether it returns or throws.
class WipeOnExit {
 public:
  WipeOnExit(std::initializer_list<std::string*> secrets) : secrets_(secrets) {}
  ~WipeOnExit() {
    for (std::string* s : secrets_) wipe(*s);
  }
  WipeOnExit(const WipeOnExit&) = delete;
  WipeOnExit& operator=(const WipeOnExit&) = delete;

 private:
  std::vector<std::string*> secrets_;
};

http::Response bad_request(const std::string& detail) {
  return http::Response::problem(Error(ErrorCode::invalid_argument, detail).with_reason("bad_request"));
}

// The JSON body (http::read_json_object), and the request's copy wiped
// whether or not it parses: it may hold the issuing password.
json::object take_body(http::Request& req) {
  try {
    json::object body = http::read_json_object(req);
    wipe(req.body);
    return body;
  } catch (...) {
    wipe(req.body);
    throw;
  }
}

std::optional<std::chrono::seconds> window_arg(const json::object& o) {
  if (const auto* w = o.if_contains("window_seconds"); w != nullptr && !w->is_null()) {
    if (!w->is_int64()) throw Error(ErrorCode::invalid_argument, "window_seconds must be an integer").with_reason("bad_window");
    return std::chrono::seconds(w->get_int64());
  }
  return std::nullopt;
}

std::string string_arg(const json::object& o, std::string_view key) {
  if (const auto* v = o.if_contains(key); v != nullptr && v->is_string()) return std::string(v->get_string());
  return {};
}

// Moves a secret string member out of `o` (wiping the copy left in `o`);
// empty when absent. Shared so that the closures running on the pool own it.
std::shared_ptr<std::string> take_secret(json::object& o, std::string_view key) {
  auto out = std::make_shared<std::string>();
  if (auto* v = o.if_contains(key); v != nullptr && v->is_string()) {
    *out = std::string(v->get_string());
    wipe(v->get_string());
  }
  return out;
}

// The confirmation words of `wallet init`: {"3": "word", ...} (1-based
// positions as the object's keys, the way JSON objects must name them).
std::map<int, std::string> words_arg(const json::object& o) {
  const auto* w = o.if_contains("words");
  if (w == nullptr || !w->is_object()) throw Error(ErrorCode::invalid_argument, "words must be an object {position: word}").with_reason("bad_request");
  std::map<int, std::string> words;
  for (const auto& kv : w->get_object()) {
    const std::string_view key = kv.key();
    if (key.empty() || key.size() > 2 || !std::all_of(key.begin(), key.end(), ::isdigit) || !kv.value().is_string()) {
      throw Error(ErrorCode::invalid_argument, "words must map positions (1-24) to words").with_reason("bad_request");
    }
    words[std::stoi(std::string(key))] = std::string(kv.value().get_string());
  }
  return words;
}

}  // namespace

struct WalletModule::Impl {
  Clock& clock;  // declared first: the services below take it
  WalletService wallet;
  IssuanceService issuance;
  asio::any_io_executor blocking;
  Health* health;
  std::atomic<std::int64_t> window_seconds;

  Impl(store::Store& store, audit::AuditLog* audit, asio::any_io_executor b, Health* h, WalletSettings settings,
       Clock& clock)
      : clock(clock), wallet(store, audit, settings, clock), issuance(store, audit, wallet, clock), blocking(std::move(b)),
        health(h), window_seconds(settings.window.count()) {}

  // Blocking.
  json::object status_json() {
    const Status s = wallet.status();
    json::object doc;
    doc["initialized"] = s.initialized;
    doc["state"] = !s.initialized ? "not_initialized" : s.unlocked ? "unlocked" : "locked";
    doc["unlocked"] = s.unlocked;
    doc["window_seconds"] = window_seconds.load();
    if (s.unlocked) {
      const std::int64_t now = clock.unix_seconds();
      doc["unlocked_by"] = s.unlocked_by;
      doc["unlocked_until"] = format_rfc3339(s.unlocked_until);
      doc["seconds_left"] = std::max<std::int64_t>(0, s.unlocked_until - now);
    }
    if (s.initialized) {
      doc["master_fingerprint"] = s.master_fingerprint;
      doc["created_at"] = format_rfc3339(s.created_at);
      doc["kdf"] = json::object{{"algorithm", "argon2id"},
                                {"memory_kib", s.seal_params.memory_kib},
                                {"iterations", s.seal_params.iterations},
                                {"parallelism", s.seal_params.parallelism}};
    }
    update_health(s);
    return doc;
  }

  void update_health(const Status& s) {
    if (health == nullptr) return;
    // Not created yet is a setup step, not a fault (an appliance that does
    // not issue yet is healthy; degraded here would alarm every monitor on
    // every fresh install): ok, with the detail that says what to do, so
    // the dashboard does not show a bare "ok" next to "uninitialized".
    if (!s.initialized) {
      health->set("wallet", HealthState::ok, "uninitialized: create it under Wallet or with privstackctl wallet init");
    } else if (s.unlocked) {
      health->set("wallet", HealthState::ok, "unlocked until " + format_rfc3339(s.unlocked_until) + " by " + s.unlocked_by);
    } else {
      health->set("wallet", HealthState::ok, "locked");
    }
  }
  void refresh_health() {
    try {
      update_health(wallet.status());
    } catch (const std::exception&) {
    }
  }

  // Blocking: unlock with journald events; the password is wiped by the caller.
  json::object unlock(std::string_view password, const std::string& actor, const std::string& source,
                      std::optional<std::chrono::seconds> window) {
    try {
      wallet.unlock(password, actor, source, window);
    } catch (const Error& e) {
      if (e.reason() == "wrong_password" || e.reason() == "throttled") {
        log::emit(log::events::wallet_unlock_failed, "issuing wallet unlock failed: " + e.reason(),
                  {{"USER", actor}, {"REMOTE", source}, {"REASON", e.reason()}});
      }
      throw;
    }
    json::object doc = status_json();
    log::emit(log::events::wallet_unlocked, "issuing wallet unlocked by " + actor,
              {{"USER", actor},
               {"REMOTE", source},
               {"WINDOW_SECONDS", window.value_or(std::chrono::seconds(window_seconds.load())).count()}});
    return doc;
  }

  json::object lock(const std::string& actor, const std::string& reason) {
    const bool was_open = wallet.status().unlocked;
    wallet.lock(actor, reason);
    if (was_open) {
      log::emit(log::events::wallet_locked, "issuing wallet locked (" + reason + ")", {{"USER", actor}, {"REASON", reason}});
    }
    return status_json();
  }

  // Issue: returns the response body text (credential files spliced in as is).
  std::string issue(const json::object& body, const std::string& actor, const std::string& source) {
    IssueRequest r;
    const auto* ids = body.if_contains("result_ids");
    if (ids == nullptr || !ids->is_array()) throw Error(ErrorCode::invalid_argument, "result_ids must be an array of result ids").with_reason("bad_request");
    for (const auto& v : ids->get_array()) {
      if (!v.is_int64() || v.get_int64() <= 0) throw Error(ErrorCode::invalid_argument, "result_ids must hold positive integers").with_reason("bad_request");
      r.result_ids.push_back(v.get_int64());
    }
    if (const auto* p = body.if_contains("profile"); p != nullptr && !p->is_null()) {
      if (!p->is_int64() || p->get_int64() < 0 || p->get_int64() >= static_cast<std::int64_t>(bip32::kHardened)) {
        throw Error(ErrorCode::invalid_argument, "profile must be an integer in 0..2147483647").with_reason("bad_request");
      }
      r.profile = static_cast<std::uint32_t>(p->get_int64());
    }
    if (const auto* n = body.if_contains("issuer_name"); n != nullptr && !n->is_null()) {
      if (!n->is_string() || n->get_string().empty() || n->get_string().size() > 200) {
        throw Error(ErrorCode::invalid_argument, "issuer_name must be a string of 1-200 characters").with_reason("bad_request");
      }
      r.issuer_name = std::string(n->get_string());
    }
    IssuedBatch b = issuance.issue(r, actor, source);
    log::emit(log::events::credentials_issued,
              "issued " + std::to_string(b.files.size()) + " credentials in batch " + b.batch_id,
              {{"USER", actor},
               {"BATCH_ID", b.batch_id},
               {"COUNT", static_cast<std::int64_t>(b.files.size())},
               {"PROFILE", static_cast<std::int64_t>(b.profile)},
               {"DERIVATION_PATH", b.derivation_path},
               {"MERKLE_ROOT", b.merkle_root}});
    json::object head{{"batch_id", b.batch_id},
                      {"profile", static_cast<std::int64_t>(b.profile)},
                      {"derivation_path", b.derivation_path},
                      {"public_key", b.public_key},
                      {"merkle_root", b.merkle_root},
                      {"signature", b.signature},
                      {"issued_at", format_rfc3339(b.issued_at)},
                      {"count", static_cast<std::int64_t>(b.files.size())}};
    std::string out = json::serialize(head);
    out.pop_back();  // '}'
    std::size_t total = out.size() + 32;
    for (const auto& f : b.files) total += f.size() + 1;
    out.reserve(total);
    out += ",\"credentials\":[";
    for (std::size_t i = 0; i < b.files.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += b.files[i];
    }
    out += "]}";
    return out;
  }

  // Blocking. Starts a generated-mnemonic init for the HTTP route and the
  // control command alike; the caller's secrets are wiped whatever happens.
  // The answer carries the 24 words: the caller sends it to the initiating
  // administrator only and must not log it.
  json::object begin_init(std::string& password, std::string& passphrase, const std::string& actor) {
    WipeOnExit w{&password, &passphrase};
    PendingInit p = wallet.begin_init(password, passphrase, actor);
    json::array positions;
    for (int pos : p.confirm_positions) positions.push_back(pos);
    return json::object{{"id", p.id}, {"mnemonic", p.mnemonic.view()}, {"confirm_positions", std::move(positions)}};
  }

  // Blocking. Stores the sealed wallet once the words match; the typed
  // words (part of the mnemonic) are wiped whatever happens.
  json::object confirm_init(const std::string& id, std::map<int, std::string>& words, const std::string& actor) {
    struct Wipe {
      std::map<int, std::string>& m;
      ~Wipe() {
        for (auto& kv : m) wipe(kv.second);
      }
    } w{words};
    wallet.confirm_init(id, words, actor);
    json::object doc = status_json();
    log::emit(log::events::wallet_initialized, "issuing wallet initialized (generated mnemonic)",
              {{"USER", actor},
               {"METHOD", "generate"},
               {"FINGERPRINT", json::value_to<std::string>(doc.at("master_fingerprint"))}});
    return doc;
  }

  json::object revoke(const std::string& id, const std::string& reason, const std::string& actor,
                      const std::string& source) {
    json::object doc = issuance.revoke(id, reason, actor, source);
    log::emit(log::events::credential_revoked, "credential " + id + " revoked",
              {{"USER", actor}, {"CREDENTIAL_ID", id}, {"PROFILE", doc.at("profile").as_int64()}});
    return doc;
  }
};

WalletModule::WalletModule(store::Store& store, audit::AuditLog* audit, asio::any_io_executor blocking, Health* health,
                           WalletSettings settings, Clock& clock)
    : impl_(std::make_shared<Impl>(store, audit, std::move(blocking), health, std::move(settings), clock)) {
  impl_->refresh_health();
}

WalletModule::~WalletModule() = default;

WalletService& WalletModule::wallet() { return impl_->wallet; }
IssuanceService& WalletModule::issuance() { return impl_->issuance; }

void WalletModule::update_window(std::chrono::seconds window) {
  WalletSettings s;
  s.window = window;
  impl_->wallet.update_settings(s);
  impl_->window_seconds = window.count();
}

void WalletModule::on_logout(const std::string& user) {
  auto impl = impl_;
  asio::post(impl->blocking, [impl, user] {
    try {
      const std::string actor = audit::actor_user(user);
      const Status s = impl->wallet.status();
      if (s.unlocked && s.unlocked_by == actor) {
        impl->wallet.on_logout(actor);
        log::emit(log::events::wallet_locked, "issuing wallet locked (logout of " + user + ")",
                  {{"USER", actor}, {"REASON", "logout"}});
        impl->refresh_health();
      }
    } catch (const std::exception& e) {
      log::emit(log::events::audit_write_failed, std::string("wallet logout hook failed: ") + e.what());
    }
  });
}

asio::awaitable<void> WalletModule::shutdown() {
  auto impl = impl_;
  auto job = [impl]() -> int {
    try {
      impl->lock("system", "shutdown");
    } catch (const std::exception&) {
    }
    return 0;
  };
  co_await offload(impl->blocking, std::move(job));
}

asio::awaitable<void> WalletModule::expiry_loop(std::function<bool()> stopping) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  auto impl = impl_;
  while (!stopping()) {
    timer.expires_after(std::chrono::seconds(2));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping()) break;
    auto job = [impl]() -> int {
      if (impl->wallet.expire_if_due()) {
        log::emit(log::events::wallet_locked, "issuing wallet locked (window expired)",
                  {{"USER", "system"}, {"REASON", "expired"}});
      }
      impl->refresh_health();
      return 0;
    };
    try {
      co_await offload(impl->blocking, std::move(job));
    } catch (const std::exception&) {
    }
  }
}

void WalletModule::register_routes(http::Router& router) {
  auto impl = impl_;
  // Runs blocking `fn` on the pool; its Errors reach the router's boundary.
  auto run = [impl](auto fn, int status) -> asio::awaitable<http::Response> {
    json::object doc = co_await offload(impl->blocking, std::move(fn));
    co_return http::Response::json(status, doc);
  };

  router.add("GET", "/api/v1/wallet", [impl, run](http::Request&) -> asio::awaitable<http::Response> {
    auto job = [impl] { return impl->status_json(); };
    co_return co_await run(std::move(job), 200);
  });
  // Creating the wallet from the console: the 24 words go to the signed-in
  // administrator's browser once (over TLS, Cache-Control: no-store) and are
  // stored only after three of them are typed back.
  router.add("POST", "/api/v1/wallet/init", [impl](http::Request& req) -> asio::awaitable<http::Response> {
    json::object body = take_body(req);
    const auto* pass_value = body.if_contains("passphrase");
    const bool pass_ok = pass_value == nullptr || pass_value->is_null() || pass_value->is_string();
    auto pw = take_secret(body, "password");
    auto pass = take_secret(body, "passphrase");
    if (pw->empty() || !pass_ok) {
      wipe(*pw);
      wipe(*pass);
      co_return bad_request(pass_ok ? "password is required" : "passphrase must be a string");
    }
    auto job = [impl, pw, pass, actor = audit::actor_of(req)] { return impl->begin_init(*pw, *pass, actor); };
    json::object doc = co_await offload(impl->blocking, std::move(job));
    http::Response r = http::Response::json(201, doc);
    wipe(doc.at("mnemonic").as_string());
    co_return r;
  });
  router.add("POST", "/api/v1/wallet/init/confirm", [impl, run](http::Request& req) -> asio::awaitable<http::Response> {
    json::object body = take_body(req);
    std::map<int, std::string> words;
    words = words_arg(body);
    auto job = [impl, id = string_arg(body, "id"), words = std::move(words), actor = audit::actor_of(req)]() mutable {
      return impl->confirm_init(id, words, actor);
    };
    co_return co_await run(std::move(job), 200);
  });
  router.add("POST", "/api/v1/wallet/unlock", [impl, run](http::Request& req) -> asio::awaitable<http::Response> {
    json::object body = take_body(req);
    auto pw = take_secret(body, "password");
    if (pw->empty()) co_return bad_request("password is required");
    std::optional<std::chrono::seconds> window;
    try {
      window = window_arg(body);
    } catch (const Error&) {
      wipe(*pw);
      throw;
    }
    auto job = [impl, pw, actor = audit::actor_of(req), source = req.remote_address, window] {
      WipeOnExit w{pw.get()};
      return impl->unlock(*pw, actor, source, window);
    };
    co_return co_await run(std::move(job), 200);
  });
  router.add("POST", "/api/v1/wallet/extend", [impl, run](http::Request& req) -> asio::awaitable<http::Response> {
    json::object body = take_body(req);
    std::optional<std::chrono::seconds> window;
    window = window_arg(body);
    auto job = [impl, actor = audit::actor_of(req), window] {
      impl->wallet.extend(actor, window);
      return impl->status_json();
    };
    co_return co_await run(std::move(job), 200);
  });
  router.add("POST", "/api/v1/wallet/lock", [impl, run](http::Request& req) -> asio::awaitable<http::Response> {
    auto job = [impl, actor = audit::actor_of(req)] { return impl->lock(actor, "manual"); };
    co_return co_await run(std::move(job), 200);
  });
  router.add("GET", "/api/v1/wallet/derive", [impl, run](http::Request& req) -> asio::awaitable<http::Response> {
    auto path = req.query_param("path");
    if (!path || path->empty()) co_return bad_request("the path query parameter is required, e.g. m/44'/0'/0'/0/0");
    auto job = [impl, p = *path, actor = audit::actor_of(req)] {
      Derived d = impl->wallet.derive_public(p, actor);
      return json::object{{"path", d.path},
                          {"xpub", d.xpub},
                          {"public_key", d.public_key},
                          {"fingerprint", d.fingerprint},
                          {"from_cache", d.from_cache}};
    };
    co_return co_await run(std::move(job), 200);
  });
  router.add("POST", "/api/v1/credentials/issue", [impl](http::Request& req) -> asio::awaitable<http::Response> {
    json::object body = take_body(req);
    auto job = [impl, b = std::move(body), actor = audit::actor_of(req), source = req.remote_address] {
      return impl->issue(b, actor, source);
    };
    std::string text = co_await offload(impl->blocking, std::move(job));
    co_return http::Response::text(201, std::move(text), "application/json");
  });
  router.add("POST", "/api/v1/credentials/verify", [impl, run](http::Request& req) -> asio::awaitable<http::Response> {
    auto job = [impl, text = std::move(req.body)] { return impl->issuance.verify(text); };
    co_return co_await run(std::move(job), 200);
  });
  router.add("GET", "/api/v1/credentials/batches", [impl, run](http::Request&) -> asio::awaitable<http::Response> {
    auto job = [impl] { return impl->issuance.batches(100); };
    co_return co_await run(std::move(job), 200);
  });
  router.add("GET", "/api/v1/credentials/revocations", [impl, run](http::Request& req) -> asio::awaitable<http::Response> {
    std::uint32_t profile = 0;
    if (auto p = req.query_param("profile")) {
      if (p->empty() || p->size() > 10 || !std::all_of(p->begin(), p->end(), ::isdigit) ||
          std::stoll(*p) >= static_cast<long long>(bip32::kHardened)) {
        co_return bad_request("profile must be an integer in 0..2147483647");
      }
      profile = static_cast<std::uint32_t>(std::stoll(*p));
    }
    auto job = [impl, profile] { return impl->issuance.revocations(profile); };
    co_return co_await run(std::move(job), 200);
  });
  router.add("GET", "/api/v1/credentials/{id}", [impl](http::Request& req) -> asio::awaitable<http::Response> {
    auto job = [impl, id = req.params["id"]] { return impl->issuance.credential_file(id); };
    std::optional<std::string> file = co_await offload(impl->blocking, std::move(job));
    if (!file) co_return http::Response::problem(ErrorCode::not_found, "No such credential.");
    co_return http::Response::text(200, std::move(*file), "application/json");
  });
  router.add("POST", "/api/v1/credentials/{id}/revoke", [impl, run](http::Request& req) -> asio::awaitable<http::Response> {
    json::object body = take_body(req);
    auto job = [impl, id = req.params["id"], reason = string_arg(body, "reason"), actor = audit::actor_of(req),
                source = req.remote_address] { return impl->revoke(id, reason, actor, source); };
    co_return co_await run(std::move(job), 200);
  });
}

void WalletModule::register_control(http::ControlServer& control) {
  auto impl = impl_;
  auto run = [impl](auto fn) -> asio::awaitable<json::value> {
    json::object doc = co_await offload(impl->blocking, std::move(fn));
    co_return json::value(std::move(doc));
  };
  // Takes a secret argument out of the request (and wipes the request's copy).
  auto take = [](const http::ControlRequest& req, std::string_view key) {
    return take_secret(const_cast<json::object&>(req.args), key);
  };

  control.add("wallet status", [impl, run](const http::ControlRequest&) -> asio::awaitable<json::value> {
    auto job = [impl] { return impl->status_json(); };
    co_return co_await run(std::move(job));
  });
  control.add("wallet init", [impl, run, take](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    auto pw = take(req, "password");
    auto pass = take(req, "passphrase");
    // The words go to the local administrator's terminal only.
    auto job = [impl, pw, pass, actor = audit::actor_of(req)] { return impl->begin_init(*pw, *pass, actor); };
    co_return co_await run(std::move(job));
  });
  control.add("wallet init confirm", [impl, run](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    std::map<int, std::string> words;
    words = words_arg(req.args);
    auto job = [impl, id = string_arg(req.args, "id"), words = std::move(words), actor = audit::actor_of(req)]() mutable {
      return impl->confirm_init(id, words, actor);
    };
    co_return co_await run(std::move(job));
  });
  control.add("wallet import", [impl, run, take](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    auto mn = take(req, "mnemonic");
    auto pw = take(req, "password");
    auto pass = take(req, "passphrase");
    auto job = [impl, mn, pw, pass, actor = audit::actor_of(req)] {
      WipeOnExit w{mn.get(), pw.get(), pass.get()};
      impl->wallet.import(*mn, *pw, *pass, actor);
      json::object doc = impl->status_json();
      log::emit(log::events::wallet_initialized, "issuing wallet initialized (imported mnemonic)",
                {{"USER", actor}, {"METHOD", "import"}, {"FINGERPRINT", json::value_to<std::string>(doc.at("master_fingerprint"))}});
      return doc;
    };
    co_return co_await run(std::move(job));
  });
  control.add("wallet unlock", [impl, run, take](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    auto pw = take(req, "password");
    std::optional<std::chrono::seconds> window;
    window = window_arg(req.args);
    auto job = [impl, pw, window, actor = audit::actor_of(req)] {
      WipeOnExit w{pw.get()};
      return impl->unlock(*pw, actor, std::string(audit::kControlSource), window);
    };
    co_return co_await run(std::move(job));
  });
  control.add("wallet extend", [impl, run](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    std::optional<std::chrono::seconds> window;
    window = window_arg(req.args);
    auto job = [impl, window, actor = audit::actor_of(req)] {
      impl->wallet.extend(actor, window);
      return impl->status_json();
    };
    co_return co_await run(std::move(job));
  });
  control.add("wallet lock", [impl, run](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    auto job = [impl, actor = audit::actor_of(req)] { return impl->lock(actor, "manual"); };
    co_return co_await run(std::move(job));
  });
  control.add("wallet passwd", [impl, run, take](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    auto old_pw = take(req, "old_password");
    auto new_pw = take(req, "password");
    auto job = [impl, old_pw, new_pw, actor = audit::actor_of(req)] {
      WipeOnExit w{old_pw.get(), new_pw.get()};
      impl->wallet.change_password(*old_pw, *new_pw, actor);
      return impl->status_json();
    };
    co_return co_await run(std::move(job));
  });
  control.add("wallet derive", [impl, run](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    auto job = [impl, path = string_arg(req.args, "path"), actor = audit::actor_of(req)] {
      Derived d = impl->wallet.derive_public(path, actor);
      return json::object{{"path", d.path},
                          {"xpub", d.xpub},
                          {"public_key", d.public_key},
                          {"fingerprint", d.fingerprint},
                          {"from_cache", d.from_cache}};
    };
    co_return co_await run(std::move(job));
  });
  control.add("credential verify", [impl, run](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    auto job = [impl, text = string_arg(req.args, "content")] { return impl->issuance.verify(text); };
    co_return co_await run(std::move(job));
  });
  control.add("credential revoke", [impl, run](const http::ControlRequest& req) -> asio::awaitable<json::value> {
    auto job = [impl, id = string_arg(req.args, "id"), reason = string_arg(req.args, "reason"),
                actor = audit::actor_of(req)] {
      return impl->revoke(id, reason, actor, std::string(audit::kControlSource));
    };
    co_return co_await run(std::move(job));
  });
}

}  // namespace privstack::wallet

// ---------------------------------------------------------------- the module

namespace privstack::wallet {
namespace {

class WalletDaemonModule final : public Module {
 public:
  explicit WalletDaemonModule(ModuleContext& ctx)
      : ctx_(ctx), wallet_(ctx.store, &ctx.audit, ctx.blocking, &ctx.health, settings_of(*ctx.config()), ctx.clock) {
    // The issuance window closes when the user who opened it signs out.
    ctx.events.on_signed_out([this](const std::string& user) { wallet_.on_logout(user); });
  }
  std::string_view name() const override { return "wallet"; }
  void register_routes(http::Router& router) override { wallet_.register_routes(router); }
  void register_control_commands(http::ControlServer& control) override { wallet_.register_control(control); }
  void start() override { ctx_.spawn(wallet_.expiry_loop(ctx_.stopping)); }
  void reload(const Config& next) override { wallet_.update_window(next.wallet.issuance_window); }
  boost::asio::awaitable<void> stop() override {
    try {
      co_await wallet_.shutdown();  // closes an open issuance window (audited)
    } catch (const std::exception& e) {
      log::emit(log::events::daemon_stopping, std::string("closing the issuance window failed: ") + e.what());
    }
  }

 private:
  static WalletSettings settings_of(const Config& c) {
    WalletSettings ws;
    ws.window = c.wallet.issuance_window;
    return ws;
  }
  ModuleContext& ctx_;
  WalletModule wallet_;
};

}  // namespace

std::unique_ptr<Module> make_module(ModuleContext& ctx) { return std::make_unique<WalletDaemonModule>(ctx); }

}  // namespace privstack::wallet
