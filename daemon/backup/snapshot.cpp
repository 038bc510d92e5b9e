// Snapshot (SQL dump inside a read transaction) and restore; see snapshot.h.
#include "backup/snapshot.h"

#include <sqlite3.h>

#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include "core/encoding.h"
#include "core/time.h"
#include "store/changes.h"
#include "store/store.h"

namespace privstack::backup {

namespace {

// Statements built here only ever contain identifiers read from
// sqlite_master, quoted; values are dumped as literals by the code below.
// The store's Sql type is for statements with bound user values; the dump
// needs per-table statements, so it uses the SQLite API directly.
class Raw {
 public:
  Raw(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt_, nullptr) != SQLITE_OK) {
      std::string msg = sqlite3_errmsg(db);
      sqlite3_finalize(stmt_);
      stmt_ = nullptr;
      throw ArchiveError("snapshot: cannot prepare a dump statement: " + msg);
    }
  }
  ~Raw() { sqlite3_finalize(stmt_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw ArchiveError(std::string("snapshot: reading the store failed: ") + sqlite3_errstr(rc));
  }
  sqlite3_stmt* get() const { return stmt_; }
  std::string text(int i) const {
    const unsigned char* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, i)))
             : std::string();
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

using store::quote_identifier;

struct TableInfo {
  std::string name;
  std::string sql;
};

// User tables in creation order, sqlite_* internals left out.
std::vector<TableInfo> user_tables(sqlite3* db) {
  std::vector<TableInfo> tables;
  Raw q(db,
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND sql IS NOT NULL "
        "ORDER BY rowid");
  while (q.step()) tables.push_back({q.text(0), q.text(1)});
  return tables;
}

bool has_table(sqlite3* db, const char* name) {
  Raw q(db, std::string("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '") + name + "'");
  return q.step();
}

// Below this magnitude a decimal literal may not read back bit for bit
// (see append_value); well clear of where the misreading starts (~1e-291).
constexpr double kSmallestExactLiteral = 1e-280;

// One column value as the dump thread copied it out of SQLite (see Rows).
struct Value {
  int type = SQLITE_NULL;
  std::int64_t integer = 0;
  double real = 0;
  std::string_view bytes;  // TEXT or BLOB
};

void append_value(std::string& out, const Value& value) {
  switch (value.type) {
    case SQLITE_NULL: out += "NULL"; break;
    case SQLITE_INTEGER: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof buf, value.integer);
      out.append(buf, r.ptr);
      break;
    }
    case SQLITE_FLOAT: {
      double v = value.real;
      if (std::isnan(v)) {
        out += "NULL";
      } else if (std::isinf(v)) {
        out += v > 0 ? "1e999" : "-1e999";
      } else if (v != 0 && std::fabs(v) < kSmallestExactLiteral) {
        // SQLite's own number parser (sqlite3AtoF in the SQLite that
        // SQLCipher 3.4.1 carries) divides by 1e308 in two steps for
        // decimal exponents past -291, and is then off by one in the last
        // bit for about one value in eight there (measured: 1,415 of 400,000
        // random doubles read back wrong, all between 1e-308 and 1e-291,
        // where about 11,000 of them lay). Such a value is
        // written exactly, as ieee754(M, E) = M * 2^E: the restore defines
        // that function, and so does the sqlite3 shell (since 3.23), so the
        // dump stays readable with standard tools.
        int exponent = 0;
        double mantissa = std::frexp(v, &exponent);  // v = mantissa * 2^exponent, 0.5 <= |mantissa| < 1
        auto m = static_cast<std::int64_t>(std::ldexp(mantissa, 53));
        exponent -= 53;
        while (m % 2 == 0) {  // the shortest exact pair (m is never 0 here)
          m /= 2;
          ++exponent;
        }
        char buf[24];
        out += "ieee754(";
        out.append(buf, std::to_chars(buf, buf + sizeof buf, m).ptr);
        out += ',';
        out.append(buf, std::to_chars(buf, buf + sizeof buf, exponent).ptr);
        out += ')';
      } else {
        // The text of printf's "%.17g" (17 digits: every double reads back
        // to itself), from to_chars, which the standard defines as that
        // conversion: glibc's printf for doubles was a fifth of the dump
        // thread's time, spent in multi-precision arithmetic.
        char buf[40];
        auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 17);
        std::string_view t(buf, static_cast<std::size_t>(r.ptr - buf));
        out += t;
        // Keep it a REAL on the way back (e.g. 1.0 prints as "1").
        if (t.find_first_of(".eEn") == std::string_view::npos) out += ".0";
      }
      break;
    }
    case SQLITE_TEXT: {
      // Whole runs between quotes at a time: the dump is mostly text, and a
      // byte-by-byte append made formatting the dump's largest cost.
      std::string_view rest = value.bytes;
      out += '\'';
      for (std::size_t q; (q = rest.find('\'')) != std::string_view::npos; rest.remove_prefix(q + 1)) {
        out.append(rest.data(), q + 1);
        out += '\'';
      }
      out += rest;
      out += '\'';
      break;
    }
    case SQLITE_BLOB: {
      out += "X'";
      hex_append(out, byte_view(value.bytes), HexCase::upper);
      out += '\'';
      break;
    }
  }
}

