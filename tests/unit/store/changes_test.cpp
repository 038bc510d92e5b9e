// Change capture at the writer (docs/store.md "Change capture") and the
// change record format and replay (store/changes.h).
#include "store/changes.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cmath>
#include <cstring>
#include <future>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"

namespace fs = std::filesystem;
using namespace privstack;
using namespace privstack::store;

namespace {

// Three tables: an INTEGER PRIMARY KEY one with every storage class, one
// with an implicit rowid, and an AUTOINCREMENT one with an untyped column.
constexpr Migration kSchema[] = {
    {1,
     "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB, n INTEGER);"
     "CREATE TABLE tags (label TEXT NOT NULL, payload BLOB);"
     "CREATE TABLE events (k INTEGER PRIMARY KEY AUTOINCREMENT, x);"},
};

class ChangesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/changes-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    key_ = dir_ / "store.key";
    init_key_file(key_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Options options(const std::string& name, bool capture) const {
    Options o;
    o.database = dir_ / name;
    o.key = {key_, false};
    o.capture_changes = capture;
    return o;
  }
  // The schema migrated without capture (so the stream holds no schema
  // record), then reopened with capture on.
  std::unique_ptr<Store> open_capturing(const std::string& name = "source.db") {
    Store::open(options(name, false))->migrate("test", kSchema);
    return Store::open(options(name, true));
  }
  std::unique_ptr<Store> open_plain(const std::string& name) { return Store::open(options(name, false)); }

  // A closed store's file, copied (the WAL is checkpointed away at close).
  void copy_db(const std::string& from, const std::string& to) {
    fs::copy_file(dir_ / from, dir_ / to, fs::copy_options::overwrite_existing);
  }

  static std::vector<StoredChange> all_changes(Store& s) { return s.read_changes(0, 1000000); }

  fs::path dir_, key_;
};

void expect_gap_free(const std::vector<StoredChange>& changes, std::int64_t first) {
  for (std::size_t i = 0; i < changes.size(); ++i) {
    EXPECT_EQ(changes[i].seq, first + static_cast<std::int64_t>(i)) << "record " << i;
  }
}

// Every row of every module table, as text with type tags, for comparison.
std::map<std::string, std::vector<std::string>> dump(Connection& c) {
  std::map<std::string, std::vector<std::string>> out;
  for (const char* table : {"items", "tags", "events"}) {
    std::string sql = std::string("SELECT rowid, * FROM ") + table + " ORDER BY rowid";
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(c.native(), sql.c_str(), -1, &s, nullptr), SQLITE_OK);
    auto& rows = out[table];
    while (sqlite3_step(s) == SQLITE_ROW) {
      std::ostringstream row;
      for (int i = 0; i < sqlite3_column_count(s); ++i) {
        switch (sqlite3_column_type(s, i)) {
          case SQLITE_NULL: row << "N|"; break;
          case SQLITE_INTEGER: row << "I" << sqlite3_column_int64(s, i) << "|"; break;
          case SQLITE_FLOAT: {
            double d = sqlite3_column_double(s, i);
            std::uint64_t bits;
            std::memcpy(&bits, &d, sizeof bits);
            row << "R" << bits << "|";
            break;
          }
          case SQLITE_TEXT: row << "T" << sqlite3_column_text(s, i) << "|"; break;
          default: {
            const auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(s, i));
            row << "B";
            for (int j = 0; j < sqlite3_column_bytes(s, i); ++j) row << int(p[j]) << ",";
            row << "|";
          }
        }
      }
      rows.push_back(row.str());
    }
    sqlite3_finalize(s);
  }
  return out;
}

void apply_all(Store& target, const std::vector<StoredChange>& changes, std::int64_t after = 0) {
  for (const StoredChange& ch : changes) {
    if (ch.seq <= after) continue;
    target.write([&](Connection& c) { apply_change_record(c, ch.seq, ch.record); });
  }
}

std::int64_t count(Store& s, Sql sql) {
  return s.read([&](Connection& c) { return *c.query_one<std::int64_t>(sql); });
}

}  // namespace

