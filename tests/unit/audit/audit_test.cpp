#include "audit/audit.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "audit/csv.h"
#include "audit/routes.h"
#include "core/time.h"

namespace fs = std::filesystem;
using namespace privstack;
using namespace privstack::audit;

namespace {

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/audit-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store::init_key_file(dir_ / "store.key");
    open();
  }
  void TearDown() override {
    log_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  void open() {
    log_.reset();
    store_.reset();
    store::Options o;
    o.database = dir_ / "privstack.db";
    o.key = {dir_ / "store.key", false};
    store_ = store::Store::open(o);
    log_ = std::make_unique<AuditLog>(*store_, AuditLog::load_or_create_anchor_key(dir_), dir_ / "audit-anchor.json");
  }
  void fill(int n) {
    for (int i = 1; i <= n; ++i) {
      Entry e;
      e.actor = "user:alice";
      e.source = "192.0.2.1";
      e.action = "records.recipient.read";
      e.object = "recipient:" + std::to_string(i);
      e.outcome = "success";
      log_->append(e);
    }
  }
  void drop_triggers() {
    store_->write([](store::Connection& c) {
      c.exec_script("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;");
    });
  }
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<AuditLog> log_;
};

}  // namespace

TEST(AuditChain, CanonicalEncodingIsLengthPrefixed) {
  Entry a;
  a.seq = 1;
  a.time_us = 2;
  a.actor = "a:b";
  a.detail = "x\ny";
  EXPECT_EQ(canonical_entry(a), "privstack-audit-v1\n1:1\n1:2\n3:a:b\n0:\n0:\n0:\n0:\n0:\n3:x\ny");
  // Moving bytes between fields changes the hash.
  Entry b = a;
  b.actor = "a";
  b.source = ":b";
  EXPECT_NE(chain_hash("", a), chain_hash("", b));
  EXPECT_EQ(chain_hash("", a).size(), 64u);
  EXPECT_NE(chain_hash("", a), chain_hash(std::string(64, 'f'), a));
}

TEST_F(AuditTest, AppendsWithSequenceAndVerifies) {
  fill(20);
  auto r = log_->verify();
  EXPECT_TRUE(r.ok) << r.problem;
  EXPECT_EQ(r.entries, 20);
  EXPECT_EQ(r.head_seq, 20);
  auto page = store_->read([&](store::Connection& c) {
    Filter f;
    f.object = "recipient:1";  // prefix: 1, 10..19
    return log_->query(c, f);
  });
  EXPECT_EQ(page.size(), 11u);
}

TEST_F(AuditTest, TriggersRefuseUpdateAndDelete) {
  fill(3);
  EXPECT_THROW(store_->write([](store::Connection& c) { c.exec("UPDATE audit_log SET detail = 'x' WHERE seq = 2"); }),
               store::Error);
  EXPECT_THROW(store_->write([](store::Connection& c) { c.exec("DELETE FROM audit_log WHERE seq = 2"); }),
               store::Error);
}

TEST_F(AuditTest, EditIsReportedAtTheEditedEntry) {
  fill(10);
  drop_triggers();
  store_->write([](store::Connection& c) { c.exec("UPDATE audit_log SET actor = 'user:mallory' WHERE seq = 4"); });
  auto r = log_->verify();
  EXPECT_FALSE(r.ok);
  ASSERT_TRUE(r.first_broken);
  EXPECT_EQ(*r.first_broken, 4);
}

TEST_F(AuditTest, DeletionIsReportedAtTheMissingEntry) {
  fill(10);
  drop_triggers();
  store_->write([](store::Connection& c) { c.exec("DELETE FROM audit_log WHERE seq = 6"); });
  auto r = log_->verify();
  EXPECT_FALSE(r.ok);
  ASSERT_TRUE(r.first_broken);
  EXPECT_EQ(*r.first_broken, 6);
}

TEST_F(AuditTest, ReorderIsReportedAtTheFirstMovedEntry) {
  fill(10);
  drop_triggers();
  store_->write([](store::Connection& c) {
    c.exec("UPDATE audit_log SET seq = -1 WHERE seq = 3");
    c.exec("UPDATE audit_log SET seq = 3 WHERE seq = 7");
    c.exec("UPDATE audit_log SET seq = 7 WHERE seq = -1");
  });
  auto r = log_->verify();
  EXPECT_FALSE(r.ok);
  ASSERT_TRUE(r.first_broken);
  EXPECT_EQ(*r.first_broken, 3);
}

TEST_F(AuditTest, TruncatedTailIsCaughtByTheAnchor) {
  fill(10);
  auto a = log_->write_anchor();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->seq, 10);
  EXPECT_TRUE(log_->anchor_valid(*a));
  EXPECT_FALSE(log_->write_anchor());  // unchanged head: nothing new
  drop_triggers();
  store_->write([](store::Connection& c) { c.exec("DELETE FROM audit_log WHERE seq > 7"); });
  open();  // the anchor comes back from the anchor file
  auto r = log_->verify();
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.anchor_ok);
  ASSERT_TRUE(r.first_broken);
  EXPECT_EQ(*r.first_broken, 8);
}

