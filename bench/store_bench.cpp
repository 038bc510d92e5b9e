// Store benchmark: the same workloads, schema and pragmas on SQLCipher
// (bench_store_sqlcipher, linked with libsqlcipher) and on plain SQLite
// (bench_store_sqlite, linked with Debian's libsqlite3): the two libraries
// export the same symbols, so each gets its own binary. bench/run-store runs
// both and prints the comparison table.
//
// Output: one line per (config, workload): "RESULT <lib> <config> <workload> <seconds> <ops>"
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef BENCH_SQLCIPHER
constexpr const char* kLib = "sqlcipher";
#else
constexpr const char* kLib = "sqlite";
#endif

namespace {

struct Config {
  const char* name;
  int page_size;          // 0: library default
  int cache_kib;          // 0: library default
  bool reuse_statements;  // prepare once vs. per row
  bool extra_indexes;     // index actor and action too (vs. only `at`)
  int read_cache_kib = 0;  // the reading connection's cache; 0: cache_kib
};

// Each row adds one setting to the previous one (docs/store.md).
const Config kConfigs[] = {
    {"untuned", 0, 0, false, true},
    {"+stmt-reuse", 0, 0, true, true},
    {"+page-4096", 4096, 0, true, true},
    {"+cache-8MiB", 4096, 8192, true, true},
    {"+fewer-indexes", 4096, 8192, true, false},
    {"+cache-64MiB", 4096, 65536, true, false},
    // The same tuning on 1 KiB pages (SQLCipher 3.x's default page size).
    {"page-1024", 1024, 8192, true, false},
    {"page-1024-64MiB", 1024, 65536, true, false},
    // What daemon/store ships: the writer keeps 8 MiB, readers get 32 MiB.
    {"+read-cache-32MiB", 4096, 8192, true, false, 32768},
};

constexpr int kBulkRows = 200000;
constexpr int kSingleRows = 20000;
constexpr int kPointReads = 50000;

void check(sqlite3* db, int rc, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

void exec(sqlite3* db, const std::string& sql) { check(db, sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), sql.c_str()); }

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU time (user + system) of this process: on a shared machine the wall
// time of a phase includes time spent waiting for a core, and the CPU time
// does not, so the table reports both.
double cpu_now() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

struct Phase {
  double wall = now();
  double cpu = cpu_now();
};

sqlite3* open_db(const std::string& path, const Config& c, bool reader = false) {
  sqlite3* db = nullptr;
  check(db, sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            nullptr),
        "open");
#ifdef BENCH_SQLCIPHER
  // A fixed raw key (benchmark only) and the store's explicit cipher settings.
  exec(db, "PRAGMA key = \"x'2DD29CA851E7B56E4697B0E1F08507293D761A05CE4D1B628663F411A8086D99'\"");
  exec(db, "PRAGMA cipher = 'aes-256-cbc'");
  exec(db, "PRAGMA kdf_iter = 64000");
  if (c.page_size) exec(db, "PRAGMA cipher_page_size = " + std::to_string(c.page_size));
#else
  if (c.page_size) exec(db, "PRAGMA page_size = " + std::to_string(c.page_size));
#endif
  exec(db, "PRAGMA journal_mode = WAL");
  exec(db, "PRAGMA synchronous = NORMAL");
  exec(db, "PRAGMA temp_store = MEMORY");
  int cache_kib = reader && c.read_cache_kib ? c.read_cache_kib : c.cache_kib;
  if (cache_kib) exec(db, "PRAGMA cache_size = -" + std::to_string(cache_kib));
  return db;
}

// An audit event as the audit module stores it (~300 bytes).
const char* kInsert =
    "INSERT INTO audit_events (at, actor, action, target, remote, reason, detail, prev_hash, hash)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

struct Row {
  std::string actor, action, target, remote, detail;
  unsigned char prev[32], hash[32];
};

Row make_row(std::mt19937_64& rng, int i) {
  static const char* actions[] = {"session.login", "record.read", "record.update", "backup.run", "user.add"};
  Row r;
  r.actor = "user" + std::to_string(rng() % 200);
  r.action = actions[rng() % 5];
  char uuid[40];
  std::snprintf(uuid, sizeof uuid, "%08x-%04x-4%03x-a%03x-%012llx", static_cast<unsigned>(rng()),
                static_cast<unsigned>(rng() & 0xffff), static_cast<unsigned>(rng() & 0xfff),
                static_cast<unsigned>(rng() & 0xfff), static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
  r.target = uuid;
  r.remote = "10.0." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256);
  r.detail = "{\"event\":" + std::to_string(i) + ",\"fields\":\"" + std::string(90 + rng() % 40, 'd') + "\"}";
  for (auto& b : r.prev) b = static_cast<unsigned char>(rng());
  for (auto& b : r.hash) b = static_cast<unsigned char>(rng());
  return r;
}

