#include "audit/audit.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <array>
#include <ctime>
#include <fstream>
#include <sstream>

#include "audit/csv.h"
#include "core/crypto.h"
#include "core/encoding.h"
#include "core/log.h"
#include "core/time.h"

namespace privstack::audit {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

constexpr store::Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE audit_log (
  seq     INTEGER PRIMARY KEY,
  time_us INTEGER NOT NULL,
  actor   TEXT NOT NULL,
  source  TEXT NOT NULL,
  action  TEXT NOT NULL,
  object  TEXT NOT NULL,
  outcome TEXT NOT NULL,
  reason  TEXT NOT NULL,
  detail  TEXT NOT NULL,
  hash    TEXT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log(time_us);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
)sql"},
};

// 32 bytes from 64 hex digits; zeros when malformed (the hash then cannot match).
std::array<unsigned char, 32> unhex32(std::string_view hex) {
  std::array<unsigned char, 32> out{};
  if (hex.size() != 64) return out;
  if (auto bytes = hex_decode(hex)) std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

void put_field(std::string& out, std::string_view value) {
  out.push_back('\n');
  out.append(std::to_string(value.size()));
  out.push_back(':');
  out.append(value);
}

// Re-hashing for verify(): one digest context and one buffer for the whole
// run (a million entries must take about a second).
class ChainHasher {
 public:
  ChainHasher() : ctx_(EVP_MD_CTX_new()), md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {
    if (!ctx_ || !md_) throw std::runtime_error("SHA-256 unavailable");
  }
  ~ChainHasher() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_free(md_);
  }
  ChainHasher(const ChainHasher&) = delete;
  ChainHasher& operator=(const ChainHasher&) = delete;
  // Hashes prev || canonical(e) into `out` (32 bytes) and returns its hex.
  const std::string& next(const std::array<unsigned char, 32>& prev, const Entry& e, std::array<unsigned char, 32>& out) {
    canon_ = canonical_entry(e);
    unsigned int len = 0;
    if (EVP_DigestInit_ex(ctx_, md_, nullptr) != 1 || EVP_DigestUpdate(ctx_, prev.data(), prev.size()) != 1 ||
        EVP_DigestUpdate(ctx_, canon_.data(), canon_.size()) != 1 || EVP_DigestFinal_ex(ctx_, out.data(), &len) != 1) {
      throw std::runtime_error("SHA-256 failed");
    }
    hex_.clear();
    hex_append(hex_, out);
    return hex_;
  }

 private:
  EVP_MD_CTX* ctx_;
  EVP_MD* md_;
  std::string canon_, hex_;
};