TEST_F(AuditTest, RewrittenChainIsCaughtByTheAnchor) {
  fill(5);
  log_->write_anchor();
  drop_triggers();
  // Rewrite entry 3 and recompute every later hash: the chain is
  // consistent again, but entry 5 no longer matches the anchor.
  store_->write([](store::Connection& c) {
    c.exec("UPDATE audit_log SET detail = 'forged' WHERE seq = 3");
    std::string prev;
    std::vector<Entry> entries;
    auto s = c.prepare("SELECT seq, time_us, actor, source, action, object, outcome, reason, detail FROM audit_log ORDER BY seq");
    while (s.step()) {
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
      entries.push_back(e);
    }
    for (auto& e : entries) {
      e.hash = chain_hash(prev, e);
      prev = e.hash;
      c.exec("UPDATE audit_log SET hash = ? WHERE seq = ?", e.hash, e.seq);
    }
  });
  auto r = log_->verify();
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.first_broken.value_or(0), 5);
}

TEST_F(AuditTest, ForgedAnchorFileIsReported) {
  fill(3);
  log_->write_anchor();
  std::ofstream(dir_ / "audit-anchor.json") << R"({"seq":2,"hash":"00","time_us":1,"mac":"00"})";
  open();
  auto r = log_->verify();
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.anchor_ok);
}

TEST_F(AuditTest, AnchorKeyFileIs0600) {
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "audit-anchor.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AuditTest, LiveSecretsAreRedacted) {
  Secret s("correct horse battery staple");
  Entry e;
  e.actor = "user:alice";
  e.action = "auth.login_failed";
  e.detail = "typed correct horse battery staple by mistake";
  auto stored = log_->append(e);
  EXPECT_EQ(stored.detail.find("correct horse"), std::string::npos);
  EXPECT_TRUE(log_->verify().ok);
}

TEST(AuditTime, ParsesAndFormats) {
  EXPECT_EQ(parse_time("1970-01-02"), 86400);
  EXPECT_EQ(parse_time("2024-02-29T12:00:00Z"), 1709208000);
  EXPECT_EQ(parse_time("2024-02-29T12:00:00.123Z"), 1709208000);
  EXPECT_EQ(parse_time("1709208000"), 1709208000);
  EXPECT_FALSE(parse_time("2023-02-29"));
  EXPECT_FALSE(parse_time("2024-01-01T00:00:00+01:00"));
  EXPECT_FALSE(parse_time("yesterday"));
  EXPECT_EQ(format_rfc3339(1709208000), "2024-02-29T12:00:00Z");
}

TEST(Csv, QuotesAndNeutralises) {
  std::string out;
  csv::append_row(out, {"plain", "a,b", "say \"hi\"", "line\nbreak", "=1+2", "-3", "@x", "'quoted", "\tx", ""});
  EXPECT_EQ(out, "plain,\"a,b\",\"say \"\"hi\"\"\",\"line\nbreak\",'=1+2,'-3,'@x,''quoted,'\tx,\r\n");
  EXPECT_EQ(csv::unneutralise("'=1+2"), "=1+2");
  EXPECT_EQ(csv::unneutralise("''quoted"), "'quoted");
  EXPECT_EQ(csv::unneutralise("plain"), "plain");
}

TEST(Csv, ReaderRoundTrip) {
  std::string text;
  csv::append_row(text, {"a", "b,c", "\"q\"", "x\r\ny"});
  csv::append_row(text, {"", "2"});
  csv::Reader r(text);
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->cells, (std::vector<std::string>{"a", "b,c", "\"q\"", "x\r\ny"}));
  auto b = r.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->line, 3u);
  EXPECT_EQ(b->cells, (std::vector<std::string>{"", "2"}));
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.error());
}

TEST(Csv, ReaderRejectsMalformed) {
  for (std::string bad : {"a,\"b\n", "a,b\"c\n", "\"a\"b,c\n", "a\rb\n"}) {
    csv::Reader r(bad);
    while (r.next()) {
    }
    EXPECT_TRUE(r.error()) << bad;
  }
}

TEST(Csv, Utf8Validation) {
  EXPECT_TRUE(csv::valid_utf8("h\xC3\xA9llo \xF0\x9F\x98\x80"));
  EXPECT_FALSE(csv::valid_utf8("\xC0\xAF"));        // overlong
  EXPECT_FALSE(csv::valid_utf8("\xED\xA0\x80"));    // surrogate
  EXPECT_FALSE(csv::valid_utf8("\xF0\x9F\x98"));    // truncated
}
