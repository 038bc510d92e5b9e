// The tamper-evident audit log (docs/operations.md, "Audit log").
//
// An append-only table in the encrypted store. Every entry carries a
// sequence number (1, 2, 3, ... without gaps) and
//
//   hash = SHA-256(previous entry's hash || canonical(entry))
//
// where the first entry's previous hash is 32 zero bytes and canonical() is
// the length-prefixed encoding in canonical_entry() below. Editing,
// deleting or reordering rows breaks the chain at the first affected entry,
// which verify() reports. Truncating the tail (or rewriting the tail and
// recomputing every later hash) is caught by the anchors: periodically the
// latest (seq, hash) is HMAC'd with a key kept outside the store
// (<state_directory>/audit-anchor.key or the systemd credential
// "audit-anchor.key") and written to journald (event audit.anchor) and to
// <state_directory>/audit-anchor.json; verify() checks the chain against the
// latest anchor it knows.
//
// Secret values never enter the log: every text field passes through the
// journald redactor (log::redact) before it is hashed and stored, and the
// callers put identifiers, never passwords, tokens, keys or mnemonic words,
// into entries.
#pragma once

#include <atomic>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/secret.h"
#include "store/store.h"

namespace privstack::audit {

// Outcome values.
inline constexpr std::string_view kSuccess = "success";
inline constexpr std::string_view kFailure = "failure";
inline constexpr std::string_view kDenied = "denied";

struct Entry {
  std::int64_t seq = 0;      // assigned by append()
  std::int64_t time_us = 0;  // microseconds since the Unix epoch (UTC); now when 0
  // Who: "user:NAME" (console session), "token:ID:NAME" (API token of user
  // NAME), "local:uid=N" (privstackctl over the control socket), "system"
  // (the daemon itself), "anonymous" (failed logins before an identity).
  std::string actor;
  std::string source;   // client IP address, "control-socket", or empty
  std::string action;   // dotted: "records.recipient.read", "auth.login_failed", ...
  std::string object;   // "recipient:42", "user:bob", "export:records.csv", ...
  std::string outcome;  // kSuccess, kFailure or kDenied
  std::string reason;   // the stated reason of a support access grant; empty otherwise
  std::string detail;   // short free text (never customer data values or secrets)
  std::string hash;     // 64 hex digits; assigned by append()
};

// The bytes hashed for an entry (after the previous hash):
//   "privstack-audit-v1" then, for seq, time_us, actor, source, action,
//   object, outcome, reason, detail in that order: "\n" LEN ":" VALUE
// with LEN the decimal byte length of VALUE (integers in decimal).
std::string canonical_entry(const Entry& e);
// hex(SHA-256(unhex(previous_hash) || canonical_entry(e))). `previous_hash`
// is empty for the first entry.
std::string chain_hash(std::string_view previous_hash, const Entry& e);

// Result of verify().
struct VerifyReport {
  bool ok = true;
  std::int64_t entries = 0;        // entries checked
  std::int64_t head_seq = 0;       // last entry's seq
  std::string head_hash;           // last entry's hash
  std::optional<std::int64_t> first_broken;  // the first entry that does not verify
  std::string problem;             // why (empty when ok)
  // The anchor checked against, if any.
  std::optional<std::int64_t> anchor_seq;
  bool anchor_ok = true;
  std::chrono::milliseconds duration{0};
  boost::json::object to_json() const;
};

// An anchor: the head of the chain at some moment, authenticated with the
// anchor key.
struct Anchor {
  std::int64_t seq = 0;
  std::string hash;        // hex
  std::int64_t time_us = 0;
  std::string mac;         // hex HMAC-SHA256(key, anchor_message(seq, hash, time_us))
};
std::string anchor_message(std::int64_t seq, std::string_view hash, std::int64_t time_us);

struct Filter {
  std::optional<std::string> actor;   // prefix
  std::optional<std::string> action;  // prefix
  std::optional<std::string> object;  // prefix
  std::optional<std::int64_t> from_us;  // time >= from
  std::optional<std::int64_t> to_us;    // time < to
  std::int64_t after_seq = 0;  // cursor: entries with seq > after_seq
  int limit = 100;
};

enum class ExportFormat { jsonl, csv };
std::optional<ExportFormat> parse_export_format(std::string_view name);

// One line of an export (with its terminator: "\n" for JSON Lines, CRLF for CSV).
std::string format_entry(const Entry& e, ExportFormat format);
// The CSV header line (CRLF-terminated); JSON Lines has none.
std::string csv_header();
boost::json::object entry_json(const Entry& e);

class AuditLog {
 public:
  // Registers the schema (migration "audit") on `store`. `anchor_key` is the
  // HMAC key for anchors; `anchor_file` where the latest anchor is kept
  // (empty: none, for tests).
  AuditLog(store::Store& store, Secret anchor_key, std::filesystem::path anchor_file = {});
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Loads the anchor key from the systemd credential "audit-anchor.key" or
  // <state_directory>/audit-anchor.key, creating the file (0600, 32 random
  // bytes in hex) on first start. `created` is set when it was made now.
  static Secret load_or_create_anchor_key(const std::filesystem::path& state_directory, bool* created = nullptr);

