#include "http/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <list>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/log.h"
#include "core/metrics.h"
#include "http/rate_limit.h"
#include "http/tls_context.h"

namespace privstack::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);

void apply_security_headers(Response& response) {
  response.set_header("Strict-Transport-Security", "max-age=63072000");
  response.set_header("Content-Security-Policy",
                      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                      "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("Referrer-Policy", "no-referrer");
  response.set_header("X-Frame-Options", "DENY");
  response.set_header("Cross-Origin-Opener-Policy", "same-origin");
  response.set_header("Cross-Origin-Resource-Policy", "same-origin");
  if (!response.header("Cache-Control")) response.set_header("Cache-Control", "no-store");
}

namespace {

using Strand = asio::strand<asio::io_context::executor_type>;

struct Connection {
  Connection(tcp::socket socket, std::shared_ptr<TlsContext> tls, std::string remote)
      : tls(std::move(tls)), stream(std::move(socket), this->tls->ssl), remote(std::move(remote)) {}
  std::shared_ptr<TlsContext> tls;  // keeps the context alive across reloads
  beast::ssl_stream<beast::tcp_stream> stream;
  std::string remote;  // client address
  // Waiting for (the header of) a request, i.e. evictable. Written on the
  // connection's strand, read by the acceptor.
  std::atomic<bool> idle{true};
  std::atomic<bool> evicted{false};
  // A response went out since the last request header was awaited: closing
  // now needs a lingering close (ServerLimits::linger_timeout). Strand only.
  bool answered = false;
};

template <class Socket>
std::string remote_address_of(const Socket& socket) {
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6()).to_string();
  }
  return addr.to_string();
}

void limit_parser(bhttp::request_parser<bhttp::string_body>& parser, const ServerLimits& limits) {
  parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
  parser.body_limit(limits.body_limit);
}

// `ok` is false when the target is not an absolute path (answered 400).
Request to_request(bhttp::request<bhttp::string_body>&& in, std::string remote, bool& ok) {
  Request out;
  out.method = std::string(in.method_string());
  out.target = std::string(in.target());
  std::string_view target(out.target);
  size_t q = target.find('?');
  auto path = percent_decode(target.substr(0, q));
  ok = path.has_value() && !path->empty() && path->front() == '/';
  if (path) out.path = std::move(*path);
  if (q != std::string_view::npos) out.query = std::string(target.substr(q + 1));
  for (const auto& field : in) {
    out.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  out.body = std::move(in.body());
  out.remote_address = std::move(remote);
  return out;
}

}  // namespace

ParsedRequest parse_request(std::string_view bytes, const ServerLimits& limits, std::string remote) {
  ParsedRequest out;
  bhttp::request_parser<bhttp::string_body> parser;
  limit_parser(parser, limits);
  parser.eager(true);
  while (!parser.is_done()) {
    beast::error_code ec;
    std::size_t n = parser.put(asio::buffer(bytes.data() + out.consumed, bytes.size() - out.consumed), ec);
    out.consumed += n;
    if (ec == bhttp::error::need_more) return out;  // the client would have to send more
    if (ec == bhttp::error::header_limit) out.status = 431;
    else if (ec == bhttp::error::body_limit) out.status = 413;
    else if (ec) out.status = 400;
    if (ec) return out;
    if (n == 0 && !parser.is_done()) return out;
  }
  out.keep_alive = parser.get().keep_alive();
  out.head = parser.get().method() == bhttp::verb::head;
  bool target_ok = false;
  Request request = to_request(parser.release(), std::move(remote), target_ok);
  if (!target_ok) {
    out.status = 400;
    return out;
  }
  out.request = std::move(request);
  return out;
}

