// The encrypted store: every module keeps its data here (docs/store.md).
//
// SQLCipher (AES-256, HMAC per page) with a raw 256-bit key, WAL mode, one
// writer connection and a small pool of reader connections, each used by one
// thread at a time.
//
//   Store::read(fn)   runs fn(Connection&) on a reader inside a read
//                     transaction (one consistent snapshot); blocking.
//   Store::write(fn)  runs fn(Connection&) on the writer inside a write
//                     transaction, committed when fn returns and rolled back
//                     when it throws; blocking.
//   async_read/async_write  the same, run on the store's own worker threads
//                     and co_awaited from an asio coroutine, so io threads
//                     never block on SQLite. Results (or exceptions) come back
//                     on the awaiting coroutine's executor.
//
// SQL injection is impossible by construction: SQL text is an `Sql`, which
// can only be made from a string literal (consteval); values are always
// bound parameters (?1, ?2, ... or ?). There is no API that takes SQL built
// at run time.
//
// Schema: each module registers its own numbered, forward-only migrations
// with Store::migrate("module", {...}); they run in one transaction per
// version and are recorded in the table store_migrations. A database whose
// recorded version for a module is newer than the code knows is refused.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/error.h"
#include "core/secret.h"

struct sqlite3;
struct sqlite3_stmt;

namespace privstack::store {

// ---------------------------------------------------------------- errors

// Any store failure. what() never contains bound values or key material. It
// is a privstack::Error: a full disk is insufficient_storage, a lock not
// obtained in time unavailable, everything else internal; the client sees a
// generic message, what() (the internal detail) goes to the journal.
class Error : public privstack::Error {
 public:
  enum class Kind {
    generic,
    busy,            // lock not obtained within the busy timeout
    constraint,      // UNIQUE / FOREIGN KEY / CHECK / NOT NULL violated
    wrong_key,       // the key does not decrypt the database (or it is not one)
    corrupt,         // the file is damaged
    missing_key,     // no key configured/provisioned
    schema_too_new,  // the database was written by a newer privstack
    io,
  };
  Error(Kind kind, const std::string& message, int sqlite_code = 0);
  Kind kind() const { return kind_; }
  int sqlite_code() const { return sqlite_code_; }
  // SQLITE_FULL: the file system holding the database has no space left.
  bool disk_full() const;

