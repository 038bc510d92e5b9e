// Tests for the configuration loader (daemon/core/config.h).
//
// Problems are compared as whole "FILE:LINE:COLUMN: message" strings, so
// every test pins the exact 1-based position as well as the wording.
#include "core/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace privstack {
namespace {

using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> problems(const ConfigResult& result) {
  std::vector<std::string> out;
  for (const ConfigProblem& p : result.problems) out.push_back(p.to_string());
  return out;
}

std::vector<std::string> check(const std::string& yaml) { return problems(parse_config(yaml, "t.yaml")); }

Config parse_ok(const std::string& yaml) {
  ConfigResult result = parse_config(yaml, "t.yaml");
  EXPECT_THAT(problems(result), IsEmpty());
  EXPECT_TRUE(result.config.has_value());
  return result.config.value_or(Config{});
}

// A private temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "privstack-config-test.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

  std::filesystem::path write(const std::string& name, const std::string& content, mode_t mode) {
    std::filesystem::path file = path_ / name;
    std::ofstream(file) << content;
    if (::chmod(file.c_str(), mode) != 0) throw std::runtime_error("chmod failed");
    return file;
  }

 private:
  std::filesystem::path path_;
};

// Key material made with OpenSSL for the checks that parse it.
std::string pem_of(EVP_PKEY* key, bool private_part) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (private_part) {
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(bio, key);
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

// A self-signed P-256 certificate and its key, as PEM.
struct TlsPair {
  std::string certificate;
  std::string key;
};
TlsPair make_tls_pair() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_set_pubkey(cert, key);
  X509_sign(cert, key, EVP_sha256());
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  TlsPair pair{std::string(data, static_cast<std::size_t>(len)), pem_of(key, true)};
  BIO_free(bio);
  X509_free(cert);
  EVP_PKEY_free(key);
  return pair;
}

// An X25519 public key: PEM, and the base64 of its 32 raw bytes.
struct RecoveryKey {
  std::string pem;
  std::string base64;
};
RecoveryKey make_recovery_key() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "X25519");
  unsigned char raw[32];
  std::size_t len = sizeof raw;
  EVP_PKEY_get_raw_public_key(key, raw, &len);
  unsigned char b64[64] = {};
  EVP_EncodeBlock(b64, raw, static_cast<int>(len));
  RecoveryKey out{pem_of(key, false), reinterpret_cast<char*>(b64)};
  EVP_PKEY_free(key);
  return out;
}

