#include "wallet/wallet.h"

#include <algorithm>
#include <cstring>

#include "audit/audit.h"
#include "auth/password.h"
#include "auth/util.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "store/store.h"
#include "wallet/bip39.h"

namespace privstack::wallet {

namespace {

constexpr std::string_view kSealContext = "privstack-wallet-mnemonic";

const store::Migration kMigrations[] = {
    {1,
     "CREATE TABLE wallet_seed ("
     "  id INTEGER PRIMARY KEY CHECK (id = 1),"
     "  format INTEGER NOT NULL,"
     "  kdf TEXT NOT NULL,"
     "  memory_kib INTEGER NOT NULL,"
     "  iterations INTEGER NOT NULL,"
     "  parallelism INTEGER NOT NULL,"
     "  salt BLOB NOT NULL,"
     "  nonce BLOB NOT NULL,"
     "  ciphertext BLOB NOT NULL,"
     "  master_fingerprint TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  sealed_at INTEGER NOT NULL);"
     "CREATE TABLE wallet_xpubs ("
     "  path TEXT PRIMARY KEY,"
     "  xpub TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL);"},
};

std::string hex_of(std::span<const std::uint8_t> b) { return hex_encode(b); }

struct Pending {
  std::string id;
  SealedBlob blob;
  std::string fingerprint;
  std::vector<std::pair<std::string, std::string>> xpubs;
  std::map<int, LockedBuffer> expected;  // position -> word
  WalletService::TimePoint expires;
};

struct Unlocked {
  std::unique_ptr<bip32::ExtendedPrivateKey> master;
  std::string user;
  WalletService::TimePoint until;
};

// "mnemonic\npassphrase" in locked memory.
LockedBuffer payload_of(std::string_view mnemonic, std::string_view passphrase) {
  LockedBuffer p(mnemonic.size() + 1 + passphrase.size());
  p.resize(0);
  p.append(mnemonic);
  p.append("\n");
  p.append(passphrase);
  return p;
}

std::unique_ptr<bip32::ExtendedPrivateKey> master_of(const LockedBuffer& payload) {
  const std::string_view v = payload.view();
  const std::size_t nl = v.find('\n');
  if (nl == std::string_view::npos) throw std::runtime_error("sealed wallet payload is malformed");
  const LockedBuffer seed = bip39::mnemonic_to_seed(v.substr(0, nl), v.substr(nl + 1));
  return std::make_unique<bip32::ExtendedPrivateKey>(bip32::ExtendedPrivateKey::from_seed(seed.bytes()));
}

void check_passphrase(std::string_view passphrase) {
  for (char ch : passphrase) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c >= 0x7f) {
      throw Error(ErrorCode::validation_failed, "the BIP39 passphrase must be printable ASCII").with_reason("bad_passphrase");
    }
  }
}

}  // namespace

std::string account_path(std::uint32_t account) { return "m/44'/0'/" + std::to_string(account) + "'"; }

struct WalletService::Impl {
  store::Store& store;
  audit::AuditLog* audit;
  WalletSettings settings;
  Clock& clock;
  auth::Throttle throttle;
  std::mutex mutex;
  std::optional<Pending> pending;
  std::optional<Unlocked> unlocked;

  Impl(store::Store& s, audit::AuditLog* a, WalletSettings st, Clock& c)
      : store(s), audit(a), settings(std::move(st)), clock(c), throttle(settings.throttle) {}

  WalletService::TimePoint now() const { return clock.system_now(); }
  std::int64_t unix_now() const { return clock.unix_seconds(); }

  audit::Entry entry(const std::string& actor, std::string action, std::string_view outcome, std::string detail,
                     std::string source = {}) const {
    audit::Entry e;
    e.actor = actor;
    e.source = std::move(source);
    e.action = std::move(action);
    e.object = "wallet";
    e.outcome = std::string(outcome);
    e.detail = std::move(detail);
    return e;
  }
  void audit_now(audit::Entry e) {
    if (audit != nullptr) audit->append(std::move(e));
  }

