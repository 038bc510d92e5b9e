#include "wallet/wallet.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "audit/audit.h"
#include "core/time.h"
#include "store/store.h"
#include "wallet/bip32.h"
#include "wallet/bip39.h"

namespace {

namespace fs = std::filesystem;
using namespace privstack;
using namespace privstack::wallet;
using namespace std::chrono_literals;

constexpr const char* kPassword = "Issuing-Secret-2024x";
constexpr const char* kMnemonic =
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";

class WalletServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/wallet-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store::init_key_file(dir_ / "store.key");
    store::Options o;
    o.database = dir_ / "privstack.db";
    o.key = {dir_ / "store.key", false};
    store_ = store::Store::open(o);
    audit_ = std::make_unique<audit::AuditLog>(*store_, Secret("0123456789abcdef0123456789abcdef"));
    settings_.seal = SealParams{8 * 1024, 1, 1};
    settings_.throttle.base_delay = 0ms;
    settings_.throttle.threshold = 3;
    wallet_ = std::make_unique<WalletService>(*store_, audit_.get(), settings_, clock_);
  }
  void TearDown() override {
    wallet_.reset();
    audit_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  std::vector<std::string> actions() {
    audit::Filter f;
    f.action = "wallet.";
    f.limit = 1000;
    std::vector<std::string> out;
    store_->read([&](store::Connection& c) {
      for (const auto& e : audit_->query(c, f)) out.push_back(e.action + ":" + e.outcome);
    });
    return out;
  }
  std::string wallet_error(const std::function<void()>& fn) {
    try {
      fn();
    } catch (const privstack::Error& e) {
      return e.reason();
    }
    return "none";
  }

  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<audit::AuditLog> audit_;
  WalletSettings settings_;
  ManualClock clock_{std::chrono::system_clock::now()};
  std::unique_ptr<WalletService> wallet_;
};