// The YAML block scalar for a multi-line value, indented by `indent` spaces.
std::string block(const std::string& text, int indent) {
  std::string out = "|\n";
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    out += std::string(static_cast<std::size_t>(indent), ' ') + text.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

// --- to_string and parse_duration ------------------------------------------

TEST(ConfigProblemTest, ToStringWithAndWithoutPosition) {
  EXPECT_EQ((ConfigProblem{"a.yaml", 3, 7, "bad"}).to_string(), "a.yaml:3:7: bad");
  EXPECT_EQ((ConfigProblem{"a.yaml", 0, 0, "cannot read: No such file or directory"}).to_string(),
            "a.yaml: cannot read: No such file or directory");
}

TEST(ParseDurationTest, AcceptsSecondsAndUnits) {
  EXPECT_EQ(parse_duration("90"), seconds(90));
  EXPECT_EQ(parse_duration("30s"), seconds(30));
  EXPECT_EQ(parse_duration("15m"), seconds(900));
  EXPECT_EQ(parse_duration("12h"), seconds(43200));
  EXPECT_EQ(parse_duration("7d"), seconds(604800));
  EXPECT_EQ(parse_duration("0"), seconds(0));  // well-formed; the loader requires > 0
}

TEST(ParseDurationTest, RejectsMalformed) {
  for (const char* text : {"", "s", "-5", "-5m", "+5", "5 m", " 5", "5M", "1.5h", "5ms", "1h30m", "abc",
                           "99999999999999999999", "9223372036854775807d"}) {
    EXPECT_EQ(parse_duration(text), std::nullopt) << "'" << text << "'";
  }
}

// --- defaults and valid files -----------------------------------------------

TEST(ConfigTest, EmptyTextGivesDefaults) {
  for (const char* text : {"", "# only a comment\n", "---\n", "~\n"}) {
    Config c = parse_ok(text);
    EXPECT_EQ(c.source, "t.yaml");
    EXPECT_EQ(c.listen.address, "127.0.0.1");
    EXPECT_EQ(c.listen.port, 8443);
    EXPECT_EQ(c.control.socket, "/run/privstack/control.sock");
    EXPECT_EQ(c.state_directory, "/var/lib/privstack");
    EXPECT_TRUE(c.store.key_file.empty());
    EXPECT_TRUE(c.tls.certificate.empty());
    EXPECT_TRUE(c.tls.private_key.empty());
    EXPECT_EQ(c.console.web_root, "/usr/share/privstack/web");
    EXPECT_EQ(c.auth.session_idle_timeout, seconds(1800));
    EXPECT_EQ(c.auth.session_lifetime, seconds(43200));
    EXPECT_EQ(c.auth.lockout_threshold, 5);
    EXPECT_EQ(c.auth.lockout_duration, seconds(900));
    EXPECT_TRUE(c.auth.require_totp_for_roles.empty());
    EXPECT_EQ(c.backup.schedule, "daily 02:00");
    EXPECT_EQ(c.backup.verify_schedule, "weekly sun 04:00");
    EXPECT_EQ(c.backup.local_directory, "/var/lib/privstack/backups");
    EXPECT_EQ(c.backup.retention.keep_last, 3);
    EXPECT_EQ(c.backup.retention.daily, 5);
    EXPECT_EQ(c.backup.retention.weekly, 4);
    EXPECT_EQ(c.backup.retention.monthly, 6);
    EXPECT_FALSE(c.backup.s3.put_only);
    EXPECT_EQ(c.backup.s3.object_lock.retain_days, 0);  // Object Lock is opt-in
    EXPECT_EQ(c.backup.s3.object_lock.mode, "compliance");
    EXPECT_TRUE(c.backup.s3.endpoint.empty());
    EXPECT_EQ(c.backup.s3.region, "us-east-1");
    EXPECT_TRUE(c.backup.s3.path_style);
    EXPECT_TRUE(c.backup.allowed_regions.empty());
    EXPECT_EQ(c.host_audit.schedule, "weekly sun 03:00");
    EXPECT_TRUE(c.host_audit.allowed_ports.empty());
    EXPECT_TRUE(c.notifications.webhook.url.empty());
  }
}

TEST(ConfigTest, SectionsWithEverythingCommentedOutAreEmpty) {
  Config c = parse_ok("tls:\n  # certificate: /x\nstore:\nlisten:\n  port: 9000\n");
  EXPECT_EQ(c.listen.port, 9000);
  EXPECT_TRUE(c.tls.certificate.empty());
}

TEST(ConfigTest, BackupDirectoryFollowsStateDirectoryUnlessSet) {
  EXPECT_EQ(parse_ok("state_directory: /srv/ps\n").backup.local_directory, "/srv/ps/backups");
  Config c = parse_ok("state_directory: /srv/ps\nbackup:\n  local_directory: /mnt/backups\n");
  EXPECT_EQ(c.backup.local_directory, "/mnt/backups");
}

TEST(ConfigTest, DecodesEveryKey) {
  TempDir dir;
  auto s3_secret = dir.write("s3", "s3cr3t\n", 0600);
  auto hook_secret = dir.write("hook", "h00k\n", 0600);
  TlsPair tls = make_tls_pair();
  auto cert = dir.write("cert.pem", tls.certificate, 0644);
  auto key = dir.write("key.pem", tls.key, 0600);
  const std::string recovery = make_recovery_key().base64;
  Config c = parse_ok(
      "listen: {address: '::', port: 443}\n"
      "control: {socket: /run/ps.sock}\n"
      "state_directory: /srv/ps\n"
      "store: {key_file: " + (dir.path() / "not-yet-created.key").string() + "}\n"
      "tls: {certificate: " + cert.string() + ", private_key: " + key.string() + "}\n"
      "console: {web_root: /srv/web}\n"
      "auth:\n"
      "  session_idle_timeout: 90\n"
      "  session_lifetime: 1d\n"
      "  lockout_threshold: 1000\n"
      "  lockout_duration: 30s\n"
      "  require_totp_for_roles: [admin, support]\n"
      "backup:\n"
      "  schedule: hourly\n"
      "  retention: {keep_last: 1000, daily: 0, weekly: 0, monthly: 1000}\n"
      "  recovery_public_key: " + recovery + "\n"
      "  s3:\n"
      "    endpoint: http://127.0.0.1:9000\n"
      "    region: eu-west-1\n"
      "    bucket: b\n"
      "    prefix: site-a/\n"
      "    access_key_id: AKIA\n"
      "    secret_access_key_file: " + s3_secret.string() + "\n"
      "    path_style: false\n"
      "    ca_file: " + cert.string() + "\n"
      "  allowed_regions: [eu-central-1, eu-west-1]\n"
      "host_audit:\n"
      "  schedule: daily 04:00\n"
      "  allowed_ports:\n"
      "    - {port: 22, proto: tcp, from: [10.0.0.0/8, '2001:db8::/32', 192.0.2.7]}\n"
      "    - port: 53\n"
      "      proto: udp\n"
      "notifications: {webhook: {url: 'https://hooks.example/x', secret_file: " + hook_secret.string() + "}}\n");
  EXPECT_EQ(c.listen.address, "::");
  EXPECT_EQ(c.listen.port, 443);
  EXPECT_EQ(c.control.socket, "/run/ps.sock");
  EXPECT_EQ(c.store.key_file, dir.path() / "not-yet-created.key");
  EXPECT_EQ(c.tls.certificate, cert);
  EXPECT_EQ(c.tls.private_key, key);
  EXPECT_EQ(c.console.web_root, "/srv/web");
  EXPECT_EQ(c.auth.session_idle_timeout, seconds(90));
  EXPECT_EQ(c.auth.session_lifetime, seconds(86400));
  EXPECT_EQ(c.auth.lockout_threshold, 1000);
  EXPECT_EQ(c.auth.lockout_duration, seconds(30));
  EXPECT_THAT(c.auth.require_totp_for_roles, ElementsAre("admin", "support"));
  EXPECT_EQ(c.backup.schedule, "hourly");
  EXPECT_EQ(c.backup.local_directory, "/srv/ps/backups");
  EXPECT_EQ(c.backup.retention.keep_last, 1000);
  EXPECT_EQ(c.backup.retention.daily, 0);
  EXPECT_EQ(c.backup.retention.weekly, 0);
  EXPECT_EQ(c.backup.retention.monthly, 1000);
  EXPECT_EQ(c.backup.recovery_public_key, recovery);
  EXPECT_EQ(c.backup.s3.endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(c.backup.s3.region, "eu-west-1");
  EXPECT_EQ(c.backup.s3.bucket, "b");
  EXPECT_EQ(c.backup.s3.prefix, "site-a/");
  EXPECT_EQ(c.backup.s3.access_key_id, "AKIA");
  EXPECT_EQ(c.backup.s3.secret_access_key_file, s3_secret);
  EXPECT_FALSE(c.backup.s3.path_style);
  EXPECT_EQ(c.backup.s3.ca_file, cert);
  EXPECT_THAT(c.backup.allowed_regions, ElementsAre("eu-central-1", "eu-west-1"));
  EXPECT_EQ(c.host_audit.schedule, "daily 04:00");
  ASSERT_EQ(c.host_audit.allowed_ports.size(), 2u);
  EXPECT_EQ(c.host_audit.allowed_ports[0].port, 22);
  EXPECT_EQ(c.host_audit.allowed_ports[0].proto, "tcp");
  EXPECT_THAT(c.host_audit.allowed_ports[0].from, ElementsAre("10.0.0.0/8", "2001:db8::/32", "192.0.2.7"));
  EXPECT_EQ(c.host_audit.allowed_ports[1].port, 53);
  EXPECT_EQ(c.host_audit.allowed_ports[1].proto, "udp");
  EXPECT_TRUE(c.host_audit.allowed_ports[1].from.empty());
  EXPECT_EQ(c.notifications.webhook.url, "https://hooks.example/x");
  EXPECT_EQ(c.notifications.webhook.secret_file, hook_secret);
}

TEST(ConfigTest, ShippedDefaultConfigLoadsCleanWithTheDefaults) {
  std::filesystem::path shipped = std::filesystem::path(PRIVSTACK_SOURCE_DIR) / "etc" / "privstack.yaml";
  ConfigResult result = load_config(shipped);
  ASSERT_THAT(problems(result), IsEmpty());
  ASSERT_TRUE(result.config);
  const Config& c = *result.config;
  const Config defaults;
  EXPECT_EQ(c.source, shipped);
  EXPECT_EQ(c.listen.address, defaults.listen.address);
  EXPECT_EQ(c.listen.port, defaults.listen.port);
  EXPECT_EQ(c.control.socket, defaults.control.socket);
  EXPECT_EQ(c.state_directory, defaults.state_directory);
  EXPECT_EQ(c.console.web_root, defaults.console.web_root);
  EXPECT_EQ(c.auth.session_idle_timeout, defaults.auth.session_idle_timeout);
  EXPECT_EQ(c.auth.session_lifetime, defaults.auth.session_lifetime);
  EXPECT_EQ(c.auth.lockout_threshold, defaults.auth.lockout_threshold);
  EXPECT_EQ(c.auth.lockout_duration, defaults.auth.lockout_duration);
  EXPECT_EQ(c.backup.schedule, defaults.backup.schedule);
  EXPECT_EQ(c.backup.local_directory, defaults.backup.local_directory);
  EXPECT_EQ(c.backup.retention.keep_last, defaults.backup.retention.keep_last);
  EXPECT_EQ(c.backup.retention.daily, defaults.backup.retention.daily);
  EXPECT_EQ(c.backup.retention.weekly, defaults.backup.retention.weekly);
  EXPECT_EQ(c.backup.retention.monthly, defaults.backup.retention.monthly);
  EXPECT_EQ(c.backup.s3.region, defaults.backup.s3.region);
  EXPECT_EQ(c.backup.s3.path_style, defaults.backup.s3.path_style);
  EXPECT_TRUE(c.backup.s3.endpoint.empty());
  EXPECT_EQ(c.host_audit.schedule, defaults.host_audit.schedule);
  EXPECT_TRUE(c.host_audit.allowed_ports.empty());
  EXPECT_TRUE(c.notifications.webhook.url.empty());
}

// Every commented-out example in the shipped file must be valid too, once
// uncommented (minus the files that do not exist on a test machine).
TEST(ConfigTest, ShippedExamplesAreValidWhenUncommented) {
  std::ifstream in(std::filesystem::path(PRIVSTACK_SOURCE_DIR) / "etc" / "privstack.yaml");
  // "  # key: value", "  #   - key: value" (lower-case keys: prose is not uncommented).
  const std::regex example(R"(^( *)# ( *(- )?[a-z_]+:( .*)?)$)");
  // Files that do not exist on a test machine, and the endpoint that needs them.
  // The recovery key's example is elided ("..."): each site has its own.
  const std::regex needs_files(R"(_file|certificate|private_key|endpoint|recovery_public_key)");
  std::string text, line;
  int uncommented = 0;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, example) && !std::regex_search(line, needs_files)) {
      line = m[1].str() + m[2].str();
      ++uncommented;
    }
    text += line + "\n";
  }
  EXPECT_GE(uncommented, 10);
  std::vector<std::string> found = check(text);
  // The uncommented duplicates of allowed_ports/allowed_regions/... are the
  // only expected complaints.
  for (const std::string& p : found) EXPECT_THAT(p, HasSubstr("duplicate key")) << p;
  EXPECT_FALSE(found.empty());
}

