// The logging layer: stderr form, field naming, and that secrets cannot
// reach the output (compile-time: Field has no constructor from Secret;
// run-time: the redactor replaces live secret values).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <type_traits>

#include "core/events.h"
#include "core/log.h"
#include "core/secret.h"

namespace privstack {
namespace {

// Captures what log::emit writes to stderr.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    file_ = std::tmpfile();
    dup2(fileno(file_), STDERR_FILENO);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    std::rewind(file_);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, file_)) > 0) out.append(buf, n);
    return out;
  }

 private:
  void restore() {
    if (saved_ >= 0) {
      std::fflush(stderr);
      dup2(saved_, STDERR_FILENO);
      close(saved_);
      saved_ = -1;
    }
  }
  int saved_ = -1;
  FILE* file_ = nullptr;
};

TEST(Log, StderrLineCarriesPriorityEventMessageIdAndFields) {
  log::set_target(log::Target::stderr_text);
  StderrCapture cap;
  log::emit(log::events::daemon_ready, "ready", {{"listen", "127.0.0.1:8443"}, {"user name", "a b"}});
  std::string out = cap.text();
  EXPECT_EQ(out, "<6>info daemon.ready: ready MESSAGE_ID=" + std::string(log::events::daemon_ready.message_id) +
                     " PRIVSTACK_LISTEN=127.0.0.1:8443 PRIVSTACK_USER_NAME=\"a b\"\n");
}

TEST(Log, ExplicitPriorityOverridesTheEventDefault) {
  log::set_target(log::Target::stderr_text);
  StderrCapture cap;
  log::emit(log::events::daemon_ready, log::Priority::err, "x");
  EXPECT_EQ(cap.text().substr(0, 7), "<3>err ");
}

TEST(Log, NewlinesInMessagesAndValuesCannotForgeEntries) {
  log::set_target(log::Target::stderr_text);
  StderrCapture cap;
  log::emit(log::events::daemon_ready, "a\n<2>crit forged", {{"x", "1\n<2>crit forged"}});
  std::string out = cap.text();
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << out;
}

TEST(Log, LiveSecretIsRedactedFromMessagesAndFields) {
  log::set_target(log::Target::stderr_text);
  Secret password("correct-horse-battery-staple");
  StderrCapture cap;
  // A careless caller reveals the secret into a message and a field.
  log::emit(log::events::daemon_ready, "login with " + std::string(password.reveal()) + " failed",
            {{"detail", std::string("pw=") + std::string(password.reveal())}});
  std::string out = cap.text();
  EXPECT_EQ(out.find("correct-horse-battery-staple"), std::string::npos) << out;
  EXPECT_NE(out.find("login with [REDACTED] failed"), std::string::npos) << out;
  EXPECT_NE(out.find("PRIVSTACK_DETAIL=\"pw=[REDACTED]\""), std::string::npos) << out;
}

TEST(Log, SecretMovedStaysRedactedAndDestroyedIsForgotten) {
  std::string value = "moved-secret-value-123";
  std::optional<Secret> holder;
  {
    Secret s(value);
    holder.emplace(std::move(s));
  }
  EXPECT_EQ(log::redact("x " + value), "x [REDACTED]");
  holder.reset();
  EXPECT_EQ(log::redact("x " + value), "x " + value);
}

TEST(Log, SecretsCannotBeLoggedAsFields) {
  // The compile-time half of the guarantee.
  static_assert(!std::is_constructible_v<log::Field, std::string_view, const Secret&>);
  static_assert(!std::is_copy_constructible_v<Secret>);
  static_assert(std::is_constructible_v<log::Field, std::string_view, std::string>);
  SUCCEED();
}

TEST(Log, JournalTargetIsChosenOnlyWhenRequestedOrSocketExists) {
  log::set_target(log::Target::journal);
  EXPECT_EQ(log::active_target(), log::Target::journal);
  log::set_target(log::Target::stderr_text);
  EXPECT_EQ(log::active_target(), log::Target::stderr_text);
  log::set_target(log::Target::automatic);
  bool socket = access("/run/systemd/journal/socket", W_OK) == 0;
  EXPECT_EQ(log::active_target(), socket ? log::Target::journal : log::Target::stderr_text);
  log::set_target(log::Target::stderr_text);
}

// Every event has a distinct, well-formed MESSAGE_ID and name, and an entry in
// the journal catalog that journalctl -x shows.
TEST(Catalog, EveryEventHasAUniqueIdAndACatalogEntry) {
  std::ifstream in(std::string(PRIVSTACK_SOURCE_DIR) + "/systemd/privstack.catalog");
  ASSERT_TRUE(in) << "systemd/privstack.catalog missing";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string catalog = ss.str();
  std::set<std::string_view> ids, names;
  std::regex id_form("^[0-9a-f]{32}$");
  for (const log::Event& e : log::all_events()) {
    EXPECT_TRUE(std::regex_match(std::string(e.message_id), id_form)) << e.name;
    EXPECT_TRUE(ids.insert(e.message_id).second) << "duplicate MESSAGE_ID for " << e.name;
    EXPECT_TRUE(names.insert(e.name).second) << "duplicate event name " << e.name;
    std::string header = "-- " + std::string(e.message_id) + "\nSubject: ";
    EXPECT_NE(catalog.find(header), std::string::npos) << "no catalog entry for " << e.name;
  }
  // ...and the catalog has no entries for ids the code no longer uses.
  std::regex entry("^-- ([0-9a-f]{32})$", std::regex::multiline);
  for (auto it = std::sregex_iterator(catalog.begin(), catalog.end(), entry); it != std::sregex_iterator(); ++it) {
    EXPECT_TRUE(ids.contains((*it)[1].str())) << "catalog entry for unknown id " << (*it)[1];
  }
}

}  // namespace
}  // namespace privstack