struct Server::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, Handler handler, ServerLimits limits)
      : io(io), acceptor_strand(asio::make_strand(io)), acceptor(acceptor_strand),
        handler(std::move(handler)), limits(limits),
        rate_limiter(limits.requests_per_second_per_address, limits.request_burst) {}

  asio::io_context& io;
  Strand acceptor_strand;
  tcp::acceptor acceptor;
  Handler handler;
  ServerLimits limits;

  mutable std::mutex tls_mutex;
  std::shared_ptr<TlsContext> tls;

  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> in_flight{0};
  std::atomic<std::size_t> connections{0};

  std::mutex registry_mutex;
  std::list<std::weak_ptr<Connection>> registry;  // oldest first
  std::unordered_map<std::string, std::size_t> per_address;  // open connections by client address

  RateLimiter rate_limiter;
  std::atomic<std::size_t> evicted{0};
  std::atomic<std::size_t> rate_limited{0};

  // Closes the oldest connection (of `address`, or of anyone when empty)
  // that is still waiting for a request header. Registry lock held.
  bool evict_oldest_waiting(const std::string& address) {
    for (auto& weak : registry) {
      auto conn = weak.lock();
      if (!conn || !conn->idle || conn->evicted) continue;
      if (!address.empty() && conn->remote != address) continue;
      conn->evicted = true;
      ++evicted;
      asio::post(conn->stream.get_executor(), [conn] {
        boost::system::error_code ignored;
        beast::get_lowest_layer(conn->stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
        beast::get_lowest_layer(conn->stream).cancel();
      });
      return true;
    }
    return false;
  }

  std::shared_ptr<TlsContext> current_tls() const {
    std::lock_guard lock(tls_mutex);
    return tls;
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopping) {
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io), as_tuple_awaitable);
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping) break;
        continue;  // e.g. EMFILE: keep serving the connections we have
      }
      std::string remote = remote_address_of(socket);
      std::list<std::weak_ptr<Connection>>::iterator where;
      std::shared_ptr<Connection> conn;
      {
        std::lock_guard lock(registry_mutex);
        // Make room by evicting connections that have not sent a request;
        // an evicted connection still counts until its coroutine ends, so
        // the limits are soft by at most the number being evicted.
        bool refuse = false;
        std::size_t& mine = per_address[remote];
        if (mine >= limits.max_connections_per_address && !evict_oldest_waiting(remote)) refuse = true;
        if (!refuse && connections.load() >= limits.max_connections && !evict_oldest_waiting({})) refuse = true;
        if (refuse) {
          if (mine == 0) per_address.erase(remote);
          boost::system::error_code ignored;
          socket.close(ignored);
          continue;
        }
        ++mine;
        // No Nagle: a response's last TLS record must not wait for the
        // client's delayed ACK of the previous one (a 40 ms stall).
        boost::system::error_code nodelay_ec;
        socket.set_option(tcp::no_delay(true), nodelay_ec);
        conn = std::make_shared<Connection>(std::move(socket), current_tls(), remote);
        where = registry.insert(registry.end(), conn);
      }
      ++connections;
      auto executor = conn->stream.get_executor();
      asio::co_spawn(executor, session(conn), [self, where, remote](std::exception_ptr) {
        --self->connections;
        std::lock_guard lock(self->registry_mutex);
        self->registry.erase(where);
        auto it = self->per_address.find(remote);
        if (it != self->per_address.end() && --it->second == 0) self->per_address.erase(it);
      });
    }
  }

  asio::awaitable<void> write_response(Connection& conn, Response response, bool head, bool keep_alive,
                                       unsigned version) {
    apply_security_headers(response);
    bhttp::response<bhttp::string_body> res;
    res.version(version);
    res.result(static_cast<unsigned>(response.status));
    res.set(bhttp::field::server, "privstack");
    for (const Header& h : response.headers) res.set(h.name, h.value);
    res.keep_alive(keep_alive);
    // No Content-Length on 1xx, 204 and 304 (RFC 9110 8.6); for HEAD it is
    // that of the GET body.
    std::string_view body = response.body_view();
    if (response.status >= 200 && response.status != 204 && response.status != 304) {
      res.content_length(body.size());
    }
    // Header and body go out in one buffer: asio's TLS stream encrypts only
    // the first buffer of a sequence per write, so Beast's serializer would
    // cost a TLS record and a send() for the header alone (bench/run-console).
    // The header is formatted here, without an ostream, into a buffer sized
    // for header and body: one allocation and one copy of the body.
    std::string wire;
    wire.reserve(512 + (head ? 0 : body.size()));
    wire += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    wire += std::to_string(response.status);
    wire += ' ';
    wire += std::string_view(res.reason());
    wire += "\r\n";
    for (const auto& field : res.base()) {
      wire += std::string_view(field.name_string());
      wire += ": ";
      wire += std::string_view(field.value());
      wire += "\r\n";
    }
    wire += "\r\n";
    if (!head) wire += body;
    conn.answered = true;
    beast::get_lowest_layer(conn.stream).expires_after(limits.write_timeout);
    co_await asio::async_write(conn.stream, asio::buffer(wire), as_tuple_awaitable);
  }

  // A response with Response::stream: the header, then one chunk per call of
  // the producer (chunked encoding; HTTP/1.0 clients get the raw bytes and a
  // close). Returns false when the body could not be completed, so the
  // caller closes the connection.
  asio::awaitable<bool> write_streamed(Connection& conn, Response response, bool head, bool keep_alive,
                                       unsigned version) {
    apply_security_headers(response);
    bhttp::response<bhttp::empty_body> res;
    res.version(version);
    res.result(static_cast<unsigned>(response.status));
    res.set(bhttp::field::server, "privstack");
    for (const Header& h : response.headers) res.set(h.name, h.value);
    bool chunked = version >= 11;
    res.keep_alive(keep_alive && chunked);
    if (chunked) res.chunked(true);
    auto& lowest = beast::get_lowest_layer(conn.stream);
    bhttp::response_serializer<bhttp::empty_body> sr{res};
    conn.answered = true;
    lowest.expires_after(limits.write_timeout);
    auto [h_ec, h_n] = co_await bhttp::async_write_header(conn.stream, sr, as_tuple_awaitable);
    if (h_ec) co_return false;
    if (head) co_return chunked;
    for (;;) {
      std::optional<std::string> chunk;
      try {
        chunk = co_await response.stream();
      } catch (const std::exception& e) {
        log::emit(log::events::http_internal_error, std::string("streamed response failed: ") + e.what(),
                  {{"REMOTE", conn.remote}});
        co_return false;
      }
      if (!chunk) break;
      if (chunk->empty()) continue;
      lowest.expires_after(limits.write_timeout);
      if (chunked) {
        auto [ec, n] = co_await asio::async_write(conn.stream, bhttp::make_chunk(asio::buffer(*chunk)),
                                                  as_tuple_awaitable);
        if (ec) co_return false;
      } else {
        auto [ec, n] = co_await asio::async_write(conn.stream, asio::buffer(*chunk), as_tuple_awaitable);
        if (ec) co_return false;
      }
    }
    if (!chunked) co_return false;
    lowest.expires_after(limits.write_timeout);
    auto [l_ec, l_n] = co_await asio::async_write(conn.stream, bhttp::make_chunk_last(), as_tuple_awaitable);
    co_return !l_ec;
  }

  asio::awaitable<void> session(std::shared_ptr<Connection> conn) {
    auto& stream = conn->stream;
    auto& lowest = beast::get_lowest_layer(stream);
    lowest.expires_after(limits.handshake_timeout);
    auto [hs_ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, as_tuple_awaitable);
    if (hs_ec) metrics::inc(metrics::names::tls_handshake_failures);
    if (hs_ec || conn->evicted) co_return;
    const std::string& remote = conn->remote;

    beast::flat_buffer buffer;
    for (std::size_t served = 0; served < limits.max_requests_per_connection && !stopping; ++served) {
      bhttp::request_parser<bhttp::string_body> parser;
      limit_parser(parser, limits);
      conn->idle = true;
      conn->answered = false;
      lowest.expires_after(served == 0 ? limits.header_timeout : limits.idle_timeout);
      auto [h_ec, h_n] = co_await bhttp::async_read_header(stream, buffer, parser, as_tuple_awaitable);
      conn->idle = false;
      if (h_ec == bhttp::error::header_limit) {
        co_await write_response(*conn, Response::problem(ErrorCode::headers_too_large, "The request's header fields are over the limit."), false, false, 11);
        break;
      }
      if (h_ec == bhttp::error::body_limit) {  // a declared Content-Length over the limit
        co_await write_response(*conn, Response::problem(ErrorCode::payload_too_large, "The request body is over the limit."), false, false, 11);
        break;
      }
      if (h_ec) {
        if (h_n > 0 && h_ec != asio::error::operation_aborted && h_ec != beast::error::timeout &&
            h_ec != asio::error::eof) {
          co_await write_response(*conn, Response::problem(ErrorCode::invalid_argument, "The request is not valid HTTP."), false, false, 11);
        }
        break;
      }
      // A client that sends "Expect: 100-continue" waits for this before the body.
      if (parser.get()[bhttp::field::expect] == "100-continue") {
        bhttp::response<bhttp::empty_body> cont{bhttp::status::continue_, parser.get().version()};
        co_await bhttp::async_write(stream, cont, as_tuple_awaitable);
      }
      // A request without a body (most GETs) is complete with its header:
      // skipping the body read saves an asynchronous operation per request.
      boost::system::error_code b_ec;
      if (!parser.is_done()) {
        lowest.expires_after(limits.body_timeout);
        std::size_t body_bytes = 0;
        std::tie(b_ec, body_bytes) = co_await bhttp::async_read(stream, buffer, parser, as_tuple_awaitable);
      }
      if (b_ec == bhttp::error::body_limit) {
        co_await write_response(*conn, Response::problem(ErrorCode::payload_too_large, "The request body is over the limit."), false, false, 11);
        break;
      }
      if (b_ec) {
        if (b_ec != asio::error::operation_aborted && b_ec != beast::error::timeout && b_ec != asio::error::eof) {
          co_await write_response(*conn, Response::problem(ErrorCode::invalid_argument, "The request is not valid HTTP."), false, false, 11);
        }
        break;
      }

      if (!rate_limiter.allow(remote)) {
        ++rate_limited;
        Response limited = Response::problem(ErrorCode::rate_limited, "Slow down and retry later.");
        limited.set_header("Retry-After", std::to_string(rate_limiter.retry_after_seconds()));
        co_await write_response(*conn, std::move(limited), false, false, 11);
        break;
      }
      bool keep_alive = parser.get().keep_alive();
      unsigned version = parser.get().version();
      bool head = parser.get().method() == bhttp::verb::head;
      bool target_ok = false;
      Request request = to_request(parser.release(), remote, target_ok);
      Response response;
      ++in_flight;
      if (!target_ok) {
        response = Response::problem(ErrorCode::invalid_argument, "The request target is not a valid path.");
      } else {
        try {
          response = co_await handler(request);
        } catch (const std::exception& e) {
          // The router is the error boundary; this is the last resort for a
          // handler given to the server directly (tests).
          response = internal_error_response(e, request);
        }
      }
      keep_alive = keep_alive && !stopping;
      if (response.stream) {
        bool complete = co_await write_streamed(*conn, std::move(response), head, keep_alive, version);
        keep_alive = keep_alive && complete;
      } else {
        co_await write_response(*conn, std::move(response), head, keep_alive, version);
      }
      --in_flight;
      if (!keep_alive) break;
    }
    if (stopping) {
      // The process is exiting: waiting for each peer's close_notify would
      // only delay the drain. Closing the socket ends the connection.
      boost::system::error_code ignored;
      lowest.socket().shutdown(tcp::socket::shutdown_both, ignored);
      lowest.close();
      co_return;
    }
    if (conn->answered) {
      co_await linger_close(*conn);
      co_return;
    }
    lowest.expires_after(std::chrono::seconds(1));
    co_await stream.async_shutdown(as_tuple_awaitable);
  }

  // Ends a connection whose client may still be sending (the rest of an
  // oversized header or body, pipelined requests) without resetting it, so
  // the answer already sent is not lost: close_notify, FIN, then read and
  // discard until the client closes, within linger_timeout and linger_bytes.
  asio::awaitable<void> linger_close(Connection& conn) {
    auto& lowest = beast::get_lowest_layer(conn.stream);
    const auto deadline = std::chrono::steady_clock::now() + limits.linger_timeout;
    conn.idle = true;  // evictable, and cut short by Server::shutdown()
    // close_notify without waiting for the client's: with the peer's marked
    // as received, SSL_shutdown is complete once its own alert is written.
    SSL* ssl = conn.stream.native_handle();
    SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
    lowest.expires_at(deadline);
    co_await conn.stream.async_shutdown(as_tuple_awaitable);
    boost::system::error_code ec;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ec);
    // Raw TCP from here on: what the client sends is not even decrypted.
    std::vector<char> scratch(16 * 1024);
    std::size_t drained = 0;
    while (!ec && drained < limits.linger_bytes && !conn.evicted && !stopping &&
           std::chrono::steady_clock::now() < deadline) {
      lowest.expires_at(deadline);
      std::size_t n = 0;
      std::tie(ec, n) = co_await lowest.async_read_some(
          asio::buffer(scratch.data(), std::min(scratch.size(), limits.linger_bytes - drained)), as_tuple_awaitable);
      drained += n;
    }
    lowest.close();
  }
};