TEST_F(ChangesTest, OffByDefaultWritesNoStream) {
  auto s = open_plain("plain.db");
  s->migrate("test", kSchema);
  s->write([](Connection& c) { c.exec("INSERT INTO items (name) VALUES ('a')"); });
  EXPECT_TRUE(all_changes(*s).empty());
  EXPECT_EQ(count(*s, "SELECT count(*) FROM sqlite_master WHERE name = 'store_changes'"), 0);
}

TEST_F(ChangesTest, EachCommittedWriteIsOneRecordAndRollbacksAndNoOpsNone) {
  auto s = open_capturing();
  s->write([](Connection& c) { c.exec("INSERT INTO items (name) VALUES ('a')"); });
  s->write([](Connection& c) {
    c.exec("INSERT INTO items (name) VALUES ('b')");
    c.exec("INSERT INTO tags (label) VALUES ('t')");
  });
  EXPECT_THROW(s->write([](Connection& c) {
    c.exec("INSERT INTO items (name) VALUES ('rolled back')");
    throw std::runtime_error("boom");
  }),
               std::runtime_error);
  s->write([](Connection& c) { (void)c.query_one<std::int64_t>("SELECT count(*) FROM items"); });  // reads only
  s->write([](Connection& c) { c.exec("UPDATE items SET n = 1 WHERE name = 'nobody'"); });        // changes nothing
  s->write([](Connection& c) { c.exec("DELETE FROM items WHERE name = 'a'"); });

  auto changes = all_changes(*s);
  ASSERT_EQ(changes.size(), 3u);
  expect_gap_free(changes, 1);
  ChangeRecord r1 = decode_change_record(changes[0].record);
  ASSERT_EQ(r1.ops.size(), 1u);
  EXPECT_EQ(r1.tables[0].name, "items");
  EXPECT_EQ(r1.tables[0].columns, (std::vector<std::string>{"id", "name", "score", "data", "n"}));
  EXPECT_EQ(r1.ops[0].op, RowChange::Op::upsert);
  EXPECT_EQ(r1.ops[0].values[1], ChangeValue(std::string("a")));
  EXPECT_EQ(r1.committed_us, changes[0].committed_us);
  ChangeRecord r2 = decode_change_record(changes[1].record);
  ASSERT_EQ(r2.tables.size(), 2u);
  EXPECT_EQ(r2.ops.size(), 2u);
  ChangeRecord r3 = decode_change_record(changes[2].record);
  ASSERT_EQ(r3.ops.size(), 1u);
  EXPECT_EQ(r3.ops[0].op, RowChange::Op::erase);
  EXPECT_EQ(r3.ops[0].rowid, r1.ops[0].rowid);
  // A rolled-back transaction's seq is not used: the next record follows on.
  s->write([](Connection& c) { c.exec("INSERT INTO items (name) VALUES ('c')"); });
  EXPECT_EQ(s->read_changes(3, 10).at(0).seq, 4);
}