std::string iso_time(std::int64_t us) {
  std::time_t secs = static_cast<std::time_t>(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
  long frac = static_cast<long>(us - static_cast<std::int64_t>(secs) * 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

Entry read_entry(const store::Statement& s) {
  Entry e;
  e.seq = s.column_int64(0);
  e.time_us = s.column_int64(1);
  e.actor = s.column_text(2);
  e.source = s.column_text(3);
  e.action = s.column_text(4);
  e.object = s.column_text(5);
  e.outcome = s.column_text(6);
  e.reason = s.column_text(7);
  e.detail = s.column_text(8);
  e.hash = s.column_text(9);
  return e;
}

std::string clip(std::string value, std::size_t max) {
  if (value.size() <= max) return value;
  std::size_t n = max;
  // Do not cut a UTF-8 sequence in half.
  while (n > 0 && (static_cast<unsigned char>(value[n]) & 0xC0) == 0x80) --n;
  value.resize(n);
  value += "...";
  return value;
}

std::string clean(const std::string& value, std::size_t max) {
  std::string redacted = log::redact(value);
  if (!csv::valid_utf8(redacted)) {
    std::string ascii;
    for (char c : redacted) ascii.push_back(static_cast<unsigned char>(c) < 0x80 ? c : '?');
    redacted = std::move(ascii);
  }
  return clip(std::move(redacted), max);
}

}  // namespace

// ------------------------------------------------------------------ chain

std::string canonical_entry(const Entry& e) {
  std::string out = "privstack-audit-v1";
  out.reserve(64 + e.actor.size() + e.source.size() + e.action.size() + e.object.size() + e.outcome.size() +
              e.reason.size() + e.detail.size());
  put_field(out, std::to_string(e.seq));
  put_field(out, std::to_string(e.time_us));
  put_field(out, e.actor);
  put_field(out, e.source);
  put_field(out, e.action);
  put_field(out, e.object);
  put_field(out, e.outcome);
  put_field(out, e.reason);
  put_field(out, e.detail);
  return out;
}

std::string chain_hash(std::string_view previous_hash, const Entry& e) {
  std::array<unsigned char, 32> prev{};
  if (!previous_hash.empty()) prev = unhex32(previous_hash);
  std::string canon = canonical_entry(e);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, prev.data(), prev.size()) == 1 &&
            EVP_DigestUpdate(ctx, canon.data(), canon.size()) == 1 && EVP_DigestFinal_ex(ctx, md, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) throw std::runtime_error("SHA-256 failed");
  return hex_encode(ByteView(md, len));
}

std::string anchor_message(std::int64_t seq, std::string_view hash, std::int64_t time_us) {
  return "privstack-audit-anchor-v1\n" + std::to_string(seq) + "\n" + std::string(hash) + "\n" +
         std::to_string(time_us);
}

std::optional<ExportFormat> parse_export_format(std::string_view name) {
  if (name == "jsonl" || name == "json") return ExportFormat::jsonl;
  if (name == "csv") return ExportFormat::csv;
  return std::nullopt;
}

json::object entry_json(const Entry& e) {
  json::object o;
  o["seq"] = e.seq;
  o["time"] = iso_time(e.time_us);
  o["time_us"] = e.time_us;
  o["actor"] = e.actor;
  o["source"] = e.source;
  o["action"] = e.action;
  o["object"] = e.object;
  o["outcome"] = e.outcome;
  o["reason"] = e.reason;
  o["detail"] = e.detail;
  o["hash"] = e.hash;
  return o;
}

std::string csv_header() {
  std::string out;
  csv::append_row(out, {"seq", "time", "time_us", "actor", "source", "action", "object", "outcome", "reason",
                        "detail", "hash"});
  return out;
}

std::string format_entry(const Entry& e, ExportFormat format) {
  if (format == ExportFormat::jsonl) return json::serialize(entry_json(e)) + "\n";
  std::string out;
  std::string seq = std::to_string(e.seq), t = iso_time(e.time_us), tus = std::to_string(e.time_us);
  csv::append_row(out, {seq, t, tus, e.actor, e.source, e.action, e.object, e.outcome, e.reason, e.detail, e.hash});
  return out;
}

json::object VerifyReport::to_json() const {
  json::object o;
  o["ok"] = ok;
  o["entries"] = entries;
  o["head_seq"] = head_seq;
  o["head_hash"] = head_hash;
  if (first_broken) o["first_broken_seq"] = *first_broken; else o["first_broken_seq"] = nullptr;
  o["problem"] = problem;
  if (anchor_seq) o["anchor_seq"] = *anchor_seq; else o["anchor_seq"] = nullptr;
  o["anchor_ok"] = anchor_ok;
  o["duration_ms"] = static_cast<std::int64_t>(duration.count());
  return o;
}

std::string actor_user(std::string_view user) { return "user:" + std::string(user); }
std::string actor_token(std::string_view token_id, std::string_view user) {
  return "token:" + std::string(token_id) + ":" + std::string(user);
}
std::string actor_local(unsigned uid) { return "local:uid=" + std::to_string(uid); }

// ------------------------------------------------------------------ AuditLog

AuditLog::AuditLog(store::Store& store, Secret anchor_key, std::filesystem::path anchor_file)
    : store_(store), key_(std::move(anchor_key)), anchor_file_(std::move(anchor_file)) {
  store_.migrate("audit", kMigrations);
  if (!anchor_file_.empty() && std::filesystem::exists(anchor_file_)) {
    std::ifstream in(anchor_file_);
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    json::value v = json::parse(ss.str(), ec);
    if (!ec && v.is_object()) {
      const auto& o = v.as_object();
      try {
        Anchor a;
        a.seq = o.at("seq").as_int64();
        a.hash = std::string(o.at("hash").as_string());
        a.time_us = o.at("time_us").as_int64();
        a.mac = std::string(o.at("mac").as_string());
        last_anchor_ = a;  // verify() checks its MAC
      } catch (const std::exception&) {
      }
    }
    if (!last_anchor_) {
      // Keep a marker so that verify() reports the damaged file.
      last_anchor_ = Anchor{-1, "", 0, ""};
    }
  }
}

AuditLog::~AuditLog() = default;

Secret AuditLog::load_or_create_anchor_key(const std::filesystem::path& state_directory, bool* created) {
  if (created) *created = false;
  if (auto cred = read_credential("audit-anchor.key")) return std::move(*cred);
  auto path = state_directory / "audit-anchor.key";
  if (!std::filesystem::exists(path)) {
    std::string hex = random_hex(32);
    write_secret_file(path, hex);
    wipe(hex);
    if (created) *created = true;
  }
  return read_secret_file(path);
}

Entry AuditLog::append(store::Connection& c, Entry e) {
  if (e.time_us == 0) e.time_us = default_clock().unix_micros();
  e.actor = clean(e.actor, 256);
  e.source = clean(e.source, 128);
  e.action = clean(e.action, 128);
  e.object = clean(e.object, 512);
  e.outcome = clean(e.outcome, 32);
  e.reason = clean(e.reason, 1200);
  e.detail = clean(e.detail, 2000);
  std::string previous;
  std::int64_t last = 0;
  {
    auto s = c.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
    if (s.step()) {
      last = s.column_int64(0);
      previous = s.column_text(1);
    }
  }
  e.seq = last + 1;
  e.hash = chain_hash(previous, e);
  c.exec("INSERT INTO audit_log (seq, time_us, actor, source, action, object, outcome, reason, detail, hash) "
         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
         e.seq, e.time_us, e.actor, e.source, e.action, e.object, e.outcome, e.reason, e.detail, e.hash);
  return e;
}

Entry AuditLog::append(Entry e) {
  return store_.write([&](store::Connection& c) { return append(c, std::move(e)); });
}

asio::awaitable<Entry> AuditLog::async_append(Entry e) {
  AuditLog* self = this;
  auto fn = [self, e = std::move(e)](store::Connection& c) { return self->append(c, e); };
  co_return co_await store_.async_write(std::move(fn));
}

void AuditLog::append_or_log(Entry e) noexcept {
  try {
    append(std::move(e));
  } catch (const std::exception& ex) {
    log::emit(log::events::audit_write_failed, std::string("cannot write the audit entry: ") + ex.what());
  }
}

void AuditLog::post_append(asio::any_io_executor executor, Entry e) {
  std::string action = e.action;
  ++pending_appends_;
  asio::co_spawn(executor, async_append(std::move(e)), [this, action](std::exception_ptr error, Entry) {
    --pending_appends_;
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& ex) {
      log::emit(log::events::audit_write_failed, std::string("cannot write an audit entry: ") + ex.what(),
                {{"ACTION", action}});
    }
  });
}

