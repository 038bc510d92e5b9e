// Change record encoder, decoder and replay; format in docs/backup-format.md
// ("Change records").
#include "store/changes.h"

#include <sqlite3.h>

#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "core/error.h"

namespace privstack::store {

namespace {

enum class Tag : std::uint8_t { null = 0, integer = 1, real = 2, text = 3, blob = 4 };

void put_u8(Blob& out, std::uint8_t v) { out.push_back(v); }
void put_u32(Blob& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_u64(Blob& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_bytes(Blob& out, const void* data, std::size_t n) {
  if (n > 0xffffffffu) throw Error(Error::Kind::generic, "a value of 4 GiB or more cannot be captured");
  put_u32(out, static_cast<std::uint32_t>(n));
  const auto* p = static_cast<const std::uint8_t*>(data);
  out.insert(out.end(), p, p + n);
}

// Reads the record front to back; every read checks the remaining length.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> bytes) : b_(bytes) {}
  std::uint8_t u8(const char* what) {
    need(1, what);
    return b_[pos_++];
  }
  std::uint32_t u32(const char* what) {
    need(4, what);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<std::uint32_t>(b_[pos_++]) << (8 * i);
    return v;
  }
  std::uint64_t u64(const char* what) {
    need(8, what);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(b_[pos_++]) << (8 * i);
    return v;
  }
  std::span<const std::uint8_t> bytes(const char* what) {
    std::uint32_t n = u32(what);
    need(n, what);
    auto s = b_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::string text(const char* what) {
    auto s = bytes(what);
    return std::string(reinterpret_cast<const char*>(s.data()), s.size());
  }
  // A count of items that take at least `min_bytes` each: bounded by what
  // is left, so a garbled count cannot make the decoder allocate.
  std::uint32_t count(const char* what, std::size_t min_bytes) {
    std::uint32_t n = u32(what);
    if (static_cast<std::uint64_t>(n) * min_bytes > remaining()) fail(std::string(what) + " exceeds the record");
    return n;
  }
  std::size_t remaining() const { return b_.size() - pos_; }
  [[noreturn]] void fail(const std::string& what) const {
    throw privstack::Error(ErrorCode::integrity_failed, "A change record is damaged.",
                           "change record refused at byte " + std::to_string(pos_) + ": " + what);
  }

 private:
  void need(std::size_t n, const char* what) const {
    if (remaining() < n) fail(std::string("truncated in ") + what);
  }
  std::span<const std::uint8_t> b_;
  std::size_t pos_ = 0;
};

void put_header(Blob& out, ChangeKind kind, std::uint64_t epoch, std::int64_t committed_us) {
  put_u8(out, kChangeRecordVersion);
  put_u8(out, static_cast<std::uint8_t>(kind));
  put_u64(out, epoch);
  put_u64(out, static_cast<std::uint64_t>(committed_us));
}

}  // namespace

// ---------------------------------------------------------------- encoder

ChangeRecordBuilder::ChangeRecordBuilder(std::uint64_t epoch, std::int64_t committed_us) {
  put_header(head_, ChangeKind::rows, epoch, committed_us);
}

std::uint32_t ChangeRecordBuilder::add_table(std::string_view name, const std::vector<std::string>& columns) {
  put_bytes(tables_, name.data(), name.size());
  put_u32(tables_, static_cast<std::uint32_t>(columns.size()));
  for (const std::string& c : columns) put_bytes(tables_, c.data(), c.size());
  return table_count_++;
}

void ChangeRecordBuilder::begin_upsert(std::uint32_t table, std::int64_t rowid) {
  put_u8(body_, static_cast<std::uint8_t>(RowChange::Op::upsert));
  put_u32(body_, table);
  put_u64(body_, static_cast<std::uint64_t>(rowid));
  ++ops_;
}
void ChangeRecordBuilder::value_null() { put_u8(body_, static_cast<std::uint8_t>(Tag::null)); }
void ChangeRecordBuilder::value_integer(std::int64_t v) {
  put_u8(body_, static_cast<std::uint8_t>(Tag::integer));
  put_u64(body_, static_cast<std::uint64_t>(v));
}
void ChangeRecordBuilder::value_real(double v) {
  std::uint64_t bits;
  static_assert(sizeof bits == sizeof v);
  std::memcpy(&bits, &v, sizeof bits);
  put_u8(body_, static_cast<std::uint8_t>(Tag::real));
  put_u64(body_, bits);
}
void ChangeRecordBuilder::value_text(std::string_view v) {
  put_u8(body_, static_cast<std::uint8_t>(Tag::text));
  put_bytes(body_, v.data(), v.size());
}
void ChangeRecordBuilder::value_blob(std::span<const std::uint8_t> v) {
  put_u8(body_, static_cast<std::uint8_t>(Tag::blob));
  put_bytes(body_, v.data(), v.size());
}
void ChangeRecordBuilder::erase(std::uint32_t table, std::int64_t rowid) {
  put_u8(body_, static_cast<std::uint8_t>(RowChange::Op::erase));
  put_u32(body_, table);
  put_u64(body_, static_cast<std::uint64_t>(rowid));
  ++ops_;
}

Blob ChangeRecordBuilder::finish() const {
  Blob out;
  out.reserve(head_.size() + 8 + tables_.size() + body_.size());
  out.insert(out.end(), head_.begin(), head_.end());
  put_u32(out, table_count_);
  out.insert(out.end(), tables_.begin(), tables_.end());
  put_u32(out, ops_);
  out.insert(out.end(), body_.begin(), body_.end());
  return out;
}

Blob encode_schema_record(std::uint64_t epoch, std::int64_t committed_us, std::string_view module,
                          std::int32_t version) {
  Blob out;
  put_header(out, ChangeKind::schema, epoch, committed_us);
  put_bytes(out, module.data(), module.size());
  put_u32(out, static_cast<std::uint32_t>(version));
  return out;
}

Blob encode_change_record(const ChangeRecord& record) {
  if (record.kind == ChangeKind::schema) {
    return encode_schema_record(record.epoch, record.committed_us, record.module, record.version);
  }
  ChangeRecordBuilder b(record.epoch, record.committed_us);
  for (const ChangeTable& t : record.tables) b.add_table(t.name, t.columns);
  for (const RowChange& op : record.ops) {
    if (op.op == RowChange::Op::erase) {
      b.erase(op.table, op.rowid);
      continue;
    }
    b.begin_upsert(op.table, op.rowid);
    for (const ChangeValue& v : op.values) {
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) b.value_null();
            else if constexpr (std::is_same_v<T, std::int64_t>) b.value_integer(x);
            else if constexpr (std::is_same_v<T, double>) b.value_real(x);
            else if constexpr (std::is_same_v<T, std::string>) b.value_text(x);
            else b.value_blob(x);
          },
          v);
    }
  }
  return b.finish();
}

