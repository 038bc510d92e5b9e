#include "records/records.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "audit/csv.h"

namespace fs = std::filesystem;
using namespace privstack;
using namespace privstack::records;

namespace {

bool has_error(const std::vector<FieldError>& errors, std::string_view field) {
  for (const auto& e : errors) {
    if (e.field == field) return true;
  }
  return false;
}

class RecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/records-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store::init_key_file(dir_ / "store.key");
    store::Options o;
    o.database = dir_ / "privstack.db";
    o.key = {dir_ / "store.key", false};
    store_ = store::Store::open(o);
    Repository::migrate(*store_);
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  std::string export_all(int page_rows = 3) {
    std::string out = csv_header();
    store_->read([&](store::Connection& c) {
      ExportCursor cursor;
      for (;;) {
        auto page = export_csv_page(c, cursor, page_rows);
        out += page.data;
        if (!page.next) break;
        cursor = *page.next;
      }
    });
    return out;
  }
  ImportReport import(const std::string& text) {
    return store_->write([&](store::Connection& c) {
      store::Transaction sp(c);
      auto rep = import_csv(c, text);
      if (rep.ok) sp.commit();
      return rep;
    });
  }
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
};

}  // namespace

TEST(RecordsValidation, Email) {
  EXPECT_FALSE(check_email("ada@example.org"));
  EXPECT_FALSE(check_email("first.last+tag@sub.example.co.uk"));
  EXPECT_TRUE(check_email("no-at-sign"));
  EXPECT_TRUE(check_email("a@nodot"));
  EXPECT_TRUE(check_email("a..b@example.org"));
  EXPECT_TRUE(check_email(".a@example.org"));
  EXPECT_TRUE(check_email("a@-example.org"));
  EXPECT_TRUE(check_email("a b@example.org"));
  EXPECT_TRUE(check_email(std::string(65, 'a') + "@example.org"));
  EXPECT_TRUE(check_email(""));
}

TEST(RecordsValidation, RecipientFields) {
  Recipient r;
  r.external_id = "E-1";
  r.name = "Ada Lovelace \xF0\x9F\x98\x80";
  r.email = "ada@example.org";
  EXPECT_TRUE(validate(r).empty());
  r.name = "";
  r.email = "nope";
  r.group = std::string(101, 'g');
  r.external_id = "bad\xC3";
  auto errors = validate(r);
  EXPECT_TRUE(has_error(errors, "name"));
  EXPECT_TRUE(has_error(errors, "email"));
  EXPECT_TRUE(has_error(errors, "group"));
  EXPECT_TRUE(has_error(errors, "external_id"));
}

TEST(RecordsValidation, ResultFields) {
  Result r;
  r.recipient_id = 1;
  r.achievement = "Safety 101";
  r.score = 87.5;
  EXPECT_TRUE(validate(r).empty());
  r.score = 100.5;
  r.status = "maybe";
  auto errors = validate(r);
  EXPECT_TRUE(has_error(errors, "score"));
  EXPECT_TRUE(has_error(errors, "status"));
}

TEST(RecordsValidation, JsonUnknownAndWrongTypes) {
  Recipient r;
  std::vector<FieldError> errors;
  apply_json(boost::json::object{{"name", 3}, {"admin", true}, {"id", 9}}, r, true, errors);
  EXPECT_TRUE(has_error(errors, "name"));
  EXPECT_TRUE(has_error(errors, "admin"));
  EXPECT_TRUE(has_error(errors, "id"));
  EXPECT_TRUE(has_error(errors, "email"));  // required on create
}

TEST(RecordsValidation, ScoreFormattingRoundTrips) {
  EXPECT_EQ(format_score(87.5), "87.5");
  EXPECT_EQ(format_score(100), "100");
  EXPECT_EQ(format_score(0.1), "0.1");
}