VerifyReport AuditLog::verify() {
  return store_.read([this](store::Connection& c) { return verify(c); });
}

asio::awaitable<VerifyReport> AuditLog::async_verify() {
  AuditLog* self = this;
  auto fn = [self](store::Connection& c) { return self->verify(c); };
  co_return co_await store_.async_read(std::move(fn));
}

VerifyReport AuditLog::verify(store::Connection& c) {
  auto started = std::chrono::steady_clock::now();
  VerifyReport r;
  std::optional<Anchor> anchor = latest_anchor_raw();
  std::optional<std::string> hash_at_anchor;
  {
    auto s = c.prepare("SELECT seq, time_us, actor, source, action, object, outcome, reason, detail, hash "
                       "FROM audit_log ORDER BY seq");
    std::string previous;
    std::array<unsigned char, 32> prev_raw{}, digest{};
    ChainHasher hasher;
    std::int64_t expected = 1;
    while (s.step()) {
      Entry e = read_entry(s);
      ++r.entries;
      if (r.ok) {
        if (e.seq != expected) {
          r.ok = false;
          r.first_broken = expected;
          r.problem = e.seq > expected ? "entry " + std::to_string(expected) + " is missing (next is " +
                                             std::to_string(e.seq) + ")"
                                       : "entry " + std::to_string(e.seq) + " is out of sequence";
        } else if (hasher.next(prev_raw, e, digest) != e.hash) {
          r.ok = false;
          r.first_broken = e.seq;
          r.problem = "entry " + std::to_string(e.seq) + " does not match its hash (edited, replaced or reordered)";
        } else {
          prev_raw = digest;
        }
      }
      if (anchor && e.seq == anchor->seq) hash_at_anchor = e.hash;
      previous = std::move(e.hash);
      r.head_seq = e.seq;
      expected = e.seq + 1;
    }
    r.head_hash = previous;
  }
  if (anchor) {
    r.anchor_seq = anchor->seq;
    if (anchor->seq < 0 || !anchor_valid(*anchor)) {
      r.anchor_ok = false;
      if (r.ok) {
        r.ok = false;
        r.problem = "the anchor file does not authenticate with the anchor key (edited or replaced)";
      }
    } else if (anchor->seq > r.head_seq) {
      r.anchor_ok = false;
      if (r.ok) {
        r.ok = false;
        r.first_broken = r.head_seq + 1;
        r.problem = "the log ends at entry " + std::to_string(r.head_seq) + " but entry " +
                    std::to_string(anchor->seq) + " was anchored: the tail was removed";
      }
    } else if (anchor->seq > 0 && hash_at_anchor != anchor->hash) {
      r.anchor_ok = false;
      if (r.ok) {
        r.ok = false;
        r.first_broken = anchor->seq;
        r.problem = "entry " + std::to_string(anchor->seq) +
                    " differs from the anchored hash: the log was rewritten up to there";
      }
    }
  }
  r.duration = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  return r;
}

