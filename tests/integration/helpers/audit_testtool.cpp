// Test helper for the audit and records integration tests and the export
// benchmark: acts on a stopped daemon's store directly, with its key.
//
//   audit_testtool DB KEY edit SEQ            change one field of entry SEQ
//   audit_testtool DB KEY delete SEQ          delete entry SEQ
//   audit_testtool DB KEY swap A B            exchange entries A and B (reorder)
//   audit_testtool DB KEY truncate-after SEQ  delete every entry after SEQ
//   audit_testtool DB KEY seed-audit N        append N chained entries
//   audit_testtool DB KEY seed-records N      N results for N/4 recipients (bench data)
//   audit_testtool DB KEY seed-noise N [ID0]  N recipients (ids after ID0) with 4 KiB random names: an
//                                             incompressible store of N*4 KiB, so that a
//                                             test gets a multipart-sized archive from a
//                                             few thousand rows (a test restore of a second)
//
// The tampering commands drop the append-only triggers first, as an
// attacker with the key would.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "audit/audit.h"
#include "records/records.h"

using namespace privstack;

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: audit_testtool DB KEY COMMAND ARGS...\n");
    return 2;
  }
  store::Options o;
  o.database = argv[1];
  o.key = {argv[2], false};
  std::string cmd = argv[3];
  // The seed commands make a new database (and key) when there is none.
  o.create = cmd.starts_with("seed-");
  if (o.create && !std::filesystem::exists(o.key.path)) store::init_key_file(o.key.path);
  long long a = std::atoll(argv[4]);
  long long b = argc > 5 ? std::atoll(argv[5]) : 0;
  try {
    auto st = store::Store::open(o);
    auto drop = [](store::Connection& c) {
      c.exec_script("DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;");
    };
    if (cmd == "edit") {
      st->write([&](store::Connection& c) {
        drop(c);
        c.exec("UPDATE audit_log SET outcome = CASE outcome WHEN 'success' THEN 'failure' ELSE 'success' END "
               "WHERE seq = ?",
               static_cast<std::int64_t>(a));
      });
    } else if (cmd == "delete") {
      st->write([&](store::Connection& c) {
        drop(c);
        c.exec("DELETE FROM audit_log WHERE seq = ?", static_cast<std::int64_t>(a));
      });
    } else if (cmd == "swap") {
      st->write([&](store::Connection& c) {
        drop(c);
        c.exec("UPDATE audit_log SET seq = -1 WHERE seq = ?", static_cast<std::int64_t>(a));
        c.exec("UPDATE audit_log SET seq = ? WHERE seq = ?", static_cast<std::int64_t>(a), static_cast<std::int64_t>(b));
        c.exec("UPDATE audit_log SET seq = ? WHERE seq = -1", static_cast<std::int64_t>(b));
      });
    } else if (cmd == "truncate-after") {
      st->write([&](store::Connection& c) {
        drop(c);
        c.exec("DELETE FROM audit_log WHERE seq > ?", static_cast<std::int64_t>(a));
      });
    } else if (cmd == "seed-audit") {
      audit::AuditLog log(*st, Secret("0000000000000000000000000000000000000000000000000000000000000000"));
      const long long batch = 10000;
      for (long long done = 0; done < a;) {
        long long n = std::min(batch, a - done);
        st->write([&](store::Connection& c) {
          for (long long i = 0; i < n; ++i) {
            audit::Entry e;
            e.actor = "user:bench";
            e.source = "192.0.2.10";
            e.action = "records.recipient.read";
            e.object = "recipient:" + std::to_string(done + i + 1);
            e.outcome = "success";
            e.detail = "benchmark entry";
            log.append(c, e);
          }
        });
        done += n;
      }
    } else if (cmd == "seed-records") {
      records::Repository::migrate(*st);
      const long long per = 4, batch = 20000;
      for (long long done = 0; done < a;) {
        long long n = std::min(batch, a - done);
        st->write([&](store::Connection& c) {
          for (long long i = done; i < done + n; ++i) {
            if (i % per == 0) {
              records::Recipient r;
              r.id = i / per + 1;
              r.external_id = "EXT-" + std::to_string(i / per + 1);
              r.name = "Recipient " + std::to_string(i / per + 1) + ", \"bench\"";
              r.email = "r" + std::to_string(i / per + 1) + "@example.org";
              r.group = "group-" + std::to_string((i / per) % 50);
              r.created_at = 1700000000;
              records::Repository::insert(c, r);
            }
            c.exec("INSERT INTO results (id, recipient_id, achievement, score, status, completed_at, credential_id, "
                   "created_at, updated_at) VALUES (?, ?, ?, ?, 'passed', ?, NULL, 1700000000, 1700000000)",
                   static_cast<std::int64_t>(i + 1), static_cast<std::int64_t>(i / per + 1),
                   "Course " + std::to_string(i % 37), static_cast<double>(i % 1000) / 10.0,
                   static_cast<std::int64_t>(1700000000 + i));
          }
        });
        done += n;
      }
    } else if (cmd == "seed-noise") {
      records::Repository::migrate(*st);
      std::mt19937_64 rng(a);
      std::uniform_int_distribution<int> printable(0x21, 0x7e);  // ~6.6 bits per byte: zstd cannot shrink it much
      st->write([&](store::Connection& c) {
        for (long long i = 1; i <= a; ++i) {
          records::Recipient r;
          r.id = b + i;  // after the ids of a seed-records in the same store
          r.external_id = "NOISE-" + std::to_string(b + i);
          r.name.resize(4096);
          for (auto& ch : r.name) ch = static_cast<char>(printable(rng));
          r.email = "n" + std::to_string(i) + "@example.org";
          r.created_at = 1700000000;
          records::Repository::insert(c, r);
        }
      });
    } else {
      std::fprintf(stderr, "unknown command %s\n", cmd.c_str());
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "audit_testtool: %s\n", e.what());
    return 1;
  }
  return 0;
}