  bool initialized(store::Connection& c) {
    return c.query_one<std::int64_t>("SELECT COUNT(*) FROM wallet_seed").value_or(0) > 0;
  }
  bool initialized() {
    return store.read([&](store::Connection& c) { return initialized(c); });
  }

  std::optional<SealedBlob> load_blob(std::string* fingerprint = nullptr) {
    return store.read([&](store::Connection& c) -> std::optional<SealedBlob> {
      auto s = c.prepare(
          "SELECT format, memory_kib, iterations, parallelism, salt, nonce, ciphertext, master_fingerprint "
          "FROM wallet_seed WHERE id = 1");
      if (!s.step()) return std::nullopt;
      SealedBlob b;
      b.format = s.column<int>(0);
      b.params.memory_kib = static_cast<std::uint32_t>(s.column<std::int64_t>(1));
      b.params.iterations = static_cast<std::uint32_t>(s.column<std::int64_t>(2));
      b.params.parallelism = static_cast<std::uint32_t>(s.column<std::int64_t>(3));
      b.salt = s.column<store::Blob>(4);
      b.nonce = s.column<store::Blob>(5);
      b.ciphertext = s.column<store::Blob>(6);
      if (fingerprint != nullptr) *fingerprint = s.column<std::string>(7);
      return b;
    });
  }

  // Seals `payload`, and computes what is stored in clear (fingerprint, xpubs).
  void prepare_seal(const LockedBuffer& payload, std::string_view password, Pending& out) {
    out.blob = seal(payload.bytes(), password, settings.seal, kSealContext);
    const auto master = master_of(payload);
    const auto fp = master->neuter().fingerprint();
    out.fingerprint = hex_of(fp);
    out.xpubs.emplace_back("m", master->neuter().serialize());
    const std::string account0 = account_path(0);
    out.xpubs.emplace_back(account0, master->derive_path(account0).neuter().serialize());
  }

  void store_seal(const Pending& p, const std::string& actor, const std::string& action) {
    const std::int64_t t = unix_now();
    store.write([&](store::Connection& c) {
      if (initialized(c)) throw Error(ErrorCode::conflict, "the wallet is already initialized").with_reason("already_initialized");
      c.exec("INSERT INTO wallet_seed (id, format, kdf, memory_kib, iterations, parallelism, salt, nonce, "
             "ciphertext, master_fingerprint, created_at, sealed_at) VALUES (1, ?, 'argon2id', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
             p.blob.format, static_cast<std::int64_t>(p.blob.params.memory_kib),
             static_cast<std::int64_t>(p.blob.params.iterations), static_cast<std::int64_t>(p.blob.params.parallelism),
             p.blob.salt, p.blob.nonce, p.blob.ciphertext, p.fingerprint, t, t);
      for (const auto& [path, xpub] : p.xpubs) {
        c.exec("INSERT OR REPLACE INTO wallet_xpubs (path, xpub, created_at) VALUES (?, ?, ?)", path, xpub, t);
      }
      if (audit != nullptr) {
        audit->append(c, entry(actor, action, audit::kSuccess, "master fingerprint " + p.fingerprint));
      }
    });
  }

  void check_policy(std::string_view password) {
    if (auto why = auth::password_policy_violation(password, "wallet")) {
      throw Error(ErrorCode::validation_failed, "issuing password rejected: " + *why).with_reason("policy");
    }
  }

  // Under mutex.
  void expire_locked_if_due(std::vector<audit::Entry>& events) {
    if (unlocked && now() >= unlocked->until) {
      events.push_back(entry(unlocked->user, "wallet.lock", audit::kSuccess, "reason expired"));
      unlocked.reset();
    }
  }
  void flush(std::vector<audit::Entry>& events) {
    for (auto& e : events) audit_now(std::move(e));
    events.clear();
  }

  std::chrono::seconds window_of(std::optional<std::chrono::seconds> d) const {
    const auto w = d.value_or(settings.window);
    if (w <= std::chrono::seconds(0) || w > settings.max_window) {
      throw Error(ErrorCode::invalid_argument, "the issuance window must be between 1 second and " +
                                          std::to_string(settings.max_window.count()) + " seconds").with_reason("bad_window");
    }
    return w;
  }