// ---------------------------------------------------------------- decoder

ChangeRecord decode_change_record(std::span<const std::uint8_t> bytes) {
  Reader r(bytes);
  ChangeRecord rec;
  std::uint8_t version = r.u8("the version");
  if (version != kChangeRecordVersion) r.fail("unknown version " + std::to_string(version));
  std::uint8_t kind = r.u8("the kind");
  if (kind != static_cast<std::uint8_t>(ChangeKind::rows) && kind != static_cast<std::uint8_t>(ChangeKind::schema)) {
    r.fail("unknown kind " + std::to_string(kind));
  }
  rec.kind = static_cast<ChangeKind>(kind);
  rec.epoch = r.u64("the epoch");
  rec.committed_us = static_cast<std::int64_t>(r.u64("the commit time"));
  if (rec.kind == ChangeKind::schema) {
    rec.module = r.text("the module");
    rec.version = static_cast<std::int32_t>(r.u32("the schema version"));
  } else {
    std::uint32_t tables = r.count("the table count", 8);
    rec.tables.resize(tables);
    for (ChangeTable& t : rec.tables) {
      t.name = r.text("a table name");
      std::uint32_t columns = r.count("a column count", 4);
      if (columns == 0) r.fail("a table without columns");
      t.columns.resize(columns);
      for (std::string& c : t.columns) c = r.text("a column name");
    }
    std::uint32_t ops = r.count("the op count", 13);
    rec.ops.resize(ops);
    for (RowChange& op : rec.ops) {
      std::uint8_t o = r.u8("an op");
      if (o != static_cast<std::uint8_t>(RowChange::Op::upsert) && o != static_cast<std::uint8_t>(RowChange::Op::erase)) {
        r.fail("unknown op " + std::to_string(o));
      }
      op.op = static_cast<RowChange::Op>(o);
      op.table = r.u32("an op's table");
      if (op.table >= rec.tables.size()) r.fail("an op names table " + std::to_string(op.table) + " of none");
      op.rowid = static_cast<std::int64_t>(r.u64("an op's rowid"));
      if (op.op == RowChange::Op::erase) continue;
      std::size_t columns = rec.tables[op.table].columns.size();
      if (columns > r.remaining()) r.fail("an upsert's values exceed the record");
      op.values.reserve(columns);
      for (std::size_t i = 0; i < columns; ++i) {
        switch (static_cast<Tag>(r.u8("a value's type"))) {
          case Tag::null:
            op.values.emplace_back(std::monostate{});
            break;
          case Tag::integer:
            op.values.emplace_back(static_cast<std::int64_t>(r.u64("an INTEGER")));
            break;
          case Tag::real: {
            std::uint64_t bits = r.u64("a REAL");
            double d;
            std::memcpy(&d, &bits, sizeof d);
            op.values.emplace_back(d);
            break;
          }
          case Tag::text:
            op.values.emplace_back(r.text("a TEXT"));
            break;
          case Tag::blob: {
            auto s = r.bytes("a BLOB");
            op.values.emplace_back(Blob(s.begin(), s.end()));
            break;
          }
          default:
            r.fail("unknown value type");
        }
      }
    }
  }
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " bytes after the end");
  return rec;
}

