// The HTTP request path without TLS: raw bytes, as a client would send them
// on a connection (several pipelined requests allowed), go through the
// server's own parser and conversion (http::parse_request, with the
// daemon's limits), then the authentication middleware (auth middleware: cookie
// and bearer authentication, CSRF and Origin checks, the permission matrix)
// and the router, to the real auth, audit and records handlers.
//
// Credentials the seeds use (tests/fuzz/corpus/http_request):
//   Authorization: Bearer pst_fuzz-admin-token          (API token, admin)
//   Cookie: __Host-privstack_session=fuzz-session        (session, admin)
//   X-CSRF-Token: 3fBJ97Ph_bu6L5R8FGDmaaurjkQxwYoR9558uSeFGKc
//     (base64url HMAC-SHA256 of "privstack-csrf-v1" keyed with the cookie)
//   login: admin / fuzz-admin-password-1
// Users, sessions and tokens live in a MemoryAuthRepository rebuilt for
// every input, so a fuzzed logout or password change does not leak into the
// next input. Records and audit entries go to one real encrypted store per
// process (their handlers need SQL); a crash that depends on rows an earlier
// input wrote would not reproduce alone, so scripts/fuzz keeps the inputs of
// each run (-artifact_prefix) and the corpus.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "audit/audit.h"
#include "audit/routes.h"
#include "auth/auth.h"
#include "auth/util.h"
#include "core/time.h"
#include "core/log.h"
#include "fuzz_store.h"
#include "http/server.h"
#include "records/records.h"

namespace asio = boost::asio;
using namespace privstack;

namespace {

constexpr std::string_view kAdminPassword = "fuzz-admin-password-1";
constexpr std::string_view kToken = "pst_fuzz-admin-token";
constexpr std::string_view kSession = "fuzz-session";

auth::Argon2Params cheap_argon2() {
  // The smallest Argon2id the library accepts: the fuzzer explores the
  // login path, not the hash's cost.
  auth::Argon2Params p;
  p.memory_kib = 8;
  p.iterations = 1;
  return p;
}

// What lives for the whole process: the io_context and the store-backed
// modules.
struct Modules {
  Modules() {
    auto& fs = fuzz::fuzz_store();
    audit = std::make_unique<audit::AuditLog>(*fs.store, audit::AuditLog::load_or_create_anchor_key(fs.dir));
    records = std::make_unique<records::RecordsService>(*fs.store, *audit);
  }
  asio::io_context io;
  std::unique_ptr<audit::AuditLog> audit;
  std::unique_ptr<records::RecordsService> records;
  std::string admin_hash = auth::hash_password(kAdminPassword, cheap_argon2());
};

Modules& modules() {
  static Modules m;
  return m;
}

void run(asio::io_context& io, asio::awaitable<void> work) {
  auto done = asio::co_spawn(io, std::move(work), asio::use_future);
  io.restart();
  io.run();
  done.get();  // rethrows what escaped the handlers: a finding
}

asio::awaitable<void> fill(auth::MemoryAuthRepository& repo, const std::string& admin_hash) {
  std::int64_t now = default_clock().unix_seconds();
  auth::UserRecord admin;
  admin.name = "admin";
  admin.role = auth::Role::admin;
  admin.password_hash = admin_hash;
  admin.created_at = admin.password_changed_at = now;
  co_await repo.insert_user(admin);
  auth::UserRecord support = admin;
  support.name = "sam";
  support.role = auth::Role::support;
  co_await repo.insert_user(support);
  auth::SessionRecord session;
  session.token_hash = auth::sha256_hex(kSession);
  session.user = "admin";
  session.created_at = session.last_seen = now;
  co_await repo.put_session(session);
  auth::TokenRecord token;
  token.id = "00000000000f0220";
  token.name = "fuzz";
  token.owner = "admin";
  token.role = auth::Role::admin;
  token.token_hash = auth::sha256_hex(kToken);
  token.created_at = now;
  co_await repo.put_token(token);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Auth events: to stderr (scripts/fuzz closes the target's stderr), not
  // the machine's journal.
  log::set_target(log::Target::stderr_text);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Modules& m = modules();
  auth::MemoryAuthRepository repo;
  run(m.io, fill(repo, m.admin_hash));
  auth::Settings settings;
  settings.argon2 = cheap_argon2();
  settings.session_idle_timeout = settings.session_lifetime = std::chrono::hours(24 * 365);
  auth::AuthService auth(repo, m.io.get_executor(), settings);
  auth.load();
  http::Router router;
  auth.register_routes(router);
  audit::register_routes(*m.audit, router);
  m.records->register_routes(router);
  router.use(http::error_boundary());
  router.use(auth.middleware(router));
  http::Handler handler = [&router](http::Request& r) { return router.handle(r); };

  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  http::ServerLimits limits;
  // At most a few requests per input, like a keep-alive connection's first ones.
  for (int served = 0; served < 4 && !bytes.empty(); ++served) {
    http::ParsedRequest parsed = http::parse_request(bytes, limits, "192.0.2.7");
    bytes.remove_prefix(parsed.consumed);
    if (!parsed.request) break;  // refused (400/413/431) or incomplete: the connection ends
    run(m.io, [&]() -> asio::awaitable<void> {
      http::Response response = co_await handler(*parsed.request);
      http::apply_security_headers(response);
      if (response.status < 100 || response.status > 599) std::abort();
      if (response.stream) {
        // A few chunks of a streamed export: enough to run its producer.
        for (int i = 0; i < 3; ++i) {
          if (!co_await response.stream()) break;
        }
      }
    }());
    if (!parsed.keep_alive) break;
  }
  return 0;
}