  std::optional<std::string> cached_xpub(const std::string& path) {
    return store.read([&](store::Connection& c) {
      return c.query_one<std::string>("SELECT xpub FROM wallet_xpubs WHERE path = ?", path);
    });
  }
};

WalletService::WalletService(store::Store& store, audit::AuditLog* audit, WalletSettings settings,
                             Clock& clock)
    : impl_(std::make_unique<Impl>(store, audit, std::move(settings), clock)) {
  store.migrate("wallet", std::span<const store::Migration>(kMigrations));
}

WalletService::~WalletService() = default;

void WalletService::update_settings(WalletSettings settings) {
  std::lock_guard lock(impl_->mutex);
  impl_->throttle.set_settings(settings.throttle);
  impl_->settings = std::move(settings);
}

Status WalletService::status() {
  std::vector<audit::Entry> events;
  Status s;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->expire_locked_if_due(events);
    if (impl_->unlocked) {
      s.unlocked = true;
      s.unlocked_by = impl_->unlocked->user;
      s.unlocked_until =
          std::chrono::duration_cast<std::chrono::seconds>(impl_->unlocked->until.time_since_epoch()).count();
    }
  }
  impl_->flush(events);
  impl_->store.read([&](store::Connection& c) {
    auto q = c.prepare("SELECT master_fingerprint, created_at, memory_kib, iterations, parallelism FROM wallet_seed WHERE id = 1");
    if (q.step()) {
      s.initialized = true;
      s.master_fingerprint = q.column<std::string>(0);
      s.created_at = q.column<std::int64_t>(1);
      s.seal_params = {static_cast<std::uint32_t>(q.column<std::int64_t>(2)),
                       static_cast<std::uint32_t>(q.column<std::int64_t>(3)),
                       static_cast<std::uint32_t>(q.column<std::int64_t>(4))};
    }
  });
  return s;
}

PendingInit WalletService::begin_init(std::string_view issuing_password, std::string_view bip39_passphrase,
                                      const std::string& actor) {
  if (impl_->initialized()) throw Error(ErrorCode::conflict, "the wallet is already initialized").with_reason("already_initialized");
  impl_->check_policy(issuing_password);
  check_passphrase(bip39_passphrase);
  const LockedBuffer entropy = bip39::generate_entropy(32);
  LockedBuffer mnemonic = bip39::entropy_to_mnemonic(entropy.bytes());
  Pending p;
  impl_->prepare_seal(payload_of(mnemonic.view(), bip39_passphrase), issuing_password, p);
  p.id = auth::random_token(16);
  p.expires = impl_->now() + impl_->settings.pending_init_ttl;
  // Pick distinct random positions 1..24.
  std::vector<int> positions;
  const int want = std::clamp(impl_->settings.confirm_words, 1, 24);
  while (static_cast<int>(positions.size()) < want) {
    unsigned char r = 0;
    random_fill(&r, 1);
    if (r >= 240) continue;  // uniform over 24 positions
    const int pos = r % 24 + 1;
    if (std::find(positions.begin(), positions.end(), pos) == positions.end()) positions.push_back(pos);
  }
  std::sort(positions.begin(), positions.end());
  const std::string_view words = mnemonic.view();
  for (int pos : positions) {
    std::size_t start = 0;
    for (int i = 1; i < pos; ++i) start = words.find(' ', start) + 1;
    std::size_t end = words.find(' ', start);
    if (end == std::string_view::npos) end = words.size();
    p.expected.emplace(pos, LockedBuffer::copy_of(words.substr(start, end - start)));
  }
  PendingInit out{p.id, std::move(mnemonic), positions};
  {
    std::lock_guard lock(impl_->mutex);
    impl_->pending = std::move(p);
  }
  impl_->audit_now(impl_->entry(actor, "wallet.init_started", audit::kSuccess, "24 words, awaiting confirmation"));
  return out;
}