// --- unreadable files and document shape ------------------------------------

TEST(ConfigTest, UnreadableFileIsOneProblemWithoutPosition) {
  TempDir dir;
  EXPECT_THAT(problems(load_config(dir.path() / "missing.yaml")),
              ElementsAre((dir.path() / "missing.yaml").string() + ": cannot read: No such file or directory"));
  EXPECT_THAT(problems(load_config(dir.path())), ElementsAre(dir.path().string() + ": cannot read: Is a directory"));
}

TEST(ConfigTest, LoadConfigReportsTheFileName) {
  TempDir dir;
  auto file = dir.write("p.yaml", "listen:\n  port: 0\n", 0644);
  EXPECT_THAT(problems(load_config(file)),
              ElementsAre(file.string() + ":2:9: listen.port: expected an integer from 1 to 65535, got '0'"));
}

TEST(ConfigTest, TopLevelMustBeAMapping) {
  EXPECT_THAT(check("- a\n- b\n"),
              ElementsAre("t.yaml:1:1: the configuration must be a mapping of keys to values, got a list"));
  EXPECT_THAT(check("\n  hello\n"),
              ElementsAre("t.yaml:2:3: the configuration must be a mapping of keys to values, got 'hello'"));
}

TEST(ConfigTest, OnlyOneDocumentAllowed) {
  EXPECT_THAT(check("listen: {port: 1}\n---\nlisten: {port: 2}\n"),
              ElementsAre("t.yaml:2:1: expected a single YAML document, found another one here"));
}

// --- syntax errors ----------------------------------------------------------

TEST(ConfigTest, SyntaxErrorPositionIsOneBased) {
  EXPECT_THAT(check("listen:\n  port: 1\n  address: [1, 2\nstate_directory: /x\n"),
              ElementsAre("t.yaml:4:16: YAML syntax error: end of sequence flow not found"));
  // A tab used for indentation: yaml-cpp stops at the ':' after it.
  EXPECT_THAT(check("listen:\n\tport: 1\n"), ElementsAre("t.yaml:2:6: YAML syntax error: illegal map value"));
  EXPECT_THAT(check("listen: port: 1\n"), ElementsAre("t.yaml:1:13: YAML syntax error: illegal map value"));
  EXPECT_THAT(check("listen:\n    port: 1\n  address: x\n"),
              ElementsAre("t.yaml:3:3: YAML syntax error: end of map not found"));
}

// yaml-cpp 0.7 loops forever (allocating) on a stray ',' outside a flow
// collection if asked for all documents; these must come back as errors.
TEST(ConfigTest, StrayCommaIsASyntaxErrorNotAHang) {
  EXPECT_THAT(check(","), ElementsAre("t.yaml:1:1: YAML syntax error: unexpected ','"));
  EXPECT_THAT(check("\n, a\n"), ElementsAre("t.yaml:2:1: YAML syntax error: unexpected ','"));
  EXPECT_THAT(check("{listen: {port: 1}},\n"), ElementsAre("t.yaml:1:20: YAML syntax error: unexpected ','"));
}

// --- duplicate keys ---------------------------------------------------------

TEST(ConfigTest, DuplicateKeysAtAnyDepth) {
  EXPECT_THAT(check("listen:\n  port: 1\n  address: ::1\n  port: 2\n"),
              ElementsAre("t.yaml:4:3: duplicate key 'listen.port' (first defined at line 2)"));
  EXPECT_THAT(check("state_directory: /a\nlisten: {}\nstate_directory: /b\n"),
              ElementsAre("t.yaml:3:1: duplicate key 'state_directory' (first defined at line 1)"));
  EXPECT_THAT(check("backup:\n  s3: {bucket: a, bucket: b}\n"),
              ElementsAre("t.yaml:2:19: duplicate key 'backup.s3.bucket' (first defined at line 2)"));
  EXPECT_THAT(check("host_audit:\n  allowed_ports:\n    - port: 1\n      proto: tcp\n      port: 2\n"),
              ElementsAre("t.yaml:5:7: duplicate key 'host_audit.allowed_ports[0].port' (first defined at line 3)"));
  // Also inside keys the schema does not know: both problems, in file order.
  EXPECT_THAT(check("extra:\n  a: 1\n  a: 2\n"),
              ElementsAre("t.yaml:1:1: unknown key 'extra'",
                          "t.yaml:3:3: duplicate key 'extra.a' (first defined at line 2)"));
}