// Group commits with concurrent submitters, and the one-by-one retry after a
// job throws: one record per commit, gap-free, in commit order.
TEST_F(ChangesTest, GroupCommitsAndTheirRetriesAreOneRecordEachInCommitOrder) {
  auto s = open_capturing();
  auto round = [&](int jobs, int failing) {
    std::promise<void> holding, release;
    std::thread blocker([&] {
      s->write([&](Connection& c) {
        holding.set_value();
        release.get_future().wait();
        c.exec("INSERT INTO events (x) SELECT coalesce(max(k), 0) + 1 FROM events");
      });
    });
    holding.get_future().wait();
    boost::asio::io_context io;
    for (int i = 0; i < jobs; ++i) {
      boost::asio::co_spawn(
          io,
          [&, i]() -> boost::asio::awaitable<void> {
            // Each job writes the next counter value: commit order is visible in the rows.
            auto work = [i, failing](Connection& c) {
              c.exec("INSERT INTO events (x) SELECT coalesce(max(k), 0) + 1 FROM events");
              if (i == failing) throw std::runtime_error("job fails after writing");
            };
            try {
              co_await s->async_write(std::move(work));
            } catch (const std::runtime_error&) {
            }
          },
          boost::asio::detached);
    }
    boost::asio::post(io, [&] { release.set_value(); });
    io.run();
    blocker.join();
  };
  Store::WriteStats before = s->write_stats();
  round(40, -1);  // batched
  round(20, 7);   // batch rolled back, then each job alone
  Store::WriteStats after = s->write_stats();
  std::uint64_t commits = after.commits - before.commits + 2;  // + the two blocking write()s
  auto changes = all_changes(*s);
  EXPECT_EQ(changes.size(), commits);
  EXPECT_GE(changes.size(), 2u + 1u + 19u) << "the failing round committed its 19 jobs one by one";
  expect_gap_free(changes, 1);
  // Rows appear in the stream in the order they were committed.
  std::int64_t last = 0;
  std::size_t rows = 0;
  for (const StoredChange& ch : changes) {
    for (const RowChange& op : decode_change_record(ch.record).ops) {
      ASSERT_EQ(op.op, RowChange::Op::upsert);
      EXPECT_GT(op.rowid, last);
      last = op.rowid;
      ++rows;
    }
  }
  EXPECT_EQ(static_cast<std::int64_t>(rows), count(*s, "SELECT count(*) FROM events"));
  EXPECT_EQ(rows, 2u + 40u + 19u);
}

TEST_F(ChangesTest, RowsCoalescePerTransactionInOrderOfFirstTouch) {
  auto s = open_capturing();
  s->write([](Connection& c) {
    c.exec("INSERT INTO items (id, name) VALUES (10, 'before')");
    c.exec("INSERT INTO items (id, name) VALUES (11, 'before')");
  });
  s->write([](Connection& c) {
    c.exec("INSERT INTO items (id, name) VALUES (20, 'new')");         // insert + update: upsert of the final image
    c.exec("UPDATE items SET name = 'final', n = 3 WHERE id = 20");
    c.exec("INSERT INTO items (id, name) VALUES (21, 'short-lived')");  // insert + delete
    c.exec("DELETE FROM items WHERE id = 21");
    c.exec("UPDATE items SET name = 'gone' WHERE id = 10");           // update + delete: delete
    c.exec("DELETE FROM items WHERE id = 10");
    c.exec("UPDATE items SET name = 'x' WHERE id = 11");              // update twice: one upsert
    c.exec("UPDATE items SET name = 'y' WHERE id = 11");
    c.exec("UPDATE items SET n = 4 WHERE id = 20");                   // touched again: keeps its first place
  });
  auto changes = all_changes(*s);
  ASSERT_EQ(changes.size(), 2u);
  ChangeRecord r = decode_change_record(changes[1].record);
  ASSERT_EQ(r.ops.size(), 4u);
  EXPECT_EQ(r.ops[0].rowid, 20);
  EXPECT_EQ(r.ops[0].op, RowChange::Op::upsert);
  EXPECT_EQ(r.ops[0].values,
            (std::vector<ChangeValue>{std::int64_t{20}, std::string("final"), std::monostate{}, std::monostate{},
                                      std::int64_t{4}}));
  // Insert then delete is a deletion (of a rowid the target never had: a
  // no-op there); see docs/store.md for why it is not dropped.
  EXPECT_EQ(r.ops[1].rowid, 21);
  EXPECT_EQ(r.ops[1].op, RowChange::Op::erase);
  EXPECT_EQ(r.ops[2].rowid, 10);
  EXPECT_EQ(r.ops[2].op, RowChange::Op::erase);
  EXPECT_EQ(r.ops[3].rowid, 11);
  EXPECT_EQ(r.ops[3].values[1], ChangeValue(std::string("y")));
  EXPECT_EQ(r.tables.size(), 1u) << "a table is in the dictionary once";
}