// Buffers dump text and hands it on in ~64 KiB pieces.
class Out {
 public:
  explicit Out(const std::function<void(std::string_view)>& fn) : fn_(fn) { buf_.reserve(kFlush + 4096); }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= kFlush) flush();
  }
  void flush() {
    if (buf_.empty()) return;
    fn_(buf_);
    total_ += buf_.size();
    buf_.clear();
  }
  std::uint64_t total() const { return total_; }

 private:
  static constexpr std::size_t kFlush = 64 * 1024;
  const std::function<void(std::string_view)>& fn_;
  std::string buf_;
  std::uint64_t total_ = 0;
};

// The restore's ieee754(M, E): M * 2^E exactly, for the doubles the dump
// cannot write as decimal literals (see append_value). Like the sqlite3
// shell's function of the same name, for integer arguments.
void ieee754_function(sqlite3_context* context, int, sqlite3_value** argv) {
  if (sqlite3_value_type(argv[0]) != SQLITE_INTEGER || sqlite3_value_type(argv[1]) != SQLITE_INTEGER) {
    sqlite3_result_error(context, "ieee754() takes two integers", -1);
    return;
  }
  const sqlite3_int64 m = sqlite3_value_int64(argv[0]);
  const sqlite3_int64 e = sqlite3_value_int64(argv[1]);
  // An exact double has |M| < 2^53; anything else is not what the dump writes.
  if (m <= -(sqlite3_int64{1} << 53) || m >= (sqlite3_int64{1} << 53) || e < -1100 || e > 1100) {
    sqlite3_result_error(context, "ieee754() arguments out of range", -1);
    return;
  }
  sqlite3_result_double(context, std::ldexp(static_cast<double>(m), static_cast<int>(e)));
}

// Many rows per INSERT (a multi-row VALUES list): a restore compiles one
// statement per INSERT, and compiling one-row statements was most of the
// time a test restore took (161 s of 188 s for a 1 GiB store).
constexpr int kRowsPerInsert = 256;
constexpr std::size_t kBytesPerInsert = 64 * 1024;  // well under SQLITE_MAX_SQL_LENGTH (1e6)

// The dump runs on two threads. The calling thread, which owns the read
// transaction, steps SQLite and copies each row's values into a compact
// binary batch (Rows); a formatting thread turns batches into SQL text and
// hands it on (the archive writer: SHA-256, zstd's own thread, AES-GCM, the
// sink). Stepping, which decrypts and checks every page, and formatting were
// each about half of one thread's time, so on two cores the two halves
// overlap. Batches are bounded (Pipe), so memory stays flat.
//
// A table's rows go as begin_rows (its INSERT prefix and column count),
// rows batches, end_rows. A rows batch's encoding: per value a tag byte, then
// 'I' int64 | 'F' double | 'T'/'B' uint32 length and the bytes | 'N'
// nothing, in native byte order (it never leaves the process).
struct Batch {
  enum class Kind { text, begin_rows, rows, end_rows } kind = Kind::text;
  std::string data;  // text, the INSERT prefix ("INSERT INTO t VALUES("), or encoded rows
  int columns = 0;   // begin_rows
};

// A bounded queue from the stepping thread to the formatting thread. Either
// side can stop it: the formatter when handing on failed (its exception is
// kept and rethrown by the dump), the dump when reading the store failed.
class Pipe {
 public:
  static constexpr std::size_t kDepth = 8;  // batches of ~256 KiB: 2 MiB at most in flight