TEST(ConfigTest, OnlyTheFirstOfDuplicateKeysIsDecoded) {
  // The second value is bad, but only the duplicate itself is reported.
  EXPECT_THAT(check("listen:\n  port: 1\n  port: abc\n"),
              ElementsAre("t.yaml:3:3: duplicate key 'listen.port' (first defined at line 2)"));
}

// --- unknown keys -----------------------------------------------------------

TEST(ConfigTest, UnknownKeysWithSuggestions) {
  EXPECT_THAT(check("listen:\n  prot: 1\n"),
              ElementsAre("t.yaml:2:3: unknown key 'listen.prot'; did you mean 'listen.port'?"));
  EXPECT_THAT(check("state_dir: /x\n"), ElementsAre("t.yaml:1:1: unknown key 'state_dir'"));
  EXPECT_THAT(check("state_directroy: /x\n"),
              ElementsAre("t.yaml:1:1: unknown key 'state_directroy'; did you mean 'state_directory'?"));
  EXPECT_THAT(check("backup:\n  retention:\n    dayly: 3\n"),
              ElementsAre("t.yaml:3:5: unknown key 'backup.retention.dayly'; did you mean 'backup.retention.daily'?"));
  EXPECT_THAT(check("backup:\n  S3: {}\n"), ElementsAre("t.yaml:2:3: unknown key 'backup.S3'; did you mean 'backup.s3'?"));
  EXPECT_THAT(check("host_audit:\n  allowed_ports:\n    - {port: 1, proto: tcp, form: [10.0.0.0/8]}\n"),
              ElementsAre("t.yaml:3:29: unknown key 'host_audit.allowed_ports[0].form'; "
                          "did you mean 'host_audit.allowed_ports[0].from'?"));
  // Sub-keys are not valid at the top level.
  EXPECT_THAT(check("port: 1\n"), ElementsAre("t.yaml:1:1: unknown key 'port'"));
}

TEST(ConfigTest, InlineSecretsPointToFiles) {
  const std::string hint =
      ": secrets must not be written in the configuration; put the secret in a file (mode 0600) and name that file "
      "here";
  EXPECT_THAT(check("backup:\n  s3:\n    secret_access_key: hunter2\n"),
              ElementsAre("t.yaml:3:5: unknown key 'backup.s3.secret_access_key'" + hint +
                          "; did you mean 'backup.s3.secret_access_key_file'?"));
  EXPECT_THAT(check("password: hunter2\n"), ElementsAre("t.yaml:1:1: unknown key 'password'" + hint));
  EXPECT_THAT(check("notifications:\n  webhook:\n    secret: abc\n"),
              ElementsAre("t.yaml:3:5: unknown key 'notifications.webhook.secret'" + hint +
                          "; did you mean 'notifications.webhook.secret_file'?"));
  EXPECT_THAT(check("store:\n  key: abc\n"),
              ElementsAre("t.yaml:2:3: unknown key 'store.key'" + hint + "; did you mean 'store.key_file'?"));
  EXPECT_THAT(check("auth:\n  admin_password: abc\n"),
              ElementsAre("t.yaml:2:3: unknown key 'auth.admin_password'" + hint));
  // A plain typo of a *_file key is just a typo.
  EXPECT_THAT(check("store:\n  key_fil: /x\n"),
              ElementsAre("t.yaml:2:3: unknown key 'store.key_fil'; did you mean 'store.key_file'?"));
  // The secret itself never appears in a message.
  for (const std::string& p : check("password: hunter2\nbackup: {s3: {secret_access_key: hunter2}}\n")) {
    EXPECT_THAT(p, ::testing::Not(HasSubstr("hunter2")));
  }
}

// --- wrong types ------------------------------------------------------------

TEST(ConfigTest, WrongTypesNameTheExpectedType) {
  EXPECT_THAT(check("listen:\n  port: \"abc\"\n"),
              ElementsAre("t.yaml:2:9: listen.port: expected an integer from 1 to 65535, got 'abc'"));
  EXPECT_THAT(check("listen:\n  port: {a: 1}\n"),
              ElementsAre("t.yaml:2:9: listen.port: expected an integer from 1 to 65535, got a mapping"));
  EXPECT_THAT(check("listen: 8443\n"),
              ElementsAre("t.yaml:1:9: listen: expected a mapping (a section of keys), got '8443'"));
  EXPECT_THAT(check("listen:\n  - port: 1\n"),
              ElementsAre("t.yaml:2:3: listen: expected a mapping (a section of keys), got a list"));
  EXPECT_THAT(check("state_directory: [/a]\n"),
              ElementsAre("t.yaml:1:18: state_directory: expected a string, got a list"));
  EXPECT_THAT(check("auth:\n  require_totp_for_roles: admin\n"),
              ElementsAre("t.yaml:2:27: auth.require_totp_for_roles: expected a list of strings, got 'admin'"));
  EXPECT_THAT(check("auth:\n  require_totp_for_roles: [admin, [x]]\n"),
              ElementsAre("t.yaml:2:35: auth.require_totp_for_roles[1]: expected a string, got a list"));
  EXPECT_THAT(check("backup:\n  s3:\n    path_style: maybe\n"),
              ElementsAre("t.yaml:3:17: backup.s3.path_style: expected true or false, got 'maybe'"));
  EXPECT_THAT(check("host_audit:\n  allowed_ports: {port: 22}\n"),
              ElementsAre("t.yaml:2:18: host_audit.allowed_ports: expected a list of {port, proto, from} "
                          "mappings, got a mapping"));
  EXPECT_THAT(check("host_audit:\n  allowed_ports: [22]\n"),
              ElementsAre("t.yaml:2:19: host_audit.allowed_ports[0]: expected a mapping with port, proto and "
                          "optionally from, got '22'"));
  EXPECT_THAT(check("auth:\n  session_lifetime: forever\n"),
              ElementsAre("t.yaml:2:21: auth.session_lifetime: expected a duration such as 90, 30s, 15m, 12h or "
                          "7d, got 'forever'"));
  EXPECT_THAT(check("{? [a, b] : 1}\n"),
              ElementsAre("t.yaml:1:4: keys must be plain names, got a list as a key in '(top level)'"));
}

