// Single-row commits through privstack's own store layer (daemon/store), next
// to the raw-library figures of store_bench.cpp. The raw benchmark shows what
// SQLCipher costs per commit; this one shows what the daemon's writer does
// with that cost: requests that arrive while a commit is running share the
// next one (group commit, each in its own SAVEPOINT), so N concurrent
// single-row writes cost far fewer than N commits.
//
// Same schema, rows and pragmas as store_bench.cpp's "+fewer-indexes"
// configuration, which is the store's default tuning (page 4096, cache
// 8 MiB, only the `at` index).
//
// The "+capture" rows run 1 and 4 clients with change capture on
// (Options::capture_changes, docs/store.md "Change capture"): each commit
// also reads back the rows it changed and appends one change record.
//
// Output: "RESULT sqlcipher-store <config> <workload> <seconds> <ops>", the
// format bench/run-store reads.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/store.h"

namespace store = privstack::store;
namespace asio = boost::asio;

namespace {

constexpr int kRows = 20000;

const store::Migration kSchema[] = {
    {1,
     "CREATE TABLE audit_events (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL,"
     " action TEXT NOT NULL, target TEXT, remote TEXT, reason TEXT, detail TEXT NOT NULL,"
     " prev_hash BLOB NOT NULL, hash BLOB NOT NULL);"
     "CREATE INDEX audit_events_at ON audit_events (at);"},
};

struct Row {
  std::string actor, action, target, remote, detail;
  store::Blob prev, hash;
};

// The same generator as store_bench.cpp (seed 42), so the rows are alike.
std::vector<Row> make_rows(int n) {
  static const char* actions[] = {"session.login", "record.read", "record.update", "backup.run", "user.add"};
  std::mt19937_64 rng(42);
  std::vector<Row> rows;
  rows.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    Row r;
    r.actor = "user" + std::to_string(rng() % 200);
    r.action = actions[rng() % 5];
    char uuid[40];
    std::snprintf(uuid, sizeof uuid, "%08x-%04x-4%03x-a%03x-%012llx", static_cast<unsigned>(rng()),
                  static_cast<unsigned>(rng() & 0xffff), static_cast<unsigned>(rng() & 0xfff),
                  static_cast<unsigned>(rng() & 0xfff), static_cast<unsigned long long>(rng() & 0xffffffffffffULL));
    r.target = uuid;
    r.remote = "10.0." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256);
    r.detail = "{\"event\":" + std::to_string(i) + ",\"fields\":\"" + std::string(90 + rng() % 40, 'd') + "\"}";
    r.prev.resize(32);
    r.hash.resize(32);
    for (auto& b : r.prev) b = static_cast<std::uint8_t>(rng());
    for (auto& b : r.hash) b = static_cast<std::uint8_t>(rng());
    rows.push_back(std::move(r));
  }
  return rows;
}

void insert(store::Connection& c, const Row& r, int i) {
  c.exec("INSERT INTO audit_events (at, actor, action, target, remote, reason, detail, prev_hash, hash)"
         " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
         std::int64_t{1700000000} + i, r.actor, r.action, r.target, r.remote, nullptr, r.detail, r.prev, r.hash);
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// capture: with change capture on (docs/store.md "Change capture"): every
// commit also appends its change record to store_changes.
std::unique_ptr<store::Store> open_fresh(const std::filesystem::path& dir, bool capture = false) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  store::Options o;
  o.database = dir / "privstack.db";
  o.key.path = dir / "store.key";
  store::init_key_file(o.key.path);
  auto s = store::Store::open(o);
  s->migrate("bench", kSchema);
  if (!capture) return s;
  s.reset();
  o.capture_changes = true;
  return store::Store::open(o);
}

std::int64_t count_rows(store::Store& s) {
  return s.read([](store::Connection& c) { return *c.query_one<std::int64_t>("SELECT count(*) FROM audit_events"); });
}

void report(const char* workload, double seconds, int ops) {
  std::printf("RESULT sqlcipher-store +fewer-indexes %s %.6f %d\n", workload, seconds, ops);
  std::fflush(stdout);
}

// Each write is its own transaction, one after another: the layer's own
// overhead (statement cache, savepoint-free single-job commit) over raw calls.
void sequential(const std::filesystem::path& dir, const std::vector<Row>& rows) {
  auto s = open_fresh(dir);
  double t = now();
  for (int i = 0; i < kRows; ++i) {
    s->write([&](store::Connection& c) { insert(c, rows[static_cast<std::size_t>(i)], i); });
  }
  report("store-sequential", now() - t, kRows);
  if (count_rows(*s) != kRows) throw std::runtime_error("sequential: row count mismatch");
}

// `clients` coroutines each await their own single-row writes in turn, as
// request handlers do in the daemon; the writer batches what is queued.
void concurrent(const std::filesystem::path& dir, const std::vector<Row>& rows, int clients, bool capture = false) {
  auto s = open_fresh(dir, capture);
  asio::io_context io;
  const int per_client = kRows / clients;
  double t = now();
  for (int k = 0; k < clients; ++k) {
    asio::co_spawn(
        io,
        [&, k]() -> asio::awaitable<void> {
          for (int j = 0; j < per_client; ++j) {
            int i = k * per_client + j;
            auto work = [&rows, i](store::Connection& c) { insert(c, rows[static_cast<std::size_t>(i)], i); };
            co_await s->async_write(std::move(work));
          }
        },
        asio::detached);
  }
  io.run();
  double seconds = now() - t;
  std::string name = "store-" + std::to_string(clients) + "-clients" + (capture ? "+capture" : "");
  report(name.c_str(), seconds, per_client * clients);
  store::Store::WriteStats stats = s->write_stats();
  std::fprintf(stderr, "%s: %llu jobs in %llu commits (%.1f per commit)\n", name.c_str(),
               static_cast<unsigned long long>(stats.jobs), static_cast<unsigned long long>(stats.commits),
               stats.commits ? static_cast<double>(stats.jobs) / static_cast<double>(stats.commits) : 0.0);
  if (count_rows(*s) != per_client * clients) throw std::runtime_error("concurrent: row count mismatch");
  if (capture && s->read_changes(0, kRows + 1).size() != stats.commits) {
    throw std::runtime_error("concurrent: not one change record per commit");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = std::filesystem::path(argc > 1 ? argv[1] : ".") / "store-writer";
  try {
    std::vector<Row> rows = make_rows(kRows);
    // An optional second argument runs one client count only (for profiling).
    if (argc > 2) {
      concurrent(dir, rows, std::stoi(argv[2]));
    } else {
      sequential(dir, rows);
      for (int clients : {1, 4, 16}) concurrent(dir, rows, clients);
      for (int clients : {1, 4}) concurrent(dir, rows, clients, true);
    }
    std::filesystem::remove_all(dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_store_writer: %s\n", e.what());
    return 1;
  }
  return 0;
}
