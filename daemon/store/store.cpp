// SQLCipher store implementation; design and settings in docs/store.md.
#define SQLITE_HAS_CODEC 1
#include "store/store.h"
#include "store/changes.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "core/crypto.h"
#include "core/encoding.h"
#include "core/log.h"

namespace privstack::store {

namespace {

bool is_full(int sqlite_code) { return (sqlite_code & 0xff) == SQLITE_FULL; }

ErrorCode code_of(Error::Kind kind, int sqlite_code) {
  if (is_full(sqlite_code)) return ErrorCode::insufficient_storage;
  if (kind == Error::Kind::busy) return ErrorCode::unavailable;
  return ErrorCode::internal;
}

std::string public_message(Error::Kind kind, int sqlite_code) {
  if (is_full(sqlite_code)) return "The server's disk is full; nothing was changed. Retry when space is freed.";
  if (kind == Error::Kind::busy) return "The store is busy; retry in a moment.";
  return "The encrypted store failed; the journal has the details.";
}

}  // namespace

Error::Error(Kind kind, const std::string& message, int sqlite_code)
    : privstack::Error(code_of(kind, sqlite_code), public_message(kind, sqlite_code), message),
      kind_(kind),
      sqlite_code_(sqlite_code) {}

bool Error::disk_full() const { return is_full(sqlite_code_); }

namespace {

// Cipher settings written explicitly (docs/store.md): the SQLCipher 3.x file
// format, which SQLCipher 4.x opens with the same settings.
constexpr int kKdfIter = 64000;  // unused with a raw key; set so a passphrase can never silently differ
constexpr std::size_t kKeyBytes = 32;
constexpr std::string_view kStoreModule = "store";
constexpr int kStoreSchemaVersion = 1;

Error::Kind kind_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Error::Kind::busy;
    case SQLITE_CONSTRAINT:
      return Error::Kind::constraint;
    case SQLITE_NOTADB:
      return Error::Kind::wrong_key;
    case SQLITE_CORRUPT:
      return Error::Kind::corrupt;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
      return Error::Kind::io;
    default:
      return Error::Kind::generic;
  }
}

[[noreturn]] void throw_sqlite(sqlite3* db, int rc, std::string_view what) {
  std::string message(what);
  message += ": ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  throw Error(kind_of(rc), message, rc);
}

void check_rc(sqlite3* db, int rc, std::string_view what) {
  if (rc != SQLITE_OK) throw_sqlite(db, rc, what);
}

// Runs internal SQL that holds no user values.
void exec_internal(sqlite3* db, const char* sql) {
  check_rc(db, sqlite3_exec(db, sql, nullptr, nullptr, nullptr), sql);
}

std::string pragma_text(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  check_rc(db, sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), sql);
  std::string out;
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(stmt, 0);
    if (t) out = reinterpret_cast<const char*>(t);
    rc = sqlite3_step(stmt);
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) throw_sqlite(db, rc, sql);
  return out;
}

std::vector<std::string> pragma_rows(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  check_rc(db, sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), sql);
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(stmt, 0);
    out.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
  }
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) throw_sqlite(db, rc, sql);
  return out;
}

int cipher_major(const std::string& version) {
  try {
    return std::stoi(version);
  } catch (...) {
    return 0;
  }
}

// "x'<64 hex>'" in a Secret-backed buffer, wiped after use.
class RawKey {
 public:
  explicit RawKey(const Secret& hex) {
    std::string s = "x'";
    s.append(hex.reveal());
    s.append("'");
    value_ = Secret(s);
    wipe(s);
  }
  const char* data() const { return value_.reveal().data(); }
  int size() const { return static_cast<int>(value_.size()); }

 private:
  Secret value_;
};

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

void fsync_directory(const std::filesystem::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::filesystem::path pending_key_path(const std::filesystem::path& key) {
  std::filesystem::path p = key;
  p += ".new";
  return p;
}

// Applies the key and the explicit cipher settings; must run before the
// first access to the database.
void apply_key(sqlite3* db, const Secret& key_hex, const std::string& version) {
  RawKey raw(key_hex);
  check_rc(db, sqlite3_key(db, raw.data(), raw.size()), "setting the store key");
  int major = cipher_major(version);
  if (major >= 4) {
    // SQLCipher 4 changed its defaults; these keep the 3.x file format that
    // every database of ours has (docs/store.md).
    exec_internal(db, "PRAGMA cipher_hmac_algorithm = HMAC_SHA1");
    exec_internal(db, "PRAGMA cipher_kdf_algorithm = PBKDF2_HMAC_SHA1");
  } else {
    exec_internal(db, "PRAGMA cipher = 'aes-256-cbc'");
    exec_internal(db, "PRAGMA cipher_use_hmac = ON");
  }
  exec_internal(db, ("PRAGMA kdf_iter = " + std::to_string(kKdfIter)).c_str());
}

std::string query_cipher_version() {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(":memory:", &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  DbHandle db(raw);
  check_rc(raw, rc, "opening SQLCipher");
  std::string v = pragma_text(raw, "PRAGMA cipher_version");
  if (v.empty()) {
    throw Error(Error::Kind::generic,
                "the SQLite library in use is not SQLCipher (PRAGMA cipher_version is empty); "
                "privstack must not be linked with plain libsqlite3");
  }
  return v;
}

enum class Probe { ok, wrong_key, hot_journal, other };

// Tries the key on a read-only connection, which cannot change the file.
Probe probe(const std::filesystem::path& path, const Secret& key, const Options& opts, const std::string& version,
            std::string* detail) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE,
                           nullptr);
  DbHandle db(raw);
  if (rc != SQLITE_OK) {
    *detail = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return Probe::other;
  }
  sqlite3_extended_result_codes(raw, 1);
  try {
    apply_key(raw, key, version);
    exec_internal(raw, ("PRAGMA cipher_page_size = " + std::to_string(opts.page_size)).c_str());
    pragma_text(raw, "SELECT count(*) FROM sqlite_master");
    return Probe::ok;
  } catch (const Error& e) {
    *detail = e.what();
    if ((e.sqlite_code() & 0xff) == SQLITE_NOTADB) return Probe::wrong_key;
    if (e.sqlite_code() == SQLITE_READONLY_ROLLBACK || (e.sqlite_code() & 0xff) == SQLITE_READONLY)
      return Probe::hot_journal;
    return Probe::other;
  }
}