// A seeded random workload over the three tables; the records applied to a
// copy taken at the epoch's start, and to one taken at seq K, give the same
// rows as the source.
TEST_F(ChangesTest, ReplayOntoACopyReproducesEveryRow) {
  Store::open(options("source.db", false))->migrate("test", kSchema);
  copy_db("source.db", "base0.db");
  std::mt19937_64 rng(20261207);
  auto random_value = [&](int kind) -> ChangeValue {
    switch (kind % 5) {
      case 0: return std::monostate{};
      case 1: return static_cast<std::int64_t>(rng()) >> (rng() % 60);
      case 2: return std::ldexp(static_cast<double>(rng() % 100000) - 50000.0, static_cast<int>(rng() % 40) - 20);
      case 3: {
        std::string t(rng() % 40, 'a');
        for (char& ch : t) ch = static_cast<char>("aé'\";\n "[rng() % 7]);
        return t;
      }
      default: {
        Blob b(rng() % 64);
        for (auto& x : b) x = static_cast<std::uint8_t>(rng());
        return b;
      }
    }
  };
  auto bind_value = [](Statement& st, int i, const ChangeValue& v) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::monostate>) st.bind(i, nullptr);
          else st.bind(i, x);
        },
        v);
  };
  auto transaction = [&](Connection& c) {
    int ops = 1 + static_cast<int>(rng() % 6);
    for (int k = 0; k < ops; ++k) {
      int what = static_cast<int>(rng() % 10);
      std::int64_t id = 1 + static_cast<std::int64_t>(rng() % 60);
      if (what < 3) {
        auto st = c.prepare("INSERT OR REPLACE INTO items (id, name, score, data, n) VALUES (?1, ?2, ?3, ?4, ?5)");
        st.bind(1, id);
        for (int col = 2; col <= 5; ++col) bind_value(st, col, random_value(static_cast<int>(rng())));
        st.run();
      } else if (what < 5) {
        auto st = c.prepare("UPDATE items SET score = ?2, name = ?3 WHERE id = ?1");
        st.bind(1, id);
        bind_value(st, 2, random_value(2));
        bind_value(st, 3, random_value(static_cast<int>(rng())));
        st.run();
      } else if (what < 6) {
        c.exec("DELETE FROM items WHERE id = ?1", id);
      } else if (what < 8) {
        auto st = c.prepare("INSERT INTO tags (label, payload) VALUES (?1, ?2)");
        bind_value(st, 1, random_value(3));
        bind_value(st, 2, random_value(static_cast<int>(rng())));
        st.run();
        if (rng() % 3 == 0) c.exec("DELETE FROM tags WHERE rowid = (SELECT min(rowid) FROM tags)");
      } else {
        auto st = c.prepare("INSERT INTO events (x) VALUES (?1)");
        bind_value(st, 1, random_value(static_cast<int>(rng())));
        st.run();
        if (rng() % 4 == 0) c.exec("UPDATE events SET x = x || 'u' WHERE k % 3 = ?1", id % 3);
      }
    }
  };
  std::int64_t k_seq = 0;
  {
    auto s = Store::open(options("source.db", true));
    for (int i = 0; i < 150; ++i) s->write(transaction);
    k_seq = all_changes(*s).back().seq;
  }
  copy_db("source.db", "baseK.db");  // holds records 1..K and the epoch
  std::vector<StoredChange> changes;
  std::map<std::string, std::vector<std::string>> expected;
  {
    auto s = Store::open(options("source.db", true));  // the same epoch continues
    boost::asio::io_context io;
    for (int client = 0; client < 4; ++client) {
      boost::asio::co_spawn(
          io,
          [&]() -> boost::asio::awaitable<void> {
            for (int i = 0; i < 40; ++i) co_await s->async_write(transaction);
          },
          boost::asio::detached);
    }
    io.run();
    for (int i = 0; i < 50; ++i) s->write(transaction);
    changes = all_changes(*s);
    expected = s->read([](Connection& c) { return dump(c); });
  }
  expect_gap_free(changes, 1);
  ASSERT_GT(changes.size(), static_cast<std::size_t>(k_seq));
  ASSERT_FALSE(expected["items"].empty());
  ASSERT_FALSE(expected["tags"].empty());
  ASSERT_FALSE(expected["events"].empty());

  auto base0 = open_plain("base0.db");
  apply_all(*base0, changes);
  EXPECT_EQ(base0->read([](Connection& c) { return dump(c); }), expected);
  EXPECT_EQ(base0->read([](Connection& c) { return applied_change_seq(c); }), changes.back().seq);

  auto base_k = open_plain("baseK.db");
  EXPECT_EQ(base_k->read([](Connection& c) { return applied_change_seq(c); }), k_seq);
  apply_all(*base_k, changes, k_seq);
  EXPECT_EQ(base_k->read([](Connection& c) { return dump(c); }), expected);
}