void bind_row(sqlite3_stmt* s, const Row& r, int i) {
  sqlite3_bind_int64(s, 1, 1700000000LL + i);
  sqlite3_bind_text(s, 2, r.actor.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 3, r.action.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 4, r.target.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 5, r.remote.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_null(s, 6);
  sqlite3_bind_text(s, 7, r.detail.c_str(), -1, SQLITE_STATIC);
  sqlite3_bind_blob(s, 8, r.prev, 32, SQLITE_STATIC);
  sqlite3_bind_blob(s, 9, r.hash, 32, SQLITE_STATIC);
}

void insert(sqlite3* db, sqlite3_stmt*& cached, const Config& c, const Row& r, int i) {
  sqlite3_stmt* s = cached;
  if (!c.reuse_statements || s == nullptr) check(db, sqlite3_prepare_v2(db, kInsert, -1, &s, nullptr), "prepare");
  bind_row(s, r, i);
  check(db, sqlite3_step(s), "insert");
  if (c.reuse_statements) {
    sqlite3_reset(s);
    cached = s;
  } else {
    sqlite3_finalize(s);
  }
}

void report(const Config& c, const char* workload, const Phase& started, int ops) {
  std::printf("RESULT %s %s %s %.6f %d %.6f\n", kLib, c.name, workload, now() - started.wall, ops,
              cpu_now() - started.cpu);
  std::fflush(stdout);
}

void run(const std::string& dir, const Config& c) {
  std::string path = dir + "/bench-" + kLib + ".db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  sqlite3* db = open_db(path, c);
  exec(db,
       "CREATE TABLE audit_events (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL,"
       " action TEXT NOT NULL, target TEXT, remote TEXT, reason TEXT, detail TEXT NOT NULL,"
       " prev_hash BLOB NOT NULL, hash BLOB NOT NULL)");
  exec(db, "CREATE INDEX audit_events_at ON audit_events (at)");
  if (c.extra_indexes) {
    exec(db, "CREATE INDEX audit_events_actor ON audit_events (actor, at)");
    exec(db, "CREATE INDEX audit_events_action ON audit_events (action, at)");
  }
  std::mt19937_64 rng(42);
  std::vector<Row> rows;
  rows.reserve(kBulkRows);
  for (int i = 0; i < kBulkRows; ++i) rows.push_back(make_row(rng, i));
  sqlite3_stmt* cached = nullptr;

  Phase t;
  exec(db, "BEGIN IMMEDIATE");
  for (int i = 0; i < kBulkRows; ++i) insert(db, cached, c, rows[static_cast<size_t>(i)], i);
  exec(db, "COMMIT");
  report(c, "bulk-insert", t, kBulkRows);

  t = Phase{};
  for (int i = 0; i < kSingleRows; ++i) {
    exec(db, "BEGIN IMMEDIATE");
    insert(db, cached, c, rows[static_cast<size_t>(i)], kBulkRows + i);
    exec(db, "COMMIT");
  }
  report(c, "single-row-commits", t, kSingleRows);
  if (cached) sqlite3_finalize(cached);
  exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");

  // Indexed point reads on a fresh connection (cold cache, as after start).
  sqlite3_close(db);
  db = open_db(path, c, true);
  sqlite3_stmt* q = nullptr;
  check(db, sqlite3_prepare_v2(db, "SELECT actor, detail, hash FROM audit_events WHERE at = ?1", -1, &q, nullptr),
        "prepare read");
  std::mt19937_64 pick(7);
  long found = 0;
  t = Phase{};
  for (int i = 0; i < kPointReads; ++i) {
    sqlite3_stmt* s = q;
    if (!c.reuse_statements) {
      check(db, sqlite3_prepare_v2(db, "SELECT actor, detail, hash FROM audit_events WHERE at = ?1", -1, &s, nullptr),
            "prepare read");
    }
    sqlite3_bind_int64(s, 1, 1700000000LL + static_cast<long long>(pick() % kBulkRows));
    while (sqlite3_step(s) == SQLITE_ROW) found += sqlite3_column_bytes(s, 1) > 0;
    if (c.reuse_statements) sqlite3_reset(s); else sqlite3_finalize(s);
  }
  report(c, "point-reads", t, kPointReads);
  if (found < kPointReads) std::fprintf(stderr, "point reads found only %ld rows\n", found);
  sqlite3_finalize(q);
  sqlite3_close(db);
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = argc > 1 ? argv[1] : ".";
  std::string only = argc > 2 ? argv[2] : "";
  std::fprintf(stderr, "%s %s\n", kLib, sqlite3_libversion());
  for (const Config& c : kConfigs) {
    if (!only.empty() && only != c.name) continue;
    run(dir, c);
  }
  return 0;
}
