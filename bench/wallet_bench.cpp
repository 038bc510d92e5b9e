// Credential issuance benchmark (bench/run-wallet drives it).
//
//   bench_wallet [N]     issue one batch of N credentials (default 10000)
//                        on a fresh encrypted store, then verify them all
//
// The production code path: IssuanceService::issue (read the results,
// canonical JSON, SHA-256 leaves, Merkle tree, one ECDSA signature, store
// the batch, the credentials and the results' marks with the audit entry in
// one transaction). Prints a table and one JSON line on stderr.
#include <stdlib.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "audit/audit.h"
#include "records/records.h"
#include "store/store.h"
#include "wallet/credential.h"
#include "wallet/issuance.h"
#include "wallet/wallet.h"

using namespace privstack;
using SteadyClock = std::chrono::steady_clock;

namespace {
long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}
double seconds_since(SteadyClock::time_point t) { return std::chrono::duration<double>(SteadyClock::now() - t).count(); }
}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 10000;
  if (n <= 0 || n > static_cast<long>(wallet::kMaxBatch)) {
    std::fprintf(stderr, "usage: bench_wallet [N <= %zu]\n", wallet::kMaxBatch);
    return 2;
  }
  char tmpl[] = "/tmp/privstack-wallet-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return 1;
  const std::filesystem::path dir = tmpl;
  int rc = 0;
  {
    store::init_key_file(dir / "store.key");
    store::Options o;
    o.database = dir / "privstack.db";
    o.key = {dir / "store.key", false};
    auto st = store::Store::open(o);
    audit::AuditLog log(*st, Secret("0123456789abcdef0123456789abcdef"));
    wallet::WalletSettings ws;  // default Argon2id parameters: the unlock is not what is measured
    wallet::WalletService w(*st, &log, ws);
    wallet::IssuanceService issuance(*st, &log, w);
    const char* password = "Bench-Issuing-Pass-1!";
    w.import("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", password,
             "", "bench");
    std::vector<std::int64_t> ids;
    ids.reserve(static_cast<std::size_t>(n));
    auto t_seed = SteadyClock::now();
    st->write([&](store::Connection& c) {
      records::Recipient r;
      for (long i = 0; i < n; ++i) {
        if (i % 10 == 0) {
          r = records::Recipient{};
          r.external_id = "R-" + std::to_string(i / 10);
          r.name = "Recipient Nr. " + std::to_string(i / 10);
          r.email = "r" + std::to_string(i / 10) + "@example.com";
          records::Repository::insert(c, r);
        }
        records::Result res;
        res.recipient_id = r.id;
        res.achievement = "Course " + std::to_string(i % 37);
        res.status = "passed";
        res.score = 50.0 + static_cast<double>(i % 500) / 10.0;
        res.completed_at = 1760000000 + i;
        ids.push_back(records::Repository::insert(c, res));
      }
    });
    const double seed_s = seconds_since(t_seed);
    auto t_unlock = SteadyClock::now();
    w.unlock(password, "bench", "bench");
    const double unlock_s = seconds_since(t_unlock);
    const long rss_before = peak_rss_kib();

    auto t_issue = SteadyClock::now();
    wallet::IssueRequest req;
    req.result_ids = ids;
    const wallet::IssuedBatch b = issuance.issue(req, "bench", "bench");
    const double issue_s = seconds_since(t_issue);
    const long rss_issue = peak_rss_kib();

    auto t_verify = SteadyClock::now();
    long valid = 0;
    for (const auto& f : b.files) valid += wallet::credential::verify_text(f).valid ? 1 : 0;
    const double verify_s = seconds_since(t_verify);
    if (valid != n) {
      std::fprintf(stderr, "only %ld of %ld credentials verified\n", valid, n);
      rc = 1;
    }
    std::size_t bytes = 0;
    for (const auto& f : b.files) bytes += f.size();

    std::printf("%-34s %14s\n", "credential issuance", "");
    std::printf("%-34s %14ld\n", "batch size", n);
    std::printf("%-34s %14.3f\n", "seed results (s)", seed_s);
    std::printf("%-34s %14.3f\n", "unlock, Argon2id 64 MiB t=3 (s)", unlock_s);
    std::printf("%-34s %14.3f\n", "issue batch (s)", issue_s);
    std::printf("%-34s %14.0f\n", "issued credentials/s", static_cast<double>(n) / issue_s);
    std::printf("%-34s %14.0f\n", "offline verifications/s", static_cast<double>(n) / verify_s);
    std::printf("%-34s %14zu\n", "average credential file (bytes)", bytes / static_cast<std::size_t>(n));
    std::printf("%-34s %14ld\n", "peak RSS before issuing (KiB)", rss_before);
    std::printf("%-34s %14ld\n", "peak RSS after issuing (KiB)", rss_issue);
    std::printf("%-34s %14ld\n", "peak RSS at end (KiB)", peak_rss_kib());
    std::fprintf(stderr,
                 "{\"credentials\":%ld,\"issue_seconds\":%.3f,\"credentials_per_second\":%.0f,"
                 "\"verify_per_second\":%.0f,\"peak_rss_kib\":%ld}\n",
                 n, issue_s, static_cast<double>(n) / issue_s, static_cast<double>(n) / verify_s, peak_rss_kib());
  }
  std::filesystem::remove_all(dir);
  return rc;
}
