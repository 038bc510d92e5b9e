// Snapshot (SQL dump in a read transaction) and restore round trips.
#include "backup/snapshot.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "store/store.h"

namespace fs = std::filesystem;
using namespace privstack;
using namespace privstack::backup;

namespace {

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/snapshot-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store::init_key_file(dir_ / "store.key");
    store::Options o;
    o.database = dir_ / "privstack.db";
    o.key = {dir_ / "store.key", false};
    st_ = store::Store::open(o);
    st_->migrate("t", {{1, R"sql(
CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, score REAL, data BLOB);
CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id), note TEXT);
CREATE INDEX child_parent ON child(parent_id);
CREATE TABLE log (seq INTEGER PRIMARY KEY, what TEXT NOT NULL);
CREATE TRIGGER log_no_update BEFORE UPDATE ON log BEGIN SELECT RAISE(ABORT, 'append-only'); END;
CREATE VIEW parent_names AS SELECT name FROM parent;
)sql"}});
    auto pair = generate_recovery_key();
    pub_ = parse_recovery_public_key(pair.public_pem);
    priv_ = parse_recovery_private_key(pair.private_pem);
  }
  void TearDown() override {
    st_.reset();
    fs::remove_all(dir_);
  }

  void fill(int n) {
    st_->write([&](store::Connection& c) {
      for (int i = 0; i < n; ++i) {
        std::vector<std::uint8_t> blob = {0, 1, 2, static_cast<std::uint8_t>(i & 255), 0xff};
        // Quotes at the start, the end and side by side, and no text at all.
        static const char* const kEdges[] = {"", "'", "''", "a''b'", "'x", "\\'"};
        c.exec("INSERT INTO parent (name, score, data) VALUES (?1, ?2, ?3)",
               "it's \"row\";\n" + std::to_string(i) + " \xc3\xa9" + kEdges[i % 6], i + 0.1, blob);
        std::int64_t id = c.last_insert_rowid();
        c.exec("INSERT INTO child (parent_id, note) VALUES (?1, ?2)", id, i % 3 ? std::optional<std::string>("n")
                                                                                  : std::nullopt);
        c.exec("INSERT INTO log (what) VALUES (?1)", std::string(i % 50 == 0 ? 70000 : 10, 'x'));
      }
      // The most negative integer (data has no type affinity, so it stays one).
      c.exec("UPDATE parent SET data = ?1 WHERE id = (SELECT min(id) FROM parent)",
             std::numeric_limits<std::int64_t>::min());
      c.exec("INSERT INTO parent (name, score) VALUES ('one', 1.0)");
      c.exec("DELETE FROM parent WHERE name = 'one'");  // sqlite_sequence is ahead of max(id)
    });
  }

  std::vector<std::string> rows(store::Store& s) {
    return s.read([](store::Connection& c) {
      std::vector<std::string> out;
      c.for_each("SELECT id, name, quote(score), hex(data), typeof(score) FROM parent ORDER BY id",
                 [&](const store::Statement& r) {
                   out.push_back(std::to_string(r.column<std::int64_t>(0)) + "|" + r.column<std::string>(1) + "|" +
                                 r.column<std::string>(2) + "|" + r.column<std::string>(3) + "|" +
                                 r.column<std::string>(4));
                 });
      c.for_each("SELECT id, parent_id, quote(note) FROM child ORDER BY id", [&](const store::Statement& r) {
        out.push_back(std::to_string(r.column<std::int64_t>(0)) + "|" + std::to_string(r.column<std::int64_t>(1)) +
                      "|" + r.column<std::string>(2));
      });
      c.for_each("SELECT seq, what FROM log ORDER BY seq", [&](const store::Statement& r) {
        out.push_back(std::to_string(r.column<std::int64_t>(0)) + "|" + r.column<std::string>(1));
      });
      out.push_back("seq=" + std::to_string(c.query_one<std::int64_t>(
                                                 "SELECT seq FROM sqlite_sequence WHERE name = 'parent'")
                                                 .value_or(-1)));
      return out;
    });
  }

  // A sink that collects the archive in memory.
  static Sink into(std::vector<std::uint8_t>& archive) {
    return [&archive](std::span<const std::uint8_t> b) { archive.insert(archive.end(), b.begin(), b.end()); };
  }
  // Opens a store that restore_archive made.
  static std::unique_ptr<store::Store> open_restored(const fs::path& db, const fs::path& key) {
    store::Options o;
    o.database = db;
    o.key = {key, false};
    o.create = false;
    return store::Store::open(o);
  }

  fs::path dir_;
  std::unique_ptr<store::Store> st_;
  std::vector<std::uint8_t> pub_, priv_;
};