TEST(ConfigTest, KeyWithoutValueIsReportedAtTheKey) {
  EXPECT_THAT(check("listen:\n  port:\n  address: ::1\n"),
              ElementsAre("t.yaml:2:3: listen.port: expected an integer from 1 to 65535, got no value"));
  EXPECT_THAT(check("backup:\n  schedule:\n"),
              ElementsAre("t.yaml:2:3: backup.schedule: expected a string, got no value (leave the key out to use "
                          "the default)"));
}

// --- ranges and formats -----------------------------------------------------

TEST(ConfigTest, IntegerRanges) {
  EXPECT_THAT(check("listen: {port: 0}\n"),
              ElementsAre("t.yaml:1:16: listen.port: expected an integer from 1 to 65535, got '0'"));
  EXPECT_THAT(check("listen: {port: 65536}\n"),
              ElementsAre("t.yaml:1:16: listen.port: expected an integer from 1 to 65535, got '65536'"));
  EXPECT_THAT(check("listen: {port: 1.5}\n"),
              ElementsAre("t.yaml:1:16: listen.port: expected an integer from 1 to 65535, got '1.5'"));
  EXPECT_THAT(check("auth: {lockout_threshold: 0}\n"),
              ElementsAre("t.yaml:1:27: auth.lockout_threshold: expected an integer from 1 to 1000, got '0'"));
  EXPECT_THAT(check("backup:\n  retention:\n    daily: -1\n    weekly: 1001\n"),
              ElementsAre("t.yaml:3:12: backup.retention.daily: expected an integer from 0 to 1000, got '-1'",
                          "t.yaml:4:13: backup.retention.weekly: expected an integer from 0 to 1000, got '1001'"));
  EXPECT_THAT(check("backup:\n  retention:\n    keep_last: -1\n    daily: 1\n"),
              ElementsAre("t.yaml:3:16: backup.retention.keep_last: expected an integer from 0 to 1000, got '-1'"));
  EXPECT_THAT(check("backup:\n  retention:\n    keep_last: 0\n    daily: 0\n    weekly: 0\n    monthly: 0\n"),
              ElementsAre("t.yaml:2:3: backup.retention: at least one of keep_last, daily, weekly and monthly must "
                          "be greater than 0"));
  // keep_last (default 3) alone is a policy: the calendar counts may all be 0.
  EXPECT_THAT(check("backup:\n  retention:\n    daily: 0\n    weekly: 0\n    monthly: 0\n"), IsEmpty());
  EXPECT_THAT(check("backup:\n  retention:\n    keep_last: 0\n"), IsEmpty());
  EXPECT_THAT(check("host_audit:\n  allowed_ports:\n    - {port: 70000, proto: tcp}\n"),
              ElementsAre("t.yaml:3:14: host_audit.allowed_ports[0].port: expected an integer from 1 to 65535, "
                          "got '70000'"));
}

TEST(ConfigTest, DurationsMustBePositive) {
  EXPECT_THAT(check("auth:\n  lockout_duration: 0m\n"),
              ElementsAre("t.yaml:2:21: auth.lockout_duration: must be a positive duration, got '0m'"));
  EXPECT_THAT(check("auth:\n  session_idle_timeout: -30m\n"),
              ElementsAre("t.yaml:2:25: auth.session_idle_timeout: expected a duration such as 90, 30s, 15m, 12h or "
                          "7d, got '-30m'"));
}

TEST(ConfigTest, AllowedPortItems) {
  EXPECT_THAT(check("host_audit:\n  allowed_ports:\n    - port: 22\n    - proto: udp\n"),
              ElementsAre("t.yaml:3:7: missing required key 'host_audit.allowed_ports[0].proto'",
                          "t.yaml:4:7: missing required key 'host_audit.allowed_ports[1].port'"));
  EXPECT_THAT(check("host_audit:\n  allowed_ports:\n    - {port: 22, proto: icmp}\n"),
              ElementsAre("t.yaml:3:25: host_audit.allowed_ports[0].proto: expected tcp or udp, got 'icmp'"));
  EXPECT_THAT(
      check("host_audit:\n  allowed_ports:\n    - port: 22\n      proto: tcp\n"
            "      from: [10.0.0.0/8, 10.0.0.1/8, 300.1.1.1, '::/129', 'fe80::/10', 10.0.0.0/x]\n"),
      ElementsAre("t.yaml:5:26: host_audit.allowed_ports[0].from[1]: '10.0.0.1/8' has host bits set after the /8 "
                  "prefix",
                  "t.yaml:5:38: host_audit.allowed_ports[0].from[2]: '300.1.1.1' is not a network in CIDR notation "
                  "(such as 10.0.0.0/8 or 2001:db8::/32)",
                  "t.yaml:5:49: host_audit.allowed_ports[0].from[3]: '::/129' has a prefix length above 128",
                  "t.yaml:5:72: host_audit.allowed_ports[0].from[5]: '10.0.0.0/x' is not a network in CIDR "
                  "notation (such as 10.0.0.0/8 or 2001:db8::/32)"));
}

TEST(ConfigTest, ListenAddressMustBeAnIpLiteral) {
  EXPECT_THAT(check("listen:\n  address: localhost\n"),
              ElementsAre("t.yaml:2:12: listen.address: 'localhost' is not an IPv4 or IPv6 address (such as "
                          "127.0.0.1, 0.0.0.0 or ::)"));
  EXPECT_THAT(check("listen:\n  address: '[::1]'\n"),
              ElementsAre("t.yaml:2:12: listen.address: '[::1]' is not an IPv4 or IPv6 address (such as "
                          "127.0.0.1, 0.0.0.0 or ::); write IPv6 addresses without brackets"));
  EXPECT_EQ(parse_ok("listen: {address: '::1'}\n").listen.address, "::1");
  EXPECT_EQ(parse_ok("listen: {address: 0.0.0.0}\n").listen.address, "0.0.0.0");
}

TEST(ConfigTest, PathsMustBeAbsolute) {
  EXPECT_THAT(check("state_directory: var/lib/privstack\n"),
              ElementsAre("t.yaml:1:18: state_directory: expected an absolute path, got 'var/lib/privstack'"));
  EXPECT_THAT(check("console:\n  web_root: ''\n"),
              ElementsAre("t.yaml:2:13: console.web_root: expected an absolute path, got ''"));
  // Optional paths: an empty string means "not set".
  EXPECT_TRUE(parse_ok("store: {key_file: ''}\n").store.key_file.empty());
}