TEST_F(ChangesTest, ReplayRefusesGapsRepeatsAndSchemaChanges) {
  Store::open(options("source.db", false))->migrate("test", kSchema);
  copy_db("source.db", "target.db");
  std::vector<StoredChange> changes;
  {
    auto s = Store::open(options("source.db", true));
    s->write([](Connection& c) { c.exec("INSERT INTO items (name) VALUES ('one')"); });
    s->write([](Connection& c) { c.exec("INSERT INTO items (name) VALUES ('two')"); });
    s->migrate("extra", {{1, "CREATE TABLE extra (v TEXT)"}});
    s->write([](Connection& c) { c.exec("INSERT INTO extra (v) VALUES ('after')"); });
    changes = all_changes(*s);
  }
  ASSERT_EQ(changes.size(), 4u);
  ChangeRecord schema = decode_change_record(changes[2].record);
  EXPECT_EQ(schema.kind, ChangeKind::schema);
  EXPECT_EQ(schema.module, "extra");
  EXPECT_EQ(schema.version, 1);

  auto t = open_plain("target.db");
  auto apply = [&](std::size_t i) { t->write([&](Connection& c) { apply_change_record(c, changes[i].seq, changes[i].record); }); };
  auto code_of = [&](std::size_t i) -> std::optional<std::pair<ErrorCode, std::string>> {
    try {
      apply(i);
      return std::nullopt;
    } catch (const privstack::Error& e) {
      return std::make_pair(e.code(), std::string(e.what()));
    }
  };
  auto gap = code_of(1);  // record 2 before record 1
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->first, ErrorCode::integrity_failed);
  EXPECT_NE(gap->second.find("records 1..1 are missing"), std::string::npos) << gap->second;
  apply(0);
  auto again = code_of(0);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->first, ErrorCode::conflict);
  apply(1);
  auto stop = code_of(2);
  ASSERT_TRUE(stop);
  EXPECT_EQ(stop->first, ErrorCode::conflict);
  EXPECT_NE(stop->second.find("a new base archive is needed after schema change of extra to 1"), std::string::npos)
      << stop->second;
  EXPECT_EQ(t->read([](Connection& c) { return applied_change_seq(c); }), 2) << "the replay stopped before it";
  EXPECT_EQ(count(*t, "SELECT count(*) FROM items"), 2);
}

