#include "store/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <atomic>
#include <future>
#include <thread>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using namespace privstack;
using namespace privstack::store;

namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/store-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    key_ = dir_ / "store.key";
    db_ = dir_ / "privstack.db";
    init_key_file(key_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Options options() const {
    Options o;
    o.database = db_;
    o.key = {key_, false};
    return o;
  }
  std::unique_ptr<Store> open() { return Store::open(options()); }

  static std::string read_all(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  fs::path dir_, key_, db_;
};

constexpr Migration kNotes[] = {
    {1, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, score REAL, data BLOB, n INTEGER)"},
    {2, "CREATE INDEX notes_body ON notes (body); ALTER TABLE notes ADD COLUMN extra TEXT"},
};

}  // namespace

TEST_F(StoreTest, KeyFileIsHexAnd0600) {
  struct stat st {};
  ASSERT_EQ(::stat(key_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Secret k = read_key_file(key_);
  EXPECT_EQ(k.size(), 64u);
  EXPECT_THROW(init_key_file(key_), store::Error);  // never overwrites
}

TEST_F(StoreTest, LooseKeyFileIsRefused) {
  ::chmod(key_.c_str(), 0644);
  try {
    open();
    FAIL() << "opened with a world-readable key";
  } catch (const store::Error& e) {
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(db_));
}

TEST_F(StoreTest, MalformedKeyIsRefused) {
  fs::remove(key_);
  {
    std::ofstream out(key_);
    out << "correct horse battery staple\n";
  }
  ::chmod(key_.c_str(), 0600);
  EXPECT_THROW(open(), store::Error);
  EXPECT_FALSE(fs::exists(db_));
}

TEST_F(StoreTest, MissingKeyWithoutDatabaseSaysInitKey) {
  fs::remove(key_);
  try {
    open();
    FAIL();
  } catch (const store::Error& e) {
    EXPECT_EQ(e.kind(), store::Error::Kind::missing_key);
    EXPECT_NE(std::string(e.what()).find("privstackctl store init-key"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(db_));
}

TEST_F(StoreTest, TypedBindAndColumns) {
  auto s = open();
  s->migrate("notes", kNotes);
  EXPECT_EQ(s->schema_version("notes"), 2);
  Blob blob{0, 1, 2, 255};
  std::int64_t id = s->write([&](Connection& c) {
    c.exec("INSERT INTO notes (body, score, data, n, extra) VALUES (?1, ?2, ?3, ?4, ?5)", std::string("it's ' ; --"),
           2.5, blob, std::optional<std::int64_t>{}, nullptr);
    return c.last_insert_rowid();
  });
  s->read([&](Connection& c) {
    auto st = c.prepare("SELECT body, score, data, n, extra FROM notes WHERE id = ?1");
    st.bind(1, id);
    ASSERT_TRUE(st.step());
    EXPECT_EQ(st.column<std::string>(0), "it's ' ; --");
    EXPECT_DOUBLE_EQ(st.column<double>(1), 2.5);
    EXPECT_EQ(st.column<Blob>(2), blob);
    EXPECT_EQ(st.column<std::optional<std::int64_t>>(3), std::nullopt);
    EXPECT_TRUE(st.is_null(4));
    EXPECT_FALSE(st.step());
  });
  EXPECT_EQ(s->read([](Connection& c) { return c.query_one<std::int64_t>("SELECT count(*) FROM notes"); }), 1);
}

TEST_F(StoreTest, WriteRollsBackOnException) {
  auto s = open();
  s->migrate("notes", kNotes);
  EXPECT_THROW(s->write([](Connection& c) {
    c.exec("INSERT INTO notes (body) VALUES (?1)", "a");
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  EXPECT_EQ(s->read([](Connection& c) { return *c.query_one<std::int64_t>("SELECT count(*) FROM notes"); }), 0);
}

TEST_F(StoreTest, NestedTransactionIsASavepoint) {
  auto s = open();
  s->migrate("notes", kNotes);
  s->write([](Connection& c) {
    c.exec("INSERT INTO notes (body) VALUES (?1)", "outer");
    {
      Transaction inner(c);
      c.exec("INSERT INTO notes (body) VALUES (?1)", "inner");
      // destroyed without commit: only the inner insert is undone
    }
  });
  EXPECT_EQ(s->read([](Connection& c) { return *c.query_one<std::int64_t>("SELECT count(*) FROM notes"); }), 1);
}

TEST_F(StoreTest, ConstraintErrorsHaveTheirKind) {
  auto s = open();
  s->migrate("notes", kNotes);
  try {
    s->write([](Connection& c) { c.exec("INSERT INTO notes (body) VALUES (?1)", nullptr); });
    FAIL();
  } catch (const store::Error& e) {
    EXPECT_EQ(e.kind(), store::Error::Kind::constraint);
  }
}

TEST_F(StoreTest, ReadersAreReadOnly) {
  auto s = open();
  s->migrate("notes", kNotes);
  EXPECT_THROW(s->read([](Connection& c) { c.exec("INSERT INTO notes (body) VALUES (?1)", "x"); }), store::Error);
}

// Readers get the larger page cache (a miss costs a page decrypt); the
// writer keeps the smaller one (docs/store.md has the measurements).
TEST_F(StoreTest, ReadersAndWriterHaveTheirOwnCacheSizes) {
  auto s = open();
  auto cache_size = [](Connection& c) { return *c.query_one<std::int64_t>("PRAGMA cache_size"); };
  EXPECT_EQ(s->read(cache_size), -Options{}.reader_cache_size_kib);
  EXPECT_EQ(s->write(cache_size), -Options{}.cache_size_kib);
  EXPECT_NE(Options{}.reader_cache_size_kib, Options{}.cache_size_kib);
}

TEST_F(StoreTest, MigrationsAreRecordedAndIdempotent) {
  {
    auto s = open();
    s->migrate("notes", std::span<const Migration>(kNotes, 1));
    EXPECT_EQ(s->schema_version("notes"), 1);
  }
  auto s = open();
  s->migrate("notes", kNotes);
  s->migrate("notes", kNotes);
  EXPECT_EQ(s->schema_version("notes"), 2);
  EXPECT_EQ(s->schema_version("other"), 0);
  EXPECT_EQ(s->read([](Connection& c) {
    return *c.query_one<std::int64_t>("SELECT count(*) FROM store_migrations WHERE module = 'notes'");
  }), 2);
}

TEST_F(StoreTest, FailingMigrationLeavesNothing) {
  auto s = open();
  static constexpr Migration bad[] = {
      {1, "CREATE TABLE a (x INTEGER); CREATE TABLE a (y INTEGER)"},
  };
  EXPECT_THROW(s->migrate("bad", bad), store::Error);
  EXPECT_EQ(s->schema_version("bad"), 0);
  EXPECT_EQ(s->read([](Connection& c) {
    return *c.query_one<std::int64_t>("SELECT count(*) FROM sqlite_master WHERE name = 'a'");
  }), 0);
}

TEST_F(StoreTest, NewerSchemaIsRefused) {
  {
    auto s = open();
    s->migrate("notes", kNotes);
  }
  auto s = open();
  try {
    s->migrate("notes", std::span<const Migration>(kNotes, 1));
    FAIL();
  } catch (const store::Error& e) {
    EXPECT_EQ(e.kind(), store::Error::Kind::schema_too_new);
  }
}

TEST_F(StoreTest, NewerStoreFormatIsRefusedAtOpen) {
  {
    auto s = open();
    s->write([](Connection& c) {
      c.exec("INSERT INTO store_migrations (module, version, applied_at) VALUES ('store', 99, 0)");
    });
  }
  try {
    open();
    FAIL();
  } catch (const store::Error& e) {
    EXPECT_EQ(e.kind(), store::Error::Kind::schema_too_new);
  }
}

TEST_F(StoreTest, GapsInMigrationsAreRejected) {
  auto s = open();
  static constexpr Migration gap[] = {{1, "CREATE TABLE g1 (x)"}, {3, "CREATE TABLE g3 (x)"}};
  EXPECT_THROW(s->migrate("gap", gap), store::Error);
}

TEST_F(StoreTest, WrongKeyLeavesTheFileUntouched) {
  {
    auto s = open();
    s->migrate("notes", kNotes);
    s->write([](Connection& c) { c.exec("INSERT INTO notes (body) VALUES (?1)", "x"); });
  }
  std::string before = read_all(db_);
  struct stat st1 {};
  ::stat(db_.c_str(), &st1);
  fs::remove(key_);
  init_key_file(key_);  // a different key
  try {
    open();
    FAIL();
  } catch (const store::Error& e) {
    EXPECT_EQ(e.kind(), store::Error::Kind::wrong_key) << e.what();
    EXPECT_NE(std::string(e.what()).find("not modified"), std::string::npos);
  }
  struct stat st2 {};
  ::stat(db_.c_str(), &st2);
  EXPECT_EQ(read_all(db_), before);
  EXPECT_EQ(st1.st_mtim.tv_sec, st2.st_mtim.tv_sec);
  EXPECT_EQ(st1.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
  EXPECT_FALSE(fs::exists(fs::path(db_.string() + "-wal")));
}

TEST_F(StoreTest, MissingKeyWithDatabaseIsRefused) {
  { auto s = open(); }
  std::string before = read_all(db_);
  fs::remove(key_);
  try {
    open();
    FAIL();
  } catch (const store::Error& e) {
    EXPECT_EQ(e.kind(), store::Error::Kind::missing_key);
  }
  EXPECT_EQ(read_all(db_), before);
}

TEST_F(StoreTest, NoPlaintextOnDisk) {
  const std::string marker = "MARKER-9f2c6a1e-plaintext-canary";
  auto s = open();
  s->migrate("notes", kNotes);
  for (int i = 0; i < 200; ++i) {
    s->write([&](Connection& c) { c.exec("INSERT INTO notes (body) VALUES (?1)", marker + std::to_string(i)); });
  }
  // Check while the WAL holds the rows, then after a checkpoint.
  for (int round = 0; round < 2; ++round) {
    for (const auto& entry : fs::directory_iterator(dir_)) {
      std::string bytes = read_all(entry.path());
      EXPECT_EQ(bytes.find("MARKER-9f2c6a1e"), std::string::npos) << entry.path();
      EXPECT_EQ(bytes.find("SQLite format 3"), std::string::npos) << entry.path();
      EXPECT_EQ(bytes.find("CREATE TABLE"), std::string::npos) << entry.path();
    }
    s->checkpoint();
  }
}

TEST_F(StoreTest, RekeyKeepsDataAndRetiresTheOldKey) {
  {
    auto s = open();
    s->migrate("notes", kNotes);
    s->write([](Connection& c) { c.exec("INSERT INTO notes (body) VALUES (?1)", "kept"); });
  }
  std::string old_key(read_key_file(key_).reveal());
  {
    auto s = open();
    RekeyResult r = s->rekey();
    EXPECT_EQ(r.key_file, key_);
    // Still usable after the rekey, for reads and writes.
    EXPECT_EQ(s->read([](Connection& c) { return *c.query_one<std::string>("SELECT body FROM notes"); }), "kept");
    s->write([](Connection& c) { c.exec("INSERT INTO notes (body) VALUES (?1)", "after"); });
  }
  std::string new_key(read_key_file(key_).reveal());
  EXPECT_NE(old_key, new_key);
  EXPECT_FALSE(fs::exists(fs::path(key_.string() + ".new")));
  {
    auto s = open();
    EXPECT_EQ(s->read([](Connection& c) { return *c.query_one<std::int64_t>("SELECT count(*) FROM notes"); }), 2);
  }
  // The old key no longer opens it.
  fs::path old_file = dir_ / "old.key";
  { std::ofstream(old_file) << old_key << "\n"; }
  ::chmod(old_file.c_str(), 0600);
  Options o = options();
  o.key.path = old_file;
  EXPECT_THROW(Store::open(o), store::Error);
}

TEST_F(StoreTest, InterruptedRekeyAfterCommitIsCompletedAtOpen) {
  std::string old_key(read_key_file(key_).reveal());
  {
    auto s = open();
    s->migrate("notes", kNotes);
    s->write([](Connection& c) { c.exec("INSERT INTO notes (body) VALUES (?1)", "kept"); });
    s->rekey();
  }
  // Simulate a stop between the commit and the rename: new key still in
  // store.key.new, old key in store.key.
  fs::rename(key_, fs::path(key_.string() + ".new"));
  { std::ofstream(key_) << old_key << "\n"; }
  ::chmod(key_.c_str(), 0600);
  auto s = open();
  EXPECT_EQ(s->read([](Connection& c) { return *c.query_one<std::string>("SELECT body FROM notes"); }), "kept");
  EXPECT_FALSE(fs::exists(fs::path(key_.string() + ".new")));
  EXPECT_NE(std::string(read_key_file(key_).reveal()), old_key);
}

TEST_F(StoreTest, StalePendingKeyIsRemoved) {
  { auto s = open(); }
  init_key_file(fs::path(key_.string() + ".new"));
  auto s = open();
  EXPECT_FALSE(fs::exists(fs::path(key_.string() + ".new")));
}

TEST_F(StoreTest, CheckReportsOk) {
  auto s = open();
  s->migrate("notes", kNotes);
  CheckReport r = s->check();
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.page_size, 4096);
  EXPECT_FALSE(r.cipher_version.empty());
  EXPECT_FALSE(r.cipher_integrity_method.empty());
}

TEST_F(StoreTest, TamperedPageIsDetected) {
  {
    auto s = open();
    s->migrate("notes", kNotes);
    s->write([](Connection& c) {
      for (int i = 0; i < 2000; ++i) c.exec("INSERT INTO notes (body) VALUES (?1)", "row " + std::to_string(i));
    });
  }
  auto size = fs::file_size(db_);
  ASSERT_GT(size, 4096u * 4);
  {
    std::fstream f(db_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(4096 * 3 + 100));
    char b = 0;
    f.read(&b, 1);
    f.seekp(static_cast<std::streamoff>(4096 * 3 + 100));
    b = static_cast<char>(b ^ 0x01);
    f.write(&b, 1);
  }
  bool detected = false;
  try {
    auto s = open();
    CheckReport r = s->check();
    detected = !r.ok;
  } catch (const store::Error&) {
    detected = true;
  }
  EXPECT_TRUE(detected);
}

TEST_F(StoreTest, AsyncReadWriteAndGroupCommit) {
  auto s = open();
  s->migrate("notes", kNotes);
  boost::asio::io_context io;
  std::atomic<int> ok{0}, failed{0};
  for (int i = 0; i < 100; ++i) {
    boost::asio::co_spawn(
        io,
        [&, i]() -> boost::asio::awaitable<void> {
          try {
            co_await s->async_write([i](Connection& c) {
              if (i % 10 == 7) throw std::runtime_error("job fails");
              c.exec("INSERT INTO notes (body, n) VALUES (?1, ?2)", "async", i);
            });
            ++ok;
          } catch (const std::runtime_error&) {
            ++failed;
          }
        },
        boost::asio::detached);
  }
  io.run();
  EXPECT_EQ(ok, 90);
  EXPECT_EQ(failed, 10);
  io.restart();
  std::int64_t count = 0;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        count = co_await s->async_read(
            [](Connection& c) { return *c.query_one<std::int64_t>("SELECT count(*) FROM notes WHERE n % 10 = 7"); });
        count += 1000 * co_await s->async_read(
                            [](Connection& c) { return *c.query_one<std::int64_t>("SELECT count(*) FROM notes"); });
        auto check = s->async_check();
        CheckReport r = co_await std::move(check);
        EXPECT_TRUE(r.ok);
      },
      boost::asio::detached);
  io.run();
  EXPECT_EQ(count, 90000);
}

// Jobs queued while the writer is busy share one commit; when one of them
// throws, the others are still committed, each exactly once.
TEST_F(StoreTest, GroupCommitSharesACommitAndIsolatesAFailingJob) {
  auto s = open();
  s->migrate("notes", kNotes);
  auto round = [&](int jobs, int failing) {
    // Hold the writer connection so that every job queues behind it.
    std::promise<void> holding, release;
    std::thread blocker([&] {
      s->write([&](Connection& c) {
        holding.set_value();
        release.get_future().wait();
        c.exec("INSERT INTO notes (body, n) VALUES (?1, ?2)", "blocker", -1);
      });
    });
    holding.get_future().wait();
    boost::asio::io_context io;
    int ok = 0, failed = 0;
    for (int i = 0; i < jobs; ++i) {
      boost::asio::co_spawn(
          io,
          [&, i]() -> boost::asio::awaitable<void> {
            auto work = [i, failing](Connection& c) {
              c.exec("INSERT INTO notes (body, n) VALUES (?1, ?2)", "batched", i);
              if (i == failing) throw std::runtime_error("job fails after writing");
            };
            try {
              co_await s->async_write(std::move(work));
              ++ok;
            } catch (const std::runtime_error&) {
              ++failed;
            }
          },
          boost::asio::detached);
    }
    // Runs after every coroutine above has queued its job.
    boost::asio::post(io, [&] { release.set_value(); });
    io.run();
    blocker.join();
    return std::make_pair(ok, failed);
  };

  Store::WriteStats before = s->write_stats();
  auto [ok1, failed1] = round(50, -1);
  Store::WriteStats after = s->write_stats();
  EXPECT_EQ(ok1, 50);
  EXPECT_EQ(failed1, 0);
  EXPECT_EQ(after.jobs - before.jobs, 50u);
  EXPECT_LE(after.commits - before.commits, 2u) << "50 queued jobs should share at most two commits";

  auto [ok2, failed2] = round(50, 17);
  EXPECT_EQ(ok2, 49);
  EXPECT_EQ(failed2, 1);
  auto count = [&](int n) {
    return s->read([n](Connection& c) {
      return *c.query_one<std::int64_t>("SELECT count(*) FROM notes WHERE body = 'batched' AND n = ?1", n);
    });
  };
  EXPECT_EQ(count(17), 1) << "only round one's row 17: the failing job's write is undone";
  EXPECT_EQ(count(16), 2) << "the others are committed once per round, never twice";
  EXPECT_EQ(s->read([](Connection& c) {
    return *c.query_one<std::int64_t>("SELECT count(*) FROM notes WHERE body = 'batched'");
  }),
            99);
}

TEST_F(StoreTest, ConcurrentReadersSeeCommittedData) {
  auto s = open();
  s->migrate("notes", kNotes);
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      std::int64_t last = 0;
      do {  // at least once, however fast the writes below finish
        auto n = s->read([](Connection& c) { return *c.query_one<std::int64_t>("SELECT count(*) FROM notes"); });
        EXPECT_GE(n, last) << "a reader saw committed rows disappear";
        last = n;
        ++reads;
      } while (!stop);
    });
  }
  // The writes start once the readers are running (on a loaded machine the
  // 200 writes could otherwise end before any reader was scheduled).
  while (reads < 3) std::this_thread::yield();
  for (int i = 0; i < 200; ++i) s->write([&](Connection& c) { c.exec("INSERT INTO notes (body) VALUES ('x')"); });
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_GE(reads, 3);
  EXPECT_EQ(s->read([](Connection& c) { return *c.query_one<std::int64_t>("SELECT count(*) FROM notes"); }), 200);
}