  // False when the formatter stopped (the dump must end and rethrow).
  bool push(Batch b) {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [&] { return queue_.size() < kDepth || stopped_; });
    if (stopped_) return false;
    queue_.push_back(std::move(b));
    ready_.notify_one();
    return true;
  }
  // Empty when there is nothing more to format.
  std::optional<Batch> pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !queue_.empty() || closed_ || stopped_; });
    if (stopped_ || queue_.empty()) return std::nullopt;
    Batch b = std::move(queue_.front());
    queue_.pop_front();
    room_.notify_one();
    return b;
  }
  void close() {  // the dump is complete: format what is queued, then end
    std::lock_guard lock(mutex_);
    closed_ = true;
    ready_.notify_all();
  }
  void stop(std::exception_ptr failure = nullptr) {  // end now, dropping what is queued
    std::lock_guard lock(mutex_);
    if (failure && !failure_) failure_ = failure;
    stopped_ = true;
    queue_.clear();
    ready_.notify_all();
    room_.notify_all();
  }
  std::exception_ptr failure() {
    std::lock_guard lock(mutex_);
    return failure_;
  }
  bool stopped() {
    std::lock_guard lock(mutex_);
    return stopped_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_, room_;
  std::deque<Batch> queue_;
  bool closed_ = false;
  bool stopped_ = false;
  std::exception_ptr failure_;
};

// The formatting side: SQL text from batches, in ~64 KiB pieces to `fn`.
class Formatter {
 public:
  explicit Formatter(const std::function<void(std::string_view)>& fn) : out_(fn) {}

  void take(const Batch& b) {
    switch (b.kind) {
      case Batch::Kind::text:
        out_.buf() += b.data;
        out_.maybe_flush();
        break;
      case Batch::Kind::begin_rows:
        insert_ = b.data;
        columns_ = b.columns;
        break;
      case Batch::Kind::rows:
        format_rows(b);
        break;
      case Batch::Kind::end_rows:
        if (rows_in_statement_ > 0) out_.buf() += ";\n";
        rows_in_statement_ = 0;
        out_.flush();
        break;
    }
  }
  void finish() { out_.flush(); }
  std::uint64_t total() const { return out_.total(); }

 private:
  void format_rows(const Batch& b) {
    const char* p = b.data.data();
    const char* end = p + b.data.size();
    auto read = [&](auto& v) {
      std::memcpy(&v, p, sizeof v);
      p += sizeof v;
    };
    while (p < end) {
      std::string& out = out_.buf();
      if (rows_in_statement_ == 0) {
        statement_start_ = out.size();
        out += insert_;
      } else {
        out += ",(";
      }
      for (int i = 0; i < columns_; ++i) {
        if (i) out += ',';
        Value v;
        const char tag = *p++;
        switch (tag) {
          case 'I': v.type = SQLITE_INTEGER; read(v.integer); break;
          case 'F': v.type = SQLITE_FLOAT; read(v.real); break;
          case 'T':
          case 'B': {
            std::uint32_t n = 0;
            read(n);
            v.type = tag == 'T' ? SQLITE_TEXT : SQLITE_BLOB;
            v.bytes = std::string_view(p, n);
            p += n;
            break;
          }
          default: v.type = SQLITE_NULL; break;
        }
        append_value(out, v);
      }
      out += ')';
      if (++rows_in_statement_ == kRowsPerInsert || out.size() - statement_start_ >= kBytesPerInsert) {
        out += ";\n";
        rows_in_statement_ = 0;
        out_.maybe_flush();  // only between statements
      }
    }
  }

  Out out_;
  std::string insert_;  // the current table's
  int columns_ = 0;
  int rows_in_statement_ = 0;
  std::size_t statement_start_ = 0;
};

// The stepping side: hands text and rows to the formatting thread, which it
// starts and always joins. A failure on either side ends both, and the
// first one is rethrown here.
class Dumper {
 public:
  explicit Dumper(const std::function<void(std::string_view)>& fn)
      : formatter_(fn), thread_([this] { format_loop(); }) {}
  ~Dumper() {
    if (thread_.joinable()) {
      pipe_.stop();
      thread_.join();
    }
  }
  Dumper(const Dumper&) = delete;
  Dumper& operator=(const Dumper&) = delete;

  void text(std::string t) {
    Batch b;
    b.data = std::move(t);
    send(std::move(b));
  }