TEST_F(WalletServiceTest, InitShowsMnemonicOnceAndNeedsConfirmation) {
  EXPECT_FALSE(wallet_->status().initialized);
  EXPECT_EQ(wallet_error([&] { (void)wallet_->begin_init("short", "", "user:alice"); }), "policy");
  PendingInit p = wallet_->begin_init(kPassword, "", "user:alice");
  ASSERT_EQ(p.confirm_positions.size(), 3u);
  std::vector<std::string> words;
  {
    std::string all(p.mnemonic.view());
    std::size_t pos = 0;
    while (pos <= all.size()) {
      auto sp = all.find(' ', pos);
      if (sp == std::string::npos) sp = all.size();
      words.push_back(all.substr(pos, sp - pos));
      pos = sp + 1;
    }
  }
  ASSERT_EQ(words.size(), 24u);
  EXPECT_NO_THROW((void)bip39::mnemonic_to_entropy(p.mnemonic.view()));
  EXPECT_FALSE(wallet_->status().initialized);  // nothing stored before confirmation
  std::map<int, std::string> answer;
  for (int pos : p.confirm_positions) answer[pos] = words[pos - 1];
  std::map<int, std::string> wrong = answer;
  wrong.begin()->second = wrong.begin()->second == "zoo" ? "abandon" : "zoo";
  EXPECT_EQ(wallet_error([&] { wallet_->confirm_init(p.id, wrong, "user:alice"); }), "bad_confirmation");
  EXPECT_EQ(wallet_error([&] { wallet_->confirm_init("other-id", answer, "user:alice"); }), "no_pending_init");
  // A wrong id discards the pending mnemonic: start again.
  p = wallet_->begin_init(kPassword, "", "user:alice");
  answer.clear();
  {
    std::string all(p.mnemonic.view());
    words.clear();
    std::size_t pos = 0;
    while (pos <= all.size()) {
      auto sp = all.find(' ', pos);
      if (sp == std::string::npos) sp = all.size();
      words.push_back(all.substr(pos, sp - pos));
      pos = sp + 1;
    }
  }
  for (int pos : p.confirm_positions) answer[pos] = words[pos - 1];
  wallet_->confirm_init(p.id, answer, "user:alice");
  const Status s = wallet_->status();
  EXPECT_TRUE(s.initialized);
  EXPECT_FALSE(s.unlocked);
  EXPECT_EQ(s.seal_params.memory_kib, 8u * 1024);
  EXPECT_EQ(wallet_error([&] { (void)wallet_->begin_init(kPassword, "", "user:alice"); }), "already_initialized");
  // The mnemonic does not appear in the database file in clear.
  store_->checkpoint();
  std::ifstream in(dir_ / "privstack.db", std::ios::binary);
  const std::string db((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(db.find(words[0] + " " + words[1]), std::string::npos);
  // Unlock derives the same keys as the mnemonic.
  wallet_->unlock(kPassword, "user:alice", "127.0.0.1");
  const auto seed = bip39::mnemonic_to_seed(p.mnemonic.view(), "");
  const auto expect = bip32::ExtendedPrivateKey::from_seed(seed.bytes()).derive_path("m/44'/0'/3'/0/1").neuter();
  EXPECT_EQ(wallet_->derive_public("m/44'/0'/3'/0/1", "user:alice").xpub, expect.serialize());
}

TEST_F(WalletServiceTest, ImportValidatesMnemonic) {
  EXPECT_EQ(wallet_error([&] {
              wallet_->import("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon",
                              kPassword, "", "user:alice");
            }),
            "bad_mnemonic");
  try {
    wallet_->import("abandon abandon abandon abandon abandon abandonx abandon abandon abandon abandon abandon about",
                    kPassword, "", "user:alice");
    FAIL();
  } catch (const privstack::Error& e) {
    EXPECT_NE(std::string(e.what()).find("word 6"), std::string::npos) << e.what();
  }
  wallet_->import(kMnemonic, kPassword, "TREZOR", "user:alice");
  EXPECT_TRUE(wallet_->status().initialized);
  // TREZOR vector 0: the master xpub is available while locked.
  const auto m = wallet_->derive_public("m", "user:alice");
  EXPECT_TRUE(m.from_cache);
  EXPECT_EQ(m.xpub, bip32::ExtendedPrivateKey::from_seed(bip39::mnemonic_to_seed(kMnemonic, "TREZOR").bytes())
                        .neuter()
                        .serialize());
}

TEST_F(WalletServiceTest, UnlockWindowLockAndDerivation) {
  wallet_->import(kMnemonic, kPassword, "", "user:alice");
  const auto root = bip32::ExtendedPrivateKey::from_seed(bip39::mnemonic_to_seed(kMnemonic, "").bytes());

  // Locked: public keys below the cached account xpub only.
  const auto pub = wallet_->derive_public("m/44'/0'/0'/0/5", "user:bob");
  EXPECT_TRUE(pub.from_cache);
  EXPECT_EQ(pub.xpub, root.derive_path("m/44'/0'/0'/0/5").neuter().serialize());
  EXPECT_EQ(wallet_error([&] { (void)wallet_->derive_public("m/44'/0'/1'/0/0", "user:bob"); }), "locked");
  EXPECT_EQ(wallet_error([&] { wallet_->with_private_key("m/44'/0'/0'/0/0", [](const auto&) {}); }), "locked");
  EXPECT_EQ(wallet_error([&] { (void)wallet_->derive_public("m/x", "user:bob"); }), "bad_path");

  // Wrong password, then right.
  EXPECT_EQ(wallet_error([&] { wallet_->unlock("Wrong-Password-2024x", "user:bob", "10.0.0.1"); }), "wrong_password");
  EXPECT_FALSE(wallet_->status().unlocked);
  wallet_->unlock(kPassword, "user:bob", "10.0.0.1");
  Status s = wallet_->status();
  EXPECT_TRUE(s.unlocked);
  EXPECT_EQ(s.unlocked_by, "user:bob");
  bool called = false;
  wallet_->with_private_key("m/44'/0'/0'/0/0", [&](const bip32::ExtendedPrivateKey& k) {
    called = true;
    EXPECT_EQ(k.serialize().view(), root.derive_path("m/44'/0'/0'/0/0").serialize().view());
  });
  EXPECT_TRUE(called);
  // Unlocked derivation caches the hardened prefix: available after lock.
  EXPECT_FALSE(wallet_->derive_public("m/44'/0'/1'/0/0", "user:bob").from_cache);

  // The window expires (default 15 minutes) unless extended.
  clock_.advance(14min);
  wallet_->extend("user:bob", 10min);
  clock_.advance(9min);
  EXPECT_TRUE(wallet_->status().unlocked);
  clock_.advance(2min);
  EXPECT_TRUE(wallet_->expire_if_due());
  EXPECT_FALSE(wallet_->status().unlocked);
  EXPECT_EQ(wallet_error([&] { wallet_->extend("user:bob"); }), "locked");
  EXPECT_EQ(wallet_->derive_public("m/44'/0'/1'/0/3", "user:bob").xpub,
            root.derive_path("m/44'/0'/1'/0/3").neuter().serialize());

  // Logout of the unlocking user closes it; another user's logout does not.
  wallet_->unlock(kPassword, "user:bob", "10.0.0.1");
  wallet_->on_logout("user:carol");
  EXPECT_TRUE(wallet_->status().unlocked);
  wallet_->on_logout("user:bob");
  EXPECT_FALSE(wallet_->status().unlocked);

  wallet_->unlock(kPassword, "user:bob", "10.0.0.1", 60s);
  wallet_->lock("user:bob", "manual");
  EXPECT_FALSE(wallet_->status().unlocked);
  EXPECT_EQ(wallet_error([&] { wallet_->unlock(kPassword, "user:bob", "", 9h); }), "bad_window");

  const auto a = actions();
  for (const char* want : {"wallet.import:success", "wallet.unlock:failure", "wallet.unlock:success",
                           "wallet.derive:success", "wallet.extend:success", "wallet.lock:success"}) {
    EXPECT_NE(std::find(a.begin(), a.end(), want), a.end()) << want;
  }
}

TEST_F(WalletServiceTest, FailedUnlocksAreThrottled) {
  wallet_->import(kMnemonic, kPassword, "", "user:alice");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(wallet_error([&] { wallet_->unlock("Wrong-Password-2024x", "user:bob", ""); }), "wrong_password");
  }
  // Locked out now, even with the right password.
  EXPECT_EQ(wallet_error([&] { wallet_->unlock(kPassword, "user:bob", ""); }), "throttled");
  const auto a = actions();
  EXPECT_NE(std::find(a.begin(), a.end(), "wallet.unlock:denied"), a.end());
}

TEST_F(WalletServiceTest, ChangePasswordReseals) {
  wallet_->import(kMnemonic, kPassword, "", "user:alice");
  const std::string before = wallet_->derive_public("m", "user:alice").xpub;
  EXPECT_EQ(wallet_error([&] { wallet_->change_password(kPassword, "weak", "user:alice"); }), "policy");
  EXPECT_EQ(wallet_error([&] { wallet_->change_password("Wrong-Password-2024x", "New-Issuing-Pass-77", "user:alice"); }),
            "wrong_password");
  wallet_->change_password(kPassword, "New-Issuing-Pass-77", "user:alice");
  EXPECT_EQ(wallet_error([&] { wallet_->unlock(kPassword, "user:alice", ""); }), "wrong_password");
  wallet_->unlock("New-Issuing-Pass-77", "user:alice", "");
  EXPECT_EQ(wallet_->derive_public("m", "user:alice").xpub, before);
}

TEST_F(WalletServiceTest, StateSurvivesRestartLocked) {
  wallet_->import(kMnemonic, kPassword, "", "user:alice");
  wallet_->unlock(kPassword, "user:alice", "");
  wallet_ = std::make_unique<WalletService>(*store_, audit_.get(), settings_, clock_);
  const Status s = wallet_->status();
  EXPECT_TRUE(s.initialized);
  EXPECT_FALSE(s.unlocked);  // a restart closes the window
}

}  // namespace
