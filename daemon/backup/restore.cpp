#include "backup/restore.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>

#include "audit/audit.h"
#include "backup/snapshot.h"
#include "core/crypto.h"
#include "core/secret.h"
#include "store/store.h"

namespace privstack::backup {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

[[noreturn]] void fail(const std::string& message) { throw ArchiveError(message); }

constexpr std::size_t kTag = 16;
constexpr std::size_t kTrailer = 64;
constexpr const char* kSqliteSuffixes[] = {"", "-wal", "-shm", "-journal"};

std::size_t read_exact(const Source& source, std::span<std::uint8_t> buf) {
  std::size_t got = 0;
  while (got < buf.size()) {
    std::size_t n = source(buf.subspan(got));
    if (n == 0) break;
    got += n;
  }
  return got;
}

void remove_database_files(const fs::path& base) {
  std::error_code ec;
  for (const char* suffix : kSqliteSuffixes) fs::remove(base.string() + suffix, ec);
}

// Scratch files of restores that were killed (SIGKILL, power loss) before
// they could clean up: `.<db>.restore-<pid>...` whose process is gone.
// A live process of that id (a concurrent restore, or a reused id) keeps them.
void remove_dead_restores_scratch(const fs::path& database) {
  const fs::path dir = database.parent_path().empty() ? fs::path(".") : database.parent_path();
  // Appended, not `"." + string`: GCC 12 -O3 false -Wrestrict (PR 105651).
  std::string prefix(1, '.');
  prefix += database.filename().string();
  prefix += ".restore-";
  std::error_code ec;
  std::vector<fs::path> dead;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const char* digits = name.c_str() + prefix.size();
    char* end = nullptr;
    long pid = std::strtol(digits, &end, 10);
    if (end == digits || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    dead.push_back(entry.path());
  }
  for (const auto& path : dead) fs::remove(path, ec);
}

void fsync_directory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

json::object counts_json(const std::map<std::string, std::int64_t>& counts) {
  json::object o;
  for (const auto& [table, rows] : counts) o[table] = rows;
  return o;
}

json::object header_json(const ArchiveHeader& h) {
  json::object o;
  o["archive_id"] = h.archive_id;
  o["created"] = h.metadata.created_unix;
  o["source_host"] = h.metadata.source_host;
  o["schema_version"] = h.metadata.schema_version;
  o["recovery_key_id"] = h.recovery_key_id;
  o["chunk_size"] = static_cast<std::int64_t>(h.chunk_size);
  return o;
}

// Everything a restored store must pass before it is used: the archive
// restored completely (restore_archive), PRAGMA integrity_check plus every
// page's authentication (Store::check), and the audit log's hash chain.
// When `record` is set, the restore is appended to the restored audit log
// and the chain verified again with it. Runs on the scratch database.
struct Checked {
  RestoreResult restored;
  store::CheckReport integrity;
  audit::VerifyReport chain;
  std::optional<audit::Entry> recorded;
};

using RestoreStep = std::function<RestoreResult(const fs::path& database, const fs::path& key_file)>;

Checked restore_and_check(const RestoreStep& restore, const fs::path& scratch_db, const fs::path& key_file,
                          const audit::Entry* record) {
  Checked out;
  out.restored = restore(scratch_db, key_file);
  store::Options options;
  options.database = scratch_db;
  options.key = store::KeyLocation{key_file, false};
  options.create = false;
  options.readers = 1;
  // The checks read each page about once: the daemon's 32 MiB reader cache
  // would only hold memory (it was most of a backup run's peak RSS).
  options.reader_cache_size_kib = 4096;
  auto st = store::Store::open(options);
  out.integrity = st->check();
  if (!out.integrity.ok) {
    std::string why;
    for (const auto& line : out.integrity.integrity) {
      if (line != "ok") why += (why.empty() ? "" : "; ") + line;
    }
    for (const auto& line : out.integrity.cipher_integrity) why += (why.empty() ? "" : "; ") + line;
    fail("the restored store fails its integrity check: " + (why.empty() ? std::string("unknown problem") : why));
  }
  // The anchor key stays in memory: anchors belong to the machine that wrote
  // them, not to the archive; the daemon writes a fresh one at start-up.
  unsigned char raw[32];
  random_fill(raw, sizeof raw);
  Secret anchor_key(std::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
  cleanse(raw, sizeof raw);
  {
    audit::AuditLog log(*st, std::move(anchor_key));
    out.chain = log.verify();
    if (!out.chain.ok) {
      fail("the restored audit log does not verify" +
           (out.chain.first_broken ? " at entry " + std::to_string(*out.chain.first_broken) : std::string()) + ": " +
           out.chain.problem);
    }
    if (record != nullptr) {
      out.recorded = log.append(*record);
      out.chain = log.verify();
      if (!out.chain.ok) fail("the restored audit log does not verify after recording the restore: " + out.chain.problem);
    }
  }
  st->checkpoint();
  return out;
}

// As root: the new files get the owner of `owner` (a user name) or, by
// default, the owner of the state directory (privstack's, as tmpfiles.d
// makes it), so that the daemon's user can open them.
void give_to_owner(const std::vector<fs::path>& paths, const fs::path& state_directory,
                   const std::optional<std::string>& owner) {
  if (::geteuid() != 0) return;
  uid_t uid = 0;
  gid_t gid = 0;
  if (owner) {
    passwd* pw = ::getpwnam(owner->c_str());
    if (pw == nullptr) throw std::runtime_error("there is no user " + *owner + " to own the restored store");
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  } else {
    struct stat st {};
    if (::stat(state_directory.c_str(), &st) != 0) return;
    uid = st.st_uid;
    gid = st.st_gid;
  }
  for (const auto& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) continue;
    if (::chown(p.c_str(), uid, gid) != 0) throw std::runtime_error("cannot change the owner of " + p.string());
  }
}

}  // namespace