TEST(ConfigTest, ControlSocketPathMustFitSockaddrUn) {
  std::string long_path = "/run/" + std::string(120, 'a');
  EXPECT_THAT(check("control:\n  socket: " + long_path + "\n"),
              ElementsAre("t.yaml:2:11: control.socket: path is 125 bytes long; a Unix socket path can have at "
                          "most 107"));
}

TEST(ConfigTest, SchedulesMustNotBeEmpty) {
  EXPECT_THAT(check("backup: {schedule: ''}\nhost_audit: {schedule: \"\"}\n"),
              ElementsAre("t.yaml:1:20: backup.schedule: must not be empty",
                          "t.yaml:2:24: host_audit.schedule: must not be empty"));
}

TEST(ConfigTest, RolesMustBeKnown) {
  EXPECT_THAT(check("auth:\n  require_totp_for_roles: [admin, admn, root]\n"),
              ElementsAre("t.yaml:2:35: auth.require_totp_for_roles[1]: unknown role 'admn'; expected one of "
                          "admin, operator, auditor, issuer, support (did you mean 'admin'?)",
                          "t.yaml:2:41: auth.require_totp_for_roles[2]: unknown role 'root'; expected one of "
                          "admin, operator, auditor, issuer, support"));
}

TEST(ConfigTest, OutboundUrls) {
  EXPECT_THAT(check("backup:\n  s3:\n    endpoint: http://s3.example.com\n    bucket: b\n    access_key_id: a\n"
                    "    secret_access_key_file: ''\n"),
              ElementsAre("t.yaml:3:15: backup.s3.endpoint: 'http://s3.example.com' must use https:// (plain "
                          "http:// is only allowed for 127.0.0.1, localhost or [::1])"));
  EXPECT_THAT(check("backup: {s3: {endpoint: 's3.example.com'}}\n"),
              ElementsAre("t.yaml:1:25: backup.s3.endpoint: 's3.example.com' is not an https:// URL"));
  EXPECT_THAT(check("notifications: {webhook: {url: 'https://user:hunter2@hooks.example/'}}\n"),
              ElementsAre("t.yaml:1:32: notifications.webhook.url: URLs must not contain credentials "
                          "(user:password@); secrets come from files"));
  EXPECT_THAT(check("notifications: {webhook: {url: 'http://hooks.example/'}}\n"),
              ElementsAre("t.yaml:1:32: notifications.webhook.url: 'http://hooks.example/' must use https:// "
                          "(plain http:// is only allowed for 127.0.0.1, localhost or [::1])"));
  for (const char* local : {"http://localhost:9000", "http://127.0.0.1/", "http://[::1]:9000/x"}) {
    EXPECT_EQ(parse_ok(std::string("notifications: {webhook: {url: '") + local + "'}}\n").notifications.webhook.url,
              local);
  }
}

TEST(ConfigTest, RecoveryKeyMustBePublic) {
  EXPECT_THAT(check("backup:\n  recovery_public_key: |\n    -----BEGIN PRIVATE KEY-----\n    MC4CAQ\n"),
              ElementsAre("t.yaml:2:24: backup.recovery_public_key: this is a private key; only the recovery "
                          "public key belongs in the configuration"));
}

// Issue 26: a file name here used to pass, and every backup then failed.
TEST(ConfigTest, RecoveryKeyMustBeAnX25519PublicKeyNotAFileName) {
  EXPECT_THAT(check("backup:\n  recovery_public_key: /etc/privstack/recovery.pub\n"),
              ElementsAre("t.yaml:2:24: backup.recovery_public_key: '/etc/privstack/recovery.pub' is a file name; "
                          "this key takes the public key itself: its PEM text (as a block scalar, `|`) or the "
                          "base64 of its 32 bytes"));
  EXPECT_THAT(check("backup:\n  recovery_public_key: MCowBQYDK2VuAyEA\n"),
              ElementsAre("t.yaml:2:24: backup.recovery_public_key: is neither a PEM \"PUBLIC KEY\" nor the base64 "
                          "of a 32-byte X25519 public key"));
  RecoveryKey key = make_recovery_key();
  EXPECT_EQ(parse_ok("backup:\n  recovery_public_key: " + key.base64 + "\n").backup.recovery_public_key, key.base64);
  EXPECT_EQ(parse_ok("backup:\n  recovery_public_key: " + block(key.pem, 4)).backup.recovery_public_key, key.pem);
  // A PEM public key of another type.
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  std::string ec_pem = pem_of(ec, false);
  EVP_PKEY_free(ec);
  EXPECT_THAT(check("backup:\n  recovery_public_key: " + block(ec_pem, 4)),
              ElementsAre("t.yaml:2:24: backup.recovery_public_key: is not an X25519 key (it is EC)"));
  // PEM flattened onto one line (no block scalar) does not parse.
  std::string flat = key.pem;
  std::replace(flat.begin(), flat.end(), '\n', ' ');
  EXPECT_THAT(check("backup:\n  recovery_public_key: \"" + flat + "\"\n"),
              ElementsAre("t.yaml:2:24: backup.recovery_public_key: is not a PEM \"PUBLIC KEY\" (a block scalar, "
                          "`|`, keeps its line breaks)"));
}

TEST(ConfigTest, TlsCertificateAndKeyMustLoadAndMatch) {
  TempDir dir;
  TlsPair pair = make_tls_pair();
  TlsPair other = make_tls_pair();
  auto cert = dir.write("cert.pem", pair.certificate, 0644);
  auto key = dir.write("key.pem", pair.key, 0600);
  auto tls = [](const std::filesystem::path& c, const std::filesystem::path& k) {
    return "tls:\n  certificate: " + c.string() + "\n  private_key: " + k.string() + "\n";
  };
  EXPECT_EQ(parse_ok(tls(cert, key)).tls.private_key, key);
  auto wrong_key = dir.write("other-key.pem", other.key, 0600);
  EXPECT_THAT(check(tls(cert, wrong_key)),
              ElementsAre("t.yaml:3:16: tls.private_key: " + wrong_key.string() +
                          " is not the key of the certificate in " + cert.string()));
  auto not_cert = dir.write("not-cert.pem", "hello\n", 0644);
  EXPECT_THAT(check(tls(not_cert, key)),
              ElementsAre("t.yaml:2:16: tls.certificate: " + not_cert.string() + " holds no PEM certificate"));
  auto not_key = dir.write("not-key.pem", pair.certificate, 0600);
  EXPECT_THAT(check(tls(cert, not_key)),
              ElementsAre("t.yaml:3:16: tls.private_key: " + not_key.string() +
                          " is not a PEM private key, or it is passphrase-protected (the daemon cannot prompt)"));
  // The daemon loads the key only after check_secret_file() (http/tls.cpp).
  auto open_key = dir.write("open-key.pem", pair.key, 0640);
  EXPECT_THAT(check(tls(cert, open_key)),
              ElementsAre("t.yaml:3:16: tls.private_key: secret file " + open_key.string() +
                          " has mode 0640, which lets group or other users read it; run: chmod 600 " +
                          open_key.string()));
}

