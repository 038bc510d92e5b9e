// Export and audit-verify benchmark (bench/run-export drives it).
//
//   bench_records DB KEY export   stream every record to CSV (written to
//                                 stdout, or discarded with >/dev/null),
//                                 the same pages the API and CLI use
//   bench_records DB KEY verify   recompute the whole audit chain
//
// Prints one JSON line to stderr: rows, seconds, rows_per_second and the
// process's peak RSS (getrusage) in KiB.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "audit/audit.h"
#include "records/records.h"

using namespace privstack;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: bench_records DB KEY export|verify\n");
    return 2;
  }
  store::Options o;
  o.database = argv[1];
  o.key = {argv[2], false};
  o.create = false;
  std::string what = argv[3];
  auto st = store::Store::open(o);
  auto t0 = std::chrono::steady_clock::now();
  std::int64_t rows = 0;
  if (what == "export") {
    std::string header = records::csv_header();
    std::fwrite(header.data(), 1, header.size(), stdout);
    records::ExportCursor cursor;
    for (;;) {
      auto page = st->read([&](store::Connection& c) { return records::export_csv_page(c, cursor, 2000); });
      std::fwrite(page.data.data(), 1, page.data.size(), stdout);
      rows += page.rows;
      if (!page.next) break;
      cursor = *page.next;
    }
    std::fflush(stdout);
  } else if (what == "verify") {
    audit::AuditLog log(*st, Secret("0000000000000000000000000000000000000000000000000000000000000000"));
    auto r = log.verify();
    rows = r.entries;
    if (!r.ok) std::fprintf(stderr, "verify failed: %s\n", r.problem.c_str());
  } else {
    return 2;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  // CPU seconds too: on a shared machine the wall clock mostly measures the
  // other processes.
  double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  std::fprintf(stderr,
               "{\"what\":\"%s\",\"rows\":%lld,\"seconds\":%.3f,\"cpu_seconds\":%.3f,\"rows_per_second\":%.0f,"
               "\"peak_rss_kib\":%ld}\n",
               what.c_str(), static_cast<long long>(rows), secs, cpu, rows / secs, ru.ru_maxrss);
  return 0;
}