// ---------------------------------------------------------------- apply

std::uint64_t parse_epoch(const std::string& hex) {
  try {
    std::size_t used = 0;
    std::uint64_t v = std::stoull(hex, &used, 16);
    if (used == hex.size()) return v;
  } catch (const std::exception&) {
  }
  throw privstack::Error(ErrorCode::integrity_failed, "The store's change position is damaged.",
                         "store_meta holds a malformed capture epoch: " + hex);
}

std::string epoch_text(std::uint64_t epoch) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(epoch));
  return buf;
}

std::string quote_identifier(std::string_view name) {
  std::string out = "\"";
  for (char ch : name) {
    if (ch == '"') out += '"';
    out += ch;
  }
  out += '"';
  return out;
}

namespace {

struct StmtCloser {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using StmtHandle = std::unique_ptr<sqlite3_stmt, StmtCloser>;

[[noreturn]] void replay_failed(sqlite3* db, int rc, const std::string& what) {
  throw Error(Error::Kind::generic, "replaying a change record: " + what + ": " + sqlite3_errmsg(db), rc);
}

// SQL built from names the record carries (table and column names that
// SQLite reported on the source), quoted as identifiers; values are bound.
StmtHandle prepare_internal(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &raw, nullptr);
  if (rc != SQLITE_OK) replay_failed(db, rc, sql);
  return StmtHandle(raw);
}

void run(sqlite3* db, sqlite3_stmt* s, const std::string& what) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) replay_failed(db, rc, what);
}

std::optional<std::string> meta(Connection& c, Sql sql_key_value) {
  return c.query_one<std::string>(sql_key_value);
}

struct Position {
  std::int64_t seq = 0;
  std::optional<std::uint64_t> epoch;
};

// Where the target stands in the stream: what it applied last, else (a
// copy of a capturing store, taken as a base) the last record it holds
// itself, else nothing (an empty store: the stream must start at seq 1).
Position position(Connection& c) {
  Position p;
  if (auto s = meta(c, "SELECT value FROM store_meta WHERE name = 'changes.applied_seq'")) {
    p.seq = std::stoll(*s);
    if (auto e = meta(c, "SELECT value FROM store_meta WHERE name = 'changes.applied_epoch'")) p.epoch = parse_epoch(*e);
    return p;
  }
  if (c.query_one<std::int64_t>("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'")) {
    p.seq = c.query_one<std::int64_t>("SELECT seq FROM sqlite_sequence WHERE name = 'store_changes'").value_or(0);
  }
  if (auto e = meta(c, "SELECT value FROM store_meta WHERE name = 'changes.epoch'")) p.epoch = parse_epoch(*e);
  return p;
}

}  // namespace