TEST_F(SnapshotTest, RoundTripKeepsEveryRowSchemaAndSequence) {
  fill(300);
  std::vector<std::uint8_t> archive;
  Sink sink = into(archive);
  auto cache_sizes = [&] {
    // Both readers at once, so that each one answers.
    std::vector<std::int64_t> sizes(2);
    std::vector<std::thread> readers;
    std::atomic<int> inside{0};
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      readers.emplace_back([&, i] {
        st_->read([&](store::Connection& c) {
          ++inside;
          while (inside.load() < 2) std::this_thread::yield();
          sizes[i] = *c.query_one<std::int64_t>("PRAGMA cache_size");
        });
      });
    }
    for (auto& t : readers) t.join();
    return sizes;
  };
  SnapshotResult snap = snapshot_store(*st_, sink, pub_, "host1");
  // The dump's small cache was the reader's only while it dumped.
  const std::int64_t reader_cache = -store::Options{}.reader_cache_size_kib;
  EXPECT_EQ(cache_sizes(), std::vector<std::int64_t>(2, reader_cache));
  EXPECT_EQ(snap.archive_bytes, archive.size());
  EXPECT_EQ(snap.header.metadata.row_counts.at("parent"), 300);
  EXPECT_EQ(snap.header.metadata.row_counts.at("log"), 300);
  // Schema version: the number of migrations applied (the store's own and "t").
  std::int64_t migrations =
      st_->read([](store::Connection& c) { return *c.query_one<std::int64_t>("SELECT COUNT(*) FROM store_migrations"); });
  EXPECT_EQ(snap.header.metadata.schema_version, migrations);
  EXPECT_GE(migrations, 1);
  // The archive is encrypted: no row text in it.
  std::string bytes(archive.begin(), archive.end());
  EXPECT_EQ(bytes.find("it's"), std::string::npos);
  EXPECT_EQ(bytes.find("CREATE TABLE"), std::string::npos);

  fs::path db2 = dir_ / "restored.db";
  fs::path key2 = dir_ / "restored.key";
  RestoreResult r = restore_archive(memory_source(archive), priv_, db2, key2);
  EXPECT_EQ(r.row_counts.at("child"), 300);
  EXPECT_FALSE(fs::exists(db2.string() + ".restoring"));
  auto restored = open_restored(db2, key2);
  EXPECT_EQ(rows(*restored), rows(*st_));
  EXPECT_TRUE(restored->check().ok);
  EXPECT_EQ(restored->schema_version("t"), 1);
  // Triggers and views came back.
  EXPECT_THROW(restored->write([](store::Connection& c) { c.exec("UPDATE log SET what = 'y'"); }), store::Error);
  EXPECT_EQ(restored->read([](store::Connection& c) {
    return c.query_one<std::int64_t>("SELECT COUNT(*) FROM parent_names").value_or(0);
  }),
            300);
}