TEST(ConfigTest, CaFilesMustHoldCertificates) {
  TempDir dir;
  auto ca = dir.write("ca.pem", make_tls_pair().certificate, 0644);
  auto junk = dir.write("junk.pem", "not a certificate\n", 0644);
  EXPECT_EQ(parse_ok("notifications: {webhook: {ca_file: " + ca.string() + "}}\n").notifications.webhook.ca_file, ca);
  EXPECT_THAT(check("backup:\n  s3:\n    ca_file: " + junk.string() + "\n"),
              ElementsAre("t.yaml:3:14: backup.s3.ca_file: " + junk.string() + " holds no PEM certificate"));
  EXPECT_THAT(check("notifications: {webhook: {ca_file: " + junk.string() + "}}\n"),
              ElementsAre("t.yaml:1:36: notifications.webhook.ca_file: " + junk.string() + " holds no PEM certificate"));
}

TEST(ConfigTest, S3EndpointIsSchemeHostAndPort) {
  auto endpoint = [](const std::string& url) { return check("backup: {s3: {endpoint: '" + url + "'}}\n"); };
  const std::string at = "t.yaml:1:25: backup.s3.endpoint: '";
  EXPECT_THAT(endpoint("https://s3.example.com/bucket"),
              ElementsAre(at + "https://s3.example.com/bucket' has a path, query or fragment; the endpoint is only "
                               "https://HOST[:PORT] (the bucket and prefix are backup.s3.bucket and backup.s3.prefix)"));
  EXPECT_THAT(endpoint("https://s3.example.com?x=1"), ElementsAre(HasSubstr("has a path, query or fragment")));
  EXPECT_THAT(endpoint("https://s3.example.com:99999"),
              ElementsAre(at + "https://s3.example.com:99999' has an invalid port (expected :1 to :65535 after the "
                               "host)"));
  EXPECT_THAT(endpoint("https://s3.example.com:"), ElementsAre(HasSubstr("has an invalid port")));
  EXPECT_THAT(endpoint("https://s3 example.com"),
              ElementsAre(at + "https://s3 example.com' has an invalid host name (letters, digits, '.', '-' and '_' "
                               "only)"));
  EXPECT_THAT(endpoint("http://[::1]:9000"),
              ElementsAre(at + "http://[::1]:9000': IPv6 address literals are not supported here; use a host name"));
  // Valid ones go on to the rules for an endpoint (bucket, keys, ...).
  for (const char* good : {"https://s3.eu-central-1.amazonaws.com", "https://minio.lan:9000/", "http://127.0.0.1:9000"}) {
    for (const std::string& p : endpoint(good)) EXPECT_THAT(p, HasSubstr("is required when")) << good;
  }
}

TEST(ConfigTest, WebhookUrlHostAndPort) {
  auto url = [](const std::string& u) { return check("notifications: {webhook: {url: '" + u + "'}}\n"); };
  EXPECT_THAT(url("https://hooks.example:0/x"), ElementsAre(HasSubstr("has an invalid port")));
  EXPECT_THAT(url("https://[fe80::zz]/x"), ElementsAre(HasSubstr("has an invalid IPv6 address")));
  EXPECT_THAT(url("https://[::1/x"), ElementsAre(HasSubstr("without its closing ']'")));
  EXPECT_THAT(url("https://[2001:db8::1]:8443/hook?a=b"), IsEmpty());
}

// --- combinations -----------------------------------------------------------

TEST(ConfigTest, TlsNeedsBothFiles) {
  TempDir dir;
  auto cert = dir.write("cert.pem", make_tls_pair().certificate, 0644);
  EXPECT_THAT(check("tls:\n  certificate: " + cert.string() + "\n"),
              ElementsAre("t.yaml:2:16: tls.certificate is set but tls.private_key is not; set both, or neither to "
                          "use a generated self-signed certificate"));
  EXPECT_THAT(check("tls:\n  private_key: " + (dir.path() / "nope.pem").string() + "\n"),
              ElementsAre("t.yaml:2:16: tls.private_key: cannot read secret file " + (dir.path() / "nope.pem").string() +
                              ": No such file or directory",
                          "t.yaml:2:16: tls.private_key is set but tls.certificate is not; set both, or neither to "
                          "use a generated self-signed certificate"));
}

TEST(ConfigTest, S3EndpointRequiresCredentialsAndAllowedRegion) {
  EXPECT_THAT(check("backup:\n  s3:\n    endpoint: https://s3.example.com\n"),
              ElementsAre("t.yaml:3:15: backup.s3.bucket is required when backup.s3.endpoint is set",
                          "t.yaml:3:15: backup.s3.access_key_id is required when backup.s3.endpoint is set",
                          "t.yaml:3:15: backup.s3.secret_access_key_file is required when backup.s3.endpoint is set"));
  TempDir dir;
  auto secret = dir.write("s3", "x", 0600);
  const std::string s3 = "  s3:\n    endpoint: https://s3.example.com\n    bucket: b\n    access_key_id: a\n"
                         "    secret_access_key_file: " + secret.string() + "\n";
  EXPECT_THAT(check("backup:\n" + s3 + "    region: us-west-2\n  allowed_regions: [eu-central-1, eu-west-1]\n"),
              ElementsAre("t.yaml:7:13: backup.s3.region 'us-west-2' is not in backup.allowed_regions "
                          "(eu-central-1, eu-west-1)"));
  // The default region (us-east-1) is checked too, at the endpoint.
  EXPECT_THAT(check("backup:\n" + s3 + "  allowed_regions: [eu-west-1]\n"),
              ElementsAre("t.yaml:3:15: backup.s3.region 'us-east-1' is not in backup.allowed_regions (eu-west-1)"));
  EXPECT_EQ(parse_ok("backup:\n" + s3 + "    region: eu-west-1\n  allowed_regions: [eu-west-1]\n").backup.s3.region,
            "eu-west-1");
  // Without an endpoint nothing is shipped, so nothing else is required.
  EXPECT_EQ(parse_ok("backup:\n  allowed_regions: [eu-west-1]\n").backup.allowed_regions.size(), 1u);
}

// --- secret files -----------------------------------------------------------