  void rows(sqlite3* db, const std::string& table, const std::string& insert_prefix) {
    Raw q(db, "SELECT * FROM " + quote_identifier(table));
    sqlite3_stmt* s = q.get();
    const int columns = sqlite3_column_count(s);
    Batch begin;
    begin.kind = Batch::Kind::begin_rows;
    begin.data = insert_prefix;
    begin.columns = columns;
    send(std::move(begin));
    Batch b = rows_batch();
    while (q.step()) {
      std::string& d = b.data;
      for (int i = 0; i < columns; ++i) {
        switch (sqlite3_column_type(s, i)) {
          case SQLITE_INTEGER: put(d, 'I', sqlite3_column_int64(s, i)); break;
          case SQLITE_FLOAT: put(d, 'F', sqlite3_column_double(s, i)); break;
          case SQLITE_TEXT: {
            const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
            put_bytes(d, 'T', p, sqlite3_column_bytes(s, i));
            break;
          }
          case SQLITE_BLOB: {
            const auto* p = static_cast<const char*>(sqlite3_column_blob(s, i));
            put_bytes(d, 'B', p, sqlite3_column_bytes(s, i));
            break;
          }
          default: d += 'N'; break;
        }
      }
      if (d.size() >= kBatchBytes) {
        send(std::move(b));
        b = rows_batch();
      }
    }
    if (!b.data.empty()) send(std::move(b));
    Batch end;
    end.kind = Batch::Kind::end_rows;
    send(std::move(end));
  }

  // Waits for the formatter to hand on everything; returns the bytes of text.
  std::uint64_t finish() {
    pipe_.close();
    thread_.join();
    if (auto failure = pipe_.failure()) std::rethrow_exception(failure);
    return formatter_.total();
  }

 private:
  static constexpr std::size_t kBatchBytes = 256 * 1024;

  static Batch rows_batch() {
    Batch b;
    b.kind = Batch::Kind::rows;
    b.data.reserve(kBatchBytes + 64 * 1024);
    return b;
  }
  template <class T>
  static void put(std::string& d, char tag, T v) {
    char raw[1 + sizeof v];
    raw[0] = tag;
    std::memcpy(raw + 1, &v, sizeof v);
    d.append(raw, sizeof raw);
  }
  static void put_bytes(std::string& d, char tag, const char* p, int n) {
    const auto len = static_cast<std::uint32_t>(n);
    put(d, tag, len);
    if (n > 0) d.append(p, len);
  }

  void send(Batch b) {
    if (!pipe_.push(std::move(b))) {
      // The formatter failed (a cancelled run, a full disk): end with its error.
      thread_.join();
      if (auto failure = pipe_.failure()) std::rethrow_exception(failure);
      throw ArchiveError("snapshot: the dump's formatting thread stopped");
    }
  }

  void format_loop() {
    try {
      while (auto b = pipe_.pop()) formatter_.take(*b);
      if (!pipe_.stopped()) formatter_.finish();  // not after the dump failed: nothing more goes out
    } catch (...) {
      pipe_.stop(std::current_exception());
    }
  }

  Formatter formatter_;
  Pipe pipe_;
  std::thread thread_;  // last: started once the members it uses exist
};

}  // namespace

std::map<std::string, std::int64_t> count_rows(store::Connection& c) {
  sqlite3* db = c.native();
  std::map<std::string, std::int64_t> counts;
  for (const auto& t : user_tables(db)) {
    Raw q(db, "SELECT COUNT(*) FROM " + quote_identifier(t.name));
    counts[t.name] = q.step() ? sqlite3_column_int64(q.get(), 0) : 0;
  }
  return counts;
}

std::uint64_t dump_sql(store::Connection& c, const std::function<void(std::string_view)>& fn) {
  sqlite3* db = c.native();
  Dumper dump(fn);
  dump.text("-- privstack store dump (SQLite). Statements end with \";\\n\".\n");
  // Each table, its indexes, then its rows; triggers and views last (so
  // that triggers such as the audit log's append-only guards do not fire on
  // the restore's inserts). Unlike sqlite3's .dump, indexes come before the
  // rows: a CREATE INDEX over existing rows sorts them, and with
  // temp_store=MEMORY (no plaintext temp files) that sort holds the whole
  // index in memory (about 360 MiB for 8M results); maintained row by row,
  // an index costs only the page cache, whatever the store size.
  for (const auto& t : user_tables(db)) {
    std::string schema = t.sql + ";\n";
    {
      Raw q(db, "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 AND sql IS NOT NULL ORDER BY rowid");
      sqlite3_bind_text(q.get(), 1, t.name.c_str(), -1, SQLITE_TRANSIENT);
      while (q.step()) schema += q.text(0) + ";\n";
    }
    dump.text(std::move(schema));
    dump.rows(db, t.name, "INSERT INTO " + quote_identifier(t.name) + " VALUES(");
  }
  if (has_table(db, "sqlite_sequence")) {
    dump.text("DELETE FROM sqlite_sequence;\n");
    dump.rows(db, "sqlite_sequence", "INSERT INTO sqlite_sequence VALUES(");
  }
  {
    Raw q(db,
          "SELECT sql FROM sqlite_master WHERE type IN ('trigger', 'view') AND sql IS NOT NULL AND name NOT "
          "LIKE 'sqlite_%' ORDER BY CASE type WHEN 'view' THEN 0 ELSE 1 END, rowid");
    while (q.step()) dump.text(q.text(0) + ";\n");
  }
  dump.text("-- end of dump\n");
  return dump.finish();
}