// Capture off and on again: a new epoch; the writes in between are not in
// the stream, and a follower of the old epoch refuses the new one.
TEST_F(ChangesTest, RestartedCaptureIsANewEpochThatAFollowerRefuses) {
  Store::open(options("source.db", false))->migrate("test", kSchema);
  copy_db("source.db", "target.db");
  std::string epoch1, epoch2;
  auto epoch_of = [](Store& s) {
    return s.read([](Connection& c) {
      return *c.query_one<std::string>("SELECT value FROM store_meta WHERE name = 'changes.epoch'");
    });
  };
  {
    auto s = Store::open(options("source.db", true));
    epoch1 = epoch_of(*s);
    s->write([](Connection& c) { c.exec("INSERT INTO items (name) VALUES ('captured')"); });
  }
  {
    auto s = Store::open(options("source.db", true));
    EXPECT_EQ(epoch_of(*s), epoch1) << "reopened with capture on: the epoch continues";
  }
  {
    auto s = Store::open(options("source.db", false));
    s->write([](Connection& c) { c.exec("INSERT INTO items (name) VALUES ('not captured')"); });
  }
  std::vector<StoredChange> changes;
  {
    auto s = Store::open(options("source.db", true));
    epoch2 = epoch_of(*s);
    EXPECT_EQ(*s->read([](Connection& c) {
      return c.query_one<std::string>("SELECT value FROM store_meta WHERE name = 'changes.first_seq'");
    }),
              "2");
    s->write([](Connection& c) { c.exec("INSERT INTO items (name) VALUES ('captured again')"); });
    changes = all_changes(*s);
  }
  EXPECT_NE(epoch1, epoch2);
  ASSERT_EQ(changes.size(), 2u);
  expect_gap_free(changes, 1);
  auto t = open_plain("target.db");
  t->write([&](Connection& c) { apply_change_record(c, changes[0].seq, changes[0].record); });
  try {
    t->write([&](Connection& c) { apply_change_record(c, changes[1].seq, changes[1].record); });
    FAIL() << "a record of a new epoch was applied";
  } catch (const privstack::Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::conflict);
    EXPECT_NE(std::string(e.what()).find("a new base archive is needed"), std::string::npos) << e.what();
  }
}

// A savepoint adds nothing of its own: its rows are in the enclosing
// transaction's one record. A rekey replaces the writer connection; capture
// follows it.
TEST_F(ChangesTest, SavepointsShareTheRecordAndCaptureSurvivesARekey) {
  auto s = open_capturing();
  s->write([](Connection& c) {
    c.exec("INSERT INTO items (id, name) VALUES (1, 'outer')");
    {
      Transaction inner(c);
      c.exec("INSERT INTO items (id, name) VALUES (2, 'kept')");
      inner.commit();
    }
    {
      Transaction inner(c);
      c.exec("INSERT INTO items (id, name) VALUES (3, 'rolled back')");
    }
  });
  auto changes = all_changes(*s);
  ASSERT_EQ(changes.size(), 1u);
  ChangeRecord r = decode_change_record(changes[0].record);
  ASSERT_EQ(r.ops.size(), 3u);
  EXPECT_EQ(r.ops[0].op, RowChange::Op::upsert);
  EXPECT_EQ(r.ops[1].op, RowChange::Op::upsert);
  EXPECT_EQ(r.ops[2].op, RowChange::Op::erase) << "the savepoint's row is gone at commit: a delete (a no-op on replay)";

  s->rekey();
  s->write([](Connection& c) { c.exec("INSERT INTO items (id, name) VALUES (4, 'after rekey')"); });
  changes = all_changes(*s);
  ASSERT_EQ(changes.size(), 2u) << "the rekey itself changes no row; the write after it is captured";
  EXPECT_EQ(changes[1].seq, 2);
  EXPECT_EQ(decode_change_record(changes[1].record).ops.at(0).rowid, 4);
}

TEST_F(ChangesTest, ReadAndDiscardTheStream) {
  auto s = open_capturing();
  for (int i = 0; i < 5; ++i) s->write([&](Connection& c) { c.exec("INSERT INTO items (n) VALUES (?1)", i); });
  auto page = s->read_changes(1, 2);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].seq, 2);
  EXPECT_EQ(page[1].seq, 3);
  s->discard_changes(3);
  auto rest = all_changes(*s);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].seq, 4);
  s->write([](Connection& c) { c.exec("INSERT INTO items (n) VALUES (9)"); });
  EXPECT_EQ(s->read_changes(4, 10).back().seq, 6) << "discarded seqs are never reused";
  EXPECT_EQ(all_changes(*s).size(), 3u) << "discarding writes no record of its own";
}