bool key_file_exists(const std::filesystem::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

}  // namespace

std::function<void(int)> testing_hooks::rekey_step;

namespace {
void rekey_step(int step) {
  if (testing_hooks::rekey_step) testing_hooks::rekey_step(step);
}
}  // namespace

// ---------------------------------------------------------------- change capture

// The writer's change capture (docs/store.md "Change capture"). The update
// hook notes (table, rowid) of every row a statement changes; just before
// the transaction's COMMIT the post-image of each noted row is read back and
// one change record appended to store_changes, inside the transaction, so
// the record commits or rolls back with the rows it describes. Rows are
// coalesced per (table, rowid): the record holds the row as it is at commit
// (an upsert), or a deletion when it is gone, in the order of first touch.
class ChangeCapture {
 public:
  explicit ChangeCapture(std::uint64_t epoch) : epoch_(epoch) {}
  ~ChangeCapture() { detach(); }
  ChangeCapture(const ChangeCapture&) = delete;
  ChangeCapture& operator=(const ChangeCapture&) = delete;

  void attach(Connection& c) {
    detach();
    db_ = c.native();
    c.capture_ = this;
    conn_ = &c;
    sqlite3_update_hook(db_, &ChangeCapture::hook, this);
  }
  void detach() {
    forget_statements();
    if (conn_) {
      sqlite3_update_hook(db_, nullptr, nullptr);
      conn_->capture_ = nullptr;
    }
    conn_ = nullptr;
    db_ = nullptr;
    clear();
  }
  // After DDL: the cached post-image queries may name dropped tables.
  void forget_statements() {
    for (auto& [name, stmt] : selects_) sqlite3_finalize(stmt);
    selects_.clear();
  }
  std::uint64_t epoch() const { return epoch_; }

  void begin() { clear(); }
  void discard() { clear(); }
  // A migration's transaction: its record is the schema record (DDL does
  // not reach the update hook; a replayer stops at it).
  void schema_change(std::string_view module, int version) {
    schema_module_ = std::string(module);
    schema_version_ = version;
  }

  void before_commit(Connection& c) {
    Blob record;
    std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    if (schema_version_ != 0) {
      record = encode_schema_record(epoch_, now_us, schema_module_, schema_version_);
    } else if (touched_.empty()) {
      return;  // nothing changed: no record
    } else {
      record = rows_record(now_us);
    }
    clear();
    c.exec("INSERT INTO store_changes (committed_us, record) VALUES (?1, ?2)", now_us, record);
  }

 private:
  struct Table {
    std::string name;
    std::unordered_set<std::int64_t> rowids;
    std::int64_t record_index = -1;  // in the record's dictionary, once used
    std::vector<std::string> columns;
  };
  struct Touch {
    std::size_t table;
    std::int64_t rowid;
  };

  static void hook(void* self, int, const char* database, const char* table, sqlite3_int64 rowid) {
    static_cast<ChangeCapture*>(self)->note(database, table, rowid);
  }

  void note(const char* database, const char* table, std::int64_t rowid) {
    if (std::strcmp(database, "main") != 0 || std::strcmp(table, "store_changes") == 0) return;
    std::size_t t = 0;
    while (t < tables_.size() && tables_[t].name != table) ++t;
    if (t == tables_.size()) tables_.push_back(Table{table, {}, -1, {}});
    if (tables_[t].rowids.insert(rowid).second) touched_.push_back({t, rowid});
  }

  void clear() {
    touched_.clear();
    tables_.clear();
    schema_module_.clear();
    schema_version_ = 0;
  }

  sqlite3_stmt* select_for(const std::string& table) {
    auto it = selects_.find(table);
    if (it != selects_.end()) return it->second;
    // The name comes from SQLite (the update hook), quoted as an identifier.
    std::string sql = "SELECT * FROM " + quote_identifier(table) + " WHERE rowid = ?1";
    sqlite3_stmt* stmt = nullptr;
    check_rc(db_, sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr), "change capture: " + sql);
    selects_.emplace(table, stmt);
    return stmt;
  }

  Blob rows_record(std::int64_t now_us) {
    ChangeRecordBuilder b(epoch_, now_us);
    for (const Touch& touch : touched_) {
      Table& t = tables_[touch.table];
      sqlite3_stmt* s = select_for(t.name);
      if (t.record_index < 0) {
        int n = sqlite3_column_count(s);
        for (int i = 0; i < n; ++i) t.columns.emplace_back(sqlite3_column_name(s, i));
        t.record_index = b.add_table(t.name, t.columns);
      }
      const auto index = static_cast<std::uint32_t>(t.record_index);
      sqlite3_bind_int64(s, 1, touch.rowid);
      int rc = sqlite3_step(s);
      if (rc == SQLITE_ROW) {
        b.begin_upsert(index, touch.rowid);
        for (int i = 0; i < static_cast<int>(t.columns.size()); ++i) {
          switch (sqlite3_column_type(s, i)) {
            case SQLITE_INTEGER:
              b.value_integer(sqlite3_column_int64(s, i));
              break;
            case SQLITE_FLOAT:
              b.value_real(sqlite3_column_double(s, i));
              break;
            case SQLITE_TEXT: {
              const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, i));
              b.value_text(std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(s, i))));
              break;
            }
            case SQLITE_BLOB: {
              const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(s, i));
              std::size_t n = static_cast<std::size_t>(sqlite3_column_bytes(s, i));
              b.value_blob(n ? std::span<const std::uint8_t>(p, n) : std::span<const std::uint8_t>());
              break;
            }
            default:
              b.value_null();
          }
        }
      } else if (rc == SQLITE_DONE) {
        b.erase(index, touch.rowid);
      } else {
        sqlite3_reset(s);
        throw_sqlite(db_, rc, "change capture: reading a changed row of " + t.name);
      }
      sqlite3_reset(s);
    }
    return b.finish();
  }

  std::uint64_t epoch_;
  sqlite3* db_ = nullptr;
  Connection* conn_ = nullptr;
  std::vector<Table> tables_;  // touched in this transaction; few, so searched in order
  std::vector<Touch> touched_;
  std::string schema_module_;
  int schema_version_ = 0;
  std::map<std::string, sqlite3_stmt*> selects_;
};