namespace {

// The dump reads each page once, so a reader's large page cache would only
// fill with pages that are never read again, and grow the daemon by that
// much during a backup; it gets a small one until the dump is done.
class SmallCacheWhileDumping {
 public:
  explicit SmallCacheWhileDumping(sqlite3* db) : db_(db) {
    Raw q(db, "PRAGMA cache_size");
    previous_ = q.step() ? sqlite3_column_int64(q.get(), 0) : 0;
    sqlite3_exec(db_, "PRAGMA cache_size = -2048", nullptr, nullptr, nullptr);
  }
  ~SmallCacheWhileDumping() {
    if (previous_ != 0) {
      std::string sql = "PRAGMA cache_size = " + std::to_string(previous_);
      sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    }
  }
  SmallCacheWhileDumping(const SmallCacheWhileDumping&) = delete;
  SmallCacheWhileDumping& operator=(const SmallCacheWhileDumping&) = delete;

 private:
  sqlite3* db_;
  std::int64_t previous_ = 0;
};

}  // namespace

SnapshotResult snapshot_store(store::Store& store, const Sink& sink, std::span<const std::uint8_t> recovery_public_key,
                              const std::string& source_host, const std::function<void(std::uint64_t)>& progress) {
  return store.read([&](store::Connection& c) {
    SmallCacheWhileDumping small_cache(c.native());
    ArchiveMetadata meta;
    meta.created_ms = default_clock().unix_millis();
    meta.created_unix = meta.created_ms / 1000;
    meta.source_host = source_host;
    meta.row_counts = count_rows(c);
    // The store's overall schema version: the number of migrations applied
    // (rows of store_migrations, all modules), which grows with each one.
    if (has_table(c.native(), "store_migrations")) {
      Raw q(c.native(), "SELECT COUNT(*) FROM store_migrations");
      meta.schema_version = q.step() ? sqlite3_column_int(q.get(), 0) : 0;
    }
    auto writer = std::make_unique<ArchiveWriter>(sink, recovery_public_key, meta);
    std::uint64_t payload = 0;
    std::function<void(std::string_view)> out = [&](std::string_view piece) {
      writer->write(piece);
      payload += piece.size();
      if (progress) progress(payload);
    };
    dump_sql(c, out);
    writer->finish();
    SnapshotResult r;
    r.header = writer->header();
    r.payload_bytes = payload;
    r.archive_bytes = writer->bytes_out();
    r.writer = std::move(writer);
    return r;
  });
}

namespace {

struct FileCleanup {
  std::filesystem::path base;
  bool armed = true;
  ~FileCleanup() {
    if (!armed) return;
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      std::filesystem::remove(base.string() + suffix, ec);
    }
  }
};

}  // namespace

RestoreResult restore_archive(const Source& source, std::span<const std::uint8_t> recovery_private_key,
                              const std::filesystem::path& database, const std::filesystem::path& key_file) {
  std::error_code ec;
  if (std::filesystem::exists(database, ec)) {
    throw ArchiveError("restore: " + database.string() + " already exists; refusing to overwrite it");
  }
  ArchiveReader reader(source, recovery_private_key);
  return restore_archive(reader, database, key_file);
}