void WalletService::confirm_init(const std::string& id, const std::map<int, std::string>& words,
                                 const std::string& actor) {
  std::optional<Pending> p;
  {
    std::lock_guard lock(impl_->mutex);
    if (!impl_->pending || !constant_time_equals(impl_->pending->id, id) ||
        impl_->now() >= impl_->pending->expires) {
      impl_->pending.reset();
      throw Error(ErrorCode::conflict, "no wallet initialization is waiting for confirmation (it expired or a newer one replaced it): start again").with_reason("no_pending_init");
    }
    bool ok = words.size() == impl_->pending->expected.size();
    for (const auto& [pos, expected] : impl_->pending->expected) {
      auto it = words.find(pos);
      if (it == words.end()) {
        ok = false;
        continue;
      }
      const LockedBuffer typed = bip39::normalize_mnemonic(it->second);
      if (!constant_time_equals(typed.bytes(), expected.bytes())) ok = false;
    }
    if (!ok) {
      // The pending mnemonic stays: the customer can look again and retry.
      impl_->audit_now(impl_->entry(actor, "wallet.init_confirm", audit::kFailure, "confirmation words did not match"));
      throw Error(ErrorCode::validation_failed, "the confirmation words do not match the mnemonic").with_reason("bad_confirmation");
    }
    p = std::move(impl_->pending);
    impl_->pending.reset();
  }
  impl_->store_seal(*p, actor, "wallet.init");
}

void WalletService::import(std::string_view mnemonic, std::string_view issuing_password,
                           std::string_view bip39_passphrase, const std::string& actor) {
  if (impl_->initialized()) throw Error(ErrorCode::conflict, "the wallet is already initialized").with_reason("already_initialized");
  impl_->check_policy(issuing_password);
  check_passphrase(bip39_passphrase);
  try {
    (void)bip39::mnemonic_to_entropy(mnemonic);
  } catch (const bip39::Bip39Error& e) {
    throw Error(ErrorCode::validation_failed, e.what()).with_reason("bad_mnemonic");
  }
  const LockedBuffer norm = bip39::normalize_mnemonic(mnemonic);
  Pending p;
  impl_->prepare_seal(payload_of(norm.view(), bip39_passphrase), issuing_password, p);
  impl_->store_seal(p, actor, "wallet.import");
}

void WalletService::unlock(std::string_view issuing_password, const std::string& user, const std::string& source,
                           std::optional<std::chrono::seconds> duration) {
  const auto window = impl_->window_of(duration);
  const auto verdict = impl_->throttle.check("wallet");
  if (!verdict.allowed) {
    impl_->audit_now(impl_->entry(user, "wallet.unlock", audit::kDenied, "throttled", source));
    Error e(ErrorCode::rate_limited, "too many failed unlock attempts; try again in " +
                                   std::to_string(std::max<std::int64_t>(1, verdict.retry_after.count())) + " s");
    e.with_reason("throttled");
    e.retry_after = verdict.retry_after;
    throw e;
  }
  std::string fingerprint;
  const auto blob = impl_->load_blob(&fingerprint);
  if (!blob) throw Error(ErrorCode::not_configured, "the wallet is not initialized (an administrator creates it first)").with_reason("not_initialized");
  std::unique_ptr<bip32::ExtendedPrivateKey> master;
  try {
    const LockedBuffer payload = unseal(*blob, issuing_password, kSealContext);
    master = master_of(payload);
  } catch (const WrongPassword&) {
    const bool lockout = impl_->throttle.record_failure("wallet");
    impl_->audit_now(impl_->entry(user, "wallet.unlock", audit::kFailure,
                                  lockout ? "wrong issuing password; unlock locked out" : "wrong issuing password",
                                  source));
    throw Error(ErrorCode::forbidden, "wrong issuing password").with_reason("wrong_password");
  }
  if (hex_of(master->neuter().fingerprint()) != fingerprint) {
    throw std::runtime_error("the unsealed wallet does not match its recorded master fingerprint");
  }
  impl_->throttle.record_success("wallet");
  {
    std::lock_guard lock(impl_->mutex);
    impl_->unlocked = Unlocked{std::move(master), user, impl_->now() + window};
  }
  impl_->audit_now(impl_->entry(user, "wallet.unlock", audit::kSuccess,
                                "window " + std::to_string(window.count()) + " s", source));
}