// ---------------------------------------------------------------- Connection

struct Connection::Cache {
  std::unordered_map<std::string_view, std::vector<sqlite3_stmt*>> idle;
};

Connection::Connection(sqlite3* db) : db_(db), cache_(std::make_unique<Cache>()) {}

Connection::~Connection() {
  for (auto& [sql, list] : cache_->idle) {
    for (sqlite3_stmt* s : list) sqlite3_finalize(s);
  }
  sqlite3_close_v2(db_);
}

Statement Connection::prepare(Sql sql) {
  auto it = cache_->idle.find(sql.text());
  if (it != cache_->idle.end() && !it->second.empty()) {
    sqlite3_stmt* s = it->second.back();
    it->second.pop_back();
    return Statement(this, s);
  }
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.text().data(), static_cast<int>(sql.text().size()), &stmt, &tail);
  if (rc != SQLITE_OK) throw_sqlite(db_, rc, "preparing a statement");
  if (stmt == nullptr) throw Error(Error::Kind::generic, "empty SQL statement");
  if (tail != nullptr && std::string_view(tail).find_first_not_of(" \t\r\n;") != std::string_view::npos) {
    sqlite3_finalize(stmt);
    throw Error(Error::Kind::generic, "prepare() takes one statement; use exec_script() for several");
  }
  cache_->idle.try_emplace(sql.text());
  return Statement(this, stmt);
}

void Connection::give_back(sqlite3_stmt* stmt) noexcept {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  // The key is the Sql literal's text, which sqlite3_sql() reproduces exactly.
  const char* text = sqlite3_sql(stmt);
  std::string_view key(text ? text : "");
  auto it = cache_->idle.find(key);
  if (it == cache_->idle.end()) {
    sqlite3_finalize(stmt);
    return;
  }
  try {
    it->second.push_back(stmt);
  } catch (...) {
    sqlite3_finalize(stmt);
  }
}

void Connection::exec_script(Sql sql) {
  std::string text(sql.text());
  char* err = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string message = "running SQL script: ";
    message += err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    throw Error(kind_of(rc), message, rc);
  }
}

std::int64_t Connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
std::int64_t Connection::changes() const { return sqlite3_changes(db_); }
bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

// ---------------------------------------------------------------- Statement