RestoreResult restore_archive(ArchiveReader& reader, const std::filesystem::path& database,
                              const std::filesystem::path& key_file) {
  std::error_code ec;
  if (std::filesystem::exists(database, ec)) {
    throw ArchiveError("restore: " + database.string() + " already exists; refusing to overwrite it");
  }
  RestoreResult result;
  result.header = reader.header();

  bool made_key = false;
  if (!std::filesystem::exists(key_file, ec)) {
    store::init_key_file(key_file);
    made_key = true;
  }
  std::filesystem::path scratch = database.string() + ".restoring";
  FileCleanup cleanup{scratch};
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(scratch.string() + suffix, ec);

  try {
    {
      store::Options options;
      options.database = scratch;
      options.key = store::KeyLocation{key_file, false};
      options.readers = 1;
      options.scratch = true;
      auto st = store::Store::open(options);
      st->write([&](store::Connection& c) {
        sqlite3* db = c.native();
        // Store::open made the store's own tables in the scratch database;
        // the dump recreates them with their saved rows, so start empty.
        {
          std::vector<std::pair<std::string, std::string>> objects;
          {
            Raw q(db,
                  "SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view', 'table') AND name NOT LIKE "
                  "'sqlite_%' ORDER BY CASE type WHEN 'trigger' THEN 0 WHEN 'view' THEN 1 ELSE 2 END");
            while (q.step()) objects.emplace_back(q.text(0), q.text(1));
          }
          for (const auto& [type, name] : objects) {
            std::string kind = type == "trigger" ? "TRIGGER" : type == "view" ? "VIEW" : "TABLE";
            std::string sql = "DROP " + kind + " IF EXISTS " + quote_identifier(name);
            if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
              throw ArchiveError("restore: cannot prepare the scratch database: " + std::string(sqlite3_errmsg(db)));
            }
          }
          if (has_table(db, "sqlite_sequence")) sqlite3_exec(db, "DELETE FROM sqlite_sequence", nullptr, nullptr, nullptr);
        }
        // ieee754(M, E) = M * 2^E, as the sqlite3 shell defines it: the dump
        // writes the doubles SQLite cannot read back exactly that way.
        if (sqlite3_create_function_v2(db, "ieee754", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, ieee754_function,
                                       nullptr, nullptr, nullptr) != SQLITE_OK) {
          throw ArchiveError("restore: cannot prepare the scratch database: " + std::string(sqlite3_errmsg(db)));
        }
        c.exec_script("PRAGMA defer_foreign_keys = ON");
        std::string statement;
        std::vector<std::uint8_t> buf(64 * 1024);
        auto run = [&] {
          char* err = nullptr;
          if (sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
            std::string msg = err ? err : "unknown error";
            sqlite3_free(err);
            throw ArchiveError("restore: statement " + std::to_string(result.statements + 1) +
                               " of the dump failed: " + msg);
          }
          ++result.statements;
          statement.clear();
        };
        for (;;) {
          std::size_t n = reader.read(buf);
          if (n == 0) break;
          for (std::size_t i = 0; i < n; ++i) {
            char ch = static_cast<char>(buf[i]);
            statement += ch;
            // Statements end with ";\n"; a ";\n" inside a string literal is
            // told apart by sqlite3_complete.
            if (ch == '\n' && statement.size() >= 2 && statement[statement.size() - 2] == ';' &&
                sqlite3_complete(statement.c_str())) {
              run();
            } else if (ch == '\n' && statement.size() >= 3 && statement[0] == '-' && statement[1] == '-') {
              statement.clear();  // a comment line
            }
          }
        }
        // read() returned 0: the trailer authenticated, the payload is whole.
        bool blank = statement.find_first_not_of(" \t\r\n") == std::string::npos;
        if (!blank) throw ArchiveError("restore: the dump ends in the middle of a statement");
        result.trailer = reader.trailer();
        result.row_counts = count_rows(c);
        for (const auto& [table, rows] : result.header.metadata.row_counts) {
          auto it = result.row_counts.find(table);
          std::int64_t got = it == result.row_counts.end() ? -1 : it->second;
          if (got != rows) {
            throw ArchiveError("restore: table " + table + " has " + std::to_string(got) + " rows, the header says " +
                               std::to_string(rows));
          }
        }
        Raw fk(db, "PRAGMA foreign_key_check");
        if (fk.step()) throw ArchiveError("restore: the restored rows violate a foreign key");
      });
      st->checkpoint();
    }
    std::filesystem::rename(scratch, database);
    cleanup.armed = false;
    for (const char* suffix : {"-wal", "-shm", "-journal"}) std::filesystem::remove(scratch.string() + suffix, ec);
  } catch (...) {
    if (made_key) std::filesystem::remove(key_file, ec);
    throw;
  }
  return result;
}

}  // namespace privstack::backup