std::vector<Entry> AuditLog::query(store::Connection& c, const Filter& f) {
  std::vector<Entry> out;
  int limit = std::clamp(f.limit, 1, 1000);
  auto s = c.prepare(
      "SELECT seq, time_us, actor, source, action, object, outcome, reason, detail, hash FROM audit_log "
      "WHERE seq > ?1 "
      "AND (?2 IS NULL OR substr(actor, 1, length(?2)) = ?2) "
      "AND (?3 IS NULL OR substr(action, 1, length(?3)) = ?3) "
      "AND (?4 IS NULL OR substr(object, 1, length(?4)) = ?4) "
      "AND (?5 IS NULL OR time_us >= ?5) AND (?6 IS NULL OR time_us < ?6) "
      "ORDER BY seq LIMIT ?7");
  s.bind_all(f.after_seq, f.actor, f.action, f.object, f.from_us, f.to_us, static_cast<std::int64_t>(limit));
  while (s.step()) out.push_back(read_entry(s));
  return out;
}

asio::awaitable<std::vector<Entry>> AuditLog::async_query(Filter filter) {
  AuditLog* self = this;
  auto fn = [self, filter](store::Connection& c) { return self->query(c, filter); };
  co_return co_await store_.async_read(std::move(fn));
}

Anchor AuditLog::head(store::Connection& c) {
  Anchor a;
  auto s = c.prepare("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1");
  if (s.step()) {
    a.seq = s.column_int64(0);
    a.hash = s.column_text(1);
  }
  return a;
}