Statement::Statement(Statement&& other) noexcept : owner_(other.owner_), stmt_(other.stmt_) {
  other.owner_ = nullptr;
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::exchange(other.owner_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() { release(); }

void Statement::release() noexcept {
  if (stmt_ != nullptr) owner_->give_back(stmt_);
  stmt_ = nullptr;
  owner_ = nullptr;
}

void Statement::fail(int rc) const { throw_sqlite(sqlite3_db_handle(stmt_), rc, "SQL statement failed"); }

Statement& Statement::bind(int index, std::int64_t value) {
  if (int rc = sqlite3_bind_int64(stmt_, index, value); rc != SQLITE_OK) fail(rc);
  return *this;
}
Statement& Statement::bind(int index, double value) {
  if (int rc = sqlite3_bind_double(stmt_, index, value); rc != SQLITE_OK) fail(rc);
  return *this;
}
Statement& Statement::bind(int index, std::string_view text) {
  int rc = sqlite3_bind_text64(stmt_, index, text.data() ? text.data() : "", text.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  if (rc != SQLITE_OK) fail(rc);
  return *this;
}
Statement& Statement::bind(int index, BlobView blob) {
  static const std::uint8_t empty = 0;
  int rc = sqlite3_bind_blob64(stmt_, index, blob.data ? blob.data : &empty, blob.size, SQLITE_TRANSIENT);
  if (rc != SQLITE_OK) fail(rc);
  return *this;
}
Statement& Statement::bind(int index, std::nullptr_t) {
  if (int rc = sqlite3_bind_null(stmt_, index); rc != SQLITE_OK) fail(rc);
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3_reset(stmt_);
  fail(rc);
}

std::int64_t Statement::run() {
  while (step()) {
  }
  return sqlite3_changes(sqlite3_db_handle(stmt_));
}

void Statement::reset() { sqlite3_reset(stmt_); }
void Statement::clear_bindings() { sqlite3_clear_bindings(stmt_); }
int Statement::column_count() const { return sqlite3_column_count(stmt_); }
bool Statement::is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
std::int64_t Statement::column_int64(int column) const { return sqlite3_column_int64(stmt_, column); }
double Statement::column_double(int column) const { return sqlite3_column_double(stmt_, column); }
std::string Statement::column_text(int column) const {
  const unsigned char* t = sqlite3_column_text(stmt_, column);
  int n = sqlite3_column_bytes(stmt_, column);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<std::size_t>(n)) : std::string();
}
Blob Statement::column_blob(int column) const {
  const void* b = sqlite3_column_blob(stmt_, column);
  int n = sqlite3_column_bytes(stmt_, column);
  if (b == nullptr || n <= 0) return {};
  const auto* p = static_cast<const std::uint8_t*>(b);
  return Blob(p, p + n);
}

// ---------------------------------------------------------------- Transaction

Transaction::Transaction(Connection& c, Mode mode) : c_(c), nested_(c.in_transaction()) {
  if (nested_) {
    exec_internal(c_.native(), "SAVEPOINT privstack_tx");
  } else {
    exec_internal(c_.native(), mode == Mode::immediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
    if (c_.capture_) c_.capture_->begin();
  }
}

Transaction::~Transaction() {
  if (!done_) {
    try {
      rollback();
    } catch (...) {
      // Nothing more can be done; SQLite rolls back on close anyway.
    }
  }
}

void Transaction::commit() {
  if (done_) throw Error(Error::Kind::generic, "transaction already finished");
  if (nested_) {
    exec_internal(c_.native(), "RELEASE privstack_tx");
  } else {
    // The change record joins the transaction it describes; if appending it
    // fails, commit() throws before COMMIT and the destructor rolls back.
    if (c_.capture_) c_.capture_->before_commit(c_);
    int rc = sqlite3_exec(c_.native(), "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) {
      // A failed COMMIT (e.g. busy) may leave the transaction open.
      if (c_.in_transaction()) sqlite3_exec(c_.native(), "ROLLBACK", nullptr, nullptr, nullptr);
      if (c_.capture_) c_.capture_->discard();
      done_ = true;
      throw_sqlite(c_.native(), rc, "COMMIT");
    }
  }
  done_ = true;
}

void Transaction::rollback() {
  if (done_) return;
  done_ = true;
  if (nested_) {
    exec_internal(c_.native(), "ROLLBACK TO privstack_tx");
    exec_internal(c_.native(), "RELEASE privstack_tx");
  } else {
    if (c_.capture_) c_.capture_->discard();
    if (c_.in_transaction()) exec_internal(c_.native(), "ROLLBACK");
  }
}

// ---------------------------------------------------------------- keys

KeyLocation key_location(const Config& config) {
  if (!config.store.key_file.empty()) return {config.store.key_file, false};
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir != nullptr && *dir != '\0') {
    std::filesystem::path cred = std::filesystem::path(dir) / "store.key";
    std::error_code ec;
    if (std::filesystem::exists(cred, ec)) return {cred, true};
  }
  return {config.state_directory / "store.key", false};
}

std::filesystem::path database_path(const Config& config) { return config.state_directory / "privstack.db"; }

Secret generate_key() {
  unsigned char bytes[kKeyBytes];
  if (RAND_priv_bytes(bytes, sizeof bytes) != 1) throw Error(Error::Kind::generic, "cannot get random bytes");
  std::string text = hex_encode(bytes);
  cleanse(bytes, sizeof bytes);
  Secret key(text);
  wipe(text);
  return key;
}

namespace {

Secret validate_key_text(Secret value, const std::filesystem::path& path) {
  std::string_view v = value.reveal();
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) v.remove_suffix(1);
  bool hex = v.size() == kKeyBytes * 2 && std::all_of(v.begin(), v.end(), [](char ch) {
               return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
             });
  if (!hex) {
    throw Error(Error::Kind::io, "store key " + path.string() +
                                     " is malformed: it must hold a 256-bit key as 64 hexadecimal digits "
                                     "(privstackctl store init-key writes one)");
  }
  if (v.size() == value.size()) return value;
  return Secret(v);
}

// Reads a key file that must already exist; mode/ownership checked.
Secret read_key_checked(const std::filesystem::path& path) {
  try {
    return validate_key_text(read_secret_file(path), path);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(Error::Kind::io, std::string("store key refused: ") + e.what());
  }
}

// Writes a key file: temp file (0600) + fsync, then link() (no_replace) or
// rename() over the target, then fsync of the directory.
void write_key_file(const std::filesystem::path& path, const Secret& key, bool no_replace) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) throw Error(Error::Kind::io, "cannot create " + tmp.string() + ": " + std::strerror(errno));
  std::string text(key.reveal());
  text += '\n';
  std::size_t off = 0;
  int err = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    off += static_cast<std::size_t>(n);
  }
  wipe(text);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0) {
    int rc = no_replace ? ::link(tmp.c_str(), path.c_str()) : ::rename(tmp.c_str(), path.c_str());
    if (rc != 0) err = errno;
  }
  if (no_replace || err != 0) ::unlink(tmp.c_str());
  if (err != 0) {
    if (err == EEXIST) throw Error(Error::Kind::io, "store key " + path.string() + " already exists; not replacing it");
    throw Error(Error::Kind::io, "cannot write store key " + path.string() + ": " + std::strerror(err));
  }
  fsync_directory(path.parent_path());
}

}  // namespace

Secret read_key_file(const std::filesystem::path& path) {
  if (!key_file_exists(path)) {
    throw Error(Error::Kind::missing_key, "store key " + path.string() + " does not exist");
  }
  return read_key_checked(path);
}

Secret load_key(const KeyLocation& location) {
  if (location.credential) {
    try {
      std::optional<Secret> s = read_credential("store.key");
      if (!s) throw Error(Error::Kind::missing_key, "systemd credential store.key is not available");
      return validate_key_text(std::move(*s), location.path);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(Error::Kind::io, std::string("store key credential refused: ") + e.what());
    }
  }
  return read_key_file(location.path);
}

void init_key_file(const std::filesystem::path& path) {
  if (key_file_exists(path)) {
    throw Error(Error::Kind::io, "store key " + path.string() +
                                     " already exists; not replacing it (a new key would make the database "
                                     "unreadable: use privstackctl store rekey to rotate)");
  }
  Secret key = generate_key();
  write_key_file(path, key, true);
}

// ---------------------------------------------------------------- Store

struct Store::Impl {
  Options options;
  Secret key;  // hex
  std::filesystem::path key_path;
  std::string cipher_version;

  std::mutex writer_mutex;
  std::unique_ptr<Connection> writer;
  // Declared after `writer`: destroyed first, finalizing its statements.
  std::unique_ptr<ChangeCapture> capture;

  std::mutex readers_mutex;
  std::condition_variable readers_cv;
  std::vector<std::unique_ptr<Connection>> readers;
  std::vector<Connection*> idle_readers;
  bool readers_paused = false;

  struct Job {
    std::function<void(Connection&)> work;
    std::function<void(std::exception_ptr)> done;
  };
  std::mutex queue_mutex;
  // One condition per kind of worker, each woken with notify_one: a shared
  // notify_all woke every reader for each write (and the writer for each
  // read), and on two cores those wake-ups cost more than the commits.
  std::condition_variable writer_cv;  // write_queue
  std::condition_variable reader_cv;  // read_queue and task_queue
  std::deque<Job> write_queue;
  std::atomic<std::uint64_t> batched_jobs{0};
  std::atomic<std::uint64_t> batch_commits{0};
  std::deque<Job> read_queue;
  std::deque<std::pair<std::function<void()>, std::function<void(std::exception_ptr)>>> task_queue;
  bool shutting_down = false;
  std::vector<std::thread> workers;