void WalletService::extend(const std::string& user, std::optional<std::chrono::seconds> duration) {
  const auto window = impl_->window_of(duration);
  std::vector<audit::Entry> events;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->expire_locked_if_due(events);
    if (!impl_->unlocked) {
      impl_->flush(events);
      throw Error(ErrorCode::locked, "the wallet is locked (unlock it with the issuing password)").with_reason("locked");
    }
    impl_->unlocked->until = impl_->now() + window;
    events.push_back(impl_->entry(user, "wallet.extend", audit::kSuccess, "window " + std::to_string(window.count()) + " s"));
  }
  impl_->flush(events);
}

void WalletService::lock(const std::string& user, const std::string& reason) {
  bool was_open = false;
  {
    std::lock_guard lock(impl_->mutex);
    was_open = impl_->unlocked.has_value();
    impl_->unlocked.reset();  // wipes the master key (LockedBuffer destructors)
  }
  if (was_open) impl_->audit_now(impl_->entry(user, "wallet.lock", audit::kSuccess, "reason " + reason));
}

void WalletService::on_logout(const std::string& user) {
  bool locked = false;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->unlocked && impl_->unlocked->user == user) {
      impl_->unlocked.reset();
      locked = true;
    }
  }
  if (locked) impl_->audit_now(impl_->entry(user, "wallet.lock", audit::kSuccess, "reason logout"));
}

bool WalletService::expire_if_due() {
  std::vector<audit::Entry> events;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->expire_locked_if_due(events);
  }
  const bool expired = !events.empty();
  impl_->flush(events);
  return expired;
}

void WalletService::change_password(std::string_view old_password, std::string_view new_password,
                                    const std::string& actor) {
  impl_->check_policy(new_password);
  const auto verdict = impl_->throttle.check("wallet");
  if (!verdict.allowed) {
    Error e(ErrorCode::rate_limited, "too many failed attempts; try again in " +
                                   std::to_string(std::max<std::int64_t>(1, verdict.retry_after.count())) + " s");
    e.with_reason("throttled");
    e.retry_after = verdict.retry_after;
    throw e;
  }
  std::string fingerprint;
  const auto blob = impl_->load_blob(&fingerprint);
  if (!blob) throw Error(ErrorCode::not_configured, "the wallet is not initialized").with_reason("not_initialized");
  SealedBlob resealed;
  try {
    const LockedBuffer payload = unseal(*blob, old_password, kSealContext);
    if (hex_of(master_of(payload)->neuter().fingerprint()) != fingerprint) {
      throw std::runtime_error("the unsealed wallet does not match its recorded master fingerprint");
    }
    resealed = seal(payload.bytes(), new_password, impl_->settings.seal, kSealContext);
  } catch (const WrongPassword&) {
    impl_->throttle.record_failure("wallet");
    impl_->audit_now(impl_->entry(actor, "wallet.password_change", audit::kFailure, "wrong issuing password"));
    throw Error(ErrorCode::forbidden, "wrong issuing password").with_reason("wrong_password");
  }
  impl_->throttle.record_success("wallet");
  const std::int64_t t = impl_->unix_now();
  impl_->store.write([&](store::Connection& c) {
    c.exec("UPDATE wallet_seed SET format = ?, memory_kib = ?, iterations = ?, parallelism = ?, salt = ?, nonce = ?, "
           "ciphertext = ?, sealed_at = ? WHERE id = 1",
           resealed.format, static_cast<std::int64_t>(resealed.params.memory_kib),
           static_cast<std::int64_t>(resealed.params.iterations), static_cast<std::int64_t>(resealed.params.parallelism),
           resealed.salt, resealed.nonce, resealed.ciphertext, t);
    if (impl_->audit != nullptr) {
      impl_->audit->append(c, impl_->entry(actor, "wallet.password_change", audit::kSuccess, "re-sealed; keys unchanged"));
    }
  });
}

