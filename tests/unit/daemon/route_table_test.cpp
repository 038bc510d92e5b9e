// The assembled daemon's routes against the permission table: every route a
// module registers has exactly one rule, and every rule is a served route.
// A route without a rule would be denied to everyone (fail closed), a rule
// without a route is a stale grant: both are bugs this test catches.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>
#include <string>

#include "auth/permissions.h"
#include "core/config.h"
#include "daemon_app.h"
#include "store/store.h"

namespace fs = std::filesystem;

namespace {

class RouteTable : public ::testing::Test {
 protected:
  RouteTable() {
    char tmpl[] = "/tmp/privstack-routes-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
  }
  ~RouteTable() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  privstack::Config config() const {
    privstack::Config c;
    c.state_directory = dir_ / "state";
    c.store.key_file = dir_ / "store.key";
    c.control.socket = dir_ / "control.sock";
    c.console.web_root = dir_;
    privstack::store::init_key_file(c.store.key_file);
    return c;
  }
  fs::path dir_;
};

}  // namespace

TEST_F(RouteTable, RouterRoutesAndPermissionTableAreTheSameSet) {
  std::vector<std::string> served = privstack::DaemonApp::served_routes(config());
  std::set<std::string> routes(served.begin(), served.end());
  EXPECT_EQ(routes.size(), served.size()) << "a route is registered twice";
  std::set<std::string> rules;
  for (const auto& r : privstack::auth::route_rules()) {
    EXPECT_TRUE(rules.insert(std::string(r.method) + " " + std::string(r.pattern)).second)
        << "two rules for " << r.method << " " << r.pattern;
  }
  for (const auto& r : routes) EXPECT_TRUE(rules.contains(r)) << "served but not in the permission table: " << r;
  for (const auto& r : rules) EXPECT_TRUE(routes.contains(r)) << "in the permission table but not served: " << r;
  // The daemon serves a sizeable API; an empty set would make this vacuous.
  EXPECT_GT(routes.size(), 40u);
}