TEST_F(RecordsTest, CsvRoundTripWithHostileValues) {
  store_->write([](store::Connection& c) {
    const char* names[] = {"Plain", "Comma, Name", "Quote \"Q\"", "Line\nBreak\r\nTwo", "=HYPERLINK(\"x\")",
                           "+1", "-2", "@SUM(A1)", "\tTab", "'apostrophe", "emoji \xF0\x9F\x8E\x93"};
    int i = 0;
    for (const char* n : names) {
      Recipient r;
      r.external_id = "X" + std::to_string(++i);
      r.name = n;
      r.email = "p" + std::to_string(i) + "@example.org";
      r.group = i % 2 ? "=cmd" : "";
      Repository::insert(c, r);
      if (i % 3 == 0) continue;  // some recipients without results
      Result res;
      res.recipient_id = r.id;
      res.achievement = std::string(n) + " course";
      res.score = i * 7.25;
      res.status = "passed";
      res.completed_at = 1700000000 + i;
      if (i % 2) res.credential_id = "urn:uuid:" + std::to_string(i);
      Repository::insert(c, res);
    }
  });
  std::string first = export_all();
  // Re-import into a fresh store: the export must come back byte for byte.
  auto other_dir = dir_ / "other";
  fs::create_directories(other_dir);
  store::init_key_file(other_dir / "store.key");
  store::Options o;
  o.database = other_dir / "privstack.db";
  o.key = {other_dir / "store.key", false};
  auto other = store::Store::open(o);
  Repository::migrate(*other);
  auto rep = other->write([&](store::Connection& c) { return import_csv(c, first); });
  ASSERT_TRUE(rep.ok) << rep.describe_errors();
  EXPECT_EQ(rep.recipients_created, 11);
  std::swap(store_, other);
  std::string second = export_all(2);
  std::swap(store_, other);
  EXPECT_EQ(first, second);
  // Formula cells are neutralised.
  EXPECT_NE(first.find("\"'=HYPERLINK(\"\"x\"\")\""), std::string::npos);
  EXPECT_NE(first.find(",'+1,"), std::string::npos);
  EXPECT_NE(first.find(",''apostrophe,"), std::string::npos);
  EXPECT_EQ(first.find("\n=") , std::string::npos);
}

TEST_F(RecordsTest, ImportIsAllOrNothingWithRowErrors) {
  std::string text = csv_header();
  text += ",E1,Ada,ada@example.org,g1,Course A,90,passed,2024-01-02,\r\n";
  text += ",E2,Bob,not-an-email,,Course B,101,passed,,\r\n";
  text += ",E3,Cy,cy@example.org,,Course C,,unknown,yesterday,\r\n";
  auto rep = import(text);
  EXPECT_FALSE(rep.ok);
  ASSERT_GE(rep.errors.size(), 4u);
  EXPECT_EQ(rep.errors[0].row, 3u);
  EXPECT_EQ(rep.errors[0].column, "recipient_email");
  EXPECT_EQ(rep.errors[1].column, "score");
  EXPECT_EQ(rep.errors[2].row, 4u);
  auto count = store_->read([](store::Connection& c) { return c.query_one<std::int64_t>("SELECT count(*) FROM recipients"); });
  EXPECT_EQ(count.value_or(-1), 0);
}

TEST_F(RecordsTest, MalformedFileChangesNothing) {
  for (std::string text : {std::string("nonsense\r\n"), csv_header() + ",E1,\"Ada,ada@example.org\r\n",
                           csv_header() + ",E1,Ada\r\n", std::string("\xFF\xFE") + csv_header(), std::string()}) {
    auto rep = import(text);
    EXPECT_FALSE(rep.ok);
    EXPECT_FALSE(rep.errors.empty());
  }
  auto count = store_->read([](store::Connection& c) { return c.query_one<std::int64_t>("SELECT count(*) FROM recipients"); });
  EXPECT_EQ(count.value_or(-1), 0);
}

TEST_F(RecordsTest, ImportUpdatesByIdAndExternalId) {
  std::string text = csv_header() + "7,E1,Ada,ada@example.org,,Course A,90,passed,,\r\n";
  ASSERT_TRUE(import(text).ok);
  text = csv_header() + "7,E1,Ada L.,ada@example.org,,Course A,95,passed,,cred-1\r\n";
  auto rep = import(text);
  ASSERT_TRUE(rep.ok) << rep.describe_errors();
  EXPECT_EQ(rep.recipients_updated, 1);
  EXPECT_EQ(rep.results_updated, 1);
  auto r = store_->read([](store::Connection& c) { return Repository::result(c, 7); });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->score.value_or(0), 95);
  EXPECT_EQ(r->credential_id.value_or(""), "cred-1");
}

TEST_F(RecordsTest, ConflictingRowsAreReported) {
  std::string text = csv_header() + ",E1,Ada,ada@example.org,,A,,passed,,\r\n,E1,Eve,eve@example.org,,B,,passed,,\r\n";
  auto rep = import(text);
  EXPECT_FALSE(rep.ok);
  ASSERT_EQ(rep.errors.size(), 1u);
  EXPECT_EQ(rep.errors[0].row, 3u);
}

TEST_F(RecordsTest, Grants) {
  store_->write([](store::Connection& c) {
    EXPECT_FALSE(Repository::active_grant(c, "sam", 0));
    auto g = Repository::create_grant(c, "sam", "T-1", "customer asked", std::chrono::minutes(10));
    auto now = g.created_at;
    EXPECT_TRUE(Repository::active_grant(c, "sam", now));
    EXPECT_FALSE(Repository::active_grant(c, "sam", now + 601));
    EXPECT_FALSE(Repository::active_grant(c, "other", now));
    EXPECT_EQ(g.audit_reason(), "ticket T-1: customer asked");
  });
}