  std::unique_ptr<Connection> open_connection(bool read_only) {
    sqlite3* raw = nullptr;
    int flags = (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX |
                SQLITE_OPEN_PRIVATECACHE;
    int rc = sqlite3_open_v2(options.database.c_str(), &raw, flags, nullptr);
    DbHandle db(raw);
    check_rc(raw, rc, "opening " + options.database.string());
    sqlite3_extended_result_codes(raw, 1);
    apply_key(raw, key, cipher_version);
    exec_internal(raw, ("PRAGMA cipher_page_size = " + std::to_string(options.page_size)).c_str());
    // Key check before anything else touches the file.
    pragma_text(raw, "SELECT count(*) FROM sqlite_master");
    sqlite3_busy_timeout(raw, static_cast<int>(options.busy_timeout.count()));
    exec_internal(raw, "PRAGMA temp_store = MEMORY");
    int cache_kib = read_only ? options.reader_cache_size_kib : options.cache_size_kib;
    exec_internal(raw, ("PRAGMA cache_size = -" + std::to_string(cache_kib)).c_str());
    exec_internal(raw, "PRAGMA foreign_keys = ON");
    if (!read_only) {
      std::string mode = pragma_text(raw, "PRAGMA journal_mode = WAL");
      if (mode != "wal") throw Error(Error::Kind::io, "cannot switch the store to WAL mode (got " + mode + ")");
      // WAL + NORMAL: a commit is durable at the next checkpoint fsync; a
      // power loss can lose the last transactions but never corrupts the
      // database (docs/store.md).
      exec_internal(raw, "PRAGMA synchronous = NORMAL");
    } else {
      exec_internal(raw, "PRAGMA query_only = ON");
    }
    return std::unique_ptr<Connection>(new Connection(db.release()));
  }

  void open_readers() {
    std::lock_guard lock(readers_mutex);
    for (int i = 0; i < options.readers; ++i) {
      readers.push_back(open_connection(true));
      idle_readers.push_back(readers.back().get());
    }
  }

  // Waits until every reader is idle, then closes them all (for rekey).
  void close_readers() {
    std::unique_lock lock(readers_mutex);
    readers_paused = true;
    readers_cv.wait(lock, [&] { return idle_readers.size() == readers.size(); });
    idle_readers.clear();
    readers.clear();
  }

  void resume_readers() {
    {
      std::lock_guard lock(readers_mutex);
      readers_paused = false;
    }
    readers_cv.notify_all();
  }

  void start_workers() {
    workers.emplace_back([this] { writer_loop(); });
    for (int i = 0; i < std::max(1, options.readers); ++i) workers.emplace_back([this] { reader_loop(); });
  }

  void stop_workers() {
    {
      std::lock_guard lock(queue_mutex);
      shutting_down = true;
    }
    writer_cv.notify_all();
    reader_cv.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
  }

  void set_up_capture();
  void writer_loop();
  void reader_loop();
  void run_read(const std::function<void(Connection&)>& fn);
  void run_write(const std::function<void(Connection&)>& fn);
};

namespace {

std::optional<std::string> store_meta(Connection& c, Sql sql) { return c.query_one<std::string>(sql); }

bool has_table(Connection& c, std::string_view name) {
  return c.query_one<std::int64_t>("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", name)
      .has_value();
}

// The update hook sees rowid tables only, so capture refuses a module table
// WITHOUT ROWID (the store's own two are covered by schema records and are
// not part of the stream). Such a table has no rowid column to select.
void refuse_without_rowid_tables(Connection& c, std::string_view module) {
  std::vector<std::string> tables;
  c.for_each(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
      " AND name NOT IN ('store_meta', 'store_migrations')",
      [&](const Statement& s) { tables.push_back(s.column_text(0)); });
  for (const std::string& t : tables) {
    std::string sql = "SELECT rowid FROM " + quote_identifier(t) + " LIMIT 0";
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(c.native(), sql.c_str(), -1, &stmt, nullptr);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_OK) {
      throw Error(Error::Kind::generic,
                  "table " + t + (module.empty() ? std::string() : " (module " + std::string(module) + ")") +
                      " is WITHOUT ROWID, which change capture cannot follow (SQLite's update hook sees rowid "
                      "tables only); declare it as a rowid table, or open the store without capture_changes");
    }
  }
}

std::uint64_t random_epoch() {
  std::uint64_t v = 0;
  while (v == 0) {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) {
      throw Error(Error::Kind::generic, "cannot get random bytes");
    }
  }
  return v;
}

}  // namespace

// Capture on: the epoch continues if the last open had capture on (store_meta
// still names it), else a new one starts at the next seq. Capture off: a
// running epoch ends (what this open writes is not captured, so a follower
// must not take the next epoch's records for a continuation).
void Store::Impl::set_up_capture() {
  std::lock_guard lock(writer_mutex);
  Connection& c = *writer;
  if (!options.capture_changes) {
    if (!store_meta(c, "SELECT value FROM store_meta WHERE name = 'changes.epoch'")) return;
    Transaction tx(c, Transaction::Mode::immediate);
    c.exec("DELETE FROM store_meta WHERE name IN ('changes.epoch', 'changes.first_seq')");
    tx.commit();
    return;
  }
  std::uint64_t epoch = 0;
  {
    Transaction tx(c, Transaction::Mode::immediate);
    c.exec_script(
        "CREATE TABLE IF NOT EXISTS store_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " committed_us INTEGER NOT NULL, record BLOB NOT NULL)");
    refuse_without_rowid_tables(c, {});
    if (auto e = store_meta(c, "SELECT value FROM store_meta WHERE name = 'changes.epoch'")) {
      epoch = parse_epoch(*e);
    } else {
      epoch = random_epoch();
      std::int64_t last =
          c.query_one<std::int64_t>("SELECT seq FROM sqlite_sequence WHERE name = 'store_changes'").value_or(0);
      c.exec("INSERT OR REPLACE INTO store_meta (name, value) VALUES ('changes.epoch', ?1)", epoch_text(epoch));
      c.exec("INSERT OR REPLACE INTO store_meta (name, value) VALUES ('changes.first_seq', ?1)",
             std::to_string(last + 1));
    }
    tx.commit();
  }
  capture = std::make_unique<ChangeCapture>(epoch);
  capture->attach(c);
}