TEST_F(ChangesTest, WithoutRowidModuleTablesAreRefusedWhileCapturing) {
  auto s = open_capturing();
  try {
    s->migrate("kv", {{1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID"}});
    FAIL() << "a WITHOUT ROWID table was created under capture";
  } catch (const store::Error& e) {
    EXPECT_NE(std::string(e.what()).find("table kv (module kv) is WITHOUT ROWID"), std::string::npos) << e.what();
  }
  EXPECT_EQ(s->schema_version("kv"), 0);
  EXPECT_EQ(count(*s, "SELECT count(*) FROM sqlite_master WHERE name = 'kv'"), 0);
  s.reset();
  // A store that has one cannot be opened with capture.
  open_plain("source.db")->migrate("kv", {{1, "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID"}});
  EXPECT_THROW(Store::open(options("source.db", true)), store::Error);
}

// ---------------------------------------------------------------- format

namespace {
ChangeRecord sample_record() {
  ChangeRecord r;
  r.epoch = 0x0123456789abcdefULL;
  r.committed_us = 1765100000123456;
  r.tables = {{"items", {"id", "name", "score", "data", "n"}}, {"tags", {"label", "payload"}}};
  r.ops = {
      {RowChange::Op::upsert, 0, 7,
       {std::int64_t{7}, std::string("it's \"quoted\""), -2.5e-300, Blob{0, 1, 255}, std::monostate{}}},
      {RowChange::Op::erase, 1, -3, {}},
      {RowChange::Op::upsert, 1, 9, {std::string(), Blob{}}},
  };
  return r;
}
}  // namespace

TEST(ChangeRecordFormat, RoundTripsAndIsLittleEndian) {
  ChangeRecord r = sample_record();
  Blob bytes = encode_change_record(r);
  EXPECT_EQ(bytes[0], kChangeRecordVersion);
  EXPECT_EQ(bytes[1], static_cast<std::uint8_t>(ChangeKind::rows));
  EXPECT_EQ(bytes[2], 0xef) << "epoch, little-endian";
  ChangeRecord back = decode_change_record(bytes);
  EXPECT_EQ(back.epoch, r.epoch);
  EXPECT_EQ(back.committed_us, r.committed_us);
  ASSERT_EQ(back.tables.size(), 2u);
  EXPECT_EQ(back.tables[1].columns, r.tables[1].columns);
  EXPECT_EQ(back.ops, r.ops);

  Blob schema = encode_schema_record(5, 6, "wallet", 3);
  ChangeRecord s = decode_change_record(schema);
  EXPECT_EQ(s.kind, ChangeKind::schema);
  EXPECT_EQ(s.module, "wallet");
  EXPECT_EQ(s.version, 3);
}

TEST(ChangeRecordFormat, EveryTruncationIsACleanError) {
  for (const Blob& full : {encode_change_record(sample_record()), encode_schema_record(5, 6, "wallet", 3)}) {
    for (std::size_t n = 0; n < full.size(); ++n) {
      Blob cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
      try {
        decode_change_record(cut);
        ADD_FAILURE() << "a record truncated to " << n << " bytes decoded";
      } catch (const privstack::Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::integrity_failed);
      }
    }
    Blob longer = full;
    longer.push_back(0);
    EXPECT_THROW(decode_change_record(longer), privstack::Error) << "trailing bytes";
  }
}

TEST(ChangeRecordFormat, GarbageIsACleanError) {
  std::mt19937_64 rng(7);
  Blob valid = encode_change_record(sample_record());
  int refused = 0;
  for (int i = 0; i < 20000; ++i) {
    Blob b;
    if (i % 2 == 0) {
      b.resize(rng() % 200);
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
      if (!b.empty()) b[0] = kChangeRecordVersion;  // get past the version byte
    } else {
      b = valid;  // flip a few bytes of a valid record
      for (int k = 0; k < 3; ++k) b[rng() % b.size()] ^= static_cast<std::uint8_t>(1 + rng() % 255);
    }
    try {
      ChangeRecord r = decode_change_record(b);
      EXPECT_EQ(encode_change_record(r), b) << "what decodes re-encodes to the same bytes";
    } catch (const privstack::Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::integrity_failed);
      ++refused;
    }
  }
  EXPECT_GT(refused, 10000);
  Blob wrong_version = valid;
  wrong_version[0] = 2;
  EXPECT_THROW(decode_change_record(wrong_version), privstack::Error);
}
