// Test helper for tests/integration/test_store*.py: drives the store library
// directly (the daemon has no generic data API).
//   store_testtool fill DB KEY ROWS MARKER [--no-close]   insert ROWS rows containing MARKER
//   store_testtool count DB KEY MARKER                   print the rows containing MARKER
//   store_testtool rekey DB KEY [--crash-at STEP]        rekey; SIGKILL itself at STEP (1..5)
//   store_testtool bump-schema DB KEY                    record a future store schema version
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "store/store.h"

using namespace privstack::store;

namespace {
constexpr Migration kTestMigrations[] = {
    {1, "CREATE TABLE test_events (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL,"
        " action TEXT NOT NULL, detail TEXT NOT NULL)"},
};

std::unique_ptr<Store> open(const char* db, const char* key) {
  Options o;
  o.database = db;
  o.key = {key, false};
  auto s = Store::open(o);
  s->migrate("testtool", kTestMigrations);
  return s;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return 2;
  std::string cmd = argv[1];
  try {
    if (cmd == "fill" && argc >= 6) {
      auto s = open(argv[2], argv[3]);
      long rows = std::stol(argv[4]);
      std::string marker = argv[5];
      s->write([&](Connection& c) {
        for (long i = 0; i < rows; ++i) {
          c.exec("INSERT INTO test_events (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)",
                 static_cast<std::int64_t>(i), "user" + std::to_string(i % 97), "record.read",
                 marker + " row " + std::to_string(i) + " " + std::string(120, 'x'));
        }
      });
      if (argc >= 7 && std::strcmp(argv[6], "--no-close") == 0) {
        // Leave the WAL as a crash would.
        std::fflush(stdout);
        ::_exit(0);
      }
      return 0;
    }
    if (cmd == "count" && argc >= 5) {
      auto s = open(argv[2], argv[3]);
      std::string pattern = std::string("%") + argv[4] + "%";
      auto n = s->read([&](Connection& c) {
        return *c.query_one<std::int64_t>("SELECT count(*) FROM test_events WHERE detail LIKE ?1", pattern);
      });
      std::printf("%lld\n", static_cast<long long>(n));
      return 0;
    }
    if (cmd == "bump-schema") {
      auto s = open(argv[2], argv[3]);
      s->write([](Connection& c) {
        c.exec("INSERT INTO store_migrations (module, version, applied_at) VALUES ('store', 99, 0)");
      });
      return 0;
    }
    if (cmd == "rekey") {
      auto s = open(argv[2], argv[3]);
      int crash_at = argc >= 6 && std::strcmp(argv[4], "--crash-at") == 0 ? std::atoi(argv[5]) : 0;
      if (crash_at > 0) {
        testing_hooks::rekey_step = [crash_at](int step) {
          if (step == crash_at) ::raise(SIGKILL);
        };
      }
      s->rekey();
      return 0;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "store_testtool: %s\n", e.what());
    return 1;
  }
  return 2;
}