Server::Server(asio::io_context& io, Handler handler, ServerLimits limits)
    : impl_(std::make_shared<Impl>(io, std::move(handler), limits)) {}

Server::~Server() = default;

void Server::listen(const std::string& address, std::uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  std::string where = (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" +
                      std::to_string(port);
  if (ec) throw std::runtime_error("cannot listen on " + where + ": not an IP address");
  tcp::endpoint endpoint(addr, port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && addr.is_v6() && addr.to_v6().is_unspecified()) acceptor.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
  }
}

std::uint16_t Server::bound_port() const {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void Server::set_tls_context(std::shared_ptr<TlsContext> context) {
  std::lock_guard lock(impl_->tls_mutex);
  impl_->tls = std::move(context);
}

std::shared_ptr<TlsContext> Server::tls_context() const { return impl_->current_tls(); }

void Server::start() {
  if (!impl_->current_tls()) throw std::logic_error("Server::start without a TLS context");
  asio::co_spawn(impl_->acceptor_strand, impl_->accept_loop(), asio::detached);
}

void Server::shutdown() {
  auto impl = impl_;
  impl->stopping = true;
  asio::post(impl->acceptor_strand, [impl] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
  std::lock_guard lock(impl->registry_mutex);
  for (auto& weak : impl->registry) {
    auto conn = weak.lock();
    if (!conn) continue;
    asio::post(conn->stream.get_executor(), [conn] {
      if (conn->idle) beast::get_lowest_layer(conn->stream).cancel();
    });
  }
}

std::size_t Server::requests_in_flight() const { return impl_->in_flight; }
std::size_t Server::open_connections() const { return impl_->connections; }
std::size_t Server::evicted_connections() const { return impl_->evicted; }
std::size_t Server::rate_limited_requests() const { return impl_->rate_limited; }

}  // namespace privstack::http