Derived WalletService::derive_public(std::string_view path, const std::string& actor) {
  std::vector<std::uint32_t> steps;
  try {
    steps = bip32::parse_path(path);
  } catch (const bip32::Bip32Error& e) {
    throw Error(ErrorCode::invalid_argument, e.what()).with_reason("bad_path");
  }
  const std::string canonical = bip32::format_path(steps);
  std::vector<audit::Entry> events;
  Derived out;
  out.path = canonical;
  std::optional<bip32::ExtendedPublicKey> key;
  std::optional<std::pair<std::string, std::string>> to_cache;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->expire_locked_if_due(events);
    if (impl_->unlocked) {
      const auto priv = impl_->unlocked->master->derive_path(canonical);
      key = priv.neuter();
      // Remember the xpub of the longest hardened prefix, so that this
      // keychain's public keys stay available while locked.
      std::size_t last_hardened = 0;
      for (std::size_t i = 0; i < steps.size(); ++i) {
        if (steps[i] & bip32::kHardened) last_hardened = i + 1;
      }
      if (last_hardened > 0) {
        const std::span<const std::uint32_t> prefix(steps.data(), last_hardened);
        to_cache.emplace(bip32::format_path(prefix),
                         impl_->unlocked->master->derive_path(bip32::format_path(prefix)).neuter().serialize());
      }
    }
  }
  impl_->flush(events);
  if (!key) {
    if (!impl_->initialized()) throw Error(ErrorCode::not_configured, "the wallet is not initialized").with_reason("not_initialized");
    // Longest cached prefix, then normal steps only.
    for (std::size_t len = steps.size() + 1; len-- > 0;) {
      const std::string prefix = bip32::format_path(std::span<const std::uint32_t>(steps.data(), len));
      if (auto xpub = impl_->cached_xpub(prefix)) {
        for (std::size_t i = len; i < steps.size(); ++i) {
          if (steps[i] & bip32::kHardened) {
            throw Error(ErrorCode::locked, "the wallet is locked: a hardened step below " + prefix +
                                            " needs the private key (unlock the wallet first)").with_reason("locked");
          }
        }
        key = bip32::derive_public_path(bip32::ExtendedPublicKey::parse(*xpub),
                                        "m" + canonical.substr(prefix.size()));
        out.from_cache = true;
        break;
      }
    }
    if (!key) throw Error(ErrorCode::locked, "the wallet is locked (unlock it with the issuing password)").with_reason("locked");
  }
  if (to_cache) {
    const std::int64_t t = impl_->unix_now();
    impl_->store.write([&](store::Connection& c) {
      c.exec("INSERT OR IGNORE INTO wallet_xpubs (path, xpub, created_at) VALUES (?, ?, ?)", to_cache->first,
             to_cache->second, t);
    });
  }
  out.xpub = key->serialize();
  out.public_key = hex_of(key->public_key);
  out.fingerprint = hex_of(key->fingerprint());
  impl_->audit_now(impl_->entry(actor, "wallet.derive", audit::kSuccess,
                                "path " + canonical + (out.from_cache ? " (public, locked)" : "")));
  return out;
}

void WalletService::with_private_key(std::string_view path,
                                     const std::function<void(const bip32::ExtendedPrivateKey&)>& fn) {
  std::vector<audit::Entry> events;
  std::unique_ptr<bip32::ExtendedPrivateKey> key;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->expire_locked_if_due(events);
    if (impl_->unlocked) {
      try {
        key = std::make_unique<bip32::ExtendedPrivateKey>(impl_->unlocked->master->derive_path(path));
      } catch (const bip32::Bip32Error& e) {
        throw Error(ErrorCode::invalid_argument, e.what()).with_reason("bad_path");
      }
    }
  }
  impl_->flush(events);
  if (!key) throw Error(ErrorCode::locked, "the wallet is locked: unlock it with the issuing password to issue").with_reason("locked");
  fn(*key);
}

}  // namespace privstack::wallet