std::int64_t applied_change_seq(Connection& target) { return position(target).seq; }

void apply_change_record(Connection& target, std::int64_t seq, std::span<const std::uint8_t> record) {
  ChangeRecord rec = decode_change_record(record);
  Transaction tx(target, Transaction::Mode::immediate);
  Position at = position(target);
  if (seq <= at.seq) {
    throw privstack::Error(ErrorCode::conflict, "This change record was already applied.",
                           "change record " + std::to_string(seq) + " refused: the store already holds up to " +
                               std::to_string(at.seq));
  }
  if (seq != at.seq + 1) {
    throw privstack::Error(ErrorCode::integrity_failed, "Change records are missing.",
                           "change record " + std::to_string(seq) + " refused: records " + std::to_string(at.seq + 1) +
                               ".." + std::to_string(seq - 1) + " are missing");
  }
  if (at.epoch && *at.epoch != rec.epoch) {
    throw privstack::Error(ErrorCode::conflict, "Change capture was restarted; a new base archive is needed.",
                           "change record " + std::to_string(seq) + " is of capture epoch " + epoch_text(rec.epoch) +
                               ", the store follows epoch " + epoch_text(*at.epoch) +
                               ": changes between the two epochs were not captured; a new base archive is needed");
  }
  if (rec.kind == ChangeKind::schema) {
    std::string text = "a new base archive is needed after schema change of " + rec.module + " to " +
                       std::to_string(rec.version);
    throw privstack::Error(ErrorCode::conflict, text,
                           "change record " + std::to_string(seq) + " refused: " + text);
  }
  sqlite3* db = target.native();
  std::vector<StmtHandle> upserts(rec.tables.size());
  std::vector<StmtHandle> erases(rec.tables.size());
  for (const RowChange& op : rec.ops) {
    const ChangeTable& t = rec.tables[op.table];
    std::string name = quote_identifier(t.name);
    if (op.op == RowChange::Op::erase) {
      StmtHandle& s = erases[op.table];
      if (!s) s = prepare_internal(db, "DELETE FROM " + name + " WHERE rowid = ?1");
      sqlite3_bind_int64(s.get(), 1, op.rowid);
      run(db, s.get(), "deleting from " + t.name);
      continue;
    }
    StmtHandle& s = upserts[op.table];
    if (!s) {
      // The rowid is named explicitly: for a table with an INTEGER PRIMARY
      // KEY that column is the rowid too and gets the same value.
      std::string sql = "INSERT OR REPLACE INTO " + name + " (rowid";
      std::string values = "?1";
      for (std::size_t i = 0; i < t.columns.size(); ++i) {
        sql += ", " + quote_identifier(t.columns[i]);
        values += ", ?" + std::to_string(i + 2);
      }
      s = prepare_internal(db, sql + ") VALUES (" + values + ")");
    }
    sqlite3_stmt* st = s.get();
    sqlite3_bind_int64(st, 1, op.rowid);
    for (std::size_t i = 0; i < op.values.size(); ++i) {
      int idx = static_cast<int>(i) + 2;
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) sqlite3_bind_null(st, idx);
            else if constexpr (std::is_same_v<T, std::int64_t>) sqlite3_bind_int64(st, idx, x);
            else if constexpr (std::is_same_v<T, double>) sqlite3_bind_double(st, idx, x);
            else if constexpr (std::is_same_v<T, std::string>)
              sqlite3_bind_text64(st, idx, x.data(), x.size(), SQLITE_STATIC, SQLITE_UTF8);
            else
              sqlite3_bind_blob64(st, idx, x.empty() ? static_cast<const void*>("") : x.data(), x.size(),
                                  SQLITE_STATIC);
          },
          op.values[i]);
    }
    run(db, st, "writing a row of " + t.name);
  }
  target.exec("INSERT OR REPLACE INTO store_meta (name, value) VALUES ('changes.applied_seq', ?1)", std::to_string(seq));
  target.exec("INSERT OR REPLACE INTO store_meta (name, value) VALUES ('changes.applied_epoch', ?1)",
              epoch_text(rec.epoch));
  tx.commit();
}

}  // namespace privstack::store