// Every finite double comes back bit for bit, and stays a REAL: the dump
// writes 17 significant digits (quote() in the round-trip test above shows
// only 15, so it cannot see a last-bit difference). Infinities come back as
// infinities.
TEST_F(SnapshotTest, RealsComeBackBitForBit) {
  std::vector<double> values = {0.1, 1.0, -2.0, 1e20, 1e21, 1e-5, 123456789.123456789, 9007199254740993.0,
                                std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(),
                                std::numeric_limits<double>::min(), std::numeric_limits<double>::denorm_min(),
                                std::numeric_limits<double>::epsilon(), 5e-324, 2.2250738585072009e-308,
                                std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
  std::mt19937_64 bits(20261123);
  while (values.size() < 20000) {
    std::uint64_t b = bits();
    double d;
    std::memcpy(&d, &b, sizeof d);
    if (std::isfinite(d) && d != 0) values.push_back(d);
  }
  st_->write([&](store::Connection& c) {
    for (std::size_t i = 0; i < values.size(); ++i)
      c.exec("INSERT INTO parent (name, score) VALUES (?1, ?2)", std::to_string(i), values[i]);
  });
  std::vector<std::uint8_t> archive;
  Sink sink = into(archive);
  snapshot_store(*st_, sink, pub_, "host1");
  {
    // The tiny ones went as exact ieee754(M, E), the others as decimals.
    ArchiveReader reader(memory_source(archive), priv_);
    std::string dump;
    std::vector<std::uint8_t> buf(65536);
    while (std::size_t n = reader.read(buf)) dump.append(reinterpret_cast<const char*>(buf.data()), n);
    EXPECT_NE(dump.find(",'11',ieee754("), std::string::npos);  // values[11], denorm_min
    EXPECT_NE(dump.find(",'0',0.10000000000000001,"), std::string::npos);
    EXPECT_NE(dump.find(",'1',1.0,"), std::string::npos);
  }
  fs::path db2 = dir_ / "restored.db";
  fs::path key2 = dir_ / "restored.key";
  restore_archive(memory_source(archive), priv_, db2, key2);
  auto restored = open_restored(db2, key2);
  auto scores = [](store::Store& s) {
    return s.read([](store::Connection& c) {
      std::vector<std::pair<std::string, std::uint64_t>> out;
      c.for_each("SELECT typeof(score), score FROM parent ORDER BY id", [&](const store::Statement& r) {
        double d = r.column<double>(1);
        std::uint64_t b;
        std::memcpy(&b, &d, sizeof b);
        out.emplace_back(r.column<std::string>(0), b);
      });
      return out;
    });
  };
  auto got = scores(*restored);
  auto want = scores(*st_);
  ASSERT_EQ(got.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(got[i].first, "real") << i;
    EXPECT_EQ(got[i].second, want[i].second) << "value " << i << ": " << values[i];
  }
}

// The dump steps SQLite on the calling thread and formats on another: a
// sink that fails (a full disk, a cancelled run) ends both, at once, with
// the sink's own error, wherever the dump was; so does a failure in the
// middle of the rows, and the store is usable afterwards.
TEST_F(SnapshotTest, SinkFailureEndsTheDumpWithItsError) {
  fill(2000);
  // Random blobs, so that the archive is as large as the dump (6 MiB of hex
  // text): many batches between the threads, many pieces to the sink.
  std::mt19937_64 random(7);
  st_->write([&](store::Connection& c) {
    for (int i = 0; i < 300; ++i) {
      std::vector<std::uint8_t> blob(10000);
      for (auto& byte : blob) byte = static_cast<std::uint8_t>(random());
      c.exec("INSERT INTO parent (name, data) VALUES ('random', ?1)", blob);
    }
  });
  for (std::size_t fail_after : {std::size_t{0}, std::size_t{1000000}, std::size_t{2500000}}) {
    std::size_t seen = 0;
    Sink sink = [&](std::span<const std::uint8_t> b) {
      seen += b.size();
      if (seen > fail_after) throw std::runtime_error("No space left on device");
    };
    try {
      snapshot_store(*st_, sink, pub_, "host1");
      ADD_FAILURE() << "the dump should have failed after " << fail_after << " bytes";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "No space left on device");
    }
  }
  // The read transaction ended: writes and a whole snapshot still work.
  st_->write([](store::Connection& c) { c.exec("INSERT INTO log (what) VALUES ('after')"); });
  std::vector<std::uint8_t> archive;
  Sink sink = into(archive);
  EXPECT_EQ(snapshot_store(*st_, sink, pub_, "host1").header.metadata.row_counts.at("log"), 2001);
}