Anchor AuditLog::make_anchor(std::int64_t seq, std::string hash) const {
  Anchor a;
  a.seq = seq;
  a.hash = std::move(hash);
  a.time_us = default_clock().unix_micros();
  std::string msg = anchor_message(a.seq, a.hash, a.time_us);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  auto key = key_.reveal();
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
            msg.size(), mac, &len)) {
    throw std::runtime_error("HMAC failed");
  }
  a.mac = hex_encode(ByteView(mac, len));
  return a;
}

bool AuditLog::anchor_valid(const Anchor& a) const {
  std::string msg = anchor_message(a.seq, a.hash, a.time_us);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  auto key = key_.reveal();
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
            msg.size(), mac, &len)) {
    return false;
  }
  return constant_time_equals(hex_encode(ByteView(mac, len)), a.mac);
}

std::optional<Anchor> AuditLog::latest_anchor_raw() const {
  std::lock_guard lock(mutex_);
  return last_anchor_;
}

std::optional<Anchor> AuditLog::latest_anchor() const {
  auto a = latest_anchor_raw();
  if (a && (a->seq < 0 || !anchor_valid(*a))) return std::nullopt;
  return a;
}

std::optional<Anchor> AuditLog::write_anchor(bool force) {
  auto heads = store_.read([this](store::Connection& c) { return heads_now(c); });
  return publish_anchor(std::move(heads.first), std::move(heads.second), force);
}

asio::awaitable<std::optional<Anchor>> AuditLog::async_write_anchor(bool force) {
  AuditLog* self = this;
  auto fn = [self](store::Connection& c) { return self->heads_now(c); };
  auto heads = co_await store_.async_read(std::move(fn));
  co_return publish_anchor(std::move(heads.first), std::move(heads.second), force);
}

// The head, and the hash now stored at the last anchor's seq (nullopt when
// there is no such entry).
std::pair<Anchor, std::optional<std::string>> AuditLog::heads_now(store::Connection& c) {
  Anchor h = head(c);
  std::optional<std::string> at_anchor;
  auto last = latest_anchor_raw();
  if (last && last->seq > 0) at_anchor = c.query_one<std::string>("SELECT hash FROM audit_log WHERE seq = ?", last->seq);
  return {std::move(h), std::move(at_anchor)};
}

std::optional<Anchor> AuditLog::publish_anchor(Anchor h, std::optional<std::string> hash_at_last, bool force) {
  std::lock_guard lock(mutex_);
  if (!force && last_anchor_ && last_anchor_->seq == h.seq && last_anchor_->hash == h.hash) return std::nullopt;
  // Never replace an anchor the log no longer matches (shorter, or a
  // different entry at the anchored seq): that is exactly what verify() must
  // keep reporting. A damaged anchor file is kept for the same reason.
  if (last_anchor_ && last_anchor_->seq != 0) {
    bool valid = last_anchor_->seq > 0 && anchor_valid(*last_anchor_);
    if (!valid || hash_at_last != last_anchor_->hash) {
      log::emit(log::events::audit_verify_failed,
                "the audit log no longer matches its last anchor (entry " + std::to_string(last_anchor_->seq) +
                    "); the anchor is kept",
                {{"AUDIT_SEQ", last_anchor_->seq}});
      return std::nullopt;
    }
  }
  Anchor a = make_anchor(h.seq, std::move(h.hash));
  log::emit(log::events::audit_anchor, "audit log anchor at entry " + std::to_string(a.seq),
            {{"AUDIT_SEQ", a.seq}, {"AUDIT_HASH", a.hash}, {"AUDIT_ANCHOR_TIME_US", a.time_us},
             {"AUDIT_ANCHOR_MAC", a.mac}});
  if (!anchor_file_.empty()) {
    json::object o;
    o["seq"] = a.seq;
    o["hash"] = a.hash;
    o["time_us"] = a.time_us;
    o["mac"] = a.mac;
    auto tmp = anchor_file_;
    tmp += ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << json::serialize(o) << "\n";
      if (!out) throw std::runtime_error("cannot write " + tmp.string());
    }
    std::filesystem::rename(tmp, anchor_file_);
  }
  last_anchor_ = a;
  return a;
}

}  // namespace privstack::audit