TEST(ConfigTest, KeyFileReadableByGroupIsRefused) {
  TempDir dir;
  auto key = dir.write("store.key", "0123456789abcdef", 0640);
  EXPECT_THAT(check("store:\n  key_file: " + key.string() + "\n"),
              ElementsAre("t.yaml:2:13: store.key_file: secret file " + key.string() +
                          " has mode 0640, which lets group or other users read it; run: chmod 600 " + key.string()));
  ASSERT_EQ(::chmod(key.c_str(), 0600), 0);
  EXPECT_EQ(parse_ok("store:\n  key_file: " + key.string() + "\n").store.key_file, key);
}

TEST(ConfigTest, MissingKeyFileIsCreatedLaterButOtherSecretsMustExist) {
  TempDir dir;
  auto missing = (dir.path() / "missing").string();
  EXPECT_EQ(parse_ok("store: {key_file: " + missing + "}\n").store.key_file, missing);
  EXPECT_THAT(check("notifications:\n  webhook:\n    url: https://h.example/\n    secret_file: " + missing + "\n"),
              ElementsAre("t.yaml:4:18: notifications.webhook.secret_file: cannot read secret file " + missing +
                          ": No such file or directory"));
  EXPECT_THAT(check("backup: {s3: {secret_access_key_file: " + missing + "}}\n"),
              ElementsAre("t.yaml:1:39: backup.s3.secret_access_key_file: cannot read secret file " + missing +
                          ": No such file or directory"));
}

TEST(ConfigTest, SecretFileReadableByOthersIsRefused) {
  TempDir dir;
  auto hook = dir.write("hook", "x", 0644);
  EXPECT_THAT(check("notifications: {webhook: {secret_file: " + hook.string() + "}}\n"),
              ElementsAre("t.yaml:1:40: notifications.webhook.secret_file: secret file " + hook.string() +
                          " has mode 0644, which lets group or other users read it; run: chmod 600 " + hook.string()));
}

// --- many problems at once --------------------------------------------------

TEST(ConfigTest, AllProblemsAreReportedInFileOrder) {
  const std::string yaml =
      "listen:\n"                        // 1
      "  port: 0\n"                      // 2
      "  adress: 10.0.0.1\n"             // 3
      "tls:\n"                           // 4
      "  certificate: relative.pem\n"    // 5
      "auth:\n"                          // 6
      "  lockout_duration: 15x\n"        // 7
      "  require_totp_for_roles: [su]\n" // 8
      "backup:\n"                        // 9
      "  s3:\n"                          // 10
      "    secret_access_key: x\n"       // 11
      "  retention: {daily: 2000}\n"     // 12
      "listen: {}\n"                     // 13
      "host_audit:\n"                    // 14
      "  allowed_ports:\n"               // 15
      "    - {port: 22, proto: sctp}\n"; // 16
  EXPECT_THAT(
      check(yaml),
      ElementsAre(
          "t.yaml:2:9: listen.port: expected an integer from 1 to 65535, got '0'",
          "t.yaml:3:3: unknown key 'listen.adress'; did you mean 'listen.address'?",
          "t.yaml:5:16: tls.certificate: expected an absolute path, got 'relative.pem'",
          "t.yaml:5:16: tls.certificate is set but tls.private_key is not; set both, or neither to use a "
          "generated self-signed certificate",
          "t.yaml:7:21: auth.lockout_duration: expected a duration such as 90, 30s, 15m, 12h or 7d, got '15x'",
          "t.yaml:8:28: auth.require_totp_for_roles[0]: unknown role 'su'; expected one of admin, operator, "
          "auditor, issuer, support",
          "t.yaml:11:5: unknown key 'backup.s3.secret_access_key': secrets must not be written in the "
          "configuration; put the secret in a file (mode 0600) and name that file here; did you mean "
          "'backup.s3.secret_access_key_file'?",
          "t.yaml:12:22: backup.retention.daily: expected an integer from 0 to 1000, got '2000'",
          "t.yaml:13:1: duplicate key 'listen' (first defined at line 1)",
          "t.yaml:16:25: host_audit.allowed_ports[0].proto: expected tcp or udp, got 'sctp'"));
}

TEST(ConfigTest, AliasBombIsRefusedNotExpanded) {
  std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 8; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int j = 1; j < 10; ++j) yaml += ", " + prev;
    yaml += "]\n";
  }
  const std::string too_large =
      "t.yaml:1:1: the configuration is too large to check: more than 100000 YAML nodes or 64 levels of nesting "
      "(are aliases expanding or referring to themselves?)";
  EXPECT_THAT(check(yaml), ElementsAre(too_large));
  // yaml-cpp turns an alias to an enclosing node into a cycle.
  EXPECT_THAT(check("listen: &l {port: *l}\n"), ElementsAre(too_large));
  EXPECT_THAT(check("a: " + std::string(100, '[') + std::string(100, ']') + "\n"), ElementsAre(too_large));
}

// A schedule the scheduler cannot parse is refused at load, with the key's
// location, instead of a job that silently never runs.
TEST(ConfigTest, SchedulesAreParsedAtLoad) {
  auto bad = check("host_audit:\n  schedule: daily 25:00\n");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_THAT(bad[0], HasSubstr("t.yaml:2:13: host_audit.schedule:"));
  auto bad_backup = check("backup:\n  schedule: fortnightly\n");
  ASSERT_EQ(bad_backup.size(), 1u);
  EXPECT_THAT(bad_backup[0], HasSubstr("backup.schedule:"));
  auto bad_verify = check("backup:\n  verify_schedule: weekly someday\n");
  ASSERT_EQ(bad_verify.size(), 1u);
  EXPECT_THAT(bad_verify[0], HasSubstr("backup.verify_schedule:"));
  EXPECT_THAT(check("backup:\n  verify_schedule: \"off\"\n"), IsEmpty());
  EXPECT_THAT(check("backup:\n  schedule: weekly mon,thu 01:30\nhost_audit:\n  schedule: every 30m\n"), IsEmpty());
}

TEST(ConfigTest, ObjectLockSettingsChecked) {
  auto bad_mode = check("backup:\n  s3:\n    object_lock:\n      mode: legal-hold\n");
  ASSERT_EQ(bad_mode.size(), 1u);
  EXPECT_THAT(bad_mode[0], HasSubstr("backup.s3.object_lock.mode:"));
  EXPECT_THAT(bad_mode[0], HasSubstr("expected compliance or governance"));
  auto bad_days = check("backup:\n  s3:\n    object_lock:\n      retain_days: -1\n");
  ASSERT_EQ(bad_days.size(), 1u);
  EXPECT_THAT(bad_days[0], HasSubstr("backup.s3.object_lock.retain_days:"));
  EXPECT_THAT(check("backup:\n  s3:\n    object_lock:\n      mode: governance\n      retain_days: 200\n"),
              IsEmpty());
}

}  // namespace
}  // namespace privstack