void Store::Impl::run_read(const std::function<void(Connection&)>& fn) {
  Connection* c = nullptr;
  {
    std::unique_lock lock(readers_mutex);
    readers_cv.wait(lock, [&] { return !readers_paused && !idle_readers.empty(); });
    c = idle_readers.back();
    idle_readers.pop_back();
  }
  struct Return {
    Impl* self;
    Connection* c;
    ~Return() {
      {
        std::lock_guard lock(self->readers_mutex);
        self->idle_readers.push_back(c);
      }
      self->readers_cv.notify_all();
    }
  } give_back{this, c};
  Transaction tx(*c, Transaction::Mode::deferred);
  fn(*c);
  tx.commit();
}

void Store::Impl::run_write(const std::function<void(Connection&)>& fn) {
  std::lock_guard lock(writer_mutex);
  Transaction tx(*writer, Transaction::Mode::immediate);
  fn(*writer);
  tx.commit();
}

void Store::Impl::reader_loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(queue_mutex);
      reader_cv.wait(lock, [&] { return shutting_down || !read_queue.empty() || !task_queue.empty(); });
      if (!task_queue.empty()) {
        auto task = std::move(task_queue.front());
        task_queue.pop_front();
        lock.unlock();
        std::exception_ptr error;
        try {
          task.first();
        } catch (...) {
          error = std::current_exception();
        }
        task.second(error);
        continue;
      }
      if (read_queue.empty()) return;
      job = std::move(read_queue.front());
      read_queue.pop_front();
    }
    std::exception_ptr error;
    try {
      run_read(job.work);
    } catch (...) {
      error = std::current_exception();
    }
    job.done(error);
  }
}

// Group commit: every job queued while the previous batch committed runs in
// the next transaction. Jobs share it without savepoints: SQLCipher encrypts
// every page it copies into a savepoint's sub-journal, which made a batched
// single-row write cost ~40 us, half a commit (bench/run-store). When a job
// throws, or the commit fails, nothing of the batch is committed and each
// job runs again alone in its own transaction, so one failing job does not
// undo the others. A job may therefore run twice: jobs act only through the
// connection (store.h says so).
void Store::Impl::writer_loop() {
  constexpr std::size_t kMaxBatch = 256;
  for (;;) {
    std::vector<Job> batch;
    {
      std::unique_lock lock(queue_mutex);
      writer_cv.wait(lock, [&] { return shutting_down || !write_queue.empty(); });
      if (write_queue.empty()) return;
      while (!write_queue.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(write_queue.front()));
        write_queue.pop_front();
      }
    }
    std::vector<std::exception_ptr> errors(batch.size());
    std::uint64_t commits = 0;
    bool together = false;
    if (batch.size() > 1) {
      try {
        std::lock_guard lock(writer_mutex);
        Transaction tx(*writer, Transaction::Mode::immediate);
        for (auto& job : batch) job.work(*writer);
        tx.commit();
        together = true;
        commits = 1;
      } catch (...) {
        // Rolled back by ~Transaction; run them one by one below.
      }
    }
    if (!together) {
      for (std::size_t i = 0; i < batch.size(); ++i) {
        try {
          std::lock_guard lock(writer_mutex);
          Transaction tx(*writer, Transaction::Mode::immediate);
          batch[i].work(*writer);
          tx.commit();
          ++commits;
        } catch (...) {
          errors[i] = std::current_exception();
        }
      }
    }
    batched_jobs += batch.size();
    batch_commits += commits;
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i].done(errors[i]);
  }
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  impl_->stop_workers();
  impl_->readers.clear();
  if (impl_->writer) {
    // Closing the last connection checkpoints and removes the WAL; the
    // explicit checkpoint first makes sure its content is in the main file.
    try {
      std::lock_guard lock(impl_->writer_mutex);
      pragma_text(impl_->writer->native(), "PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (...) {
    }
    impl_->capture.reset();
    impl_->writer.reset();
  }
}

// SQLite keeps allocation statistics (sqlite3_memory_used()) under one
// process-wide mutex taken on every malloc and free; privstack never reads
// them. Off, replaying a backup's SQL dump (one prepare per row) ran in
// about two thirds of the time. Must precede SQLite's initialisation, so
// it is set before the first connection; later calls are no-ops.
static void configure_sqlite_once() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