  // Appends inside the caller's write transaction (so a change and its
  // audit entry commit together). Returns the entry as stored.
  Entry append(store::Connection& c, Entry e);
  // Appends in its own write transaction (blocking / from a coroutine).
  Entry append(Entry e);
  boost::asio::awaitable<Entry> async_append(Entry e);
  // Appends in its own write transaction (blocking); a failure is logged to
  // journald (audit.write_failed), never thrown: for the record of work that
  // has already happened and must not be undone by a full audit table.
  void append_or_log(Entry e) noexcept;
  // Fire and forget, for synchronous callers on io threads (auth events):
  // runs async_append on `executor`; a failure is logged to journald.
  void post_append(boost::asio::any_io_executor executor, Entry e);
  // Entries posted but not yet committed (or failed). Shutdown waits for
  // zero so that the last logins and logouts are not lost with the process.
  std::size_t pending_appends() const { return pending_appends_.load(); }

  // Recomputes the whole chain (blocking; minutes of work never happen: a
  // million entries take about a second). Checks the latest anchor too.
  VerifyReport verify();
  VerifyReport verify(store::Connection& c);  // inside a read transaction
  boost::asio::awaitable<VerifyReport> async_verify();

  std::vector<Entry> query(store::Connection& c, const Filter& filter);
  boost::asio::awaitable<std::vector<Entry>> async_query(Filter filter);

  // The current head (seq 0 and empty hash for an empty log).
  Anchor head(store::Connection& c);
  // Makes an anchor of the current head, writes it to journald and the
  // anchor file; returns it. Skips (returns nullopt) when the head has not
  // moved since the last anchor and `force` is false.
  std::optional<Anchor> write_anchor(bool force = false);
  boost::asio::awaitable<std::optional<Anchor>> async_write_anchor(bool force = false);
  // Authenticates an anchor with the key.
  bool anchor_valid(const Anchor& a) const;
  // The latest anchor written (from memory or the anchor file); nullopt when
  // none or when the file's MAC does not verify (reported by verify()).
  std::optional<Anchor> latest_anchor() const;

  store::Store& store() { return store_; }

 private:
  Anchor make_anchor(std::int64_t seq, std::string hash) const;
  std::optional<Anchor> publish_anchor(Anchor head, std::optional<std::string> hash_at_last, bool force);
  std::pair<Anchor, std::optional<std::string>> heads_now(store::Connection& c);
  std::optional<Anchor> latest_anchor_raw() const;
  store::Store& store_;
  Secret key_;
  std::filesystem::path anchor_file_;
  mutable std::mutex mutex_;
  std::optional<Anchor> last_anchor_;
  std::atomic<std::size_t> pending_appends_{0};
};

// Actor strings.
std::string actor_user(std::string_view user);
std::string actor_token(std::string_view token_id, std::string_view user);
std::string actor_local(unsigned uid);

}  // namespace privstack::audit
