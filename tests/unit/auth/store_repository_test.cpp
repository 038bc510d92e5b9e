// StoreAuthRepository against a real SQLCipher store in a temp directory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>

#include "auth/repository.h"
#include "store/store.h"

using namespace privstack;
using namespace privstack::auth;
namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

class StoreRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = fs::temp_directory_path() / ("auth-store-test-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    store::init_key_file(dir / "store.key");
    open();
  }
  void TearDown() override {
    repo.reset();
    db.reset();
    fs::remove_all(dir);
  }
  void open() {
    repo.reset();
    db.reset();
    store::Options o;
    o.database = dir / "privstack.db";
    o.key = {dir / "store.key", false};
    db = store::Store::open(o);
    repo = std::make_unique<StoreAuthRepository>(*db);
  }
  template <class T>
  T run(asio::awaitable<T> aw) {
    auto fut = asio::co_spawn(io, std::move(aw), asio::use_future);
    while (fut.wait_for(0s) != std::future_status::ready) {
      io.restart();
      io.run_for(5ms);
    }
    return fut.get();
  }

  fs::path dir;
  asio::io_context io;
  std::unique_ptr<store::Store> db;
  std::unique_ptr<StoreAuthRepository> repo;
};

// The last sign-in is written with the session it opened, and an update of
// the user (from a copy taken before the sign-in) leaves it alone.
TEST_F(StoreRepositoryTest, LastSignInWithTheSession) {
  UserRecord u;
  u.name = "bob";
  u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$x$y";
  u.created_at = u.password_changed_at = 100;
  EXPECT_TRUE(run(repo->insert_user(u)));
  EXPECT_EQ(repo->load().users[0].last_sign_in_at, 0);
  run(repo->begin_session(SessionRecord{"h", "bob", 200, 200, false}, "password+totp"));
  u.locked = true;
  run(repo->update_user(u));  // u.last_sign_in_at is still 0
  open();
  auto snap = repo->load();
  ASSERT_EQ(snap.users.size(), 1u);
  EXPECT_EQ(snap.users[0].last_sign_in_at, 200);
  EXPECT_EQ(snap.users[0].last_sign_in_method, "password+totp");
  EXPECT_TRUE(snap.users[0].locked);
  ASSERT_EQ(snap.sessions.size(), 1u);
  EXPECT_EQ(snap.sessions[0].created_at, 200);
}

TEST_F(StoreRepositoryTest, RoundTripAndCascade) {
  UserRecord u;
  u.name = "alice";
  u.role = Role::auditor;
  u.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$x$y";
  u.recovery_codes = {"aa", "bb"};
  u.created_at = u.password_changed_at = 100;
  EXPECT_TRUE(run(repo->insert_user(u)));
  EXPECT_FALSE(run(repo->insert_user(u)));  // name taken
  u.locked = true;
  u.totp_secret = "ABC";
  u.totp_enabled = true;
  u.totp_last_step = 42;
  run(repo->update_user(u));
  SessionRecord s{"hash1", "alice", 1, 2, true};
  run(repo->put_session(s));
  s.last_seen = 3;
  run(repo->put_session(s));  // replaces
  run(repo->put_session(SessionRecord{"hash2", "alice", 1, 2, false}));
  TokenRecord t{"id1", "ci", "alice", Role::support, "thash", 5, 6, 7};
  run(repo->put_token(t));

  open();  // survives a reopen
  auto snap = repo->load();
  ASSERT_EQ(snap.users.size(), 1u);
  const auto& got = snap.users[0];
  EXPECT_EQ(got.role, Role::auditor);
  EXPECT_TRUE(got.locked);
  EXPECT_TRUE(got.totp_enabled);
  EXPECT_EQ(got.totp_last_step, 42);
  EXPECT_EQ(got.recovery_codes, (std::vector<std::string>{"aa", "bb"}));
  ASSERT_EQ(snap.sessions.size(), 2u);
  ASSERT_EQ(snap.tokens.size(), 1u);
  EXPECT_EQ(snap.tokens[0].token_hash, "thash");
  EXPECT_EQ(snap.tokens[0].role, Role::support);

  run(repo->delete_session("hash2"));
  EXPECT_EQ(repo->load().sessions.size(), 1u);
  run(repo->delete_user("alice"));
  snap = repo->load();
  EXPECT_TRUE(snap.users.empty());
  EXPECT_TRUE(snap.sessions.empty());
  EXPECT_TRUE(snap.tokens.empty());
}

}  // namespace