std::unique_ptr<Store> Store::open(const Options& options) {
  configure_sqlite_once();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->cipher_version = query_cipher_version();
  const std::filesystem::path& db = options.database;
  impl->key_path = options.key.path;
  std::filesystem::path pending = pending_key_path(options.key.path);

  std::error_code ec;
  bool db_exists = std::filesystem::exists(db, ec);
  bool key_exists = options.key.credential || key_file_exists(options.key.path);
  if (!key_exists) {
    if (db_exists) {
      throw Error(Error::Kind::missing_key,
                  "store key " + options.key.path.string() + " is missing but the database " + db.string() +
                      " exists; restore the key file that belongs to it (a new key cannot decrypt it). "
                      "The database was not modified");
    }
    throw Error(Error::Kind::missing_key, "no store key at " + options.key.path.string() +
                                              "; create one with: privstackctl store init-key "
                                              "(or provide the systemd credential store.key)");
  }
  impl->key = load_key(options.key);

  if (db_exists) {
    std::string detail;
    Probe p = probe(db, impl->key, options, impl->cipher_version, &detail);
    if (p == Probe::hot_journal) {
      // A write (a rekey) was interrupted: its rollback journal must be played
      // back before anyone can read. Playback copies the journal's pages back
      // as they are, so it restores the previous state whatever the key.
      {
        sqlite3* raw = nullptr;
        sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
        DbHandle h(raw);
        if (raw) {
          try {
            apply_key(raw, impl->key, impl->cipher_version);
            exec_internal(raw, ("PRAGMA cipher_page_size = " + std::to_string(options.page_size)).c_str());
            pragma_text(raw, "SELECT count(*) FROM sqlite_master");
          } catch (const Error&) {
          }
        }
      }
      p = probe(db, impl->key, options, impl->cipher_version, &detail);
    }
    if (p == Probe::wrong_key && !options.key.credential && key_file_exists(pending)) {
      // A rekey committed but was interrupted before the new key replaced the
      // old one: finish it.
      Secret next = read_key_checked(pending);
      std::string d2;
      if (probe(db, next, options, impl->cipher_version, &d2) == Probe::ok) {
        if (::rename(pending.c_str(), options.key.path.c_str()) != 0) {
          throw Error(Error::Kind::io, "cannot complete the interrupted rekey: rename " + pending.string() + ": " +
                                           std::strerror(errno));
        }
        fsync_directory(options.key.path.parent_path());
        impl->key = std::move(next);
        p = Probe::ok;
        log::emit(log::events::store_rekey_recovered,
                  "completed an interrupted store rekey: the new key now in " + options.key.path.string(),
                  {{"DATABASE", db.string()}, {"KEY_FILE", options.key.path.string()}});
      }
    }
    if (p == Probe::wrong_key) {
      throw Error(Error::Kind::wrong_key,
                  "the store key " + options.key.path.string() + " does not decrypt " + db.string() +
                      " (wrong key, or the file is corrupt or not a privstack database); "
                      "the database was not modified");
    }
    if (p != Probe::ok) {
      throw Error(Error::Kind::corrupt, "cannot open the store " + db.string() + ": " + detail +
                                            "; the database was not modified");
    }
    // The main key works: a leftover pending key is from a rekey that never
    // committed.
    if (!options.key.credential && key_file_exists(pending)) ::unlink(pending.c_str());
  } else {
    if (!options.create) throw Error(Error::Kind::io, "the store " + db.string() + " does not exist");
    // Created here so that it is 0600 from the start; SQLite gives the WAL
    // and shm files the same mode.
    int fd = ::open(db.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw Error(Error::Kind::io, "cannot create the store " + db.string() + ": " + std::strerror(errno));
    ::close(fd);
  }

  impl->writer = impl->open_connection(false);
  sqlite3* w = impl->writer->native();
  // Our own schema: the migrations record.
  exec_internal(w,
                "CREATE TABLE IF NOT EXISTS store_migrations ("
                " module TEXT NOT NULL, version INTEGER NOT NULL, applied_at INTEGER NOT NULL,"
                " PRIMARY KEY (module, version)) WITHOUT ROWID");
  if (!db_exists) fsync_directory(db.parent_path());
  std::unique_ptr<Store> store(new Store(std::move(impl)));
  static constexpr Migration kStoreMigrations[] = {
      {1, "CREATE TABLE IF NOT EXISTS store_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID"},
  };
  static_assert(std::size(kStoreMigrations) == kStoreSchemaVersion);
  store->migrate(kStoreModule, kStoreMigrations);
  store->impl_->set_up_capture();
  store->impl_->open_readers();
  store->impl_->start_workers();
  return store;
}

void Store::run_read(const std::function<void(Connection&)>& fn) { impl_->run_read(fn); }
void Store::run_write(const std::function<void(Connection&)>& fn) { impl_->run_write(fn); }

Store::WriteStats Store::write_stats() const { return {impl_->batched_jobs.load(), impl_->batch_commits.load()}; }

void Store::submit(bool write, std::function<void(Connection&)> work, std::function<void(std::exception_ptr)> done) {
  {
    std::lock_guard lock(impl_->queue_mutex);
    if (impl_->shutting_down) throw Error(Error::Kind::generic, "the store is shutting down");
    (write ? impl_->write_queue : impl_->read_queue).push_back({std::move(work), std::move(done)});
  }
  (write ? impl_->writer_cv : impl_->reader_cv).notify_one();
}

void Store::submit_task(std::function<void()> work, std::function<void(std::exception_ptr)> done) {
  {
    std::lock_guard lock(impl_->queue_mutex);
    if (impl_->shutting_down) throw Error(Error::Kind::generic, "the store is shutting down");
    impl_->task_queue.emplace_back(std::move(work), std::move(done));
  }
  impl_->reader_cv.notify_one();
}

void Store::migrate(std::string_view module, std::span<const Migration> migrations) {
  for (std::size_t i = 0; i < migrations.size(); ++i) {
    if (migrations[i].version != static_cast<int>(i) + 1) {
      throw Error(Error::Kind::generic, "migrations of module " + std::string(module) +
                                            " must be numbered 1, 2, 3, ... in order");
    }
  }
  const int known = static_cast<int>(migrations.size());
  std::lock_guard lock(impl_->writer_mutex);
  Connection& c = *impl_->writer;
  int current = 0;
  {
    Transaction tx(c, Transaction::Mode::immediate);
    current = static_cast<int>(
        c.query_one<std::int64_t>("SELECT coalesce(max(version), 0) FROM store_migrations WHERE module = ?1",
                                  module)
            .value_or(0));
    tx.commit();
  }
  if (current > known) {
    throw Error(Error::Kind::schema_too_new,
                "the store's schema for " + std::string(module) + " is at version " + std::to_string(current) +
                    " but this privstack knows only up to " + std::to_string(known) +
                    "; it was written by a newer privstack. Refusing to use it (install that version "
                    "or restore a backup); the database was not modified");
  }
  for (int v = current + 1; v <= known; ++v) {
    Transaction tx(c, Transaction::Mode::immediate);
    // Re-check inside the transaction (another process could have migrated).
    auto now = c.query_one<std::int64_t>("SELECT coalesce(max(version), 0) FROM store_migrations WHERE module = ?1",
                                         module);
    if (now.value_or(0) >= v) continue;
    c.exec_script(migrations[static_cast<std::size_t>(v - 1)].sql);
    c.exec("INSERT INTO store_migrations (module, version, applied_at) VALUES (?1, ?2, strftime('%s','now'))", module,
           v);
    if (impl_->capture) {
      refuse_without_rowid_tables(c, module);
      impl_->capture->forget_statements();
      impl_->capture->schema_change(module, v);
    }
    tx.commit();
    if (impl_->options.scratch) continue;
    log::emit(log::events::store_migrated,
              "store schema of " + std::string(module) + " migrated to version " + std::to_string(v),
              {{"MODULE", std::string(module)}, {"SCHEMA_VERSION", v}});
  }
}

int Store::schema_version(std::string_view module) {
  return read([&](Connection& c) {
    return static_cast<int>(
        c.query_one<std::int64_t>("SELECT coalesce(max(version), 0) FROM store_migrations WHERE module = ?1", module)
            .value_or(0));
  });
}

CheckReport Store::check() {
  CheckReport report;
  report.cipher_version = impl_->cipher_version;
  read([&](Connection& c) {
    sqlite3* db = c.native();
    report.page_size = std::stoll(pragma_text(db, "PRAGMA page_size"));
    report.page_count = std::stoll(pragma_text(db, "PRAGMA page_count"));
    report.integrity = pragma_rows(db, "PRAGMA integrity_check");
    if (cipher_major(impl_->cipher_version) >= 4) {
      report.cipher_integrity = pragma_rows(db, "PRAGMA cipher_integrity_check");
      report.cipher_integrity_method = "PRAGMA cipher_integrity_check (every page's HMAC)";
    } else {
      // SQLCipher 3.x has no cipher_integrity_check. integrity_check reads
      // every page of every table and index and the freelist trunk pages;
      // each read verifies the page's HMAC and fails on a mismatch.
      report.cipher_integrity_method =
          "HMAC verified on every page read by integrity_check (SQLCipher 3.x has no cipher_integrity_check)";
    }
  });
  report.ok = report.integrity.size() == 1 && report.integrity[0] == "ok" && report.cipher_integrity.empty();
  return report;
}

RekeyResult Store::rekey() {
  if (impl_->options.key.credential) {
    throw Error(Error::Kind::generic,
                "the store key comes from the systemd credential store.key, which privstackd cannot rewrite; "
                "rotate it offline as described in docs/operations.md (privstackctl store rekey --offline)");
  }
  auto started = std::chrono::steady_clock::now();
  const std::filesystem::path& key_path = impl_->key_path;
  std::filesystem::path pending = pending_key_path(key_path);
  Secret next = generate_key();

  std::lock_guard writer_lock(impl_->writer_mutex);
  impl_->close_readers();
  struct Resume {
    Impl* impl;
    ~Resume() {
      try {
        if (impl->readers.empty()) impl->open_readers();
      } catch (...) {
      }
      impl->resume_readers();
    }
  } resume{impl_.get()};

  sqlite3* w = impl_->writer->native();
  // 1. The new key is on disk before the database depends on it.
  write_key_file(pending, next, false);
  rekey_step(1);
  try {
    // 2. Rekey in rollback-journal mode: the journal holds the old pages
    //    (old-key ciphertext), so an interruption rolls back to the old key;
    //    the commit (journal deletion) switches to the new key at once.
    pragma_text(w, "PRAGMA wal_checkpoint(TRUNCATE)");
    std::string mode = pragma_text(w, "PRAGMA journal_mode = DELETE");
    if (mode != "delete") {
      throw Error(Error::Kind::busy,
                  "cannot take the store out of WAL mode for the rekey (is another process using it?)");
    }
    exec_internal(w, "PRAGMA synchronous = FULL");
    rekey_step(2);
    RawKey raw(next);
    check_rc(w, sqlite3_rekey(w, raw.data(), raw.size()), "re-encrypting the store");
  } catch (...) {
    // Nothing committed: the database still uses the old key.
    sqlite3_exec(w, "PRAGMA journal_mode = WAL", nullptr, nullptr, nullptr);
    sqlite3_exec(w, "PRAGMA synchronous = NORMAL", nullptr, nullptr, nullptr);
    ::unlink(pending.c_str());
    throw;
  }
  // 3. Committed: the new key is the one. Promote it, then back to WAL.
  rekey_step(3);
  if (::rename(pending.c_str(), key_path.c_str()) != 0) {
    throw Error(Error::Kind::io, "the store was re-encrypted but " + pending.string() + " could not be renamed to " +
                                     key_path.string() + ": " + std::strerror(errno) +
                                     "; the next start completes this");
  }
  fsync_directory(key_path.parent_path());
  rekey_step(4);
  impl_->key = std::move(next);
  // Back to WAL on a fresh writer connection, opened with the new key like
  // every later one (the rekeyed connection's codec state is not reused).
  {
    std::unique_ptr<Connection> fresh = impl_->open_connection(false);
    if (impl_->capture) impl_->capture->detach();
    std::swap(fresh, impl_->writer);
    if (impl_->capture) impl_->capture->attach(*impl_->writer);
  }
  rekey_step(5);

  RekeyResult result;
  result.key_file = key_path;
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  log::emit(log::events::store_rekeyed, "store re-encrypted with a new key in " + key_path.string(),
            {{"DATABASE", impl_->options.database.string()},
             {"KEY_FILE", key_path.string()},
             {"DURATION_MS", static_cast<std::int64_t>(result.duration.count())}});
  return result;
}

std::string Store::cipher_version() const { return impl_->cipher_version; }
const Options& Store::options() const { return impl_->options; }

std::vector<StoredChange> Store::read_changes(std::int64_t after_seq, std::size_t max_records) {
  return read([&](Connection& c) {
    std::vector<StoredChange> out;
    if (!has_table(c, "store_changes")) return out;
    c.for_each(
        "SELECT seq, committed_us, record FROM store_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        [&](const Statement& s) { out.push_back({s.column_int64(0), s.column_int64(1), s.column_blob(2)}); },
        after_seq, static_cast<std::int64_t>(max_records));
    return out;
  });
}

void Store::discard_changes(std::int64_t up_to_seq) {
  write([&](Connection& c) {
    if (has_table(c, "store_changes")) c.exec("DELETE FROM store_changes WHERE seq <= ?1", up_to_seq);
  });
}

void Store::checkpoint() {
  std::lock_guard lock(impl_->writer_mutex);
  pragma_text(impl_->writer->native(), "PRAGMA wal_checkpoint(TRUNCATE)");
}

}  // namespace privstack::store
