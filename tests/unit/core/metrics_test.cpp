#include "core/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "core/log.h"

namespace privstack {
namespace {

TEST(Metrics, CountersGaugesAndLabelsRender) {
  metrics::Registry r;
  r.declare("t_requests_total", metrics::Type::counter, "Requests.");
  r.declare("t_open", metrics::Type::gauge, "Open things.");
  r.inc("t_requests_total", {{"route", "/a"}, {"status", "200"}});
  r.inc("t_requests_total", {{"route", "/a"}, {"status", "200"}}, 2);
  r.inc("t_requests_total", {{"route", "/b\"x\\\n"}, {"status", "404"}});
  r.inc("t_requests_total", {}, -5);  // counters never go down
  r.set("t_open", 3.5, {{"severity", "high"}});
  r.set("undeclared", 1);  // ignored
  std::string text = r.render();
  EXPECT_NE(text.find("# TYPE t_requests_total counter\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_requests_total{route=\"/a\",status=\"200\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_requests_total{route=\"/b\\\"x\\\\\\n\",status=\"404\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_open{severity=\"high\"} 3.5\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("undeclared"), std::string::npos);
  EXPECT_EQ(r.value("t_requests_total", {{"route", "/a"}, {"status", "200"}}), 3);
  r.clear("t_open");
  EXPECT_EQ(r.render().find("t_open{"), std::string::npos);
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  metrics::Registry r;
  r.declare("t_seconds", metrics::Type::histogram, "Latency.", {0.1, 1});
  r.observe("t_seconds", 0.05, {{"route", "/x"}});
  r.observe("t_seconds", 0.5, {{"route", "/x"}});
  r.observe("t_seconds", 7, {{"route", "/x"}});
  std::string text = r.render();
  EXPECT_NE(text.find("t_seconds_bucket{route=\"/x\",le=\"0.1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_sum{route=\"/x\"} 7.55\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_count{route=\"/x\"} 3\n"), std::string::npos) << text;
}

TEST(Metrics, GlobalHasStandardFamilies) {
  std::string text = metrics::global().render();
  EXPECT_NE(text.find("# TYPE privstack_http_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("# TYPE privstack_backup_last_success_timestamp_seconds gauge"), std::string::npos);
  metrics::set(metrics::names::wallet_locked, 1);
  EXPECT_EQ(metrics::global().value(metrics::names::wallet_locked), 1);
}

TEST(LogObserver, SeesEventsWithFieldsAndIsNotReentrant) {
  log::set_target(log::Target::stderr_text);
  std::atomic<int> seen{0};
  std::string user;
  int id = log::add_observer([&](const log::Emitted& e) {
    if (e.event.name != log::events::auth_login_failed.name) return;
    ++seen;
    user = std::string(e.field("USER"));
    // Logging from an observer is written but not observed again.
    log::emit(log::events::auth_login_failed, "from observer", {{"USER", "inner"}});
  });
  log::emit(log::events::auth_login_failed, "login failed", {{"USER", "alice"}, {"REMOTE", "127.0.0.1"}});
  EXPECT_EQ(seen.load(), 1);
  EXPECT_EQ(user, "alice");
  log::remove_observer(id);
  log::emit(log::events::auth_login_failed, "login failed", {{"USER", "bob"}});
  EXPECT_EQ(seen.load(), 1);
}

}  // namespace
}  // namespace privstack
