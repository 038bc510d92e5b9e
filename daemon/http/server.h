// The HTTPS server: Beast over OpenSSL, one coroutine per connection on its
// own strand, a Handler for every request. Beast and Asio's templates stay
// in server.cpp; callers see only this interface.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "http/http.h"
#include "http/tls.h"

namespace boost::asio {
class io_context;
}

namespace privstack::http {

struct ServerLimits {
  std::size_t header_limit = 8 * 1024;  // bytes of request line + headers; more is 431
  std::size_t body_limit = 1024 * 1024;  // more is 413
  // Each is a deadline for the whole step, so a client that trickles bytes
  // (slowloris) is cut off when it runs out, not when it goes quiet.
  std::chrono::seconds handshake_timeout{10};
  std::chrono::seconds header_timeout{10};
  std::chrono::seconds body_timeout{30};
  std::chrono::seconds idle_timeout{30};  // between keep-alive requests
  std::chrono::seconds write_timeout{30};
  // Lingering close, after the server has answered and ends the connection
  // (431, 413, 400, Connection: close): close_notify and FIN are sent, then
  // what the client still sends (the rest of an oversized header or body) is
  // read and discarded until it closes, for at most linger_timeout and
  // linger_bytes in all. Closing with unread input would make the kernel
  // reset the connection, and the client could lose the answer.
  std::chrono::seconds linger_timeout{5};
  std::size_t linger_bytes = 4 * 1024 * 1024;
  std::size_t max_connections = 10000;
  // Per client address. When an address (or the whole server) is at its
  // limit, a new connection evicts that address's (the server's) oldest
  // connection that has not yet sent a complete request header (or is in its
  // lingering close), so idle and slowloris connections cannot lock out a
  // client that talks promptly; if there is none, the new connection is
  // refused.
  std::size_t max_connections_per_address = 256;
  std::size_t max_requests_per_connection = 1000;
  // Token bucket per client address: sustained requests per second and
  // burst; over it the answer is 429 with Retry-After. 0 disables.
  double requests_per_second_per_address = 100;
  double request_burst = 200;
};

// Headers added to every response (HSTS, CSP, nosniff, ...), so no handler
// can forget them. A handler may override Cache-Control.
void apply_security_headers(Response& response);

// One request parsed from the bytes a client sent, as a connection parses
// it (the same parser limits and the same conversion to Request), without
// the TLS stream: for the fuzz target tests/fuzz/http_request.cpp.
struct ParsedRequest {
  std::optional<Request> request;  // nullopt: refused with `status`, or incomplete (status 0)
  int status = 0;                  // 400, 413 or 431 as the connection would answer
  bool keep_alive = false;
  bool head = false;
  std::size_t consumed = 0;  // bytes of `bytes` this request took
};
ParsedRequest parse_request(std::string_view bytes, const ServerLimits& limits, std::string remote);

class Server {
 public:
  Server(boost::asio::io_context& io, Handler handler, ServerLimits limits = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. Throws std::runtime_error("cannot listen on ADDR:PORT: reason").
  void listen(const std::string& address, std::uint16_t port);
  std::uint16_t bound_port() const;

  // New connections use the latest context; connections already open keep
  // theirs, so a certificate reload drops nobody.
  void set_tls_context(std::shared_ptr<TlsContext> context);
  std::shared_ptr<TlsContext> tls_context() const;

  void start();
  // Shutdown, step 1: no new connections; keep-alive connections waiting for
  // their next request are closed; requests in flight finish and their
  // connections close after the response.
  void shutdown();
  std::size_t requests_in_flight() const;
  std::size_t open_connections() const;
  // Connections closed to make room for new ones, and requests refused by
  // the rate limit (for metrics and tests).
  std::size_t evicted_connections() const;
  std::size_t rate_limited_requests() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace privstack::http