TEST_F(SnapshotTest, SnapshotIsConsistentWhileWritesContinue) {
  fill(50);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      st_->write([](store::Connection& c) {
        c.exec("INSERT INTO parent (name) VALUES ('w')");
        c.exec("INSERT INTO child (parent_id) VALUES (?1)", c.last_insert_rowid());
      });
    }
  });
  std::vector<std::uint8_t> archive;
  Sink sink = into(archive);
  SnapshotResult snap = snapshot_store(*st_, sink, pub_, "host1");
  stop = true;
  writer.join();
  // Parent and child were inserted together: a consistent snapshot has as
  // many of each (the restore checks the header's counts too).
  EXPECT_EQ(snap.header.metadata.row_counts.at("parent"), snap.header.metadata.row_counts.at("child"));
  RestoreResult r = restore_archive(memory_source(archive), priv_, dir_ / "r.db", dir_ / "r.key");
  EXPECT_EQ(r.row_counts.at("parent"), r.row_counts.at("child"));
}

// The restore's ieee754(M, E) takes only what the dump writes: two integers,
// |M| < 2^53. Anything else in a (decrypted, authenticated, yet hand-made)
// dump fails the restore with a clear error and leaves nothing behind.
TEST_F(SnapshotTest, Ieee754InADumpIsExactAndChecked) {
  auto archive_of = [&](const std::string& sql) {
    std::vector<std::uint8_t> archive;
    ArchiveMetadata meta;
    meta.created_unix = 1763780400;
    meta.created_ms = meta.created_unix * 1000;
    meta.source_host = "host1";
    meta.row_counts = {{"t", 1}};
    ArchiveWriter writer(into(archive), pub_, meta);
    writer.write("CREATE TABLE t (x REAL);\n" + sql);
    writer.finish();
    return archive;
  };
  fs::path db2 = dir_ / "r.db";
  fs::path key2 = dir_ / "r.key";
  restore_archive(memory_source(archive_of("INSERT INTO t VALUES(ieee754(5,-1000));\n")), priv_, db2, key2);
  EXPECT_EQ(open_restored(db2, key2)->read([](store::Connection& c) { return *c.query_one<double>("SELECT x FROM t"); }),
            std::ldexp(5.0, -1000));
  const std::pair<const char*, const char*> refused[] = {
      {"INSERT INTO t VALUES(ieee754(1.5,2));\n", "ieee754() takes two integers"},
      {"INSERT INTO t VALUES(ieee754('5',2));\n", "ieee754() takes two integers"},
      {"INSERT INTO t VALUES(ieee754(9007199254740992,0));\n", "ieee754() arguments out of range"},
      {"INSERT INTO t VALUES(ieee754(1,5000));\n", "ieee754() arguments out of range"},
  };
  for (const auto& [sql, message] : refused) {
    fs::path db3 = dir_ / "bad.db";
    try {
      restore_archive(memory_source(archive_of(sql)), priv_, db3, dir_ / "bad.key");
      ADD_FAILURE() << sql << " was restored";
    } catch (const ArchiveError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(db3));
  }
}

TEST_F(SnapshotTest, DamagedArchiveLeavesNothingBehind) {
  fill(200);
  std::vector<std::uint8_t> archive;
  Sink sink = into(archive);
  snapshot_store(*st_, sink, pub_, "host1");
  fs::path db2 = dir_ / "bad.db";
  fs::path key2 = dir_ / "bad.key";
  // Truncated.
  std::vector<std::uint8_t> truncated(archive.begin(), archive.begin() + static_cast<std::ptrdiff_t>(archive.size() / 2));
  EXPECT_THROW(restore_archive(memory_source(truncated), priv_, db2, key2), ArchiveError);
  EXPECT_FALSE(fs::exists(db2));
  EXPECT_FALSE(fs::exists(db2.string() + ".restoring"));
  EXPECT_FALSE(fs::exists(key2));
  // A flipped byte in the last third.
  std::vector<std::uint8_t> flipped = archive;
  flipped[flipped.size() * 2 / 3] ^= 0x40;
  EXPECT_THROW(restore_archive(memory_source(flipped), priv_, db2, key2), ArchiveError);
  EXPECT_FALSE(fs::exists(db2));
  // The wrong key.
  auto other = generate_recovery_key();
  EXPECT_THROW(restore_archive(memory_source(archive), parse_recovery_private_key(other.private_pem), db2, key2),
               ArchiveError);
  EXPECT_FALSE(fs::exists(db2));
  // Never over an existing database.
  EXPECT_THROW(restore_archive(memory_source(archive), priv_, dir_ / "privstack.db", key2), ArchiveError);
}

}  // namespace
