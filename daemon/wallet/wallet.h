// The issuing wallet: a BIP39 mnemonic sealed under the issuing password,
// and the issuance window it opens (docs/wallet.md).
//
//   WalletService wallet(store, &audit_log, settings);   // migrates "wallet"
//   auto p = wallet.begin_init(password, bip39_passphrase, actor);
//   // show p.mnemonic once; ask for the words at p.confirm_positions
//   wallet.confirm_init(p.id, {{3, "word"}, ...}, actor);
//   wallet.unlock(password, user, source);      // opens the window
//   wallet.derive_public("m/44'/0'/0'/0/7");    // xpub (works while locked
//                                                // below a cached xpub)
//   wallet.lock(user, "manual");
//
// What is stored (SQLCipher, module "wallet"): the sealed mnemonic and
// BIP39 passphrase (AES-256-GCM under an Argon2id key from the issuing
// password; KDF parameters, salt and nonce recorded alongside), the master
// key fingerprint and the xpubs of hardened prefixes (public data, so that
// public keys stay available while locked). Never the password, seed,
// master key or any private key.
//
// While unlocked, the master extended private key lives in locked memory
// (wallet/locked_memory.h) and nothing else: the seed is wiped as soon as the
// master key is made. The window closes at its deadline, on lock(), on
// logout of the user who opened it (on_logout), and with the process.
//
// All calls are blocking (Argon2id, SQLCipher): the daemon runs them on its
// blocking pool. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "auth/throttle.h"
#include "core/time.h"
#include "wallet/bip32.h"
#include "wallet/locked_memory.h"
#include "wallet/seal.h"

namespace privstack::store {
class Store;
class Connection;
}  // namespace privstack::store
namespace privstack::audit {
class AuditLog;
}

namespace privstack::wallet {

// Wallet failures are privstack::Errors (core/error.h) whose reason() is the
// wallet's stable name: not_initialized, already_initialized, locked,
// wrong_password, throttled (rate_limited, with retry_after), policy,
// bad_mnemonic, bad_path, bad_confirmation, no_pending_init,
// not_unlocked_by_you, not_issuable, already_issued, already_revoked.
struct WalletSettings {
  SealParams seal;                                         // for new seals
  std::chrono::seconds window{std::chrono::minutes(15)};   // default issuance window
  std::chrono::seconds max_window{std::chrono::hours(8)};  // longest window one unlock/extend may ask for
  std::chrono::seconds pending_init_ttl{std::chrono::minutes(10)};
  int confirm_words = 3;  // words the customer must type back at init
  auth::Throttle::Settings throttle{5, std::chrono::seconds(15 * 60), std::chrono::milliseconds(500),
                                    std::chrono::milliseconds(8000)};
};

// The default account path of an issuer profile's keychain:
// m/44'/0'/ACCOUNT'  (credentials are signed with m/44'/0'/ACCOUNT'/0/i).
std::string account_path(std::uint32_t account);

struct Status {
  bool initialized = false;
  bool unlocked = false;
  std::string unlocked_by;
  std::int64_t unlocked_until = 0;  // Unix seconds; 0 when locked
  std::string master_fingerprint;   // hex, public
  std::int64_t created_at = 0;
  SealParams seal_params;
};

struct PendingInit {
  std::string id;              // random, for confirm_init
  LockedBuffer mnemonic;       // shown once
  std::vector<int> confirm_positions;  // 1-based word positions to type back
};

struct Derived {
  std::string path;
  std::string xpub;
  std::string public_key;  // compressed SEC1, hex
  std::string fingerprint; // of this key, hex
  bool from_cache = false; // derived while locked from a stored xpub
};

class WalletService {
 public:
  using TimePoint = std::chrono::system_clock::time_point;
  // `audit` may be null (tests). `clock` is for tests (a ManualClock).
  WalletService(store::Store& store, audit::AuditLog* audit, WalletSettings settings = {},
                Clock& clock = default_clock());
  ~WalletService();
  WalletService(const WalletService&) = delete;
  WalletService& operator=(const WalletService&) = delete;

  void update_settings(WalletSettings settings);
  Status status();

  // New wallet: 256 bits from the kernel CSPRNG, 24 words. Checks the
  // password policy (same as accounts). Nothing is stored until
  // confirm_init() gets the right words.
  PendingInit begin_init(std::string_view issuing_password, std::string_view bip39_passphrase, const std::string& actor);
  // `words`: position (1-based) -> word, for every confirm position.
  void confirm_init(const std::string& id, const std::map<int, std::string>& words, const std::string& actor);
  // Existing mnemonic (checksum verified; Error with reason bad_mnemonic names the
  // word position or the checksum). Stored at once.
  void import(std::string_view mnemonic, std::string_view issuing_password, std::string_view bip39_passphrase,
              const std::string& actor);

  // Opens (or, when already open, re-opens) the window for `duration`
  // (default settings.window). Throttled: Error with reason throttled with
  // retry_after. Every attempt is audited.
  void unlock(std::string_view issuing_password, const std::string& user, const std::string& source,
              std::optional<std::chrono::seconds> duration = std::nullopt);
  // Moves the deadline to now + duration; Error(locked) when not open.
  void extend(const std::string& user, std::optional<std::chrono::seconds> duration = std::nullopt);
  // Closes the window (no-op when locked). reason: "manual", "logout", "expired", "shutdown".
  void lock(const std::string& user, const std::string& reason);
  // Locks when `user` opened the window.
  void on_logout(const std::string& user);
  // Locks when the deadline passed; call from a timer. Returns true if it locked.
  bool expire_if_due();

  // Re-seals the same mnemonic under a new password (keys unchanged).
  void change_password(std::string_view old_password, std::string_view new_password, const std::string& actor);

  // Public key / xpub of `path`. While unlocked any path; while locked only
  // below a stored xpub with normal steps (else Error(locked)).
  Derived derive_public(std::string_view path, const std::string& actor);

  // Runs fn with the private key at `path` while unlocked (Error
  // locked otherwise). The key is wiped when fn returns.
  void with_private_key(std::string_view path, const std::function<void(const bip32::ExtendedPrivateKey&)>& fn);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace privstack::wallet