bool recovery_key_is_encrypted(std::string_view pem) {
  return pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
         pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
}

std::vector<std::uint8_t> parse_recovery_private_key(const std::string& pem, std::string_view passphrase) {
  if (!recovery_key_is_encrypted(pem)) return parse_recovery_private_key(pem);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!bio) fail("out of memory reading the recovery key");
  // The passphrase goes to OpenSSL through the callback's user data; it is
  // never copied into a std::string here.
  struct Pass {
    std::string_view text;
  } pass{passphrase};
  auto cb = [](char* buf, int size, int, void* user) -> int {
    const auto* p = static_cast<const Pass*>(user);
    if (size < 0 || p->text.size() > static_cast<std::size_t>(size)) return -1;
    std::memcpy(buf, p->text.data(), p->text.size());
    return static_cast<int>(p->text.size());
  };
  EVP_PKEY* raw_key = PEM_read_bio_PrivateKey(bio.get(), nullptr, cb, &pass);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw_key, EVP_PKEY_free);
  if (!key) fail("the recovery key passphrase is wrong (or the recovery key file is damaged)");
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_X25519) fail("the recovery key is not an X25519 key");
  std::vector<std::uint8_t> out(32);
  std::size_t len = out.size();
  if (EVP_PKEY_get_raw_private_key(key.get(), out.data(), &len) != 1 || len != 32)
    fail("the recovery key could not be read");
  return out;
}

StructureReport verify_archive_structure(const Source& source) {
  StructureReport r;
  std::uint64_t offset = 0;
  // Count what the header reader consumes.
  Source counting = [&](std::span<std::uint8_t> buf) {
    std::size_t n = source(buf);
    offset += n;
    return n;
  };
  r.header = read_archive_header(counting);
  std::vector<std::uint8_t> skip(64 * 1024);
  for (std::uint64_t index = 0;; ++index) {
    std::uint8_t frame[5];
    std::size_t n = read_exact(counting, frame);
    if (n == 0) {
      fail("the archive is truncated: it ends after " + std::to_string(index) +
           " chunks without its final (trailer) chunk");
    }
    if (n < sizeof frame) fail("the archive is truncated inside the frame of chunk " + std::to_string(index));
    std::uint32_t length = (std::uint32_t{frame[0]} << 24) | (std::uint32_t{frame[1]} << 16) |
                           (std::uint32_t{frame[2]} << 8) | frame[3];
    std::uint8_t flags = frame[4];
    if (flags != 0x00 && flags != 0x01) {
      fail("chunk " + std::to_string(index) + " at byte " + std::to_string(offset - 5) + " has unknown flags: the archive is corrupted");
    }
    const bool final = flags == 0x01;
    if (final ? length != kTrailer : (length == 0 || length > r.header.chunk_size)) {
      fail("chunk " + std::to_string(index) + " at byte " + std::to_string(offset - 5) + " has an impossible length " +
           std::to_string(length) + ": the archive is corrupted");
    }
    std::uint64_t left = std::uint64_t{length} + kTag;
    while (left > 0) {
      std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(left, skip.size()));
      std::size_t got = read_exact(counting, std::span(skip.data(), want));
      if (got < want) fail("the archive is truncated inside chunk " + std::to_string(index));
      left -= got;
    }
    if (final) {
      std::uint8_t extra[1];
      if (read_exact(counting, extra) != 0) fail("bytes follow the final chunk: the archive was appended to or spliced");
      r.data_chunks = index;
      break;
    }
    r.ciphertext_bytes += length;
  }
  r.archive_bytes = offset;
  return r;
}

