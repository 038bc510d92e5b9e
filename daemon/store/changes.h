// Change records: one per transaction committed by the store's writer while
// change capture is on (Options::capture_changes), appended to the table
// store_changes in that same transaction. The format (version 1) is in
// docs/backup-format.md, "Change records"; the capture itself in
// docs/store.md, "Change capture".
//
// This header is the pure part: the encoder, the bounds-checked decoder and
// the replay of a record onto another copy of the store. The capture (the
// update hook on the writer connection) lives in store.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/store.h"

namespace privstack::store {

inline constexpr std::uint8_t kChangeRecordVersion = 1;

enum class ChangeKind : std::uint8_t {
  rows = 1,    // row images and deletions of one transaction
  schema = 2,  // a migration of `module` to `version` (DDL is not captured)
};

// A column value: NULL, INTEGER, REAL, TEXT, BLOB (SQLite's storage classes).
using ChangeValue = std::variant<std::monostate, std::int64_t, double, std::string, Blob>;

struct ChangeTable {
  std::string name;
  std::vector<std::string> columns;  // the post-image's columns, in order
};

struct RowChange {
  enum class Op : std::uint8_t { upsert = 1, erase = 2 };
  Op op = Op::upsert;
  std::uint32_t table = 0;  // index into ChangeRecord::tables
  std::int64_t rowid = 0;
  std::vector<ChangeValue> values;  // upsert: one per column of the table; erase: none
  bool operator==(const RowChange&) const = default;
};

struct ChangeRecord {
  ChangeKind kind = ChangeKind::rows;
  std::uint64_t epoch = 0;         // the capture epoch that wrote it
  std::int64_t committed_us = 0;   // Unix microseconds, taken just before COMMIT
  std::vector<ChangeTable> tables;  // rows: each table the ops use, once
  std::vector<RowChange> ops;       // rows: in the order each row was first touched
  std::string module;               // schema
  std::int32_t version = 0;         // schema
};

// Builds a rows record incrementally, straight from column values (the
// writer's capture uses it; encode_change_record() too).
class ChangeRecordBuilder {
 public:
  ChangeRecordBuilder(std::uint64_t epoch, std::int64_t committed_us);
  // Index of a table in the dictionary; columns are given once per table.
  std::uint32_t add_table(std::string_view name, const std::vector<std::string>& columns);
  void begin_upsert(std::uint32_t table, std::int64_t rowid);  // then one value_* per column
  void value_null();
  void value_integer(std::int64_t v);
  void value_real(double v);
  void value_text(std::string_view v);
  void value_blob(std::span<const std::uint8_t> v);
  void erase(std::uint32_t table, std::int64_t rowid);
  std::size_t op_count() const { return ops_; }
  Blob finish() const;

 private:
  Blob head_;
  Blob tables_;
  Blob body_;
  std::uint32_t table_count_ = 0;
  std::uint32_t ops_ = 0;
};

Blob encode_change_record(const ChangeRecord& record);
Blob encode_schema_record(std::uint64_t epoch, std::int64_t committed_us, std::string_view module,
                          std::int32_t version);

// Throws privstack::Error(ErrorCode::integrity_failed) for a record that is
// truncated, garbled, of another version or has trailing bytes.
ChangeRecord decode_change_record(std::span<const std::uint8_t> bytes);

// Replays record number `seq` onto `target` (another copy of the store),
// in one transaction (a savepoint when one is open): upserts as
// INSERT OR REPLACE with the explicit rowid and named columns, deletions by
// rowid. The target's position (store_meta changes.applied_seq and
// changes.applied_epoch) advances with it. Refused, with nothing changed:
//   a seq other than position + 1 (a gap: integrity_failed; one already
//   applied: conflict), a record of another epoch than the target's
//   (conflict: capture was restarted, a new base is needed), a schema record
//   (conflict: "a new base archive is needed after schema change of MODULE
//   to VERSION"), a record that does not decode (integrity_failed).
void apply_change_record(Connection& target, std::int64_t seq, std::span<const std::uint8_t> record);

// Helpers shared with the capture in store.cpp.
// "name" with embedded quotes doubled: an identifier for a table or column
// name that SQLite itself reported (never for user input).
std::string quote_identifier(std::string_view name);
// A capture epoch as store_meta holds it: 16 hex digits.
std::string epoch_text(std::uint64_t epoch);
std::uint64_t parse_epoch(const std::string& hex);  // integrity_failed when malformed

// The target's position: the seq of the last record it holds (0 for none).
std::int64_t applied_change_seq(Connection& target);

}  // namespace privstack::store