 private:
  Kind kind_;
  int sqlite_code_;
};

// ---------------------------------------------------------------- SQL text

// SQL text known at compile time. The constructor is consteval: only string
// literals (and other constant expressions) convert to Sql, so user values
// can never become part of a statement's text.
class Sql {
 public:
  template <std::size_t N>
  consteval Sql(const char (&text)[N]) : text_(text, N - 1) {}  // NOLINT: implicit on purpose
  constexpr std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

// A BLOB value to bind (the bytes are copied by SQLite at bind time).
struct BlobView {
  const void* data = nullptr;
  std::size_t size = 0;
  BlobView() = default;
  BlobView(const void* d, std::size_t n) : data(d), size(n) {}
  BlobView(std::span<const std::uint8_t> s) : data(s.data()), size(s.size()) {}  // NOLINT
  BlobView(const std::vector<std::uint8_t>& v) : data(v.data()), size(v.size()) {}  // NOLINT
};
using Blob = std::vector<std::uint8_t>;

// ---------------------------------------------------------------- statements

class Connection;
class ChangeCapture;  // store.cpp: the writer's change capture (docs/store.md)

// A prepared statement borrowed from its connection's statement cache.
// Move-only; when it dies it is reset, its bindings cleared, and it goes back
// to the cache for the next prepare() of the same Sql.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based (?1 is index 1; plain ? are numbered in order).
  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, bool value) { return bind(index, static_cast<std::int64_t>(value ? 1 : 0)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view text);  // UTF-8 TEXT
  Statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
  Statement& bind(int index, BlobView blob);
  Statement& bind(int index, const Blob& blob) { return bind(index, BlobView(blob)); }
  Statement& bind(int index, std::nullptr_t);
  Statement& bind(int index, std::nullopt_t) { return bind(index, nullptr); }
  template <class T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, nullptr);
  }
  // Secrets are not bound by accident: reveal() explicitly if a secret really
  // must be stored (it then is, encrypted, in the database).
  Statement& bind(int index, const Secret&) = delete;

  // bind(1, a); bind(2, b); ...
  template <class... Args>
  Statement& bind_all(const Args&... args) {
    [[maybe_unused]] int i = 0;
    (bind(++i, args), ...);
    return *this;
  }

  // Advances; true when a row is available, false when done.
  bool step();
  // Steps to completion (for INSERT/UPDATE/DELETE); returns changes().
  std::int64_t run();
  // Resets to run again; bindings are kept (clear_bindings() to drop them).
  void reset();
  void clear_bindings();

  int column_count() const;
  bool is_null(int column) const;  // 0-based columns
  std::int64_t column_int64(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  Blob column_blob(int column) const;
  // column<T>(i) for T in int64_t, int, bool, double, std::string, Blob and
  // std::optional of those (nullopt for NULL).
  template <class T>
  T column(int index) const;

 private:
  friend class Connection;
  Statement(Connection* owner, sqlite3_stmt* stmt) : owner_(owner), stmt_(stmt) {}
  void release() noexcept;
  [[noreturn]] void fail(int rc) const;
  Connection* owner_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

namespace detail {
template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
}  // namespace detail

template <class T>
T Statement::column(int index) const {
  if constexpr (detail::is_optional<T>::value) {
    if (is_null(index)) return std::nullopt;
    return column<typename T::value_type>(index);
  } else if constexpr (std::is_same_v<T, bool>) {
    return column_int64(index) != 0;
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(column_int64(index));
  } else if constexpr (std::is_same_v<T, double>) {
    return column_double(index);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return column_text(index);
  } else if constexpr (std::is_same_v<T, Blob>) {
    return column_blob(index);
  } else {
    static_assert(sizeof(T) == 0, "unsupported column type");
  }
}

// ---------------------------------------------------------------- connection

// One SQLite connection. Not thread-safe: the Store hands each one to a
// single thread at a time.
class Connection {
 public:
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // A prepared statement for `sql` (one statement), from the cache when it
  // has been prepared before on this connection.
  Statement prepare(Sql sql);

  // Prepares, binds args in order and runs to completion; returns changes().
  template <class... Args>
  std::int64_t exec(Sql sql, const Args&... args) {
    Statement s = prepare(sql);
    s.bind_all(args...);
    return s.run();
  }
  // Runs a query that yields at most one row and returns its first column,
  // or nullopt when there is no row.
  template <class T, class... Args>
  std::optional<T> query_one(Sql sql, const Args&... args) {
    Statement s = prepare(sql);
    s.bind_all(args...);
    if (!s.step()) return std::nullopt;
    return s.column<T>(0);
  }
  // Runs fn(const Statement&) for each row.
  template <class Fn, class... Args>
  void for_each(Sql sql, Fn&& fn, const Args&... args) {
    Statement s = prepare(sql);
    s.bind_all(args...);
    while (s.step()) fn(static_cast<const Statement&>(s));
  }
  // Runs one or more statements without parameters (schema scripts).
  void exec_script(Sql sql);

  std::int64_t last_insert_rowid() const;
  std::int64_t changes() const;
  bool in_transaction() const;

  sqlite3* native() const { return db_; }  // for the store implementation and tests

 private:
  friend class Statement;
  friend class Store;
  friend class Transaction;
  friend class ChangeCapture;
  friend struct StoreAccess;
  explicit Connection(sqlite3* db);
  void give_back(sqlite3_stmt* stmt) noexcept;
  struct Cache;
  sqlite3* db_;
  std::unique_ptr<Cache> cache_;
  // Set on the writer while change capture is on: a top-level Transaction
  // starts it, appends the change record before COMMIT, drops it on rollback.
  ChangeCapture* capture_ = nullptr;
};

// RAII transaction on a connection: commit() makes it durable; destruction
// without commit() rolls it back. Nested use (a Transaction while one is
// open on the connection) becomes a SAVEPOINT.
class Transaction {
 public:
  enum class Mode { deferred, immediate };
  explicit Transaction(Connection& c, Mode mode = Mode::immediate);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();
  void rollback();

 private:
  Connection& c_;
  bool nested_;
  bool done_ = false;
};

// ---------------------------------------------------------------- migrations

struct Migration {
  int version;  // 1, 2, 3, ... without gaps, never renumbered or edited once shipped
  Sql sql;      // may hold several statements
};

// ---------------------------------------------------------------- keys

// Where the store key comes from (Config::store.key_file, else the systemd
// credential "store.key", else <state_directory>/store.key).
struct KeyLocation {
  std::filesystem::path path;  // the file to read
  bool credential = false;     // read from $CREDENTIALS_DIRECTORY: the daemon cannot rewrite it
};
KeyLocation key_location(const Config& config);
std::filesystem::path database_path(const Config& config);  // <state_directory>/privstack.db

// A 256-bit key in its file form: 64 lowercase hex digits.
Secret generate_key();
// Reads and validates a key file (mode 0600/0400, owned by the service user
// or root, 64 hex digits). Throws Error(missing_key) when absent, Error(io)
// when unsafe or malformed, with a message that tells the admin what to do.
Secret read_key_file(const std::filesystem::path& path);
Secret load_key(const KeyLocation& location);
// Creates a new key file (0600); refuses to overwrite an existing one.
void init_key_file(const std::filesystem::path& path);

// ---------------------------------------------------------------- store

struct Options {
  std::filesystem::path database;
  KeyLocation key;
  int readers = 2;
  // Tuning (docs/store.md has the measurements behind the defaults).
  int page_size = 4096;
  int cache_size_kib = 8192;          // the writer's page cache
  int reader_cache_size_kib = 32768;  // each reader's: a read that misses decrypts a whole page
  std::chrono::milliseconds busy_timeout{5000};
  // When false, a missing database file is an error instead of being created.
  bool create = true;
  // A throw-away store (the scratch store of a backup's test restore): its
  // migrations are not announced in the journal, where they would read as
  // the appliance's own store changing.
  bool scratch = false;
  // Change capture (docs/store.md "Change capture"): every transaction the
  // writer commits appends one change record to store_changes, in the same
  // transaction. Turning it on starts a capture epoch (unless the last open
  // had it on too); opening with it off ends the epoch.
  bool capture_changes = false;
};

// One record of the change stream (daemon/store/changes.h decodes it).
struct StoredChange {
  std::int64_t seq = 0;
  std::int64_t committed_us = 0;
  Blob record;
};

struct CheckReport {
  bool ok = true;
  std::string cipher_version;
  std::int64_t page_count = 0;
  std::int64_t page_size = 0;
  std::vector<std::string> integrity;         // "ok" or integrity_check's messages
  std::vector<std::string> cipher_integrity;  // empty when all pages authenticated
  std::string cipher_integrity_method;        // how the page HMACs were verified
};

struct RekeyResult {
  std::filesystem::path key_file;
  std::chrono::milliseconds duration{0};
};

class Store {
 public:
  // Opens (or, when absent and options.create, creates) the database.
  // The key is verified on a read-only connection first: a wrong key, a
  // corrupt file or a newer format leaves the file untouched (bytes and
  // mtime) and throws Error with a message fit for the journal.
  // Promotes a pending "<key>.new" left by an interrupted rekey.
  static std::unique_ptr<Store> open(const Options& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Blocking access. Do not call from an io thread; use async_* there.
  template <class F>
  auto read(F&& fn) -> std::invoke_result_t<F&, Connection&> {
    using R = std::invoke_result_t<F&, Connection&>;
    if constexpr (std::is_void_v<R>) {
      run_read([&](Connection& c) { fn(c); });
    } else {
      std::optional<R> out;
      run_read([&](Connection& c) { out.emplace(fn(c)); });
      return std::move(*out);
    }
  }
  template <class F>
  auto write(F&& fn) -> std::invoke_result_t<F&, Connection&> {
    using R = std::invoke_result_t<F&, Connection&>;
    if constexpr (std::is_void_v<R>) {
      run_write([&](Connection& c) { fn(c); });
    } else {
      std::optional<R> out;
      run_write([&](Connection& c) { out.emplace(fn(c)); });
      return std::move(*out);
    }
  }

  // Coroutine variants: fn runs on a store worker thread; the result or the
  // exception is delivered on the awaiting coroutine's executor. Concurrent
  // async_write calls may share one commit; a call completes only after the
  // commit that contains it. When one of them throws, the shared transaction
  // is rolled back and each runs again alone, so one throwing does not undo
  // the others: an async_write job may run twice, and must act only through
  // the Connection (no counters, sends or logs from inside fn).
  template <class F>
  auto async_read(F fn) -> boost::asio::awaitable<std::invoke_result_t<F&, Connection&>> {
    return async_run<F>(false, std::move(fn));
  }
  template <class F>
  auto async_write(F fn) -> boost::asio::awaitable<std::invoke_result_t<F&, Connection&>> {
    return async_run<F>(true, std::move(fn));
  }

  // Applies the module's migrations newer than its recorded version, each in
  // its own transaction. Throws Error(schema_too_new) when the database
  // records a version above the newest in `migrations`.
  void migrate(std::string_view module, std::span<const Migration> migrations);
  void migrate(std::string_view module, std::initializer_list<Migration> migrations) {
    migrate(module, std::span<const Migration>(migrations.begin(), migrations.size()));
  }
  // The recorded version (0 when the module has none).
  int schema_version(std::string_view module);

  // PRAGMA integrity_check plus authentication of every page.
  CheckReport check();

  // How well the writer batches: jobs run through async_write, and the
  // commits that made them durable (one commit holds up to 256 jobs).
  struct WriteStats {
    std::uint64_t jobs = 0;
    std::uint64_t commits = 0;
  };
  WriteStats write_stats() const;

  // Rotates the key online (readers are paused for the duration): a new key
  // is written to "<key file>.new", the database re-encrypted with it in one
  // transaction, and the new key renamed over the key file. Interrupted at
  // any point, the database opens with the old or the new key file. Throws
  // Error when the key came from a credential (see docs/operations.md).
  RekeyResult rekey();

  // check() and rekey() on a store worker thread, for coroutines.
  boost::asio::awaitable<CheckReport> async_check() {
    return async_task<CheckReport>([this] { return check(); });
  }
  boost::asio::awaitable<RekeyResult> async_rekey() {
    return async_task<RekeyResult>([this] { return rekey(); });
  }

  std::string cipher_version() const;
  const Options& options() const;

  // Forces a WAL checkpoint (TRUNCATE); for tests and backups.
  void checkpoint();

  // The change stream (Options::capture_changes): up to max_records records
  // with seq > after_seq, in seq order; and deleting those up to and
  // including up_to_seq once they are safe elsewhere. Empty / a no-op when
  // capture was never on.
  std::vector<StoredChange> read_changes(std::int64_t after_seq, std::size_t max_records);
  void discard_changes(std::int64_t up_to_seq);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  void run_read(const std::function<void(Connection&)>& fn);
  void run_write(const std::function<void(Connection&)>& fn);
  // Queues work for a worker thread; `done` is called exactly once, from the
  // worker, after the transaction holding `work` committed or failed.
  void submit(bool write, std::function<void(Connection&)> work, std::function<void(std::exception_ptr)> done);

  // Runs work that needs no connection of its own (check, rekey) on a
  // reader worker thread.
  void submit_task(std::function<void()> work, std::function<void(std::exception_ptr)> done);

  // Starts `launch(done)` and returns an awaitable that completes when done
  // is called (from any thread) on the awaiting coroutine's executor.
  // Not a coroutine itself, and callers keep their lambdas in named locals:
  // GCC 12 destroys lambda temporaries in co_await expressions twice.
  template <class Launch>
  static boost::asio::awaitable<void> async_launch(Launch launch) {
    auto initiation = [](auto handler, Launch launch) {
      using H = decltype(handler);
      auto guard = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
      auto shared = std::make_shared<H>(std::move(handler));
      launch([shared, guard = std::move(guard)](std::exception_ptr error) mutable {
        auto ex = guard.get_executor();
        boost::asio::post(ex, [shared, error]() mutable { std::move(*shared)(error); });
        guard.reset();
      });
    };
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(std::exception_ptr)>(
        std::move(initiation), boost::asio::use_awaitable, std::move(launch));
  }

  template <class F>
  auto async_run(bool is_write, F fn) -> boost::asio::awaitable<std::invoke_result_t<F&, Connection&>> {
    using R = std::invoke_result_t<F&, Connection&>;
    using Slot = std::conditional_t<std::is_void_v<R>, bool, R>;
    auto result = std::make_shared<std::optional<Slot>>();
    auto work = std::make_shared<F>(std::move(fn));
    Store* self = this;
    auto launch = [self, is_write, work, result](std::function<void(std::exception_ptr)> done) {
      self->submit(
          is_write,
          [work, result](Connection& c) {
            if constexpr (std::is_void_v<R>) {
              (*work)(c);
              result->emplace(true);
            } else {
              result->emplace((*work)(c));
            }
          },
          std::move(done));
    };
    auto op = async_launch(std::move(launch));
    co_await std::move(op);
    if constexpr (!std::is_void_v<R>) {
      R out = std::move(**result);
      co_return out;
    }
  }

  template <class R>
  auto async_task(std::function<R()> fn) -> boost::asio::awaitable<R> {
    auto result = std::make_shared<std::optional<R>>();
    auto work = std::make_shared<std::function<R()>>(std::move(fn));
    Store* self = this;
    auto launch = [self, work, result](std::function<void(std::exception_ptr)> done) {
      self->submit_task([work, result]() { result->emplace((*work)()); }, std::move(done));
    };
    auto op = async_launch(std::move(launch));
    co_await std::move(op);
    R out = std::move(**result);
    co_return out;
  }

  std::unique_ptr<Impl> impl_;
};

// For the kill-during-rekey test only (tests/integration/helpers): called
// with 1..5 at each step of rekey(). Never set by the daemon.
namespace testing_hooks {
extern std::function<void(int step)> rekey_step;
}

}  // namespace privstack::store