json::object to_json(const StructureReport& r) {
  json::object o = header_json(r.header);
  o["data_chunks"] = static_cast<std::int64_t>(r.data_chunks);
  o["ciphertext_bytes"] = static_cast<std::int64_t>(r.ciphertext_bytes);
  o["archive_bytes"] = static_cast<std::int64_t>(r.archive_bytes);
  o["row_counts"] = counts_json(r.header.metadata.row_counts);
  return o;
}

std::optional<pid_t> database_in_use(const fs::path& database) {
  // SQLite (unix VFS) holds a shared lock on byte 128 of "<db>-shm" (the
  // "DMS" slot) for as long as a connection has the WAL database open.
  fs::path shm = database.string() + "-shm";
  int fd = ::open(shm.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  lk.l_start = 128;
  lk.l_len = 1;
  std::optional<pid_t> holder;
  if (::fcntl(fd, F_GETLK, &lk) == 0 && lk.l_type != F_UNLCK) holder = lk.l_pid;
  ::close(fd);
  return holder;
}

json::object restore_offline(const Source& source, std::span<const std::uint8_t> recovery_private_key,
                             const OfflineRestore& target) {
  const auto started = std::chrono::steady_clock::now();
  std::error_code ec;
  const bool replacing = fs::exists(target.database, ec);
  if (replacing && !target.force) {
    throw std::runtime_error("a store already exists at " + target.database.string() +
                             "; refusing to overwrite it (stop privstackd and add --force to replace it)");
  }
  if (replacing) {
    if (auto pid = database_in_use(target.database)) {
      throw std::runtime_error("the store " + target.database.string() + " is in use by process " +
                               std::to_string(*pid) + " (privstackd?): stop the daemon before restoring");
    }
  }

  // Everything this function creates, removed again on failure.
  bool made_dir = false;
  bool made_key = false;
  const fs::path scratch =
      target.database.parent_path() / ("." + target.database.filename().string() + ".restore-" + std::to_string(::getpid()));
  struct Undo {
    const fs::path& dir;
    const fs::path& key;
    const fs::path& scratch;
    bool& made_dir;
    bool& made_key;
    bool armed = true;
    ~Undo() {
      if (!armed) return;
      std::error_code e;
      remove_database_files(scratch);
      remove_database_files(scratch.string() + ".restoring");
      if (made_key) fs::remove(key, e);
      if (made_dir) fs::remove(dir, e);  // only when empty again
    }
  } undo{target.state_directory, target.key_file, scratch, made_dir, made_key, true};

  if (!fs::exists(target.state_directory, ec)) {
    fs::create_directories(target.state_directory);
    fs::permissions(target.state_directory, fs::perms(0750));
    made_dir = true;
  }
  const fs::path db_dir = target.database.parent_path().empty() ? fs::path(".") : target.database.parent_path();
  if (!fs::exists(db_dir, ec)) throw std::runtime_error("the directory " + db_dir.string() + " does not exist");
  if (!fs::exists(target.key_file, ec)) {
    // `privstackctl store init-key` semantics: a fresh 0600 key file where the
    // daemon will look for it.
    if (!target.key_file.parent_path().empty() && !fs::exists(target.key_file.parent_path(), ec)) {
      throw std::runtime_error("the directory of the store key file " + target.key_file.string() + " does not exist");
    }
    store::init_key_file(target.key_file);
    made_key = true;
  } else {
    (void)store::read_key_file(target.key_file);  // mode, owner and form, before any work
  }
  remove_dead_restores_scratch(target.database);
  remove_database_files(scratch);
  remove_database_files(scratch.string() + ".restoring");

  audit::Entry entry;
  entry.actor = target.actor.empty() ? audit::actor_local(::getuid()) : target.actor;
  entry.source = "privstackctl";
  entry.action = "backup.restore";
  entry.outcome = std::string(audit::kSuccess);
  // Object and detail need the header: filled in by a first pass below.
  // restore_archive reads the header itself, so peek at it through a
  // buffering source that replays the bytes it has seen.
  std::vector<std::uint8_t> replay;
  std::size_t replay_pos = 0;
  bool recording = true;
  Source teed = [&](std::span<std::uint8_t> buf) -> std::size_t {
    if (!recording && replay_pos < replay.size()) {
      std::size_t n = std::min(buf.size(), replay.size() - replay_pos);
      std::memcpy(buf.data(), replay.data() + replay_pos, n);
      replay_pos += n;
      return n;
    }
    std::size_t n = source(buf);
    if (recording) replay.insert(replay.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  };
  ArchiveHeader header = read_archive_header(teed);
  recording = false;
  replay_pos = 0;
  entry.object = "backup:" + header.archive_id;
  entry.detail = "restored from " + target.archive_name + " (made by " + header.metadata.source_host + " at " +
                 std::to_string(header.metadata.created_unix) + ", schema " +
                 std::to_string(header.metadata.schema_version) + ")" + (replacing ? "; replaced the previous store" : "");

  RestoreStep step = [&](const fs::path& db, const fs::path& key) {
    return restore_archive(teed, recovery_private_key, db, key);
  };
  Checked checked = restore_and_check(step, scratch, target.key_file, &entry);

  // Commit: the old store's WAL and shared-memory files must not be applied
  // to the new database, and the old anchor describes the old chain.
  std::vector<fs::path> created{scratch};
  if (made_key) created.push_back(target.key_file);
  give_to_owner(created, target.state_directory, target.owner);
  // The anchor goes first: killed between the rename and its removal, the
  // restored store would start with an anchor of another chain (and fail
  // audit verification); killed before the rename, the old store (which
  // --force was asked to replace) only loses its truncation check.
  if (replacing) {
    for (const char* suffix : {"-wal", "-shm", "-journal"}) fs::remove(target.database.string() + suffix, ec);
  }
  fs::remove(target.state_directory / "audit-anchor.json", ec);
  fsync_directory(target.state_directory);
  fs::rename(scratch, target.database);
  undo.armed = false;
  for (const char* suffix : {"-wal", "-shm", "-journal"}) fs::remove(scratch.string() + suffix, ec);
  fsync_directory(db_dir);

  json::object doc;
  doc["restored"] = true;
  doc["archive"] = target.archive_name;
  doc["header"] = header_json(checked.restored.header);
  doc["database"] = target.database.string();
  doc["key_file"] = target.key_file.string();
  doc["key_created"] = made_key;
  doc["replaced_existing_store"] = replacing;
  doc["statements"] = static_cast<std::int64_t>(checked.restored.statements);
  doc["payload_bytes"] = static_cast<std::int64_t>(checked.restored.trailer.payload_bytes);
  doc["row_counts"] = counts_json(checked.restored.row_counts);
  doc["integrity"] = "ok";
  doc["audit_chain"] = json::object{{"ok", checked.chain.ok}, {"entries", checked.chain.entries}};
  if (checked.recorded) doc["audit_entry"] = checked.recorded->seq;
  doc["duration_ms"] = static_cast<std::int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  return doc;
}

namespace {

json::object verify_in_scratch(const RestoreStep& restore, const fs::path& scratch_parent) {
  const auto started = std::chrono::steady_clock::now();
  std::string tmpl = (scratch_parent / "privstack-verify-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("cannot make a scratch directory in " + scratch_parent.string());
  }
  const fs::path dir = tmpl;
  struct Remove {
    fs::path dir;
    ~Remove() {
      std::error_code e;
      fs::remove_all(dir, e);
    }
  } cleanup{dir};
  fs::permissions(dir, fs::perms(0700));
  const fs::path key = dir / "scratch.key";
  store::init_key_file(key);
  Checked checked = restore_and_check(restore, dir / "scratch.db", key, nullptr);
  json::object doc;
  doc["ok"] = true;
  doc["header"] = header_json(checked.restored.header);
  doc["data_chunks"] = static_cast<std::int64_t>(checked.restored.trailer.chunks);
  doc["payload_bytes"] = static_cast<std::int64_t>(checked.restored.trailer.payload_bytes);
  doc["statements"] = static_cast<std::int64_t>(checked.restored.statements);
  doc["row_counts"] = counts_json(checked.restored.row_counts);
  doc["integrity"] = "ok";
  doc["audit_chain"] = json::object{{"ok", checked.chain.ok}, {"entries", checked.chain.entries}};
  doc["duration_ms"] = static_cast<std::int64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  return doc;
}

}  // namespace

json::object verify_offline(const Source& source, std::span<const std::uint8_t> recovery_private_key,
                            const fs::path& scratch_parent) {
  RestoreStep step = [&](const fs::path& db, const fs::path& key) {
    return restore_archive(source, recovery_private_key, db, key);
  };
  return verify_in_scratch(step, scratch_parent);
}

json::object test_restore(ArchiveReader& reader, const fs::path& scratch_parent) {
  RestoreStep step = [&](const fs::path& db, const fs::path& key) { return restore_archive(reader, db, key); };
  return verify_in_scratch(step, scratch_parent);
}

}  // namespace privstack::backup
